//! A real OpenID provider for the single sign-on tests: npm `oidc-provider` (pinned in
//! `tools/package.json`) run by `tests/oidc/provider.mjs` on 127.0.0.1 — discovery, JWKS,
//! authorization code with PKCE required, and its development login form (any user name; the
//! script's accounts give e-mails and groups).

use crate::{free_port, start_watched};

pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`, exactly as its tokens carry it.
    pub issuer: String,
}

/// Starts a provider of its own that knows `clients` (`[{"client_id", "client_secret",
/// "redirect_uris": [...]}]`).
pub async fn start(clients: &serde_json::Value) -> OidcProvider {
    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc/provider.mjs");
    // JSON holds no single quote: it goes through the shell as one word.
    start_watched(&format!("node {script} {port} '{clients}'"), port).await;
    OidcProvider {
        issuer: format!("http://127.0.0.1:{port}"),
    }
}
