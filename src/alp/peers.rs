//! `alp/peers.yaml` (pinned peers and what each may call) and `alp/pending_peers.yaml`
//! (unpinned senders seen recently), in the original alpi's formats (ALP spec §4).
//!
//! Reads never fail the caller on a bad entry: malformed entries are skipped. A file
//! that is not YAML at all is an error for commands that would rewrite it, so a typo
//! never costs the user their peer list; the listener treats it as "no peers".

use std::path::{Path, PathBuf};

use crate::alp::identity::Identity;
use crate::json::{Object, Value};
use crate::{fsio, yaml};

/// Methods a peer accepted from pending may call unless told otherwise.
pub const DEFAULT_ALLOW: [&str; 2] = ["link.ping", "link.ask"];
/// Pending senders kept, most recently seen first.
pub const PENDING_CAP: usize = 20;
/// A known pending sender's `last_seen` is refreshed at most this often (seconds), so
/// a flood of unpinned envelopes cannot turn into a flood of file writes.
const PENDING_REFRESH_SECS: f64 = 10.0;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {message} — fix the file or move it aside; it was left untouched", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("invalid peer id {0:?}: use 1–64 of a-z, 0-9, '_' and '-'")]
    BadId(String),
    #[error("a peer called {0:?} is already pinned; `alpi peers remove {0}` first")]
    DuplicateId(String),
    #[error("that key is already pinned as {0:?}")]
    DuplicateKey(String),
    #[error("no peer called {0:?} — `alpi peers list` shows the pinned ones")]
    UnknownId(String),
    #[error("invalid address {0:?}: expected host:port")]
    BadAddress(String),
    #[error("{0}")]
    BadToolPolicy(String),
    #[error(transparent)]
    Io(#[from] fsio::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A peer's local label: lowercase, never sent on the wire.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::BadId(id.to_owned())) }
}

/// `host:port`, split on the last `:` (so `[::1]:7423` and `fe80::1:7423` work).
pub fn validate_address(address: &str) -> Result<()> {
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err(Error::BadAddress(address.to_owned())),
    }
}

/// One pinned peer. Field order is the file's key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub id: String,
    pub pubkey: Identity,
    pub alias: Option<String>,
    pub address: Option<String>,
    pub allow: Vec<String>,
    pub rate_limit: Option<Value>,
    /// Kept even when null: a present-but-empty `tools:` refuses turns (fail closed).
    pub tools: Option<Value>,
    /// Keys written by other versions (e.g. `budget`), kept as they were.
    pub extra: Object,
}

impl Peer {
    pub fn new(id: &str, pubkey: Identity, allow: Vec<String>) -> Self {
        Self {
            id: id.to_owned(),
            pubkey,
            alias: None,
            address: None,
            allow,
            rate_limit: None,
            tools: None,
            extra: Object::new(),
        }
    }

    /// Exact match against `allow`; empty denies everything. Every `workgroup.*`
    /// bypasses the list (room membership is checked by the room itself).
    pub fn may_call(&self, method: &str) -> bool {
        method.starts_with("workgroup.") || self.allow.iter().any(|m| m == method)
    }

    /// `tools.allow`: the only tools an inbound `link.ask` from this peer may run
    /// (names, `*` patterns, `tool:action`). `Ok(None)` when there is no `tools` key;
    /// an error when it is there but malformed — the turn is then refused, never run
    /// unrestricted.
    pub fn allowed_tools(&self) -> std::result::Result<Option<Vec<String>>, String> {
        let Some(tools) = &self.tools else { return Ok(None) };
        let who = format!("peer {:?}", self.id);
        let Value::Object(map) = tools else {
            return Err(format!("{who}: `tools` must be a mapping with an `allow` list"));
        };
        if let Some((key, _)) = map.iter().find(|(k, _)| *k != "allow") {
            return Err(format!("{who}: unknown key `{key}` under `tools` (only `allow` is supported)"));
        }
        let Some(Value::Array(items)) = map.get("allow") else {
            return Err(format!("{who}: `tools.allow` must be a list of tool names"));
        };
        let mut names: Vec<String> = Vec::new();
        for item in items {
            let name = item.as_str().map(str::trim).unwrap_or_default();
            if !valid_tool_entry(name) {
                return Err(format!(
                    "{who}: `tools.allow` entry {item:?} is not a tool name, `*` pattern or `tool:action`"
                ));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        Ok(Some(names))
    }

    /// `rate_limit.per_minute` when it is a positive integer.
    pub fn per_minute(&self) -> Option<u32> {
        let n = self.rate_limit.as_ref()?.get("per_minute")?.as_u64()?;
        u32::try_from(n).ok().filter(|n| *n > 0)
    }
}

/// `[A-Za-z0-9_.*-]+(:[A-Za-z0-9_.-]+)?`, or `mcp:<server pattern>`.
fn valid_tool_entry(entry: &str) -> bool {
    let (tool, action) = entry.split_once(':').map_or((entry, None), |(t, a)| (t, Some(a)));
    let ok = |s: &str, star: bool| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b) || (star && b == b'*'))
    };
    ok(tool, true) && action.is_none_or(|a| ok(a, tool == "mcp"))
}

