//! Authentication: who is calling, and the credentials that prove it — local passwords,
//! browser sessions, JWT access tokens with rotating refresh tokens, API tokens, single-use
//! links. The extractors in [`extract`] are how handlers state what they require.

pub mod api_tokens;
pub mod extract;
pub mod handlers;
pub mod jwt;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod secret;
pub mod session;
pub mod totp;

use sqlx::PgPool;
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::error::AppError;
use jwt::SigningKeys;
use principal::PrincipalCache;
use rate_limit::RateLimits;

/// The authentication state of one server: signing keys (loaded on first use, so a server
/// starts even while the database is still coming up), the principal cache and the limiters.
pub struct AuthState {
    keys: OnceCell<SigningKeys>,
    issuer: String,
    pub cache: PrincipalCache,
    pub limits: RateLimits,
}

impl AuthState {
    #[must_use]
    pub fn new(config: &Config) -> Self {
        Self {
            keys: OnceCell::new(),
            issuer: config.base_url(),
            cache: PrincipalCache::new(config.auth.principal_cache_ttl),
            limits: RateLimits::new(&config.auth),
        }
    }

    pub async fn keys(&self, pool: &PgPool) -> Result<&SigningKeys, AppError> {
        self.keys
            .get_or_try_init(|| SigningKeys::load(pool, self.issuer.clone()))
            .await
            .map_err(|err| match err {
                jwt::KeyError::Database(err) => AppError::from(err),
                err => AppError::internal(err),
            })
    }
}
