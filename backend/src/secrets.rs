//! Envelope encryption of stored secrets (DESIGN.md invariant 3, SECURITY.md 17).
//!
//! Each secret gets its own random data key (AES-256-GCM); the data key is wrapped by a
//! versioned master key that never enters the database. Both layers bind the secret's
//! [`Binding`] (purpose, tenant, record) as associated data, so a ciphertext copied to another
//! row — or another tenant — fails to open, as does any flipped byte.
//!
//! Master keys come from `secrets.master_keys` or, when none are configured, from the key file
//! in the data directory (created on first start). The highest version seals; the others only
//! open, until `nimbus admin rewrap-secrets` has moved every data key to the newest one and the
//! old version can be retired.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use nimbus_api_types::ids::TenantId;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

const KEY_LEN: usize = 32;

/// The name of the key file in the data directory.
pub const KEY_FILE: &str = "master-keys";

/// A master key as configured: `VERSION:BASE64` (32 random bytes), e.g. from
/// `head -c32 /dev/urandom | base64`. `Debug` never shows the key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MasterKeySpec {
    version: i32,
    key: [u8; KEY_LEN],
}

impl TryFrom<String> for MasterKeySpec {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let (version, key) = value
            .trim()
            .split_once(':')
            .ok_or("a master key is written VERSION:BASE64")?;
        let version: i32 = version
            .parse()
            .ok()
            .filter(|version| *version > 0)
            .ok_or("a master key's version is a positive number")?;
        let key = BASE64
            .decode(key)
            .ok()
            .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
            .ok_or("a master key is 32 bytes in base64")?;
        Ok(Self { version, key })
    }
}

impl From<MasterKeySpec> for String {
    fn from(spec: MasterKeySpec) -> Self {
        format!("{}:{}", spec.version, BASE64.encode(spec.key))
    }
}

impl fmt::Debug for MasterKeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKeySpec(version {}, ****)", self.version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The ciphertext, its binding or the master key do not match. Deliberately vague.
    #[error("a stored secret could not be decrypted")]
    Undecryptable,
    #[error("the secret was sealed with master key version {0}, which is not configured")]
    UnknownKeyVersion(i32),
    #[error("no master key: {0}")]
    NoKey(String),
}

/// What a secret belongs to, bound into its ciphertext.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub purpose: &'a str,
    pub tenant: TenantId,
    pub record: uuid::Uuid,
}

impl Binding<'_> {
    fn bytes(&self, layer: &str, version: i32) -> Vec<u8> {
        format!(
            "nimbus/{layer}/{}/{}/{}/v{version}",
            self.purpose, self.tenant, self.record
        )
        .into_bytes()
    }
}