/// An entry of a peer file, read leniently (a malformed entry is skipped, never fatal)
/// and written in the original's key order.
trait ListEntry: Sized {
    fn from_value(entry: Value) -> Option<Self>;
    fn to_value(&self) -> Value;
}

impl ListEntry for Peer {
    /// `None` without a string `id` and a valid `pubkey`.
    fn from_value(entry: Value) -> Option<Self> {
        let Value::Object(mut fields) = entry else { return None };
        let Value::String(id) = fields.remove("id")? else { return None };
        Some(Self {
            id,
            pubkey: identity(fields.remove("pubkey"))?,
            alias: lenient_text(fields.remove("alias")),
            address: lenient_text(fields.remove("address")),
            allow: match fields.remove("allow") {
                Some(Value::Array(items)) => items.iter().filter_map(yaml::text_of).collect(),
                _ => Vec::new(),
            },
            rate_limit: fields.remove("rate_limit").filter(|v| !v.is_null()),
            tools: fields.remove("tools"),
            extra: fields,
        })
    }

    fn to_value(&self) -> Value {
        let mut entry = Object::new().with("id", self.id.as_str()).with("pubkey", self.pubkey.to_string());
        let optional = [
            ("alias", self.alias.clone().map(Value::from)),
            ("address", self.address.clone().map(Value::from)),
            ("allow", Some(self.allow.iter().map(|m| Value::from(m.as_str())).collect::<Vec<_>>().into())),
            ("rate_limit", self.rate_limit.clone()),
            ("tools", self.tools.clone()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                entry.insert(key, value);
            }
        }
        for (key, value) in self.extra.iter() {
            entry.insert(key, value.clone());
        }
        entry.into()
    }
}

fn identity(value: Option<Value>) -> Option<Identity> {
    value?.as_str()?.parse().ok()
}

/// Non-empty text, or a number a hand-written file left unquoted.
fn lenient_text(value: Option<Value>) -> Option<String> {
    value.as_ref().and_then(yaml::text_of).filter(|s| !s.is_empty())
}

/// The pinned peers, indexed for the two lookups every request makes: by Ed25519 key
/// (the envelope's signer) and by derived X25519 key (the Noise initiator) — constant
/// time however many peers are pinned, and the curve conversion done once per load,
/// not once per peer per handshake.
#[derive(Debug, Default)]
pub struct PinnedPeers {
    list: Vec<Peer>,
    by_key: std::collections::HashMap<[u8; 32], usize>,
    by_noise_key: std::collections::HashMap<[u8; 32], usize>,
}

impl PinnedPeers {
    pub fn new(list: Vec<Peer>) -> Self {
        let mut by_key = std::collections::HashMap::with_capacity(list.len());
        let mut by_noise_key = std::collections::HashMap::with_capacity(list.len());
        for (i, peer) in list.iter().enumerate() {
            // The first entry for a key wins, as a linear search would find it.
            by_key.entry(*peer.pubkey.as_bytes()).or_insert(i);
            if let Some(x) = peer.pubkey.x25519_public() {
                by_noise_key.entry(x).or_insert(i);
            }
        }
        Self { list, by_key, by_noise_key }
    }

    /// The peer pinned with this Ed25519 identity.
    pub fn by_identity(&self, identity: &Identity) -> Option<&Peer> {
        self.by_key.get(identity.as_bytes()).map(|&i| &self.list[i])
    }

