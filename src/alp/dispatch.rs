//! The server side of ALP for one profile: an authentic envelope goes through the
//! spec §3 rules in order — pinned, transport identity, rate limit, allow list, known
//! method, budget — to a handler, and comes back as signed response frames. Knows no
//! sockets: a transport hands in bytes and a sink for the frames.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::Level;

use crate::agent::ledger::Ledger;
use crate::alp::audit::HubStore;
use crate::alp::blobs::{BlobReader, BlobStore};
use crate::alp::identity::{self, Identity, Keypair};
use crate::alp::limits::{Lane, RateLimiter, WINDOW_SECONDS};
use crate::alp::methods::{self, Agent, AskRequest, TurnSlot};
use crate::alp::peers::{Peer, PeerFiles, PinnedPeers};
use crate::alp::replay::{ReplayGuard, Verdict};
use crate::alp::wire::envelope::{self, Authentic, Drop, RpcError, Stream};
use crate::alp::workgroup::{hub::Hub, verbs as rooms};
use crate::fsio;
use crate::json::{Object, Value};
use crate::logging::ServiceLog;
use crate::profile::ProfileHome;
use crate::profile::config::Config;

/// A streamed `link.ask` reports progress after this long without text.
pub const PROGRESS_AFTER: Duration = Duration::from_secs(15);

