//! The member side of rooms: `alp/secrets/subscriptions.yaml` (the rooms this profile
//! joined, with every sealed key version it was given) and the calls to the hub —
//! join, post, pull with decryption by each post's key version, leave, files. A
//! profile that is itself a room's hub works on its files directly.

use std::path::PathBuf;
use std::time::Duration;

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

use super::crypto::{self, GroupKey};
use super::files::{self, CHUNK_BYTES, MAX_FILE_BYTES, check_hash};
use super::hub::Hub;
use super::transcript;
use super::verbs;
use super::{Fields, Out, RoomError, now_ts};
use crate::alp::ask::explain_failure;
use crate::alp::client::{CallError, Client, Route};
use crate::alp::identity::{Identity, Keypair};
use crate::alp::peers::{Peer, PeerFiles};
use crate::alp::wire::envelope::RpcError;
use crate::alp::wire::hex;
use crate::fsio;
use crate::json::{Object, Value};
use crate::profile::ProfileHome;

const FILE: &str = "subscriptions.yaml";
const LOCK: &str = "subscriptions.lock";
/// Calls other than held pulls and file chunks get this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A `since` past any head: a pull that fetches keys and roster but no posts.
const KEYS_ONLY: u64 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq)]
pub struct SealedKey {
    pub version: u64,
    pub sealed: String,
}

/// One room this profile is a member of (not its hub); the original's entry shape.
/// Keys this build does not use (the original's post cache, pipelines…) stay in `extra`.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub wg_id: String,
    pub name: String,
    /// The hub's id in this profile's `peers.yaml`.
    pub hub_id: String,
    pub hub_pubkey: Identity,
    pub last_seq: u64,
    pub sealed_keys: Vec<SealedKey>,
    pub joined_at: String,
    pub briefing: String,
    pub paused: bool,
    pub last_responded_seq: u64,
    /// Member key → when the hub last saw it.
    pub roster: Vec<(String, String)>,
    pub extra: Object,
}

impl Subscription {
    fn new(wg_id: &str, hub_id: &str, hub_pubkey: Identity) -> Self {
        Self {
            wg_id: wg_id.to_owned(),
            name: String::new(),
            hub_id: hub_id.to_owned(),
            hub_pubkey,
            last_seq: 0,
            sealed_keys: Vec::new(),
            joined_at: now_ts(),
            briefing: String::new(),
            paused: false,
            last_responded_seq: 0,
            roster: Vec::new(),
            extra: Object::new(),
        }
    }

