//! The one HTTP client for targets users choose (SECURITY.md 19): `https://` only unless
//! allowed, names resolved once and the connection pinned to the checked addresses, no
//! loopback / private / link-local (cloud metadata) targets unless allowed, no redirects,
//! a deadline on every call and a cap on what is read back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Client, Url};

use crate::config::OutboundConfig;

/// Most bytes of an answer that are read (the rest is dropped).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Refused(String),
    #[error("the call failed: {0}")]
    Failed(String),
}

/// Whether `ip` is an address on the public internet (not loopback, private, link-local,
/// shared, multicast, documentation or reserved).
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.to_ipv4().is_some()) // IPv4-compatible and other embeddings
}

/// Resolves `host` and keeps only the addresses the policy allows: every client for
/// user-chosen targets connects to exactly these, so a second lookup cannot swap in another.
pub async fn resolve_checked(host: &str, allow_private: bool) -> std::io::Result<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await?
        .filter(|addr| allow_private || is_public(addr.ip()))
        .collect();
    if found.is_empty() {
        return Err(std::io::Error::other(format!(
            "{host} has no public address"
        )));
    }
    Ok(found)
}

/// reqwest's side of [`resolve_checked`].
struct CheckedResolver {
    allow_private_networks: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private_networks;
        Box::pin(async move {
            let found = resolve_checked(name.as_str(), allow_private).await?;
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// `builder` also trusting the authorities of a PEM bundle (checked when it was read).
fn trusting(builder: reqwest::ClientBuilder, pem: &[u8]) -> reqwest::ClientBuilder {
    reqwest::Certificate::from_pem_bundle(pem)
        .unwrap_or_default()
        .into_iter()
        .fold(builder, reqwest::ClientBuilder::add_root_certificate)
}

/// No redirects, no proxies, `https://` unless allowed, names resolved by [`resolve_checked`].
fn policy_builder(allow_http: bool, allow_private_networks: bool) -> reqwest::ClientBuilder {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .https_only(!allow_http)
        .no_proxy()
        .user_agent(concat!("Nimbus/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver {
            allow_private_networks,
        }))
}

/// The authorities of `outbound.extra_ca_file`, PEM as read (empty without one).
pub fn extra_authorities(config: &OutboundConfig) -> Result<Vec<u8>, OutboundError> {
    let Some(path) = &config.extra_ca_file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path)
        .map_err(|err| OutboundError::Refused(format!("cannot read {}: {err}", path.display())))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(found) if !found.is_empty() => Ok(pem),
        _ => Err(OutboundError::Refused(format!(
            "{} holds no PEM certificate",
            path.display()
        ))),
    }
}

/// A client and the policy it enforces.
#[derive(Clone)]
pub struct Outbound {
    client: Client,
    allow_http: bool,
    allow_private_networks: bool,
    /// `outbound.extra_ca_file` as read, trusted beside the public authorities.
    extra_authorities: Arc<Vec<u8>>,
}

impl Outbound {
    pub fn new(config: &OutboundConfig) -> Result<Self, OutboundError> {
        let extra_authorities = Arc::new(extra_authorities(config)?);
        let client = trusting(
            policy_builder(config.allow_http, config.allow_private_networks),
            &extra_authorities,
        )
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .build()
        .map_err(|err| OutboundError::Failed(err.to_string()))?;
        Ok(Self {
            client,
            allow_http: config.allow_http,
            allow_private_networks: config.allow_private_networks,
            extra_authorities,
        })
    }

    /// A builder with this policy and trust, for a client that needs more (a client
    /// certificate, its own deadline); the caller sets the overall timeout.
    pub fn builder(&self) -> reqwest::ClientBuilder {
        trusting(
            policy_builder(self.allow_http, self.allow_private_networks),
            &self.extra_authorities,
        )
    }

    /// A builder with this policy trusting `authorities` (PEM) alone: a server with its own
    /// CA, which no public or operator-added authority may vouch for.
    pub fn builder_trusting_only(
        &self,
        authorities: &[u8],
    ) -> Result<reqwest::ClientBuilder, OutboundError> {
        let certificates = reqwest::Certificate::from_pem_bundle(authorities)
            .ok()
            .filter(|found| !found.is_empty())
            .ok_or_else(|| OutboundError::Refused("not a PEM certificate".into()))?;
        Ok(certificates.into_iter().fold(
            policy_builder(self.allow_http, self.allow_private_networks)
                .tls_built_in_root_certs(false),
            reqwest::ClientBuilder::add_root_certificate,
        ))
    }

    /// The operator-added authorities (PEM), for clients not built on reqwest (the AWS SDK's).
    #[must_use]
    pub fn extra_authorities(&self) -> &[u8] {
        &self.extra_authorities
    }

    /// Whether non-public addresses may be reached (resolvers of other clients follow it).
    #[must_use]
    pub fn allows_private_networks(&self) -> bool {
        self.allow_private_networks
    }

    /// Checks a target before it is stored: scheme, no credentials in it, and — for an address
    /// written as an IP, which is never resolved — that the address is allowed.
    pub fn check_url(&self, raw: &str) -> Result<Url, OutboundError> {
        let refused = |why: &str| OutboundError::Refused(format!("the URL {why}"));
        let url = Url::parse(raw).map_err(|_| refused("is not a valid absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(refused("must use https://")),
            _ => return Err(refused("must be https://")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("must not carry a user name or password"));
        }
        let literal = match url.host() {
            None => return Err(refused("has no host")),
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
        };
        if let Some(ip) = literal
            && !self.allow_private_networks
            && !is_public(ip)
        {
            return Err(refused("points to a private or reserved address"));
        }
        Ok(url)
    }

    /// POSTs `body` as JSON to `url` (checked again); the status and the start of the answer.
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), OutboundError> {
        let url = self.check_url(url)?;
        let mut response = self
            .client
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|err| OutboundError::Failed(describe(&err)))?;
        let status = response.status().as_u16();
        let mut text = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| OutboundError::Failed(describe(&err)))?
        {
            let room = MAX_RESPONSE_BYTES.saturating_sub(text.len());
            text.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        Ok((status, String::from_utf8_lossy(&text).into_owned()))
    }
}

/// An error and its causes on one line (reqwest's own message omits them).
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(allow_http: bool, allow_private_networks: bool) -> Outbound {
        Outbound::new(&OutboundConfig {
            allow_http,
            allow_private_networks,
            timeout: std::time::Duration::from_secs(2),
            extra_ca_file: None,
        })
        .unwrap()
    }

    #[test]
    fn metadata_loopback_and_private_addresses_are_not_public() {
        for ip in [
            "169.254.169.254",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_by_scheme_credentials_and_literal_address() {
        let strict = outbound(false, false);
        assert!(strict.check_url("https://hooks.example.com/x").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://user:pw@hooks.example.com/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:127.0.0.1]/",
            "not a url",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad}");
        }
        assert!(
            outbound(true, true)
                .check_url("http://127.0.0.1:9/x")
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_connect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = outbound(true, false)
            .post_json(&format!("http://localhost:{port}/"), &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no public address"), "{err}");
    }
}
