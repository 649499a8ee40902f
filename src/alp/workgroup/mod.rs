//! ALP.3 workgroups ("rooms", spec §8): a hub profile anchors a room's encrypted
//! transcript; members post ciphertext under a shared group key sealed to each of them.
//! `crypto` seals and encrypts, `hub` owns the room files, `verbs` answers the
//! `workgroup.*` wire methods, `transcript` reads the post log through an index, `files`
//! the encrypted file sidecars, `member` the member side (subscriptions, key cache,
//! calls to the hub), `poller` the daemon's long-polls.

pub mod crypto;
pub mod files;
pub mod hub;
pub mod member;
pub mod poller;
pub mod transcript;
pub mod verbs;

use crate::alp::identity::Identity;
use crate::alp::wire::envelope::RpcError;
use crate::fsio;
use crate::json::{Object, Value};

/// Posts a room keeps at most.
pub const MAX_POSTS: usize = 10_000;
/// Base64 characters of one post's ciphertext at most.
pub const MAX_CIPHERTEXT: usize = 256 * 1024;
/// Bytes of a member's self-published bio.
pub const BIO_MAX: usize = 200;
/// A held `workgroup.pull` answers within this many seconds.
pub const LONG_POLL_MAX_S: f64 = 25.0;

/// Why a room operation failed; each maps to the original's wire error.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("no workgroup {0} on this hub")]
    NotFound(String),
    #[error("not a member of this workgroup")]
    NotMember,
    #[error("not joined yet — run `alpi workgroup join` first")]
    NotJoined(&'static str),
    #[error("only the hub may {0} this workgroup")]
    NotHub(&'static str),
    #[error("the workgroup is paused (since {at}) — the hub can `alpi workgroup resume` it")]
    Paused { at: String, by: String },
    #[error("the workgroup transcript is full ({MAX_POSTS} posts)")]
    Full,
    #[error("the workgroup budget is spent ({used:.4} of {cap} USD)")]
    Budget { cap: f64, used: f64, declared: f64 },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    BadFile(String),
    #[error("no such file in this workgroup")]
    FileNotFound,
    #[error("the workgroup's file quota (200 MiB) is full")]
    Quota,
    #[error(transparent)]
    Io(#[from] fsio::Error),
    #[error("{0}")]
    Crypto(#[from] crypto::CryptoError),
}

pub type Result<T> = std::result::Result<T, RoomError>;

fn detail(text: &str) -> Object {
    Object::new().with("detail", text)
}

impl From<RoomError> for RpcError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::NotFound(_) => RpcError::new(-32009, "workgroup-not-found", Value::Null),
            RoomError::NotMember => RpcError::new(-32008, "workgroup-not-member", Value::Null),
            RoomError::NotJoined(what) => RpcError::new(
                -32008,
                "workgroup-not-joined",
                detail(&format!("run workgroup.join before {what}")),
            ),
            RoomError::NotHub(verb) => RpcError::new(
                -32008,
                "workgroup-not-hub",
                detail(&format!("only the hub may {verb} this workgroup")),
            ),
            RoomError::Paused { at, by } => RpcError::new(
                -32010,
                "workgroup-paused",
                Object::new().with("paused_at", at).with("paused_by", by),
            ),
            RoomError::Full => RpcError::new(
                -32010,
                "workgroup-full",
                detail(&format!("transcript at cap ({MAX_POSTS} posts)")),
            ),
            RoomError::Budget { cap, used, declared } => RpcError::new(
                -32005,
                "budget-exceeded",
                Object::new()
                    .with("cap_kind", "workgroup_usd")
                    .with("cap", cap)
                    .with("used", used)
                    .with("declared", declared),
            ),
            RoomError::Invalid(text) => RpcError::new(-32602, "invalid-params", detail(&text)),
            RoomError::BadFile(text) => RpcError::new(-32602, "invalid-workgroup-file", detail(&text)),
            RoomError::FileNotFound => RpcError::new(-32011, "file-not-found", Value::Null),
            RoomError::Quota => RpcError::new(-32012, "file-quota-exceeded", Value::Null),
            other => RpcError::new(-32603, "internal-error", detail(&other.to_string())),
        }
    }
}

/// A room id off the wire or the command line: `[A-Za-z0-9_-]+`, so it can never
/// name a path outside `alp/workgroups/`.
pub fn check_id(id: &str) -> Result<&str> {
    let ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(id) } else { Err(RoomError::Invalid(format!("invalid workgroup id: {id:?}"))) }
}

/// `wg_` + lowercase base32 (RFC 4648 alphabet) of 10 random bytes, no padding.
pub fn new_id() -> Result<String> {
    let bytes: [u8; 10] = crypto::random()?;
    Ok(format!("wg_{}", base32_lower(&bytes)))
}

fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A YAML file's top level, `None` when the file is missing.
pub fn read_yaml(path: &std::path::Path) -> Result<Option<Value>> {
    let Some(bytes) = fsio::read_optional(path)? else { return Ok(None) };
    let doc =
        crate::yaml::parse(&bytes).map_err(|e| RoomError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(Some(doc))
}

/// The mappings of a YAML list file (malformed entries are the caller's to skip).
pub fn read_yaml_list(path: &std::path::Path) -> Result<Vec<Object>> {
    Ok(match read_yaml(path)? {
        Some(Value::Array(items)) => {
            items.into_iter().filter_map(|i| if let Value::Object(m) = i { Some(m) } else { None }).collect()
        }
        _ => Vec::new(),
    })
}

/// Field readers over a YAML mapping written by either implementation; `take` removes
/// the key so what is left over is kept as unknown keys.
pub struct Fields(pub Object);

impl Fields {
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    pub fn text(&mut self, key: &str) -> String {
        match self.take(key) {
            Some(value) => crate::yaml::text_of(&value).unwrap_or_default(),
            None => String::new(),
        }
    }

    pub fn num(&mut self, key: &str) -> Option<u64> {
        self.take(key).and_then(|v| v.as_u64())
    }

    pub fn flag(&mut self, key: &str) -> bool {
        self.take(key).and_then(|v| v.as_bool()).unwrap_or(false)
    }

    pub fn identity(&mut self, key: &str) -> Option<Identity> {
        self.text(key).parse().ok()
    }
}

/// Builds a mapping in the original's key order, skipping empty optional fields.
#[derive(Default)]
pub struct Out(pub Object);

impl Out {
    pub fn put(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key, value);
        self
    }

    pub fn text(self, key: &str, value: &str) -> Self {
        if value.is_empty() { self } else { self.put(key, value) }
    }

    pub fn flag(self, key: &str, value: bool) -> Self {
        if value { self.put(key, true) } else { self }
    }

    /// Appends the unknown keys kept from the file.
    pub fn rest(mut self, extra: &Object) -> Value {
        for (k, v) in extra.iter() {
            self.0.insert(k, v.clone());
        }
        Value::Object(self.0)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the room timestamp form.
pub fn now_ts() -> String {
    crate::clock::UtcTime::now().iso_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_base32_of_ten_bytes() {
        assert_eq!(base32_lower(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), "a".repeat(16));
        assert_eq!(base32_lower(b"foobarbazq"), "mzxw6ytbojrgc6tr");
        let id = new_id().unwrap();
        assert!(id.starts_with("wg_") && id.len() == 19, "{id}");
        assert!(check_id("../x").is_err() && check_id("wg_ab-C_9").is_ok());
    }
}
