//! Bearer secrets: session cookies, API and refresh tokens, single-use links.
//!
//! 256 bits from the operating system's CSPRNG, base64url, behind a recognizable prefix so
//! secret scanners and people can tell what leaked. Only the SHA-256 of a secret is stored: a
//! database dump holds nothing that can be presented (SECURITY.md 12). The secrets are uniformly
//! random, so a fast hash is enough; no salt or stretching is needed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// What a secret is for; its prefix says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    ApiToken,
    RefreshToken,
    SessionCookie,
    /// The per-session anti-CSRF token (not stored hashed: the dashboard reads it back).
    Csrf,
    /// Invitation, password-reset and setup links.
    Link,
    /// Binds a single sign-on in flight to the browser that started it (a cookie).
    SsoBrowser,
}

impl SecretKind {
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::ApiToken => "nimbus_pat_",
            Self::RefreshToken => "nimbus_rt_",
            Self::SessionCookie => "nimbus_sid_",
            Self::Csrf => "nimbus_csrf_",
            Self::Link => "nimbus_link_",
            Self::SsoBrowser => "nimbus_sso_",
        }
    }
}

const SECRET_BYTES: usize = 32;

/// A freshly generated secret: the plaintext goes to its owner once, the hash to the database.
pub struct NewSecret {
    kind: SecretKind,
    pub plaintext: String,
    pub hash: SecretHash,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSecret(***)")
    }
}

/// The SHA-256 of a presented secret, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    #[must_use]
    pub fn of(presented: &str) -> Self {
        let mut hash = [0; 32];
        hash.copy_from_slice(digest(&SHA256, presented.as_bytes()).as_ref());
        Self(hash)
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lower-case hex, as row-level security policies compare it (`app.credential_hash`).
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// The random source failed: the server cannot mint secrets and must not pretend to.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomUnavailable;

impl NewSecret {
    pub fn generate(kind: SecretKind) -> Result<Self, RandomUnavailable> {
        let mut bytes = [0; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| RandomUnavailable)?;
        let plaintext = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
        let hash = SecretHash::of(&plaintext);
        Ok(Self {
            kind,
            plaintext,
            hash,
        })
    }

    /// The first characters, safe to show in lists: the prefix and 4 random characters
    /// (24 bits: enough to tell tokens apart, far too few to guess the rest).
    #[must_use]
    pub fn display_prefix(&self) -> String {
        self.plaintext
            .chars()
            .take(self.kind.prefix().len() + 4)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_their_prefix_and_at_least_256_bits() {
        let secret = NewSecret::generate(SecretKind::ApiToken).unwrap();
        let body = secret.plaintext.strip_prefix("nimbus_pat_").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_eq!(secret.hash, SecretHash::of(&secret.plaintext));
    }

    #[test]
    fn two_secrets_differ() {
        let a = NewSecret::generate(SecretKind::Link).unwrap();
        let b = NewSecret::generate(SecretKind::Link).unwrap();
        assert_ne!(a.plaintext, b.plaintext);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn the_display_prefix_is_the_kind_and_four_characters() {
        let secret = NewSecret::generate(SecretKind::ApiToken).unwrap();
        let shown = secret.display_prefix();
        assert_eq!(shown.len(), "nimbus_pat_".len() + 4);
        assert!(secret.plaintext.starts_with(&shown));
        assert!(!format!("{secret:?}").contains(&secret.plaintext));
    }

    #[test]
    fn hex_matches_the_bytes() {
        let hash = SecretHash::of("x");
        assert_eq!(hash.to_hex().len(), 64);
        assert!(hash.to_hex().starts_with("2d711642"));
    }
}