/// A secret as stored: the master key version, the wrapped data key and the ciphertext (each
/// `nonce || sealed bytes || tag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_version: i32,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The configured master keys; the highest version seals.
pub struct MasterKeys {
    keys: BTreeMap<i32, LessSafeKey>,
    random: SystemRandom,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MasterKeys {
    pub fn new(specs: &[MasterKeySpec]) -> Result<Self, SecretError> {
        let mut keys = BTreeMap::new();
        for spec in specs {
            let key = UnboundKey::new(&AES_256_GCM, &spec.key)
                .map_err(|_| SecretError::NoKey("the key was refused".into()))?;
            if keys.insert(spec.version, LessSafeKey::new(key)).is_some() {
                return Err(SecretError::NoKey(format!(
                    "version {} is configured twice",
                    spec.version
                )));
            }
        }
        if keys.is_empty() {
            return Err(SecretError::NoKey("none is configured".into()));
        }
        Ok(Self {
            keys,
            random: SystemRandom::new(),
        })
    }

    /// The configured keys, or else those of the key file in `data_dir`, created with one new
    /// key when it does not exist (readable by its owner only).
    pub fn load(configured: &[MasterKeySpec], data_dir: &Path) -> Result<Self, SecretError> {
        if !configured.is_empty() {
            return Self::new(configured);
        }
        let path = data_dir.join(KEY_FILE);
        let failed = |err: std::io::Error| SecretError::NoKey(format!("{}: {err}", path.display()));
        if !path.exists() {
            std::fs::create_dir_all(data_dir).map_err(failed)?;
            let mut key = [0u8; KEY_LEN];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| SecretError::NoKey("no randomness".into()))?;
            let line = String::from(MasterKeySpec { version: 1, key });
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode_owner_only()
                .open(&path)
                .map_err(failed)?;
            writeln!(file, "{line}").map_err(failed)?;
            tracing::warn!(path = %path.display(), "created a master key file: back it up \
                apart from the database, or cloud credentials cannot be read after a restore");
        }
        let text = std::fs::read_to_string(&path).map_err(failed)?;
        let specs = text
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .map(|line| MasterKeySpec::try_from(line.to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| SecretError::NoKey(format!("{}: {why}", path.display())))?;
        Self::new(&specs)
    }

    /// The version that seals new secrets.
    #[must_use]
    pub fn current_version(&self) -> i32 {
        self.keys.keys().next_back().copied().unwrap_or_default()
    }

    pub fn seal(&self, plaintext: &[u8], binding: Binding<'_>) -> Result<Sealed, SecretError> {
        let version = self.current_version();
        let master = self
            .keys
            .get(&version)
            .ok_or(SecretError::UnknownKeyVersion(version))?;
        let mut data_key = [0u8; KEY_LEN];
        self.random
            .fill(&mut data_key)
            .map_err(|_| SecretError::Undecryptable)?;
        let data_cipher = UnboundKey::new(&AES_256_GCM, &data_key)
            .map(LessSafeKey::new)
            .map_err(|_| SecretError::Undecryptable)?;
        let ciphertext = self.encrypt(&data_cipher, plaintext, &binding.bytes("data", 0))?;
        let wrapped_key = self.encrypt(master, &data_key, &binding.bytes("key", version))?;
        Ok(Sealed {
            key_version: version,
            wrapped_key,
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &Sealed, binding: Binding<'_>) -> Result<Vec<u8>, SecretError> {
        let data_key = self.unwrap_key(sealed, binding)?;
        let data_cipher = UnboundKey::new(&AES_256_GCM, &data_key)
            .map(LessSafeKey::new)
            .map_err(|_| SecretError::Undecryptable)?;
        decrypt(&data_cipher, &sealed.ciphertext, &binding.bytes("data", 0))
    }

    /// The same secret with its data key wrapped by the current master key (the ciphertext
    /// itself is unchanged).
    pub fn rewrap(&self, sealed: &Sealed, binding: Binding<'_>) -> Result<Sealed, SecretError> {
        let data_key = self.unwrap_key(sealed, binding)?;
        let version = self.current_version();
        let master = self
            .keys
            .get(&version)
            .ok_or(SecretError::UnknownKeyVersion(version))?;
        Ok(Sealed {
            key_version: version,
            wrapped_key: self.encrypt(master, &data_key, &binding.bytes("key", version))?,
            ciphertext: sealed.ciphertext.clone(),
        })
    }

    fn unwrap_key(&self, sealed: &Sealed, binding: Binding<'_>) -> Result<Vec<u8>, SecretError> {
        let master = self
            .keys
            .get(&sealed.key_version)
            .ok_or(SecretError::UnknownKeyVersion(sealed.key_version))?;
        decrypt(
            master,
            &sealed.wrapped_key,
            &binding.bytes("key", sealed.key_version),
        )
    }

    fn encrypt(
        &self,
        key: &LessSafeKey,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SecretError::Undecryptable)?;
        let mut sealed = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut sealed,
        )
        .map_err(|_| SecretError::Undecryptable)?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }
}

fn decrypt(key: &LessSafeKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecretError> {
    if sealed.len() < NONCE_LEN {
        return Err(SecretError::Undecryptable);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Undecryptable)?;
    let mut buffer = body.to_vec();
    let plaintext = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| SecretError::Undecryptable)?;
    Ok(plaintext.to_vec())
}

/// `OpenOptions::mode(0o600)` where the platform has it.
trait OwnerOnly {
    fn mode_owner_only(&mut self) -> &mut Self;
}

impl OwnerOnly for std::fs::OpenOptions {
    #[cfg(unix)]
    fn mode_owner_only(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
    #[cfg(not(unix))]
    fn mode_owner_only(&mut self) -> &mut Self {
        self
    }
}

/// What re-wrapping one kind of stored secret did (`nimbus admin rewrap-secrets`).
#[derive(Debug, PartialEq, Eq)]
pub struct Rewrapped<Id> {
    pub rewrapped: u64,
    /// Secrets whose data key did not open (damaged or copied rows): left as they are; their
    /// owners must enter them again.
    pub unreadable: Vec<Id>,
}

impl<Id> Default for Rewrapped<Id> {
    fn default() -> Self {
        Self {
            rewrapped: 0,
            unreadable: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: i32, byte: u8) -> MasterKeySpec {
        MasterKeySpec {
            version,
            key: [byte; KEY_LEN],
        }
    }

    fn binding(tenant: u128, record: u128) -> Binding<'static> {
        Binding {
            purpose: "test",
            tenant: TenantId(uuid::Uuid::from_u128(tenant)),
            record: uuid::Uuid::from_u128(record),
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_binding_and_intact_bytes() {
        let keys = MasterKeys::new(&[spec(1, 7)]).unwrap();
        let sealed = keys.seal(b"canary-secret", binding(1, 2)).unwrap();
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"canary"));
        assert_eq!(keys.open(&sealed, binding(1, 2)).unwrap(), b"canary-secret");
        // Another tenant's row, another record of the same tenant.
        assert!(keys.open(&sealed, binding(9, 2)).is_err());
        assert!(keys.open(&sealed, binding(1, 3)).is_err());
        for (field, len) in [(0, sealed.wrapped_key.len()), (1, sealed.ciphertext.len())] {
            for at in 0..len {
                let mut damaged = sealed.clone();
                let bytes = if field == 0 {
                    &mut damaged.wrapped_key
                } else {
                    &mut damaged.ciphertext
                };
                bytes[at] ^= 0x01;
                assert!(keys.open(&damaged, binding(1, 2)).is_err(), "{field}/{at}");
            }
        }
    }

