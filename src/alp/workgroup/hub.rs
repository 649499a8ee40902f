//! A hub's rooms on disk, in the original's formats: `alp/workgroups/<id>/` with
//! `meta.yaml`, `members.yaml`, `transcript.jsonl` (append-only, fsync'd),
//! `ledger.json` and `hub_keys.json`. Every read-modify-write holds the room's
//! `.transcript.lock`, so seqs are contiguous and a rekey never races a post.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::crypto::{self, GroupKey};
use super::transcript::{Admission, TRANSCRIPT, Transcripts};
use super::{Fields, MAX_POSTS, Out, Result, RoomError, check_id, now_ts, read_yaml, read_yaml_list};
use crate::alp::identity::{Identity, Keypair};
use crate::fsio;
use crate::json::{self, Object, Value};

const META: &str = "meta.yaml";
const MEMBERS: &str = "members.yaml";
const LEDGER: &str = "ledger.json";
const HUB_KEYS: &str = "hub_keys.json";
const LOCK: &str = ".transcript.lock";
/// A member's `last_seen_at` is written to disk at most this often.
const PRESENCE_EVERY_S: i64 = 30;
/// A declared per-post cost is clamped to this (the poster is untrusted).
const MAX_DECLARED_USD: f64 = 1000.0;
const MAX_DECLARED_TOKENS: u64 = 100_000_000;

/// `meta.yaml`. Keys the original writes that this build does not use (pipelines…)
/// are kept in `extra` as they were.
#[derive(Debug, Clone)]
pub struct Meta {
    pub id: String,
    pub name: String,
    pub hub_pubkey: Identity,
    pub created_at: String,
    pub current_key_version: u64,
    pub max_usd: Option<f64>,
    pub paused: bool,
    pub paused_at: String,
    pub paused_by: String,
    pub briefing: String,
    pub extra: Object,
}

impl Meta {
    fn from_yaml(raw: Object) -> Option<Self> {
        let mut f = Fields(raw);
        let budget = f.take("budget");
        Some(Self {
            id: f.text("id"),
            name: f.text("name"),
            hub_pubkey: f.identity("hub_pubkey")?,
            created_at: f.text("created_at"),
            current_key_version: f.num("current_key_version").unwrap_or(1),
            max_usd: budget.as_ref().and_then(|b| b.get("max_usd")).and_then(Value::as_f64),
            paused: f.flag("paused"),
            paused_at: f.text("paused_at"),
            paused_by: f.text("paused_by"),
            briefing: f.text("briefing"),
            extra: f.0,
        })
        .filter(|m| !m.id.is_empty())
    }

    fn to_yaml(&self) -> Value {
        let mut out = Out::default()
            .put("id", self.id.as_str())
            .put("name", self.name.as_str())
            .put("hub_pubkey", self.hub_pubkey.to_string())
            .put("created_at", self.created_at.as_str())
            .put("current_key_version", self.current_key_version);
        if let Some(usd) = self.max_usd {
            out = out.put("budget", Out::default().put("max_usd", usd).0);
        }
        if self.paused {
            out =
                out.put("paused", true).text("paused_at", &self.paused_at).text("paused_by", &self.paused_by);
        }
        out.text("briefing", &self.briefing).rest(&self.extra)
    }
}

/// One `members.yaml` entry: the member's group key sealed to it.
#[derive(Debug, Clone)]
pub struct Member {
    pub pubkey: Identity,
    pub sealed_key: String,
    pub key_version: u64,
    pub joined: bool,
    pub joined_at: String,
    pub last_seen_at: String,
    pub bio: String,
    pub voice: String,
    pub extra: Object,
}

impl Member {
    fn new(pubkey: Identity, sealed_key: String, key_version: u64) -> Self {
        Self {
            pubkey,
            sealed_key,
            key_version,
            joined: false,
            joined_at: String::new(),
            last_seen_at: String::new(),
            bio: String::new(),
            voice: String::new(),
            extra: Object::new(),
        }
    }

