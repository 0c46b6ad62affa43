//! Short-lived JWT access tokens (SECURITY.md 9, RFC 8725).
//!
//! One pinned algorithm (EdDSA over Ed25519), a `kid` on every token, `typ` `at+jwt`, and the
//! claims `iss`, `aud`, `sub`, `exp`, `nbf` required. Keys live in the database so every replica
//! signs and verifies alike; the newest unretired key signs and every unretired key verifies and
//! is published at `/.well-known/jwks.json`, so a rotation never cuts off tokens in flight.
//! Header fields that point elsewhere for keys (`jku`, `x5u`, `jwk`) are never read: the key is
//! always ours, chosen by `kid`. A token only proves who signed in; the session it names is
//! checked on every use, so revoking the session revokes its tokens.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use nimbus_api_types::ids::{SessionId, TenantId, UserId};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// The only algorithm accepted or produced.
const ALGORITHM: Algorithm = Algorithm::EdDSA;
/// The `typ` header of our access tokens (RFC 9068), so no other JWT passes for one.
const TOKEN_TYPE: &str = "at+jwt";
/// The audience of every access token: this API.
pub const AUDIENCE: &str = "nimbus-api";
/// Clock skew tolerated between replicas (SECURITY.md, reliability).
const LEEWAY_SECS: u64 = 60;
/// An unknown `kid` reloads the keys from the database at most this often.
const RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    /// The session the token was issued in: checked on every use.
    pub sid: SessionId,
    /// The tenant the token works in.
    pub tid: TenantId,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing keys could not be read or stored: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a signing key could not be generated or loaded")]
    Crypto,
    #[error("a token could not be signed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Why a presented token was refused. Never shown to clients beyond "invalid token".
#[derive(Debug, thiserror::Error)]
pub enum TokenRejected {
    #[error("malformed or wrongly signed token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token's header is not ours (typ or alg)")]
    ForeignHeader,
    #[error("no key with this kid")]
    UnknownKey,
    #[error("the keys could not be reloaded: {0}")]
    Keys(#[from] sqlx::Error),
}

struct Ring {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, (DecodingKey, Vec<u8>)>,
}

/// The key ring of this server, loaded from the database.
pub struct SigningKeys {
    issuer: String,
    ring: RwLock<Ring>,
    /// When an unknown `kid` last made this server reload its keys (`None`: never), so a key
    /// rotated in by another server is picked up at once and a flood of bad kids is not.
    last_reload: std::sync::Mutex<Option<Instant>>,
}

impl SigningKeys {
    /// Loads the keys, creating the first one when there is none.
    pub async fn load(pool: &PgPool, issuer: String) -> Result<Self, KeyError> {
        if !has_active_key(pool).await? {
            // Several replicas may start at once: only the first insert lands.
            insert_key(pool, true).await?;
        }
        let ring = read_ring(pool).await?;
        Ok(Self {
            issuer,
            ring: RwLock::new(ring),
            last_reload: std::sync::Mutex::new(None),
        })
    }

    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs an access token for `session`, valid for `lifetime` from `now`.
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        tenant: TenantId,
        now: chrono::DateTime<chrono::Utc>,
        lifetime: Duration,
    ) -> Result<String, KeyError> {
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: user,
            sid: session,
            tid: tenant,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: now.timestamp().saturating_add(lifetime),
            jti: Uuid::new_v4(),
        };
        let ring = self.ring.read().map_err(|_| KeyError::Crypto)?;
        let mut header = Header::new(ALGORITHM);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(ring.signing_kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &ring.signing)?)
    }

    /// Verifies signature, algorithm, type and claims. The caller still checks the session.
    pub async fn verify(&self, token: &str, pool: &PgPool) -> Result<AccessClaims, TokenRejected> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != ALGORITHM || header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenRejected::ForeignHeader);
        }
        let kid = header.kid.ok_or(TokenRejected::UnknownKey)?;
        if !self.knows(&kid) && self.may_reload() {
            let ring = read_ring(pool).await.map_err(|err| match err {
                KeyError::Database(err) => TokenRejected::Keys(err),
                _ => TokenRejected::UnknownKey,
            })?;
            if let Ok(mut current) = self.ring.write() {
                *current = ring;
            }
        }
        let ring = self.ring.read().map_err(|_| TokenRejected::UnknownKey)?;
        let (key, _) = ring.verifying.get(&kid).ok_or(TokenRejected::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation())?;
        Ok(data.claims)
    }

    fn validation(&self) -> Validation {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        validation
    }

    fn knows(&self, kid: &str) -> bool {
        self.ring
            .read()
            .is_ok_and(|ring| ring.verifying.contains_key(kid))
    }

    fn may_reload(&self) -> bool {
        let Ok(mut last) = self.last_reload.lock() else {
            return false;
        };
        if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// The public keys as a JSON Web Key Set (RFC 7517, OKP keys of RFC 8037).
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .ring
            .read()
            .map(|ring| {
                let mut keys: Vec<_> = ring
                    .verifying
                    .iter()
                    .map(|(kid, (_, public))| {
                        serde_json::json!({
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": URL_SAFE_NO_PAD.encode(public),
                            "kid": kid,
                            "alg": "EdDSA",
                            "use": "sig",
                        })
                    })
                    .collect();
                keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
                keys
            })
            .unwrap_or_default();
        serde_json::json!({ "keys": keys })
    }
}

/// Adds a new signing key, which signs from the next reload on; keys older than the previous one
/// are retired (tokens they signed have expired long since). Used by `nimbus admin rotate-signing-key`.
pub async fn rotate(pool: &PgPool) -> Result<String, KeyError> {
    let kid = insert_key(pool, false).await?;
    sqlx::query!(
        "UPDATE signing_keys SET retired_at = now()
         WHERE retired_at IS NULL
           AND kid NOT IN (SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 2)"
    )
    .execute(pool)
    .await?;
    Ok(kid)
}

async fn has_active_key(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL) AS "exists!""#
    )
    .fetch_one(pool)
    .await
}

/// Generates and stores a key. With `only_if_none`, nothing is stored when another server
/// stored one first.
async fn insert_key(pool: &PgPool, only_if_none: bool) -> Result<String, KeyError> {
    let pkcs8 =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Crypto)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Crypto)?;
    let kid = Uuid::new_v4().simple().to_string();
    sqlx::query!(
        "INSERT INTO signing_keys (kid, private_key, public_key)
         SELECT $1, $2, $3
         WHERE NOT $4 OR NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)",
        kid,
        pkcs8.as_ref(),
        pair.public_key().as_ref(),
        only_if_none,
    )
    .execute(pool)
    .await?;
    Ok(kid)
}

async fn read_ring(pool: &PgPool) -> Result<Ring, KeyError> {
    let rows = sqlx::query!(
        "SELECT kid, private_key, public_key FROM signing_keys
         WHERE retired_at IS NULL ORDER BY created_at DESC, kid"
    )
    .fetch_all(pool)
    .await?;
    let newest = rows.first().ok_or(KeyError::Crypto)?;
    Ok(Ring {
        signing_kid: newest.kid.clone(),
        signing: EncodingKey::from_ed_der(&newest.private_key),
        verifying: rows
            .iter()
            .map(|row| {
                (
                    row.kid.clone(),
                    (
                        DecodingKey::from_ed_der(&row.public_key),
                        row.public_key.clone(),
                    ),
                )
            })
            .collect(),
    })
}