/// How the request arrived; TCP carries the X25519 static key Noise authenticated and
/// the address a pending sender is recorded with.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    Unix,
    Tcp { noise_static: &'a [u8; 32], address: &'a str },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Identity(#[from] identity::Error),
    #[error(transparent)]
    Io(#[from] fsio::Error),
}

/// Everything one profile needs to answer ALP requests.
pub struct Node {
    profile: String,
    keys: Keypair,
    files: PeerFiles,
    peers: Mutex<Watched<PinnedPeers>>,
    config: Mutex<Watched<Config>>,
    ledger: Ledger,
    replay: Mutex<ReplayGuard>,
    limiter: Mutex<RateLimiter>,
    turns: TurnSlot,
    blobs: BlobStore,
    audit: HubStore,
    rooms: Hub,
    agent: Arc<dyn Agent>,
    log: ServiceLog,
    progress_after: Duration,
}

impl Node {
    /// Loads (or creates) the profile's identity and opens its replay journal, keeping
    /// the entries still live at `now_micros`.
    pub fn open(home: &ProfileHome, agent: Arc<dyn Agent>, now_micros: i64) -> Result<Self, Error> {
        let (keys, _) = home.keys().load_or_create()?;
        let alp_dir = home.dir().join("alp");
        let replay = ReplayGuard::open(&home.secrets_dir().join("replay.jsonl"), now_micros)?;
        Ok(Self {
            profile: home.name().to_string(),
            keys,
            files: PeerFiles::new(&alp_dir),
            peers: Mutex::new(Watched::new(alp_dir.join("peers.yaml"), load_peers, OnError::Empty)),
            config: Mutex::new(Watched::new(home.config_path(), load_config, OnError::KeepLastGood)),
            ledger: Ledger::new(&home.logs_dir()),
            replay: Mutex::new(replay),
            limiter: Mutex::new(RateLimiter::new()),
            turns: TurnSlot::default(),
            blobs: BlobStore::new(&alp_dir),
            audit: HubStore::new(home.dir()),
            rooms: Hub::new(&alp_dir),
            agent,
            log: ServiceLog::open(&home.service_log()),
            progress_after: PROGRESS_AFTER,
        })
    }

    /// Shortens the streamed-ask progress interval (tests).
    pub fn with_progress_after(mut self, every: Duration) -> Self {
        self.progress_after = every;
        self
    }

    pub fn identity(&self) -> &Identity {
        self.keys.identity()
    }

    /// The profile's key pair (the Noise layer derives its static key from it).
    pub fn keys(&self) -> &Keypair {
        &self.keys
    }

    /// Answers one envelope. Each response frame is passed to `out`, which returns
    /// false once the client is gone. A dropped envelope produces no frame at all.
    pub fn handle(
        &self,
        bytes: &[u8],
        via: Via<'_>,
        now: &dyn Fn() -> i64,
        out: &mut dyn FnMut(Object) -> bool,
    ) {
        let started = Instant::now();
        let request = match self.admit(bytes, via, now()) {
            Ok(admitted) => admitted,
            Err(drop) => {
                self.log.event(Level::Debug, "alpi.alp", format_args!("drop: {drop}"));
                return;
            }
        };
        let Admitted { envelope, peer } = &request;
        let method = envelope.method().unwrap_or_default();
        let mut reply = |outcome: Result<Object, RpcError>, stream: Option<Stream>| {
            out(envelope::response(&self.keys, &envelope.from, envelope.id(), outcome, stream, now()))
        };
        let outcome = match self.route(envelope, peer, now()) {
            Route::Reply(outcome) => {
                let summary = outcome_summary(&outcome);
                reply(outcome, None);
                summary
            }
            Route::Ask(params) => self.ask(envelope, peer, &params, &mut reply),
            Route::GetBlob(hash, reader) => self.send_blob(&hash, reader, &mut reply),
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        self.log.event(
            Level::Info,
            "alpi.alp",
            format_args!("{method} from {} · {outcome} · {ms:.1} ms", peer.id),
        );
    }

    /// Spec §2 checks 1–6 and §3 rules 1–2: a pinned, fresh envelope addressed to us.
    fn admit(&self, bytes: &[u8], via: Via<'_>, now: i64) -> Result<Admitted, Drop> {
        let envelope = envelope::authenticate(bytes, now)?;
        if &envelope.to != self.identity() {
            return Err(Drop::WrongRecipient);
        }
        let Some(peer) = self.pinned(&envelope.from) else {
            let address = match via {
                Via::Tcp { address, .. } => Some(address),
                Via::Unix => None,
            };
            if let Err(e) = self.files.record_pending(&envelope.from, address, now as f64 / 1e6) {
                log::warn!("{}: could not record pending peer: {e}", self.profile);
            }
            return Err(Drop::Unpinned);
        };
        // Only pinned senders are remembered, so strangers cannot fill the guard.
        match lock(&self.replay).check_and_record(&envelope.from, &envelope.nonce, now) {
            Verdict::Fresh => {}
            Verdict::Replayed | Verdict::Refused => return Err(Drop::Replayed),
        }
        if let Via::Tcp { noise_static, .. } = via
            && peer.pubkey.x25519_public().as_ref() != Some(noise_static)
        {
            return Err(Drop::Unexpected);
        }
        Ok(Admitted { envelope, peer })
    }

    fn pinned(&self, sender: &Identity) -> Option<Peer> {
        lock(&self.peers).get().by_identity(sender).cloned()
    }

    /// The pinned peer whose derived X25519 key Noise authenticated, if any.
    pub fn pinned_by_noise_key(&self, noise_static: &[u8; 32]) -> Option<Peer> {
        lock(&self.peers).get().by_noise_key(noise_static).cloned()
    }

    /// Writes one line to the profile's service log.
    pub fn log_event(&self, level: Level, message: std::fmt::Arguments<'_>) {
        self.log.event(level, "alpi.alp", message);
    }

    /// Spec §3 rules 3–7.
    fn route(&self, envelope: &Authentic, peer: &Peer, now: i64) -> Route {
        let method = envelope.method().unwrap_or_default();
        let params = envelope.params();
        if !lock(&self.limiter).admit(&peer.pubkey, lane(method, &params), peer.per_minute(), now) {
            let data = Object::new().with("window_seconds", WINDOW_SECONDS);
            return Route::Reply(Err(RpcError::new(-32005, "rate-limited", data)));
        }
        if !peer.may_call(method) {
            return Route::Reply(Err(RpcError::new(
                -32001,
                "capability-denied",
                Object::new().with("method", method),
            )));
        }
        if !methods::is_known(method) {
            return Route::Reply(Err(RpcError::new(-32601, "method-not-found", Value::Null)));
        }
        if let Err(spent) = self.check_budget(now) {
            return Route::Reply(Err(spent));
        }
        match method {
            methods::PING => Route::Reply(Ok(methods::ping(&params, &self.profile))),
            methods::CANCEL => {
                let session = params.get("session_id").and_then(Value::as_str).unwrap_or_default();
                Route::Reply(Ok(self.turns.cancel(&envelope.from, session)))
            }
            methods::PUT_BLOB => Route::Reply(methods::put_blob(&self.blobs, &envelope.from, &params)),
            methods::AUDIT_PUSH => Route::Reply(self.audit.push(&peer.id, &params)),
            methods::GET_BLOB => match methods::open_blob(&self.blobs, &params) {
                Ok((hash, reader)) => Route::GetBlob(hash, reader),
                Err(e) => Route::Reply(Err(e)),
            },
            m if rooms::is_known(m) => {
                Route::Reply(rooms::handle(&self.rooms, &self.keys, m, &envelope.from, &params))
            }
            _ => Route::Ask(params),
        }
    }

    /// `budget.daily_usd` against today's spend in `logs/ledger.json`.
    fn check_budget(&self, now: i64) -> Result<(), RpcError> {
        let cap = lock(&self.config).get().budget.daily_usd;
        self.ledger.check(cap, now).map_err(|spent| {
            let data = Object::new().with("cap_kind", "usd").with("cap", spent.cap).with("used", spent.used);
            RpcError::new(-32005, "budget-exceeded", data)
        })
    }

    /// `link.get_blob`: the verified blob in chunk frames, then its size in the final one.
    fn send_blob(
        &self,
        hash: &str,
        mut reader: BlobReader,
        reply: &mut dyn FnMut(Result<Object, RpcError>, Option<Stream>) -> bool,
    ) -> String {
        loop {
            match reader.next_chunk() {
                Ok(Some((offset, data))) => {
                    if !reply(Ok(methods::blob_chunk(hash, offset, &data)), Some(Stream::Chunk)) {
                        return "client gone".into();
                    }
                }
                Ok(None) => {
                    reply(Ok(methods::blob_final(hash, reader.size())), Some(Stream::Final));
                    return format!("ok {} bytes", reader.size());
                }
                Err(e) => {
                    let error = methods::blob_error(e);
                    let summary = format!("{} {}", error.code, error.message);
                    reply(Err(error), Some(Stream::Final));
                    return summary;
                }
            }
        }
    }

    /// `link.ask`: one turn at a time; streamed as `started`, text pieces, `progress`
    /// after silence, then `final` — or one plain reply.
    fn ask(
        &self,
        envelope: &Authentic,
        peer: &Peer,
        params: &Object,
        reply: &mut dyn FnMut(Result<Object, RpcError>, Option<Stream>) -> bool,
    ) -> String {
        let prompt = params.get("prompt").and_then(Value::as_str).unwrap_or_default();
        if prompt.trim().is_empty() {
            reply(Err(methods::bad_params("prompt is empty")), None);
            return "-32602".into();
        }
        let session_id = methods::new_session_id();
        let Some(turn) = self.turns.claim(&envelope.from, &session_id) else {
            reply(Err(methods::target_busy()), None);
            return "-32007 busy".into();
        };
        let request = AskRequest {
            peer_id: peer.id.clone(),
            sender: envelope.from.clone(),
            prompt: prompt.to_owned(),
            session_id: session_id.clone(),
        };
        if params.get("stream").and_then(Value::as_bool) != Some(true) {
            let outcome = self.agent.ask(&request, &mut |_| {}, &turn.cancel);
            // Free the slot before answering: the caller may ask again at once.
            drop(turn);
            let summary = outcome_summary(&outcome);
            reply(outcome.map(|r| methods::ask_result(&r, &session_id)), None);
            return summary;
        }
        let event = |name: &str| Object::new().with("event", name).with("session_id", session_id.as_str());
        let mut client_here = reply(Ok(event("started")), Some(Stream::Chunk));
        let (tx, rx) = mpsc::channel::<Streamed>();
        let outcome = std::thread::scope(|scope| {
            let cancel = &turn.cancel;
            let agent = &self.agent;
            let request = &request;
            scope.spawn(move || {
                let text_tx = tx.clone();
                let mut on_text = |piece: &str| drop(text_tx.send(Streamed::Text(piece.to_owned())));
                let _ = tx.send(Streamed::Done(agent.ask(request, &mut on_text, cancel)));
            });
            loop {
                match rx.recv_timeout(self.progress_after) {
                    Ok(Streamed::Text(piece)) if client_here => {
                        client_here = reply(Ok(Object::new().with("text", piece)), Some(Stream::Chunk));
                    }
                    Ok(Streamed::Text(_)) => {}
                    Ok(Streamed::Done(outcome)) => break outcome,
                    Err(RecvTimeoutError::Timeout) if client_here => {
                        client_here = reply(Ok(event("progress")), Some(Stream::Chunk));
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        break Err(methods::internal_error("the turn stopped"));
                    }
                }
                if !client_here {
                    cancel.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        drop(turn);
        let summary = outcome_summary(&outcome);
        if client_here {
            reply(outcome.map(|r| methods::ask_result(&r, &session_id)), Some(Stream::Final));
            summary
        } else {
            format!("{summary} (client gone)")
        }
    }
}

enum Streamed {
    Text(String),
    Done(Result<methods::AskResult, RpcError>),
}

struct Admitted {
    envelope: Authentic,
    peer: Peer,
}

enum Route {
    Reply(Result<Object, RpcError>),
    Ask(Object),
    GetBlob(String, BlobReader),
}

fn outcome_summary<T>(outcome: &Result<T, RpcError>) -> String {
    match outcome {
        Ok(_) => "ok".into(),
        Err(e) => format!("{} {}", e.code, e.message),
    }
}

/// `workgroup.pull` and chunk continuations count against the 600/min lane.
fn lane(method: &str, params: &Object) -> Lane {
    let chunked = matches!(method, "link.put_blob" | "workgroup.file_put" | "workgroup.file_get");
    let continuation = params.get("offset").and_then(Value::as_u64).is_some_and(|o| o > 0);
    if method == "workgroup.pull" || (chunked && continuation) { Lane::Bulk } else { Lane::Normal }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A value loaded from a file and reloaded when the file changes (one `stat` a use).
struct Watched<T> {
    path: PathBuf,
    stamp: Option<Stamp>,
    value: T,
    load: fn(&Path) -> Option<T>,
    on_error: OnError,
}

/// What a file that stops parsing means.
#[derive(Clone, Copy)]
enum OnError {
    /// Nothing: an unreadable `peers.yaml` pins nobody (fail-closed).
    Empty,
    /// Keep using the last good version: a typo in `config.yaml` must not lift the budget cap.
    KeepLastGood,
}

#[derive(PartialEq, Eq, Clone, Copy)]
struct Stamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    ino: u64,
}

impl<T: Default> Watched<T> {
    fn new(path: PathBuf, load: fn(&Path) -> Option<T>, on_error: OnError) -> Self {
        let mut watched = Self { path, stamp: None, value: T::default(), load, on_error };
        watched.reload();
        watched
    }

    fn get(&mut self) -> &T {
        if stamp_of(&self.path) != self.stamp {
            self.reload();
        }
        &self.value
    }

    fn reload(&mut self) {
        self.stamp = stamp_of(&self.path);
        match ((self.load)(&self.path), self.on_error) {
            (Some(value), _) => self.value = value,
            (None, OnError::Empty) => self.value = T::default(),
            (None, OnError::KeepLastGood) => {}
        }
    }
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp { modified: m.modified().ok(), len: m.len(), ino: m.ino() })
}

fn load_peers(path: &Path) -> Option<PinnedPeers> {
    let files = PeerFiles::new(path.parent().unwrap_or(Path::new(".")));
    let peers = files.load().map_err(|e| log::error!("{e}; refusing every peer until it is fixed")).ok()?;
    Some(PinnedPeers::new(peers))
}

fn load_config(path: &Path) -> Option<Config> {
    Config::load(path).map_err(|e| log::error!("{e}; keeping the last good settings")).ok()
}