    fn from_yaml(raw: Object) -> Option<Self> {
        let mut f = Fields(raw);
        let pubkey = f.identity("pubkey")?;
        let sealed_key = f.text("sealed_key");
        let mut m = Self::new(pubkey, sealed_key, f.num("key_version").unwrap_or(1));
        m.joined = f.flag("joined");
        m.joined_at = f.text("joined_at");
        m.last_seen_at = f.text("last_seen_at");
        m.bio = f.text("bio");
        m.voice = f.text("voice");
        m.extra = f.0;
        (!m.sealed_key.is_empty()).then_some(m)
    }

    fn to_yaml(&self) -> Value {
        let out = Out::default()
            .put("pubkey", self.pubkey.to_string())
            .put("sealed_key", self.sealed_key.as_str())
            .put("key_version", self.key_version);
        let out = if self.joined { out.put("joined", true).text("joined_at", &self.joined_at) } else { out };
        out.text("last_seen_at", &self.last_seen_at)
            .text("bio", &self.bio)
            .text("voice", &self.voice)
            .rest(&self.extra)
    }
}

/// A room as loaded from its directory.
#[derive(Debug, Clone)]
pub struct Room {
    pub dir: PathBuf,
    pub meta: Meta,
    pub members: Vec<Member>,
}

impl Room {
    pub fn member(&self, who: &Identity) -> Option<&Member> {
        self.members.iter().find(|m| &m.pubkey == who)
    }

    fn member_mut(&mut self, who: &Identity) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| &m.pubkey == who)
    }

    pub fn is_hub(&self, who: &Identity) -> bool {
        &self.meta.hub_pubkey == who
    }

    /// The roster as `pull`/`join` return it.
    pub fn roster(&self) -> Value {
        let entry = |m: &Member| {
            Value::Object(
                Object::new()
                    .with("pubkey", m.pubkey.to_string())
                    .with("last_seen_at", m.last_seen_at.as_str())
                    .with("bio", m.bio.as_str())
                    .with("voice", m.voice.as_str()),
            )
        };
        Value::Array(self.members.iter().map(entry).collect())
    }

    /// Checks `who` may post now: a joined member of a room that is not paused.
    pub fn check_poster(&self, who: &Identity, what: &'static str) -> Result<&Member> {
        let member = self.member(who).ok_or(RoomError::NotMember)?;
        if !member.joined {
            return Err(RoomError::NotJoined(what));
        }
        if self.meta.paused {
            return Err(RoomError::Paused {
                at: self.meta.paused_at.clone(),
                by: self.meta.paused_by.clone(),
            });
        }
        Ok(member)
    }

    pub fn save_meta(&self) -> Result<()> {
        save_yaml(&self.dir.join(META), &self.meta.to_yaml())
    }

    pub fn save_members(&self) -> Result<()> {
        save_yaml(&self.dir.join(MEMBERS), &Value::Array(self.members.iter().map(Member::to_yaml).collect()))
    }
}