    fn from_yaml(raw: Object) -> Option<Self> {
        let mut f = Fields(raw);
        let (wg_id, hub_id) = (f.text("wg_id"), f.text("hub_id"));
        let mut sub = Self::new(&wg_id, &hub_id, f.identity("hub_pubkey")?);
        sub.name = f.text("name");
        sub.last_seq = f.num("last_seq").unwrap_or(0);
        for key in f.take("sealed_keys").as_ref().and_then(Value::as_array).unwrap_or_default() {
            let (version, sealed) =
                (key.get("version").and_then(Value::as_u64), key.get("sealed").and_then(Value::as_str));
            if let (Some(version), Some(sealed)) = (version, sealed) {
                sub.upsert_key(version, sealed);
            }
        }
        sub.joined_at = f.text("joined_at");
        sub.briefing = f.text("briefing");
        sub.paused = f.flag("paused");
        sub.last_responded_seq = f.num("last_responded_seq").unwrap_or(0);
        if let Some(Value::Object(roster)) = f.take("roster") {
            sub.roster = roster
                .iter()
                .map(|(k, v)| (k.to_owned(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
        }
        sub.extra = f.0;
        (!wg_id.is_empty() && !hub_id.is_empty()).then_some(sub)
    }

    fn to_yaml(&self) -> Value {
        let keys = self
            .sealed_keys
            .iter()
            .map(|k| Out::default().put("version", k.version).put("sealed", k.sealed.as_str()).0.into());
        let mut out = Out::default()
            .put("wg_id", self.wg_id.as_str())
            .put("name", self.name.as_str())
            .put("hub_id", self.hub_id.as_str())
            .put("hub_pubkey", self.hub_pubkey.to_string())
            .put("last_seq", self.last_seq)
            .put("sealed_keys", Value::Array(keys.collect()))
            .text("joined_at", &self.joined_at)
            .text("briefing", &self.briefing)
            .flag("paused", self.paused);
        if self.last_responded_seq > 0 {
            out = out.put("last_responded_seq", self.last_responded_seq);
        }
        if !self.roster.is_empty() {
            let roster = self.roster.iter().fold(Out::default(), |o, (k, v)| o.put(k, v.as_str()));
            out = out.put("roster", roster.0);
        }
        out.rest(&self.extra)
    }

    pub fn latest_version(&self) -> u64 {
        self.sealed_keys.iter().map(|k| k.version).max().unwrap_or(0)
    }

    pub fn sealed_for(&self, version: u64) -> Option<&str> {
        self.sealed_keys.iter().find(|k| k.version == version).map(|k| k.sealed.as_str())
    }

    pub fn upsert_key(&mut self, version: u64, sealed: &str) {
        match self.sealed_keys.iter_mut().find(|k| k.version == version) {
            Some(k) => k.sealed = sealed.to_owned(),
            None => self.sealed_keys.push(SealedKey { version, sealed: sealed.to_owned() }),
        }
    }

    /// What must reach the disk: everything but the roster's last-seen times.
    fn persisted(&self) -> (u64, &[SealedKey], bool, Vec<&String>) {
        (self.last_seq, &self.sealed_keys, self.paused, self.roster.iter().map(|(k, _)| k).collect())
    }

    /// Takes what a `join` or `pull` result says about keys, roster and pause.
    fn absorb(&mut self, result: &Value, version_key: &str) {
        let sealed = result.get("sealed_key").and_then(Value::as_str).unwrap_or_default();
        let version = result.get(version_key).and_then(Value::as_u64).unwrap_or(1);
        if !sealed.is_empty() {
            self.upsert_key(version, sealed);
        }
        if let Some(paused) = result.get("paused").and_then(Value::as_bool) {
            self.paused = paused;
        }
        if let Some(members) = result.get("members").and_then(Value::as_array) {
            self.roster = members
                .iter()
                .filter_map(|m| {
                    let pk = m.get("pubkey")?.as_str()?.to_owned();
                    Some((pk, m.get("last_seen_at").and_then(Value::as_str).unwrap_or_default().to_owned()))
                })
                .collect();
        }
    }
}

/// Why a member-side command failed, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("not joined to {0} — run `alpi workgroup join <hub> {0}` first")]
    NotJoined(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Room(#[from] RoomError),
    #[error(transparent)]
    Io(#[from] fsio::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, MemberError>;

/// One decrypted post.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub seq: u64,
    pub ts: String,
    pub from: String,
    pub key_version: u64,
    /// The plaintext, or `[decrypt failed: …]`.
    pub text: String,
    pub decrypted: bool,
}

/// What `join` learnt.
#[derive(Debug, Clone)]
pub struct Joined {
    pub subscription: Subscription,
    pub members: Vec<String>,
}

/// A profile acting as a room member (or as the hub of its own rooms).
pub struct Member {
    pub home: ProfileHome,
    pub keys: Keypair,
}

impl Member {
    pub fn open(home: &ProfileHome) -> Result<Self> {
        let (keys, _) = home.keys().load_or_create().map_err(|e| MemberError::Other(e.to_string()))?;
        Ok(Self { home: home.clone(), keys })
    }

    fn path(&self) -> PathBuf {
        self.home.secrets_dir().join(FILE)
    }

    pub fn hub(&self) -> Hub {
        Hub::new(&self.home.dir().join("alp"))
    }

    /// The room if this profile is its hub.
    fn own_room(&self, id: &str) -> Option<super::hub::Room> {
        self.hub().load(id).ok().filter(|r| r.is_hub(self.keys.identity()))
    }

    pub fn subscriptions(&self) -> Vec<Subscription> {
        subscriptions(&self.home)
    }

    pub fn subscription(&self, id: &str) -> Result<Subscription> {
        let found = self.subscriptions().into_iter().find(|s| s.wg_id == id);
        found.ok_or_else(|| MemberError::NotJoined(id.to_owned()))
    }

    /// Changes one subscription (or adds/removes it) under the file's lock.
    fn update(
        &self,
        id: &str,
        change: impl FnOnce(Option<Subscription>) -> Option<Subscription>,
    ) -> Result<()> {
        fsio::ensure_private_dir(&self.home.secrets_dir())?;
        let _lock = fsio::lock_exclusive(&self.home.secrets_dir().join(LOCK))?;
        let mut all = self.subscriptions();
        let at = all.iter().position(|s| s.wg_id == id);
        let current = at.map(|i| all.remove(i));
        if let Some(new) = change(current) {
            all.insert(at.unwrap_or(all.len()), new);
        }
        let yaml = Value::Array(all.iter().map(Subscription::to_yaml).collect());
        Ok(fsio::write_atomic(&self.path(), fsio::SECRET_FILE, crate::yaml::dump(&yaml).as_bytes())?)
    }

    fn pinned(&self, peer_id: &str) -> Result<Peer> {
        crate::alp::ask::pinned(&self.home, peer_id).map_err(MemberError::Other)
    }

    /// The hub's pinned entry for a subscription.
    fn hub_peer(&self, sub: &Subscription) -> Result<Peer> {
        let peers = PeerFiles::new(&self.home.dir().join("alp"))
            .load()
            .map_err(|e| MemberError::Other(e.to_string()))?;
        let found = peers
            .iter()
            .find(|p| p.pubkey == sub.hub_pubkey)
            .or_else(|| peers.iter().find(|p| p.id == sub.hub_id));
        found.cloned().ok_or_else(|| {
            MemberError::Other(format!(
                "the hub of {} ({}) is no longer pinned — `alpi peers add` it again",
                sub.wg_id, sub.hub_id
            ))
        })
    }

    /// Calls the hub; failures become one line saying what happened.
    pub fn call(
        &self,
        client: &Client<'_>,
        hub: &Peer,
        method: &str,
        params: Object,
        timeout: Duration,
    ) -> Result<Value> {
        let route = Route::for_peer(hub, self.home.root());
        match client.call(hub, &route, method, params, timeout, &mut |_| {}) {
            Ok(reply) => Ok(reply.result),
            Err(CallError::Remote(e)) => Err(MemberError::Refused(refusal(&hub.id, &e))),
            Err(e) => {
                let gone = matches!(e, CallError::Offline(_) | CallError::Timeout(_) | CallError::Io(_));
                let why = explain_failure(&self.home, &self.keys, hub, &route, e);
                Err(MemberError::Unreachable(if gone { format!("hub unreachable: {why}") } else { why }))
            }
        }
    }

    pub fn client(&self) -> Client<'_> {
        Client::new(&self.keys)
    }

    /// `workgroup join <hub> <wg>`: fetches the sealed key and remembers the room.
    pub fn join(&self, hub_id: &str, id: &str) -> Result<Joined> {
        super::check_id(id)?;
        let hub = self.pinned(hub_id)?;
        let result = self.call(
            &self.client(),
            &hub,
            verbs::JOIN,
            Object::new().with("workgroup_id", id),
            CALL_TIMEOUT,
        )?;
        let sealed = result.get("sealed_key").and_then(Value::as_str).unwrap_or_default();
        crypto::open(sealed, &self.keys).map_err(|e| {
            MemberError::Other(format!("the hub's sealed key for {id} does not open here: {e}"))
        })?;
        let mut joined = None;
        self.update(id, |current| {
            let mut sub = current.unwrap_or_else(|| Subscription::new(id, &hub.id, hub.pubkey.clone()));
            sub.hub_id = hub.id.clone();
            sub.hub_pubkey = hub.pubkey.clone();
            sub.name = result.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            sub.briefing = result.get("briefing").and_then(Value::as_str).unwrap_or_default().to_owned();
            sub.absorb(&result, "key_version");
            joined = Some(sub.clone());
            Some(sub)
        })?;
        let members = result
            .get("members")
            .and_then(Value::as_array)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.get("pubkey").and_then(Value::as_str).map(|pk| self.alias(pk)))
            .collect();
        Ok(Joined { subscription: joined.expect("update ran"), members })
    }

    /// A name for an author: this profile, a pinned peer's id, or the short key.
    pub fn alias(&self, pubkey: &str) -> String {
        let Ok(identity) = pubkey.parse::<Identity>() else { return pubkey.to_owned() };
        if &identity == self.keys.identity() {
            return format!("{} (me)", self.home.name());
        }
        let peers = PeerFiles::new(&self.home.dir().join("alp")).load().unwrap_or_default();
        peers.iter().find(|p| p.pubkey == identity).map(|p| p.id.clone()).unwrap_or_else(|| identity.short())
    }

    /// Posts `text` under the newest key; returns `(seq, ts)`.
    pub fn post(&self, id: &str, text: &str, cost: Option<Object>) -> Result<(u64, String)> {
        if text.trim().is_empty() {
            return Err(MemberError::Other("nothing to post".into()));
        }
        if self.own_room(id).is_some() {
            let entry = self.hub().post_as_hub(id, &self.keys, text)?;
            return Ok(seq_ts(&Value::Object(entry)));
        }
        let client = self.client();
        // A rekey may have happened since the last pull: post under the newest key.
        let _ = self.pull(&client, id, Some(KEYS_ONLY), 0.0);
        let sub = self.subscription(id)?;
        let version = sub.latest_version();
        let key = self.open_key(&sub, version)?;
        let (nonce, ciphertext) = crypto::encrypt_post(&key, text.as_bytes()).map_err(RoomError::from)?;
        let mut params = Object::new()
            .with("workgroup_id", id)
            .with("key_version", version)
            .with("nonce", nonce)
            .with("ciphertext", ciphertext);
        if let Some(cost) = cost {
            params.insert("cost", cost);
        }
        let result = self.call(&client, &self.hub_peer(&sub)?, verbs::POST, params, CALL_TIMEOUT)?;
        Ok(seq_ts(&result))
    }

    fn open_key(&self, sub: &Subscription, version: u64) -> Result<GroupKey> {
        let sealed = sub.sealed_for(version).ok_or_else(|| {
            MemberError::Other(format!("no group key version {version} for {} — re-join", sub.wg_id))
        })?;
        Ok(crypto::open(sealed, &self.keys).map_err(RoomError::from)?)
    }

    /// Posts after `since` (default: this profile's cursor, which then advances),
    /// decrypted; a held pull when `wait_s` > 0. Returns the posts and the head seq.
    pub fn pull(
        &self,
        client: &Client<'_>,
        id: &str,
        since: Option<u64>,
        wait_s: f64,
    ) -> Result<(Vec<Post>, u64)> {
        if let Some(room) = self.own_room(id) {
            return Ok(self.read_as_hub(&room, since.unwrap_or(0)));
        }
        let sub = self.subscription(id)?;
        let cursor = since.unwrap_or(sub.last_seq);
        let mut params = Object::new().with("workgroup_id", id).with("since", cursor);
        if wait_s > 0.0 {
            params.insert("wait_s", wait_s);
        }
        let timeout = CALL_TIMEOUT + Duration::from_secs_f64(wait_s.max(0.0));
        let raw = self.call(client, &self.hub_peer(&sub)?, verbs::PULL, params, timeout)?;
        let head = raw.get("head").and_then(Value::as_u64).unwrap_or(cursor);
        let merge = |sub: &mut Subscription| {
            sub.absorb(&raw, "current_key_version");
            if since.is_none() && head > sub.last_seq {
                sub.last_seq = head;
            }
        };
        let mut merged = sub.clone();
        merge(&mut merged);
        // Most held pulls come back empty: write only when something that matters moved
        // (roster timestamps ride along with the next real change, as in the original).
        let sub = if merged.persisted() == sub.persisted() {
            merged
        } else {
            let mut updated = None;
            self.update(id, |current| {
                let mut sub = current?;
                merge(&mut sub);
                updated = Some(sub.clone());
                Some(sub)
            })?;
            updated.ok_or_else(|| MemberError::NotJoined(id.to_owned()))?
        };
        let mut keys = Vec::new();
        let posts = raw.get("posts").and_then(Value::as_array).unwrap_or_default();
        let posts = posts
            .iter()
            .filter_map(Value::as_object)
            .map(|p| self.decrypt(p, &mut keys, &|v| self.open_key(&sub, v).ok()));
        Ok((posts.collect(), head))
    }

    fn read_as_hub(&self, room: &super::hub::Room, since: u64) -> (Vec<Post>, u64) {
        let all = transcript::read_all(&room.dir);
        let head = all.last().and_then(|p| p.get("seq")).and_then(Value::as_u64).unwrap_or(0);
        let mut cache = Vec::new();
        let hub = self.hub();
        let open = |v: u64| hub.group_key(room, &self.keys, v);
        let fresh = all.iter().filter(|p| p.get("seq").and_then(Value::as_u64).unwrap_or(0) > since);
        (fresh.map(|p| self.decrypt(p, &mut cache, &open)).collect(), head)
    }

    fn decrypt(
        &self,
        post: &Object,
        cache: &mut Vec<(u64, Option<GroupKey>)>,
        open: &dyn Fn(u64) -> Option<GroupKey>,
    ) -> Post {
        let text = |k: &str| post.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let version = post.get("key_version").and_then(Value::as_u64).unwrap_or(1);
        if !cache.iter().any(|(v, _)| *v == version) {
            cache.push((version, open(version)));
        }
        let key = cache.iter().find(|(v, _)| *v == version).and_then(|(_, k)| k.as_ref());
        let plain = match key {
            Some(key) => {
                crypto::decrypt_post(key, &text("nonce"), &text("ciphertext")).map_err(|e| e.to_string())
            }
            None => Err(format!("no sealed key for version {version}")),
        };
        let (text_out, decrypted) = match plain {
            Ok(bytes) => (String::from_utf8_lossy(&bytes).into_owned(), true),
            Err(e) => (format!("[decrypt failed: {e}]"), false),
        };
        Post {
            seq: post.get("seq").and_then(Value::as_u64).unwrap_or(0),
            ts: text("ts"),
            from: text("from"),
            key_version: version,
            text: text_out,
            decrypted,
        }
    }

    /// Leaves the room (the hub rekeys) and forgets it here. When the hub cannot be
    /// reached the subscription is kept, so the leave can be retried.
    pub fn leave(&self, id: &str) -> Result<Value> {
        let sub = self.subscription(id)?;
        let result = self.call(
            &self.client(),
            &self.hub_peer(&sub)?,
            verbs::LEAVE,
            Object::new().with("workgroup_id", id),
            CALL_TIMEOUT,
        );
        match result {
            Ok(_) | Err(MemberError::Refused(_)) => self.update(id, |_| None)?,
            Err(_) => {}
        }
        result
    }

    /// Pause or resume: only the hub, on its own room.
    pub fn set_paused(&self, id: &str, paused: bool) -> Result<super::hub::Room> {
        if self.own_room(id).is_none() {
            return Err(RoomError::NotHub(if paused { "pause" } else { "resume" }).into());
        }
        Ok(self.hub().set_paused(id, self.keys.identity(), paused)?)
    }

    /// Records that this profile answered up to `seq` (the poller's own cursor).
    pub fn mark_responded(&self, id: &str, seq: u64) -> Result<()> {
        self.update(id, |current| {
            let mut sub = current?;
            sub.last_responded_seq = sub.last_responded_seq.max(seq);
            Some(sub)
        })
    }

    /// Uploads a file in 256 KiB encrypted chunks; returns its SHA-256.
    pub fn send_file(&self, id: &str, data: &[u8], name: &str, note: &str) -> Result<String> {
        if data.is_empty() || data.len() as u64 > MAX_FILE_BYTES {
            return Err(MemberError::Other(format!(
                "a workgroup file must be 1 byte to {MAX_FILE_BYTES} bytes"
            )));
        }
        let name = files::check_name(name)?;
        let note = files::check_note(note)?;
        let digest = hex(&Sha256::digest(data));
        let (key, version, target) = self.file_key(id, None)?;
        let nonce: [u8; 12] = crypto::random().map_err(RoomError::from)?;
        let (nonce, sealed) = crypto::encrypt_post_with(&key, data, &nonce).map_err(RoomError::from)?;
        let sealed = Base64::decode_vec(&sealed).map_err(|e| MemberError::Other(e.to_string()))?;
        let mut offset = 0usize;
        let client = self.client();
        while offset < sealed.len() {
            let end = (offset + CHUNK_BYTES).min(sealed.len());
            let params = Object::new()
                .with("workgroup_id", id)
                .with("sha256", digest.as_str())
                .with("name", name.as_str())
                .with("size", data.len() as u64)
                .with("key_version", version)
                .with("nonce", nonce.as_str())
                .with("note", note.as_str())
                .with("offset", offset as u64)
                .with("data_base64", Base64::encode_string(&sealed[offset..end]))
                .with("done", end == sealed.len());
            let result = match &target {
                None => {
                    Value::Object(files::put(&self.hub(), &self.keys, id, self.keys.identity(), &params)?)
                }
                Some(hub) => self.call(&client, hub, verbs::FILE_PUT, params, Duration::from_secs(60))?,
            };
            if result.get("busy").and_then(Value::as_bool) == Some(true) {
                return Err(MemberError::Other(
                    "another upload of this file is in progress; try again".into(),
                ));
            }
            if result.get("complete").and_then(Value::as_bool) == Some(true) {
                return Ok(digest);
            }
            let next = result.get("next_offset").and_then(Value::as_u64).unwrap_or(0) as usize;
            if next <= offset || next > sealed.len() {
                return Err(MemberError::Other("the hub returned an invalid file offset".into()));
            }
            offset = next;
        }
        Err(MemberError::Other("the hub did not complete the upload".into()))
    }

    /// Downloads a file, decrypts it and checks its size and SHA-256: `(name, bytes)`.
    pub fn get_file(&self, id: &str, digest: &str) -> Result<(String, Vec<u8>)> {
        let digest = check_hash(digest)?;
        let target = self.file_target(id)?;
        let client = self.client();
        let (mut sealed, mut offset, mut meta) = (Vec::new(), 0u64, None::<Value>);
        loop {
            let params =
                Object::new().with("workgroup_id", id).with("sha256", digest.as_str()).with("offset", offset);
            let chunk = match &target {
                None => Value::Object(files::get(&self.hub(), id, self.keys.identity(), &params)?),
                Some(hub) => self.call(&client, hub, verbs::FILE_GET, params, Duration::from_secs(60))?,
            };
            let data =
                Base64::decode_vec(chunk.get("data_base64").and_then(Value::as_str).unwrap_or_default())
                    .map_err(|_| MemberError::Other("the hub returned invalid file data".into()))?;
            sealed.extend_from_slice(&data);
            offset += data.len() as u64;
            if sealed.len() as u64 > MAX_FILE_BYTES + 16 {
                return Err(MemberError::Other("the file exceeds the size limit".into()));
            }
            let eof = chunk.get("eof").and_then(Value::as_bool) == Some(true);
            meta.get_or_insert(chunk);
            if eof {
                break;
            }
            if data.is_empty() {
                return Err(MemberError::Other("the hub returned an empty chunk".into()));
            }
        }
        let meta = meta.expect("one chunk at least");
        let field = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let version = meta.get("key_version").and_then(Value::as_u64).unwrap_or(1);
        let (key, _, _) = self.file_key(id, Some(version))?;
        let nonce = Base64::decode_vec(&field("nonce")).unwrap_or_default();
        let plain = crypto::decrypt_bytes(&key, &nonce, &sealed)
            .map_err(|_| MemberError::Other("the file failed authentication".into()))?;
        let size = meta.get("size").and_then(Value::as_u64).unwrap_or(0);
        if plain.len() as u64 != size || hex(&Sha256::digest(&plain)) != digest {
            return Err(MemberError::Other("the file failed its size or sha256 check".into()));
        }
        Ok((field("name"), plain))
    }

    /// The room's files, newest first.
    pub fn list_files(&self, id: &str) -> Result<Value> {
        let params = Object::new().with("workgroup_id", id).with("offset", 0u64).with("limit", 200u64);
        match self.file_target(id)? {
            None => Ok(Value::Object(files::list(&self.hub(), id, self.keys.identity(), &params)?)),
            Some(hub) => self.call(&self.client(), &hub, verbs::FILE_LIST, params, CALL_TIMEOUT),
        }
    }

    /// `None` when this profile is the room's hub, else the hub to call.
    fn file_target(&self, id: &str) -> Result<Option<Peer>> {
        if self.own_room(id).is_some() {
            return Ok(None);
        }
        Ok(Some(self.hub_peer(&self.subscription(id)?)?))
    }

    /// The group key for files (`version`, default the newest) and where to send.
    fn file_key(&self, id: &str, version: Option<u64>) -> Result<(GroupKey, u64, Option<Peer>)> {
        if let Some(room) = self.own_room(id) {
            let v = version.unwrap_or(room.meta.current_key_version);
            let key = self.hub().group_key(&room, &self.keys, v);
            let key = key.ok_or_else(|| MemberError::Other(format!("no group key version {v} for {id}")))?;
            return Ok((key, v, None));
        }
        if version.is_none() {
            let _ = self.pull(&self.client(), id, Some(KEYS_ONLY), 0.0);
        }
        let sub = self.subscription(id)?;
        let v = version.unwrap_or(sub.latest_version());
        Ok((self.open_key(&sub, v)?, v, Some(self.hub_peer(&sub)?)))
    }
}

/// The rooms `home` joined, read without touching its keys.
pub fn subscriptions(home: &ProfileHome) -> Vec<Subscription> {
    let entries = super::read_yaml_list(&home.secrets_dir().join(FILE)).unwrap_or_default();
    entries.into_iter().filter_map(Subscription::from_yaml).collect()
}

fn seq_ts(result: &Value) -> (u64, String) {
    let seq = result.get("seq").and_then(Value::as_u64).unwrap_or(0);
    (seq, result.get("ts").and_then(Value::as_str).unwrap_or_default().to_owned())
}

/// A hub's refusal in words, with what to do.
fn refusal(hub: &str, e: &RpcError) -> String {
    let detail = e.data.get("detail").and_then(Value::as_str).map(|d| format!(" ({d})")).unwrap_or_default();
    let what = match e.message.as_str() {
        "workgroup-not-member" => {
            "this profile is not a member of that workgroup — ask the hub to `add-member` it"
        }
        "workgroup-not-joined" => "not joined yet — run `alpi workgroup join` first",
        "workgroup-paused" => "the workgroup is paused — the hub must `alpi workgroup resume` it",
        _ => "",
    };
    if what.is_empty() { format!("{hub} refused: {e}") } else { format!("{hub} refused: {what}{detail}") }
}