    #[test]
    fn rotation_seals_with_the_newest_key_and_rewrap_retires_the_old_one() {
        let old = MasterKeys::new(&[spec(1, 7)]).unwrap();
        let sealed = old.seal(b"s3cret", binding(1, 2)).unwrap();
        let both = MasterKeys::new(&[spec(1, 7), spec(2, 8)]).unwrap();
        assert_eq!(both.current_version(), 2);
        assert_eq!(both.open(&sealed, binding(1, 2)).unwrap(), b"s3cret");
        let rewrapped = both.rewrap(&sealed, binding(1, 2)).unwrap();
        assert_eq!(rewrapped.key_version, 2);
        let new_only = MasterKeys::new(&[spec(2, 8)]).unwrap();
        assert_eq!(new_only.open(&rewrapped, binding(1, 2)).unwrap(), b"s3cret");
        assert!(matches!(
            new_only.open(&sealed, binding(1, 2)),
            Err(SecretError::UnknownKeyVersion(1))
        ));
        // A key with the same version but other bytes opens nothing.
        let wrong = MasterKeys::new(&[spec(2, 9)]).unwrap();
        assert!(wrong.open(&rewrapped, binding(1, 2)).is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = MasterKeys::load(&[], dir.path()).unwrap();
        let sealed = first.seal(b"x", binding(1, 1)).unwrap();
        let again = MasterKeys::load(&[], dir.path()).unwrap();
        assert_eq!(again.open(&sealed, binding(1, 1)).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(format!("{:?}", spec(1, 7)).contains("****"));
        assert!(MasterKeySpec::try_from("1:c2hvcnQ=".to_owned()).is_err());
        assert!(MasterKeySpec::try_from(format!("0:{}", BASE64.encode([0u8; 32]))).is_err());
    }
}
