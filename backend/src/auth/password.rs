//! Local account passwords: policy, hashing and verification (SECURITY.md 6).
//!
//! argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's minimum), in PHC string form so parameters
//! can be raised later without invalidating stored hashes. Hashing runs on the blocking pool: it
//! takes tens of milliseconds of CPU and must not stall the async workers. Verifying a login for
//! an unknown account still runs a full verification against a dummy hash, so response time
//! does not reveal whether the account exists.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted (ASVS 6.2.1: at least 8; we ask for 12, with no composition rules).
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted; long passphrases are welcome, unbounded input is not.
pub const MAX_LENGTH: usize = 128;

const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// A password as typed. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Why a new password is refused, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_LENGTH} characters long")]
    TooLong,
    #[error("the password must not contain the account's e-mail address")]
    ContainsEmail,
    #[error("the password is too common or too easy to guess; try a longer passphrase")]
    TooGuessable,
}

impl Password {
    /// Wraps a password for verification: any input is accepted here.
    #[must_use]
    pub fn new(password: String) -> Self {
        Self(password)
    }

    /// A new password for `email`'s account, checked against the policy.
    pub fn new_for_account(password: String, email: &str) -> Result<Self, PasswordRejected> {
        let length = password.chars().count();
        if length < MIN_LENGTH {
            return Err(PasswordRejected::TooShort);
        }
        if length > MAX_LENGTH {
            return Err(PasswordRejected::TooLong);
        }
        let local_part = email.split('@').next().unwrap_or_default().to_lowercase();
        if local_part.len() >= 4 && password.to_lowercase().contains(&local_part) {
            return Err(PasswordRejected::ContainsEmail);
        }
        // zxcvbn ships the common-password and dictionary lists with the binary (ASVS 6.2.4)
        // and scores keyboard walks, repeats and the user's own address; Three means
        // "safely unguessable" at 10^8 guesses.
        if zxcvbn::zxcvbn(&password, &[email, &local_part]).score() < zxcvbn::Score::Three {
            return Err(PasswordRejected::TooGuessable);
        }
        Ok(Self(password))
    }
}

/// A stored password hash (PHC string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHashString(pub String);

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("password hashing failed: {0}")]
    Argon2(String),
    #[error("the hashing task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn hasher() -> Result<Argon2<'static>, HashingError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|err| HashingError::Argon2(err.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &Password) -> Result<PasswordHashString, HashingError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher()?
        .hash_password(password.0.as_bytes(), &salt)
        .map_err(|err| HashingError::Argon2(err.to_string()))?;
    Ok(PasswordHashString(hash.to_string()))
}

/// Hashes a password on the blocking pool.
pub async fn hash(password: Password) -> Result<PasswordHashString, HashingError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// A hash of a random password, for verifying logins of accounts that do not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = SaltString::generate(&mut OsRng);
        hash_blocking(&Password(random.as_str().to_owned()))
            .map_or_else(|_| String::new(), |hash| hash.0)
    })
}

/// Verifies `password` against `stored`, or against a dummy hash when there is no account, so
/// both cases cost the same. A malformed stored hash verifies as false.
pub async fn verify(
    password: Password,
    stored: Option<PasswordHashString>,
) -> Result<bool, HashingError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.map_or_else(|| dummy_hash().to_owned(), |hash| hash.0);
        let matches = PasswordHash::new(&stored).is_ok_and(|parsed| {
            hasher().is_ok_and(|argon2| {
                argon2
                    .verify_password(password.0.as_bytes(), &parsed)
                    .is_ok()
            })
        });
        Ok(known && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let stored = hash(Password::new("correct horse battery".into()))
            .await
            .unwrap();
        assert!(
            stored.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            stored.0
        );
        assert!(
            verify(
                Password::new("correct horse battery".into()),
                Some(stored.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !verify(Password::new("correct horse battery!".into()), Some(stored))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let first = hash(Password::new("same password twice".into()))
            .await
            .unwrap();
        let second = hash(Password::new("same password twice".into()))
            .await
            .unwrap();
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
        assert!(!verify(Password::new(String::new()), None).await.unwrap());
        assert!(
            !verify(Password::new("anything at all".into()), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_verifies_as_false() {
        let broken = PasswordHashString("not-a-phc-string".into());
        assert!(
            !verify(Password::new("whatever password".into()), Some(broken))
                .await
                .unwrap()
        );
    }

    #[test]
    fn the_policy_asks_for_length_not_composition() {
        let email = "grace@example.com";
        assert_eq!(
            Password::new_for_account("short".into(), email).unwrap_err(),
            PasswordRejected::TooShort
        );
        assert_eq!(
            Password::new_for_account("x".repeat(MAX_LENGTH + 1), email).unwrap_err(),
            PasswordRejected::TooLong
        );
        assert_eq!(
            Password::new_for_account("Grace-is-my-password".into(), email).unwrap_err(),
            PasswordRejected::ContainsEmail
        );
        // Lowercase words are fine: no composition rules (ASVS 6.2.5).
        assert!(Password::new_for_account("plum tractor velvet".into(), email).is_ok());
        // Length counts characters, not bytes.
        assert_eq!(
            Password::new_for_account("ééééééééééé".into(), email).unwrap_err(),
            PasswordRejected::TooShort
        );
    }

    #[test]
    fn common_and_patterned_passwords_are_refused_whatever_their_length() {
        for common in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "aaaaaaaaaaaaaaaa",
            "iloveyou1234",
        ] {
            assert_eq!(
                Password::new_for_account(common.into(), "grace@example.com").unwrap_err(),
                PasswordRejected::TooGuessable,
                "{common}"
            );
        }
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::new("hunter2hunter2".into());
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