/// What a rekey does to the roster.
pub enum Change<'a> {
    Drop(&'a Identity),
    Add(&'a Identity),
}

/// The rooms a hub profile anchors (`<home>/alp/workgroups`).
#[derive(Debug, Clone)]
pub struct Hub {
    root: PathBuf,
    transcripts: Arc<Transcripts>,
}

impl Hub {
    pub fn new(alp_dir: &Path) -> Self {
        Self { root: alp_dir.join("workgroups"), transcripts: Arc::default() }
    }

    /// The room's transcript index (posts, head, nonces), kept across calls.
    pub fn transcripts(&self) -> &Transcripts {
        &self.transcripts
    }

    pub fn dir(&self, id: &str) -> Result<PathBuf> {
        Ok(self.root.join(check_id(id)?))
    }

    /// The room `id`, or `NotFound`.
    pub fn load(&self, id: &str) -> Result<Room> {
        let dir = self.dir(id)?;
        let meta = match read_yaml(&dir.join(META))? {
            Some(Value::Object(raw)) => Meta::from_yaml(raw),
            _ => None,
        };
        let meta = meta.ok_or_else(|| RoomError::NotFound(id.to_owned()))?;
        let members = read_yaml_list(&dir.join(MEMBERS))?.into_iter().filter_map(Member::from_yaml).collect();
        Ok(Room { dir, meta, members })
    }

    /// Every room that loads, by id.
    pub fn list(&self) -> Vec<Room> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut names: Vec<String> =
            entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names.iter().filter_map(|n| self.load(n).ok()).collect()
    }

    /// Holds the room's lock until dropped; a missing room is `NotFound`.
    pub fn lock(&self, id: &str) -> Result<fsio::LockGuard> {
        let dir = self.dir(id)?;
        if !dir.join(META).exists() {
            return Err(RoomError::NotFound(id.to_owned()));
        }
        Ok(fsio::lock_exclusive(&dir.join(LOCK))?)
    }

    /// A new room anchored by `hub` with `members` (the hub is always the first), one
    /// group key sealed to each.
    pub fn create(
        &self,
        hub: &Keypair,
        name: &str,
        members: &[Identity],
        briefing: &str,
        max_usd: Option<f64>,
    ) -> Result<Room> {
        let name = name.trim();
        if name.is_empty() {
            return Err(RoomError::Invalid("workgroup name required".into()));
        }
        if max_usd.is_some_and(|usd| usd.is_nan() || usd <= 0.0) {
            return Err(RoomError::Invalid("max_usd must be > 0".into()));
        }
        let mut roster = vec![hub.identity().clone()];
        for m in members {
            if !roster.contains(m) {
                m.x25519_public().ok_or_else(|| RoomError::Invalid(format!("invalid pubkey: {m}")))?;
                roster.push(m.clone());
            }
        }
        let key = crypto::new_group_key()?;
        let id = super::new_id()?;
        let dir = self.dir(&id)?;
        fsio::ensure_private_dir(&self.root)?;
        fsio::ensure_private_dir(&dir)?;
        let now = now_ts();
        let meta = Meta {
            id: id.clone(),
            name: name.to_owned(),
            hub_pubkey: hub.identity().clone(),
            created_at: now.clone(),
            current_key_version: 1,
            max_usd,
            paused: false,
            paused_at: String::new(),
            paused_by: String::new(),
            briefing: briefing.trim().to_owned(),
            extra: Object::new(),
        };
        let mut sealed = Vec::with_capacity(roster.len());
        for pubkey in roster {
            let mut member = Member::new(pubkey.clone(), crypto::seal(&key, &pubkey)?, 1);
            if &pubkey == hub.identity() {
                member.joined = true;
                member.joined_at = now.clone();
                member.last_seen_at = now.clone();
            }
            sealed.push(member);
        }
        let room = Room { dir, meta, members: sealed };
        let made = room
            .save_meta()
            .and_then(|()| room.save_members())
            .and_then(|()| write_file(&room.dir.join(TRANSCRIPT), b""))
            .and_then(|()| write_file(&room.dir.join(LEDGER), br#"{"usd":0.0,"tokens":0,"posts":0}"#));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&room.dir);
            return Err(e);
        }
        Ok(room)
    }

    /// Drops or adds a member and rotates the group key: a fresh key at the next
    /// version, sealed to everyone left. The hub's old key is kept in `hub_keys.json`
    /// so it can still read (and verify files of) earlier versions.
    pub fn rekey(&self, id: &str, change: Change<'_>) -> Result<Room> {
        let _lock = self.lock(id)?;
        let mut room = self.load(id)?;
        match change {
            Change::Drop(who) => {
                if room.is_hub(who) {
                    return Err(RoomError::Invalid("hub cannot leave its own workgroup".into()));
                }
                if room.member(who).is_none() {
                    return Err(RoomError::NotMember);
                }
                room.members.retain(|m| &m.pubkey != who);
            }
            Change::Add(who) => {
                who.x25519_public().ok_or_else(|| RoomError::Invalid(format!("invalid pubkey: {who}")))?;
                if room.member(who).is_some() {
                    return Err(RoomError::Invalid(format!("pubkey {who} already in roster")));
                }
                room.members.push(Member::new(who.clone(), String::new(), 0));
            }
        }
        if let Some(hub) = room.member(&room.meta.hub_pubkey.clone()) {
            record_hub_key(&room.dir, hub.key_version, &hub.sealed_key)?;
        }
        let key = crypto::new_group_key()?;
        let version = room.meta.current_key_version + 1;
        for m in &mut room.members {
            m.sealed_key = crypto::seal(&key, &m.pubkey)?;
            m.key_version = version;
        }
        room.meta.current_key_version = version;
        room.save_meta()?;
        room.save_members()?;
        Ok(room)
    }

    /// Pauses or resumes posting; only the hub may.
    pub fn set_paused(&self, id: &str, by: &Identity, paused: bool) -> Result<Room> {
        let _lock = self.lock(id)?;
        let mut room = self.load(id)?;
        if !room.is_hub(by) {
            return Err(RoomError::NotHub(if paused { "pause" } else { "resume" }));
        }
        if room.meta.paused != paused {
            room.meta.paused = paused;
            room.meta.paused_at = if paused { now_ts() } else { String::new() };
            room.meta.paused_by = if paused { by.to_string() } else { String::new() };
            room.save_meta()?;
        }
        Ok(room)
    }

    /// Records that `who` was here; written at most every 30 s, or at once when
    /// `join` is set (the member's first join also stamps `joined_at` and its bio).
    pub fn touch(&self, id: &str, who: &Identity, join: Option<&str>) -> Result<Room> {
        let _lock = self.lock(id)?;
        let mut room = self.load(id)?;
        let now = now_ts();
        let member = room.member_mut(who).ok_or(RoomError::NotMember)?;
        let due = join.is_some() || presence_due(&member.last_seen_at, &now);
        member.last_seen_at = now.clone();
        if let Some(bio) = join {
            if !bio.trim().is_empty() {
                member.bio = truncate(bio.trim(), super::BIO_MAX).to_owned();
            }
            if !member.joined {
                member.joined = true;
                member.joined_at = now;
            }
        }
        if due {
            room.save_members()?;
        }
        Ok(room)
    }

    /// Admits one post: the poster must be a joined member of an unpaused room with
    /// budget left, under the post cap, with a nonce unused for its key version. Gets the
    /// next seq, appended with fsync, and is counted in the ledger — all under one lock.
    pub fn admit(&self, id: &str, post: NewPost<'_>) -> Result<Object> {
        let lock = self.lock(id)?;
        let room = self.load(id)?;
        room.check_poster(post.from, post.what)?;
        let mut ledger = Ledger::load(&room.dir);
        if let Some(cap) = room.meta.max_usd
            && (ledger.usd >= cap || ledger.usd + post.usd > cap)
        {
            return Err(RoomError::Budget { cap, used: ledger.usd, declared: post.usd });
        }
        let Admission { head, nonce_used } =
            self.transcripts.admission(&room.dir, post.key_version, post.nonce);
        if head.posts >= MAX_POSTS {
            return Err(RoomError::Full);
        }
        if nonce_used {
            return Err(RoomError::Invalid("nonce reuse for this key_version".into()));
        }
        let seq = head.seq + 1;
        let mut entry = Object::new()
            .with("seq", seq)
            .with("ts", now_ts())
            .with("from", post.from.to_string())
            .with("key_version", post.key_version)
            .with("nonce", post.nonce)
            .with("ciphertext", post.ciphertext);
        if post.usd > 0.0 || post.tokens > 0 {
            entry.insert("cost", Object::new().with("usd", post.usd).with("tokens", post.tokens));
        }
        let transcript = room.dir.join(TRANSCRIPT);
        let before = std::fs::metadata(&transcript).map(|m| m.len()).unwrap_or(0);
        append_line(&transcript, &Value::Object(entry.clone()).wire())?;
        ledger.usd += post.usd;
        ledger.tokens += post.tokens;
        ledger.posts += 1;
        if let Err(e) = ledger.save(&room.dir) {
            // Keep transcript and ledger in step: the post is refused whole.
            let _ = std::fs::OpenOptions::new().write(true).open(&transcript).and_then(|f| f.set_len(before));
            return Err(e);
        }
        drop(lock);
        notify_posted();
        Ok(entry)
    }

    /// The group key of `version` if the hub can open it: its current one, or an
    /// earlier one from `hub_keys.json`.
    pub fn group_key(&self, room: &Room, hub: &Keypair, version: u64) -> Option<GroupKey> {
        let current = room
            .member(hub.identity())
            .filter(|me| me.key_version == version)
            .map(|me| me.sealed_key.clone());
        let sealed = current.or_else(|| {
            hub_key_history(&room.dir).into_iter().find(|(v, _)| *v == version).map(|(_, s)| s)
        })?;
        crypto::open(&sealed, hub).ok()
    }

    /// The hub's own post: encrypted under the current key and admitted like any other.
    pub fn post_as_hub(&self, id: &str, hub: &Keypair, text: &str) -> Result<Object> {
        let room = self.load(id)?;
        let version = room.meta.current_key_version;
        let key = self.group_key(&room, hub, version).ok_or_else(|| {
            RoomError::Invalid(format!("the hub cannot open key version {version} of {id}"))
        })?;
        let (nonce, ciphertext) = crypto::encrypt_post(&key, text.as_bytes())?;
        self.admit(id, NewPost::new(hub.identity(), version, &nonce, &ciphertext))
    }
}

/// A post on its way into the transcript.
pub struct NewPost<'a> {
    pub from: &'a Identity,
    pub key_version: u64,
    pub nonce: &'a str,
    pub ciphertext: &'a str,
    pub usd: f64,
    pub tokens: u64,
    /// What the poster was doing, for a not-joined error ("posting", "uploading files").
    pub what: &'static str,
}

