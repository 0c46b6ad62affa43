//! Kubeconfig uploads: only what Nimbus can use without touching its own machine. Refused:
//! `exec` and `auth-provider` plugins (they run commands), file paths (they read Nimbus's
//! files), proxies, impersonation, basic auth and skipped TLS verification.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// Kubeconfigs are a few kilobytes; more is not one.
const MAX_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: ClusterEntry,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    certificate_authority: Option<IgnoredAny>,
    #[serde(default)]
    insecure_skip_tls_verify: Option<bool>,
    #[serde(default)]
    proxy_url: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    user: UserEntry,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<IgnoredAny>,
    #[serde(default)]
    client_certificate: Option<IgnoredAny>,
    #[serde(default)]
    client_key: Option<IgnoredAny>,
    #[serde(default)]
    exec: Option<IgnoredAny>,
    #[serde(default)]
    auth_provider: Option<IgnoredAny>,
    #[serde(default)]
    username: Option<IgnoredAny>,
    #[serde(default)]
    password: Option<IgnoredAny>,
    #[serde(default, rename = "as")]
    impersonate: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: ContextEntry,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: String,
    user: String,
}

/// How Nimbus proves itself to the API server.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    Token(String),
    /// PEM certificate and key.
    Certificate {
        certificate: String,
        key: String,
    },
}

/// The usable part of a kubeconfig: one context's server, authority and credential.
pub struct Resolved {
    pub server: String,
    /// PEM.
    pub ca_certificate: Option<String>,
    pub auth: ClientAuth,
}

/// Reads `text` (YAML or JSON) and resolves `context` (default: the current one), refusing
/// anything that would make Nimbus run a command, read a file or skip a check. Errors are
/// sentences for the user, without the kubeconfig's secrets.
pub fn resolve(text: &str, context: Option<&str>) -> Result<Resolved, String> {
    resolve_with(text, context, None)
}

/// [`resolve`], signing in with `auth` instead of the context's user (a cloud's kubeconfig
/// whose user runs a sign-in plugin, where Nimbus holds the token the plugin would fetch).
pub fn resolve_server(text: &str, auth: ClientAuth) -> Result<Resolved, String> {
    resolve_with(text, None, Some(auth))
}

fn resolve_with(
    text: &str,
    context: Option<&str>,
    auth: Option<ClientAuth>,
) -> Result<Resolved, String> {
    if text.len() > MAX_BYTES {
        return Err(format!(
            "the kubeconfig is larger than {} KiB",
            MAX_BYTES / 1024
        ));
    }
    let file: File = serde_saphyr::from_str(text).map_err(|err| {
        // The parser's message may quote the input; only its position is kept.
        let first_line = err
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let position = first_line
            .rsplit_once(" at ")
            .map_or(String::new(), |(_, at)| format!(" (at {at})"));
        format!("the kubeconfig is not valid YAML for a kubeconfig{position}")
    })?;
    let wanted = context
        .map(str::to_owned)
        .or(file.current_context.clone())
        .ok_or("the kubeconfig has no current-context: name the context to use")?;
    let context = file
        .contexts
        .iter()
        .find(|named| named.name == wanted)
        .ok_or_else(|| format!("the kubeconfig has no context {wanted:?}"))?;
    let cluster = file
        .clusters
        .iter()
        .find(|named| named.name == context.context.cluster)
        .ok_or_else(|| {
            format!(
                "the kubeconfig has no cluster {:?}",
                context.context.cluster
            )
        })?;
    check_cluster(&cluster.name, &cluster.cluster)?;
    let auth = match auth {
        Some(auth) => auth,
        None => {
            let user = file
                .users
                .iter()
                .find(|named| named.name == context.context.user)
                .ok_or_else(|| format!("the kubeconfig has no user {:?}", context.context.user))?;
            client_auth(&user.name, &user.user)?
        }
    };
    let ca_certificate = cluster
        .cluster
        .certificate_authority_data
        .as_deref()
        .map(|data| decode_pem(data, "certificate-authority-data"))
        .transpose()?;
    Ok(Resolved {
        server: cluster.cluster.server.clone(),
        ca_certificate,
        auth,
    })
}

fn check_cluster(name: &str, cluster: &ClusterEntry) -> Result<(), String> {
    if cluster.certificate_authority.is_some() {
        return Err(format!(
            "cluster {name:?} names a certificate-authority file: paste it as \
             certificate-authority-data (base64) or in the account's CA certificate instead"
        ));
    }
    if cluster.insecure_skip_tls_verify == Some(true) {
        return Err(format!(
            "cluster {name:?} skips TLS verification (insecure-skip-tls-verify): give the API \
             server's CA certificate instead"
        ));
    }
    if cluster.proxy_url.is_some() {
        return Err(format!(
            "cluster {name:?} goes through a proxy (proxy-url): Nimbus connects directly"
        ));
    }
    Ok(())
}

