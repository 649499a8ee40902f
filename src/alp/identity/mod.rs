//! A profile's Ed25519 identity: the key files under `alp/secrets/`, signing and
//! verification, and the 44-character base64 form peers pin (ALP spec §1).
//!
//! The private PEM is the source of truth; the public PEM is derived from it and
//! rewritten when missing or stale. The signature backend is chosen at build time.

pub mod pem;
pub mod x25519;

#[cfg(feature = "salty")]
#[path = "salty.rs"]
mod backend;

#[cfg(all(feature = "dalek", not(feature = "salty")))]
#[path = "dalek.rs"]
mod backend;

#[cfg(not(any(feature = "dalek", feature = "salty")))]
compile_error!("enable an Ed25519 backend: feature `dalek` (default) or `salty`");

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64ct::{Base64, Encoding};
use zeroize::Zeroizing;

use crate::fsio;

/// Private key file name inside `alp/secrets/`.
pub const PRIVATE_FILE: &str = "alp_key.pem";
/// Public key file name inside `alp/secrets/`.
pub const PUBLIC_FILE: &str = "alp_key.pub";
/// Serialises key creation between processes sharing a profile.
const CREATE_LOCK: &str = "alp_key.lock";

/// Name of the signature backend compiled in.
pub const BACKEND: &str = if cfg!(feature = "salty") { "salty" } else { "ed25519-dalek" };

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] fsio::Error),
    #[error("{}: {source} — restore the key from a backup, or move the file aside to make a new identity (peers that pinned the old one will stop trusting this profile)", path.display())]
    BadKeyFile { path: PathBuf, source: pem::PemError },
    #[error("no identity yet at {} — `alpi peers key` creates one", path.display())]
    Missing { path: PathBuf },
    #[error("could not read the system's random source: {0}")]
    Random(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The 44-character standard base64 of a raw Ed25519 public key: what peers pin.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity([u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an identity: expected 44 characters of base64 encoding 32 bytes")]
pub struct BadIdentity;

impl Identity {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// First 8 characters, `…`, last 4: how lists show an identity.
    pub fn short(&self) -> String {
        let full = self.to_string();
        format!("{}…{}", &full[..8], &full[40..])
    }

    /// Whether `signature` is this identity's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        backend::verify(&self.0, message, signature)
    }

    /// The X25519 public key the Noise layer uses for this identity.
    pub fn x25519_public(&self) -> Option<[u8; 32]> {
        x25519::public_from_ed25519(&self.0)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 44];
        f.write_str(Base64::encode(&self.0, &mut buf).expect("44 bytes fit 32 in base64"))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}

impl FromStr for Identity {
    type Err = BadIdentity;

    /// Only the canonical padded form is accepted, so one key has one spelling.
    fn from_str(s: &str) -> std::result::Result<Self, BadIdentity> {
        let s = s.trim();
        if s.len() != 44 {
            return Err(BadIdentity);
        }
        let mut out = [0u8; 32];
        match Base64::decode(s, &mut out) {
            Ok(decoded) if decoded.len() == 32 => Ok(Self(out)),
            _ => Err(BadIdentity),
        }
    }
}

/// A loaded private identity. Never printed or logged.
pub struct Keypair {
    seed: Zeroizing<[u8; 32]>,
    secret: backend::SecretKey,
    identity: Identity,
}

impl Keypair {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let secret = backend::SecretKey::from_seed(&seed);
        let identity = Identity(secret.public());
        Self { seed: Zeroizing::new(seed), secret, identity }
    }

    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self::from_seed(*seed))
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.secret.sign(message)
    }

    /// The X25519 private key the Noise layer uses for this identity.
    pub fn x25519_private(&self) -> Zeroizing<[u8; 32]> {
        x25519::private_from_seed(&self.seed)
    }

    pub fn private_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode_private(&self.seed))
    }

    pub fn public_pem(&self) -> String {
        pem::encode_public(self.identity.as_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.identity)
    }
}

/// Where a profile keeps its key files (`<home>/alp/secrets`).
#[derive(Debug, Clone)]
pub struct KeyFiles {
    dir: PathBuf,
}

impl KeyFiles {
    pub fn new(secrets_dir: &Path) -> Self {
        Self { dir: secrets_dir.to_owned() }
    }

    pub fn private_path(&self) -> PathBuf {
        self.dir.join(PRIVATE_FILE)
    }

    pub fn public_path(&self) -> PathBuf {
        self.dir.join(PUBLIC_FILE)
    }

    /// Loads the key pair from the private file.
    pub fn load(&self) -> Result<Keypair> {
        let path = self.private_path();
        let text = fsio::read_optional(&path)?.ok_or_else(|| Error::Missing { path: path.clone() })?;
        let text = Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
        let seed = pem::decode_private(&text).map_err(|source| Error::BadKeyFile { path, source })?;
        Ok(Keypair::from_seed(seed))
    }

    /// The identity alone, read from the public file (no private key is touched).
    pub fn read_identity(&self) -> Result<Identity> {
        let path = self.public_path();
        let text = fsio::read_optional(&path)?.ok_or_else(|| Error::Missing { path: path.clone() })?;
        let key = pem::decode_public(&String::from_utf8_lossy(&text))
            .map_err(|source| Error::BadKeyFile { path, source })?;
        Ok(Identity(key))
    }

    /// Loads the key pair, creating it on first use. Also repairs a missing or stale
    /// public file. Safe against another process creating it at the same moment.
    pub fn load_or_create(&self) -> Result<(Keypair, bool)> {
        fsio::ensure_private_dir(&self.dir)?;
        let _lock = fsio::lock_exclusive(&self.dir.join(CREATE_LOCK))?;
        let (keys, created) = match self.load() {
            Ok(keys) => (keys, false),
            Err(Error::Missing { .. }) => {
                let keys = Keypair::generate()?;
                fsio::write_atomic(&self.private_path(), fsio::SECRET_FILE, keys.private_pem().as_bytes())?;
                (keys, true)
            }
            Err(e) => return Err(e),
        };
        self.repair_public(&keys)?;
        Ok((keys, created))
    }

    fn repair_public(&self, keys: &Keypair) -> Result<()> {
        if self.read_identity().ok().as_ref() != Some(keys.identity()) {
            fsio::write_atomic(&self.public_path(), fsio::PUBLIC_FILE, keys.public_pem().as_bytes())?;
        }
        Ok(())
    }
}