impl<'a> NewPost<'a> {
    pub fn new(from: &'a Identity, key_version: u64, nonce: &'a str, ciphertext: &'a str) -> Self {
        Self { from, key_version, nonce, ciphertext, usd: 0.0, tokens: 0, what: "posting" }
    }

    /// The declared cost `{usd, tokens}`, clamped as the original does.
    pub fn with_cost(mut self, cost: Option<&Value>) -> Self {
        let usd = cost.and_then(|c| c.get("usd")).and_then(Value::as_f64).unwrap_or(0.0);
        self.usd = if usd.is_finite() { usd.clamp(0.0, MAX_DECLARED_USD) } else { 0.0 };
        let field = |k| cost.and_then(|c| c.get(k)).and_then(Value::as_u64).unwrap_or(0);
        let tokens = field("tokens").max(field("tokens_in") + field("tokens_out"));
        self.tokens = tokens.min(MAX_DECLARED_TOKENS);
        self
    }
}

/// `ledger.json`: lifetime spend of the room; hidden `settlements` are kept.
struct Ledger {
    usd: f64,
    tokens: u64,
    posts: u64,
    settlements: Option<Value>,
}

impl Ledger {
    fn load(dir: &Path) -> Self {
        let raw = fsio::read_optional(&dir.join(LEDGER)).ok().flatten().and_then(|b| json::parse(&b).ok());
        let field = |k: &str| raw.as_ref().and_then(|r| r.get(k));
        Self {
            usd: field("usd").and_then(Value::as_f64).unwrap_or(0.0),
            tokens: field("tokens").and_then(Value::as_u64).unwrap_or(0),
            posts: field("posts").and_then(Value::as_u64).unwrap_or(0),
            settlements: field("settlements")
                .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
                .cloned(),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let mut out =
            Object::new().with("usd", self.usd).with("tokens", self.tokens).with("posts", self.posts);
        if let Some(s) = &self.settlements {
            out.insert("settlements", s.clone());
        }
        write_file(&dir.join(LEDGER), &Value::Object(out).wire())
    }
}

fn append_line(path: &Path, line: &[u8]) -> Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line);
    buf.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(fsio::SECRET_FILE)
        .open(path)
        .map_err(|e| fsio::Error::new("open", path, e))?;
    // One write of the whole line, then fsync: a crash leaves whole lines only.
    file.write_all(&buf).and_then(|()| file.sync_data()).map_err(|e| fsio::Error::new("append", path, e))?;
    Ok(())
}