fn client_auth(name: &str, user: &UserEntry) -> Result<ClientAuth, String> {
    let refused = |what: &str, instead: &str| {
        Err(format!(
            "user {name:?} {what}: Nimbus does not allow that; {instead}"
        ))
    };
    let use_token = "use a service-account token or an inline client certificate";
    if user.exec.is_some() {
        return refused("runs a command (exec) for its credential", use_token);
    }
    if user.auth_provider.is_some() {
        return refused("uses an auth-provider plugin", use_token);
    }
    if user.token_file.is_some() || user.client_certificate.is_some() || user.client_key.is_some() {
        return refused(
            "reads its credential from a file",
            "inline it (token, client-certificate-data, client-key-data)",
        );
    }
    if user.username.is_some() || user.password.is_some() {
        return refused("signs in with a user name and password", use_token);
    }
    if user.impersonate.is_some() {
        return refused("impersonates another user (as)", use_token);
    }
    match (
        &user.token,
        &user.client_certificate_data,
        &user.client_key_data,
    ) {
        (Some(token), _, _) if !token.trim().is_empty() => {
            Ok(ClientAuth::Token(token.trim().to_owned()))
        }
        (_, Some(certificate), Some(key)) => Ok(ClientAuth::Certificate {
            certificate: decode_pem(certificate, "client-certificate-data")?,
            key: decode_pem(key, "client-key-data")?,
        }),
        _ => Err(format!(
            "user {name:?} has no token and no client certificate with its key"
        )),
    }
}

/// `*-data` fields hold base64 of PEM text.
/// A base64-encoded PEM block (`certificate-authority-data`, EKS and GKE CA fields) as text.
pub fn decode_pem(data: &str, field: &str) -> Result<String, String> {
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|pem| pem.contains("-----BEGIN "))
        .ok_or_else(|| format!("{field} is not base64 of a PEM block"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_b64(label: &str) -> String {
        STANDARD.encode(format!(
            "-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n"
        ))
    }

    fn kubeconfig(user: &str, cluster_extra: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod-cluster\n  cluster:\n    server: https://k8s.example.com:6443\n    certificate-authority-data: {ca}\n{cluster_extra}contexts:\n- name: prod\n  context:\n    cluster: prod-cluster\n    user: robot\nusers:\n- name: robot\n  user:\n{user}",
            ca = pem_b64("CERTIFICATE"),
        )
    }

    #[test]
    fn a_token_kubeconfig_resolves_its_current_context() {
        let resolved = resolve(&kubeconfig("    token: abc.def\n", ""), None).unwrap();
        assert_eq!(resolved.server, "https://k8s.example.com:6443");
        assert!(
            resolved
                .ca_certificate
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(resolved.auth == ClientAuth::Token("abc.def".into()));
    }

    #[test]
    fn an_inline_client_certificate_is_accepted() {
        let user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            pem_b64("CERTIFICATE"),
            pem_b64("PRIVATE KEY")
        );
        let resolved = resolve(&kubeconfig(&user, ""), Some("prod")).unwrap();
        assert!(matches!(resolved.auth, ClientAuth::Certificate { .. }));
    }

    #[test]
    fn commands_files_proxies_and_skipped_checks_are_refused() {
        let cases = [
            (
                "    exec:\n      command: aws\n      args: [eks, get-token]\n",
                "",
                "exec",
            ),
            ("    auth-provider:\n      name: gcp\n", "", "auth-provider"),
            ("    tokenFile: /var/run/secrets/token\n", "", "file"),
            (
                "    client-certificate: /etc/passwd\n    client-key: /etc/shadow\n",
                "",
                "file",
            ),
            (
                "    username: admin\n    password: hunter2\n",
                "",
                "password",
            ),
            ("    token: t\n    as: system:admin\n", "", "impersonates"),
            (
                "    token: t\n",
                "    proxy-url: http://proxy:3128\n",
                "proxy",
            ),
            (
                "    token: t\n",
                "    insecure-skip-tls-verify: true\n",
                "insecure",
            ),
            (
                "    token: t\n",
                "    certificate-authority: /etc/ca.pem\n",
                "certificate-authority file",
            ),
        ];
        for (user, cluster, expected) in cases {
            let err = resolve(&kubeconfig(user, cluster), None).err().unwrap();
            assert!(err.contains(expected), "{expected}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn missing_pieces_are_named() {
        assert!(
            resolve("clusters: []\n", None)
                .err()
                .unwrap()
                .contains("current-context")
        );
        let err = resolve(&kubeconfig("    token: t\n", ""), Some("staging"))
            .err()
            .unwrap();
        assert!(err.contains("staging"), "{err}");
        let err = resolve(&kubeconfig("    {}\n", ""), None).err().unwrap();
        assert!(err.contains("no token"), "{err}");
        assert!(
            resolve(": : :\n  - [", None)
                .err()
                .unwrap()
                .contains("not valid")
        );
    }
}
