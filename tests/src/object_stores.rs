//! The object stores bill exports are pulled from, as real emulators started once per test
//! binary: Azurite (npm `azurite`: the Blob service over HTTPS, taking OAuth bearer tokens) and
//! gcp-storage-emulator (PyPI: the Cloud Storage JSON API). Both are installed by
//! `scripts/test`.

use std::path::PathBuf;
use std::sync::OnceLock;

use tokio::sync::OnceCell;

use crate::{free_port, start_watched};

/// A private certificate authority and a server certificate it signed for 127.0.0.1, as PEM
/// files in a directory that lives as long as the test binary.
pub struct TestCa {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_pem: String,
}

pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Nimbus test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = server_params.signed_by(&server_key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap().keep();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        TestCa {
            ca_file: write("ca.pem", &ca.pem()),
            cert_file: write("server.pem", &server.pem()),
            key_file: write("server-key.pem", &server_key.serialize_pem()),
            ca_pem: ca.pem(),
        }
    })
}

/// Azurite's Blob service, at `https://127.0.0.1:PORT/devstoreaccount1` (its well-known
/// account, path-style).
pub struct Azurite {
    pub account_url: String,
    client: reqwest::Client,
}

static AZURITE: OnceCell<Azurite> = OnceCell::const_new();

pub async fn azurite() -> &'static Azurite {
    AZURITE
        .get_or_init(|| async {
            let ca = test_ca();
            let port = free_port();
            let binary = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tools/node_modules/.bin/azurite-blob"
            );
            let location = tempfile::tempdir().unwrap().keep();
            start_watched(
                &format!(
                    "{binary} --blobHost 127.0.0.1 --blobPort {port} --oauth basic \
                     --cert {} --key {} --location {} --silent --disableTelemetry",
                    ca.cert_file.display(),
                    ca.key_file.display(),
                    location.display()
                ),
                port,
            )
            .await;
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap())
                .build()
                .unwrap();
            Azurite {
                account_url: format!("https://127.0.0.1:{port}/devstoreaccount1"),
                client,
            }
        })
        .await
}

impl Azurite {
    /// Writes a blob (making its container when needed), as Cost Management writes an export.
    pub async fn put(&self, container: &str, name: &str, bytes: Vec<u8>) {
        let token = storage_token();
        let created = self
            .client
            .put(format!(
                "{}/{container}?restype=container",
                self.account_url
            ))
            .bearer_auth(&token)
            .header("x-ms-version", "2024-11-04")
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success() || created.status() == 409,
            "{}",
            created.text().await.unwrap()
        );
        let put = self
            .client
            .put(format!("{}/{container}/{name}", self.account_url))
            .bearer_auth(&token)
            .header("x-ms-version", "2024-11-04")
            .header("x-ms-blob-type", "BlockBlob")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    }
}

/// A token shaped like Entra ID's for Azure Storage. Azurite's `--oauth basic` checks its
/// issuer, audience and lifetime, not its signature.
#[must_use]
pub fn storage_token() -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({
            "aud": "https://storage.azure.com",
            "iss": format!("https://sts.windows.net/{}/", crate::cloud_stub::AZURE_DIRECTORY),
            "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
            "appid": crate::cloud_stub::AZURE_CLIENT_ID,
        }),
        &jsonwebtoken::EncodingKey::from_secret(b"azurite does not check signatures"),
    )
    .unwrap()
}

/// gcp-storage-emulator, at `http://127.0.0.1:PORT`.
pub struct GcsEmulator {
    pub url: String,
    client: reqwest::Client,
}

static GCS: OnceCell<GcsEmulator> = OnceCell::const_new();

pub async fn gcs() -> &'static GcsEmulator {
    GCS.get_or_init(|| async {
        let port = free_port();
        start_watched(
            &format!(
                "gcp-storage-emulator start --host 127.0.0.1 --port {port} --in-memory --quiet"
            ),
            port,
        )
        .await;
        GcsEmulator {
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    })
    .await
}

impl GcsEmulator {
    /// Writes an object (making its bucket when needed), as a BigQuery export job would.
    pub async fn put(&self, bucket: &str, name: &str, bytes: Vec<u8>) {
        let created = self
            .client
            .post(format!("{}/storage/v1/b?project=nimbus-test", self.url))
            .json(&serde_json::json!({ "name": bucket }))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success() || created.status() == 409,
            "{}",
            created.text().await.unwrap()
        );
        let put = self
            .client
            .post(format!("{}/upload/storage/v1/b/{bucket}/o", self.url))
            .query(&[("uploadType", "media"), ("name", name)])
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    }
}