fn record_hub_key(dir: &Path, version: u64, sealed: &str) -> Result<()> {
    if sealed.is_empty() {
        return Ok(());
    }
    let mut history = Object::new();
    for (v, s) in hub_key_history(dir) {
        history.insert(v.to_string(), s);
    }
    history.insert(version.to_string(), sealed);
    write_file(&dir.join(HUB_KEYS), &Value::Object(history).wire())
}

fn hub_key_history(dir: &Path) -> Vec<(u64, String)> {
    let raw = fsio::read_optional(&dir.join(HUB_KEYS)).ok().flatten().and_then(|b| json::parse(&b).ok());
    let Some(Value::Object(history)) = raw else { return Vec::new() };
    history.iter().filter_map(|(v, s)| Some((v.parse().ok()?, s.as_str()?.to_owned()))).collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(fsio::write_atomic(path, fsio::SECRET_FILE, bytes)?)
}

fn save_yaml(path: &Path, value: &Value) -> Result<()> {
    write_file(path, crate::yaml::dump(value).as_bytes())
}

fn presence_due(last: &str, now: &str) -> bool {
    let seconds = |t: &str| crate::clock::parse_iso8601(t).map(|us| us / 1_000_000);
    match (seconds(last), seconds(now)) {
        (Some(a), Some(b)) => b - a >= PRESENCE_EVERY_S,
        _ => true,
    }
}