    /// The peer whose derived X25519 key is `key`.
    pub fn by_noise_key(&self, key: &[u8; 32]) -> Option<&Peer> {
        self.by_noise_key.get(key).map(|&i| &self.list[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A sender that signed a valid envelope but is not pinned.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub pubkey: Identity,
    pub first_seen: f64,
    pub last_seen: f64,
    pub address: Option<String>,
}

impl ListEntry for Pending {
    /// `None` without a valid `pubkey`, or with times that are not numbers.
    fn from_value(entry: Value) -> Option<Self> {
        let Value::Object(mut fields) = entry else { return None };
        let time = |value: Option<Value>| value.map_or(Some(0.0), |v| v.as_f64());
        Some(Self {
            pubkey: identity(fields.remove("pubkey"))?,
            first_seen: time(fields.remove("first_seen"))?,
            last_seen: time(fields.remove("last_seen"))?,
            address: lenient_text(fields.remove("address")),
        })
    }

    fn to_value(&self) -> Value {
        let entry = Object::new()
            .with("pubkey", self.pubkey.to_string())
            .with("first_seen", self.first_seen)
            .with("last_seen", self.last_seen);
        match &self.address {
            Some(address) => entry.with("address", address.as_str()).into(),
            None => entry.into(),
        }
    }
}

/// The peer files of one profile (`<home>/alp/`).
#[derive(Debug, Clone)]
pub struct PeerFiles {
    alp_dir: PathBuf,
}

impl PeerFiles {
    pub fn new(alp_dir: &Path) -> Self {
        Self { alp_dir: alp_dir.to_owned() }
    }

    pub fn peers_path(&self) -> PathBuf {
        self.alp_dir.join("peers.yaml")
    }

    pub fn pending_path(&self) -> PathBuf {
        self.alp_dir.join("pending_peers.yaml")
    }

    fn lock(&self) -> Result<fsio::LockGuard> {
        fsio::ensure_private_dir(&self.alp_dir)?;
        Ok(fsio::lock_exclusive(&self.alp_dir.join("peers.lock"))?)
    }

    /// The pinned peers; a missing file is none.
    pub fn load(&self) -> Result<Vec<Peer>> {
        load_list(&self.peers_path())
    }

    /// Pins `peer`, refusing a duplicate id or key.
    pub fn add(&self, peer: Peer) -> Result<()> {
        validate_id(&peer.id)?;
        if let Some(address) = &peer.address {
            validate_address(address)?;
        }
        self.update(|peers| {
            if peers.iter().any(|p| p.id == peer.id) {
                return Err(Error::DuplicateId(peer.id.clone()));
            }
            if let Some(p) = peers.iter().find(|p| p.pubkey == peer.pubkey) {
                return Err(Error::DuplicateKey(p.id.clone()));
            }
            peers.push(peer);
            Ok(())
        })
    }

    /// Unpins the peer called `id`.
    pub fn remove(&self, id: &str) -> Result<Peer> {
        let mut removed = None;
        self.update(|peers| {
            let at = peers.iter().position(|p| p.id == id).ok_or_else(|| Error::UnknownId(id.to_owned()))?;
            removed = Some(peers.remove(at));
            Ok(())
        })?;
        Ok(removed.expect("set by the update"))
    }

    /// Read-modify-write of `peers.yaml` under `alp/peers.lock`.
    pub fn update(&self, change: impl FnOnce(&mut Vec<Peer>) -> Result<()>) -> Result<()> {
        let _lock = self.lock()?;
        let mut peers = self.load()?;
        change(&mut peers)?;
        save_list(&self.peers_path(), &peers)
    }

    /// Unpinned senders, most recent first.
    pub fn pending(&self) -> Result<Vec<Pending>> {
        let mut list: Vec<Pending> = load_list(&self.pending_path())?;
        list.sort_by(|a, b| b.last_seen.total_cmp(&a.last_seen));
        Ok(list)
    }

    /// Notes an unpinned sender: refreshes `last_seen` or adds it, keeping the 20 most
    /// recent. Returns whether the file was written.
    pub fn record_pending(&self, pubkey: &Identity, address: Option<&str>, now: f64) -> Result<bool> {
        let _lock = self.lock()?;
        let mut list: Vec<Pending> = load_list(&self.pending_path()).unwrap_or_default();
        match list.iter_mut().find(|p| &p.pubkey == pubkey) {
            Some(known) if now - known.last_seen < PENDING_REFRESH_SECS => return Ok(false),
            Some(known) => {
                known.last_seen = now;
                if known.address.is_none() {
                    known.address = address.map(str::to_owned);
                }
            }
            None => list.push(Pending {
                pubkey: pubkey.clone(),
                first_seen: now,
                last_seen: now,
                address: address.map(str::to_owned),
            }),
        }
        list.sort_by(|a, b| b.last_seen.total_cmp(&a.last_seen));
        list.truncate(PENDING_CAP);
        save_list(&self.pending_path(), &list)?;
        Ok(true)
    }

    /// Pins a pending sender as `id` with `allow`, and drops it from pending.
    pub fn accept(&self, pubkey: &Identity, id: &str, allow: Vec<String>) -> Result<Peer> {
        let pending = self.pending()?;
        let mut peer = Peer::new(id, pubkey.clone(), allow);
        peer.address = pending.iter().find(|p| &p.pubkey == pubkey).and_then(|p| p.address.clone());
        self.add(peer.clone())?;
        self.discard(pubkey)?;
        Ok(peer)
    }

    /// Forgets a pending sender. Returns whether it was there.
    pub fn discard(&self, pubkey: &Identity) -> Result<bool> {
        let _lock = self.lock()?;
        let mut list: Vec<Pending> = load_list(&self.pending_path())?;
        let before = list.len();
        list.retain(|p| &p.pubkey != pubkey);
        if list.len() == before {
            return Ok(false);
        }
        save_list(&self.pending_path(), &list)?;
        Ok(true)
    }
}

/// A YAML list of `T`, skipping entries that do not parse as one.
fn load_list<T: ListEntry>(path: &Path) -> Result<Vec<T>> {
    let Some(bytes) = fsio::read_optional(path)? else { return Ok(Vec::new()) };
    parse_list(path, &bytes)
}

/// peers.yaml and pending_peers.yaml as [`PeerFiles`] reads them, from bytes (for the
/// fuzz targets).
#[doc(hidden)]
pub fn parse_lists(bytes: &[u8]) -> (Result<Vec<Peer>>, Result<Vec<Pending>>) {
    (parse_list(Path::new("peers.yaml"), bytes), parse_list(Path::new("pending_peers.yaml"), bytes))
}

fn parse_list<T: ListEntry>(path: &Path, bytes: &[u8]) -> Result<Vec<T>> {
    let malformed = |message: String| Error::Malformed { path: path.to_owned(), message };
    match yaml::parse(bytes).map_err(|e| malformed(e.to_string()))? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items.into_iter().filter_map(T::from_value).collect()),
        _ => Err(malformed("expected a list of entries".into())),
    }
}

fn save_list<T: ListEntry>(path: &Path, items: &[T]) -> Result<()> {
    let text = yaml::dump(&Value::Array(items.iter().map(T::to_value).collect()));
    Ok(fsio::write_atomic(path, fsio::SECRET_FILE, text.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alp::identity::Keypair;

    fn key(n: u8) -> Identity {
        Keypair::from_seed([n; 32]).identity().clone()
    }

    fn files() -> (tempfile::TempDir, PeerFiles) {
        let dir = tempfile::tempdir().unwrap();
        let files = PeerFiles::new(&dir.path().join("alp"));
        (dir, files)
    }

    #[test]
    fn tools_allow_is_no_policy_when_absent_and_refused_when_malformed() {
        let mut peer = Peer::new("pi", key(2), vec![]);
        assert_eq!(peer.allowed_tools(), Ok(None));
        let with = |text: &str| {
            let mut p = peer.clone();
            p.tools = Some(yaml::parse(text.as_bytes()).unwrap());
            p.allowed_tools()
        };
        assert_eq!(
            with("allow: [read_file, 'web_*', 'memory:read', read_file]"),
            Ok(Some(vec!["read_file".into(), "web_*".into(), "memory:read".into()]))
        );
        assert_eq!(with("allow: []"), Ok(Some(vec![])));
        assert_eq!(
            with("allow: [files.read_text_file, 'mcp:notes', 'mcp:*']"),
            Ok(Some(vec!["files.read_text_file".into(), "mcp:notes".into(), "mcp:*".into()]))
        );
        for bad in [
            "allow: read_file",
            "deny: [terminal]",
            "allow: ['rm -rf']",
            "allow: ['a:b:c']",
            "allow: ['memory:*']",
            "[x]",
        ] {
            assert!(with(bad).is_err(), "{bad}");
        }
        peer.tools = Some(Value::Null);
        assert!(peer.allowed_tools().is_err());
        let text = format!("- id: pi\n  pubkey: {}\n  tools:\n", key(2));
        let listed: Vec<Peer> = parse_list(Path::new("peers.yaml"), text.as_bytes()).unwrap();
        assert!(listed[0].allowed_tools().is_err(), "an empty `tools:` is not the same as none");
    }

    #[test]
    fn writes_keys_in_the_original_order_and_reads_them_back() {
        let (_d, f) = files();
        let mut peer = Peer::new("home", key(1), vec!["link.ping".into()]);
        peer.alias = Some("Home server".into());
        peer.address = Some("100.64.0.2:7423".into());
        f.add(peer.clone()).unwrap();
        let text = std::fs::read_to_string(f.peers_path()).unwrap();
        let keys: Vec<&str> =
            text.lines().filter_map(|l| l.trim_start_matches("- ").trim().split(':').next()).collect();
        assert_eq!(&keys[..5], ["id", "pubkey", "alias", "address", "allow"], "{text}");
        let original = format!(
            "- id: home\n  pubkey: {}\n  alias: Home server\n  address: 100.64.0.2:7423\n  allow:\n  - link.ping\n",
            key(1)
        );
        assert_eq!(text, original, "as PyYAML's safe_dump writes it");
        assert_eq!(f.load().unwrap(), [peer]);
        assert_eq!(fsio::mode_of(&f.peers_path()), Some(0o600));
    }

    #[test]
    fn reads_a_file_written_by_the_original_and_skips_malformed_entries() {
        let (_d, f) = files();
        std::fs::create_dir_all(f.peers_path().parent().unwrap()).unwrap();
        let text = format!(
            "- id: laptop\n  pubkey: {}\n  allow:\n  - link.ping\n  - link.ask\n  budget: {{usd: 1}}\n  rate_limit:\n    per_minute: 5\n\
             - id: broken\n  pubkey: not-a-key\n- just a string\n- pubkey: {}\n- id: nokey\n",
            key(1),
            key(2)
        );
        std::fs::write(f.peers_path(), text).unwrap();
        let peers = f.load().unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].allow, ["link.ping", "link.ask"]);
        assert_eq!(peers[0].per_minute(), Some(5));
        assert!(peers[0].extra.contains_key("budget"), "unknown keys survive a rewrite");
    }

    #[test]
    fn add_rejects_duplicates_and_bad_input_without_touching_the_file() {
        let (_d, f) = files();
        f.add(Peer::new("a", key(1), vec![])).unwrap();
        let before = std::fs::read(f.peers_path()).unwrap();
        assert!(matches!(f.add(Peer::new("a", key(2), vec![])), Err(Error::DuplicateId(_))));
        assert!(matches!(f.add(Peer::new("b", key(1), vec![])), Err(Error::DuplicateKey(id)) if id == "a"));
        assert!(matches!(f.add(Peer::new("B", key(3), vec![])), Err(Error::BadId(_))));
        let mut bad = Peer::new("c", key(3), vec![]);
        bad.address = Some("nohost".into());
        assert!(matches!(f.add(bad), Err(Error::BadAddress(_))));
        assert_eq!(std::fs::read(f.peers_path()).unwrap(), before);
    }

    #[test]
    fn a_file_that_is_not_yaml_is_never_overwritten() {
        let (_d, f) = files();
        std::fs::create_dir_all(f.peers_path().parent().unwrap()).unwrap();
        std::fs::write(f.peers_path(), "- id: [unclosed\n").unwrap();
        let err = f.add(Peer::new("a", key(1), vec![])).unwrap_err().to_string();
        assert!(err.contains("peers.yaml") && err.contains("left untouched"), "{err}");
        assert_eq!(std::fs::read_to_string(f.peers_path()).unwrap(), "- id: [unclosed\n");
    }

    #[test]
    fn allow_lists_are_exact_and_empty_denies() {
        let p = Peer::new("a", key(1), vec!["link.ping".into()]);
        assert!(p.may_call("link.ping"));
        assert!(!p.may_call("link.ask") && !p.may_call("link.*") && !p.may_call("link.pin"));
        assert!(p.may_call("workgroup.pull"));
        assert!(!Peer::new("b", key(2), vec![]).may_call("link.ping"));
    }

    #[test]
    fn pending_dedupes_refreshes_and_keeps_the_twenty_most_recent() {
        let (_d, f) = files();
        for n in 0..25u8 {
            assert!(f.record_pending(&key(n), None, f64::from(n) * 100.0).unwrap());
        }
        assert!(!f.record_pending(&key(24), None, 2405.0).unwrap(), "refresh is throttled");
        assert!(f.record_pending(&key(24), Some("10.0.0.1:7423"), 2500.0).unwrap());
        let list = f.pending().unwrap();
        assert_eq!(list.len(), PENDING_CAP);
        assert_eq!(list[0].pubkey, key(24));
        assert_eq!(list[0].first_seen, 2400.0);
        assert_eq!(list[0].last_seen, 2500.0);
        assert!(list.iter().all(|p| p.pubkey != key(0)));

        let peer = f.accept(&key(24), "newbie", DEFAULT_ALLOW.map(String::from).to_vec()).unwrap();
        assert_eq!(peer.address.as_deref(), Some("10.0.0.1:7423"));
        assert!(f.pending().unwrap().iter().all(|p| p.pubkey != key(24)));
        assert!(f.discard(&key(23)).unwrap());
        assert!(!f.discard(&key(23)).unwrap());
    }
}