/// The longest prefix of `s` within `max` bytes, on a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Wakes held pulls in this process when a post lands; pulls also probe the file so
/// posts appended by another process (the hub's CLI) are seen too.
static POSTED: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());

fn notify_posted() {
    let mut n = POSTED.0.lock().unwrap_or_else(|p| p.into_inner());
    *n += 1;
    POSTED.1.notify_all();
}

/// A counter that moves whenever a post lands in this process.
pub fn posted_count() -> u64 {
    *POSTED.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until the counter moves past `seen` or `timeout` passes.
pub fn wait_posted(seen: u64, timeout: Duration) {
    let guard = POSTED.0.lock().unwrap_or_else(|p| p.into_inner());
    let _ = POSTED.1.wait_timeout_while(guard, timeout, |n| *n == seen);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_post_rekey_and_reload() {
        let tmp = tempfile::tempdir().unwrap();
        let hub = Hub::new(tmp.path());
        let (h, a, b) =
            (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]), Keypair::from_seed([3; 32]));
        let room = hub
            .create(&h, "household", &[a.identity().clone(), b.identity().clone()], "Family", Some(5.0))
            .unwrap();
        let meta = std::fs::read_to_string(room.dir.join(META)).unwrap();
        assert!(
            meta.contains("created_at: '") || meta.contains("created_at: \""),
            "timestamps stay strings:\n{meta}"
        );
        let id = room.meta.id.clone();
        assert!(matches!(
            hub.admit(&id, NewPost::new(a.identity(), 1, "n1", "c1")),
            Err(RoomError::NotJoined(_))
        ));
        hub.touch(&id, a.identity(), Some("hi")).unwrap();
        let first = hub.admit(&id, NewPost::new(a.identity(), 1, "n1", "c1")).unwrap();
        assert_eq!(first.get("seq").and_then(Value::as_u64), Some(1));
        assert!(matches!(
            hub.admit(&id, NewPost::new(a.identity(), 1, "n1", "c2")),
            Err(RoomError::Invalid(_))
        ));
        hub.post_as_hub(&id, &h, "hello").unwrap();
        let room = hub.rekey(&id, Change::Drop(b.identity())).unwrap();
        assert_eq!(room.meta.current_key_version, 2);
        assert!(
            hub.group_key(&room, &h, 1).is_some() && hub.group_key(&room, &h, 2).is_some(),
            "old keys stay readable"
        );
        let reloaded = hub.load(&id).unwrap();
        assert_eq!(reloaded.members.len(), 2);
        assert_eq!(super::super::transcript::read_all(&reloaded.dir).len(), 2);
        assert!(matches!(hub.set_paused(&id, a.identity(), true), Err(RoomError::NotHub(_))));
        hub.set_paused(&id, h.identity(), true).unwrap();
        assert!(matches!(
            hub.admit(&id, NewPost::new(a.identity(), 2, "n9", "c9")),
            Err(RoomError::Paused { .. })
        ));
    }
}
