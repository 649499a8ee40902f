//! The `link.*` methods a profile serves (ALP spec §7) and the seam to the agent:
//! `link.ask` runs a turn through an [`Agent`], one turn per profile at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64ct::{Base64, Encoding};

use crate::alp::blobs::{BlobError, BlobReader, BlobStore};
use crate::alp::identity::Identity;
use crate::alp::wire::envelope::RpcError;
use crate::json::{Object, Value};

pub const PING: &str = "link.ping";
pub const ASK: &str = "link.ask";
pub const CANCEL: &str = "link.cancel";
pub const PUT_BLOB: &str = "link.put_blob";
pub const GET_BLOB: &str = "link.get_blob";
/// Forwarded audit records for a hub ([`crate::alp::audit`]).
pub const AUDIT_PUSH: &str = "audit.push";

/// Methods this build serves; anything else is `-32601`.
pub fn is_known(method: &str) -> bool {
    matches!(method, PING | ASK | CANCEL | PUT_BLOB | GET_BLOB | AUDIT_PUSH)
        || crate::alp::workgroup::verbs::is_known(method)
}

/// One inbound `link.ask`.
#[derive(Debug, Clone)]
pub struct AskRequest {
    /// The sender's local label in `peers.yaml`.
    pub peer_id: String,
    pub sender: Identity,
    pub prompt: String,
    pub session_id: String,
}

/// What a finished turn reports back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AskResult {
    pub text: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost: f64,
    pub interrupted: bool,
}

/// Runs agent turns for `link.ask`. The real one arrives with the agent; the default,
/// [`NoAgent`], says no model is configured.
pub trait Agent: Send + Sync {
    /// Runs one turn, passing each piece of answer text to `on_text` as it arrives and
    /// stopping early (with `interrupted: true`) once `cancel` is set.
    fn ask(
        &self,
        ask: &AskRequest,
        on_text: &mut dyn FnMut(&str),
        cancel: &Arc<AtomicBool>,
    ) -> Result<AskResult, RpcError>;
}

/// The stand-in for a profile that cannot run turns: every `link.ask` is `-32603`
/// with a detail saying why.
pub struct NoAgent {
    pub detail: String,
}

impl NoAgent {
    /// For a profile whose `config.yaml` names `model` (empty: none).
    pub fn for_profile(profile: &str, model: &str) -> Self {
        let detail = if model.is_empty() {
            format!("no model configured on {profile}")
        } else {
            format!("{profile} (model {model}) does not run agent turns for peers here")
        };
        Self { detail }
    }
}

impl Agent for NoAgent {
    fn ask(
        &self,
        _: &AskRequest,
        _: &mut dyn FnMut(&str),
        _: &Arc<AtomicBool>,
    ) -> Result<AskResult, RpcError> {
        Err(internal_error(&self.detail))
    }
}

pub fn internal_error(detail: &str) -> RpcError {
    RpcError::new(-32603, "internal-error", Object::new().with("detail", detail))
}

pub fn bad_params(detail: &str) -> RpcError {
    RpcError::new(-32602, "invalid-params", Object::new().with("detail", detail))
}

pub fn target_busy() -> RpcError {
    RpcError::new(-32007, "target-busy", Value::Null)
}

/// `link.ping {nonce}` → `{nonce, version, agent_name}`.
pub fn ping(params: &Object, agent_name: &str) -> Object {
    let nonce = match params.get("nonce") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => String::from_utf8_lossy(&other.wire()).into_owned(),
    };
    Object::new()
        .with("nonce", nonce)
        .with("version", crate::alp::wire::envelope::VERSION)
        .with("agent_name", agent_name)
}

/// `link.put_blob {hash, size, offset, data, final}` → `{hash, size, next_offset, complete}`.
pub fn put_blob(store: &BlobStore, sender: &Identity, params: &Object) -> Result<Object, RpcError> {
    let hash = params.get("hash").and_then(Value::as_str).unwrap_or_default();
    let size =
        params.get("size").and_then(Value::as_u64).ok_or_else(|| invalid_blob("size must be an integer"))?;
    let offset = match params.get("offset") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| invalid_blob("offset must be non-negative"))?,
    };
    let encoded = params.get("data").and_then(Value::as_str).unwrap_or_default();
    let data = Base64::decode_vec(encoded).map_err(|_| invalid_blob("data must be valid base64"))?;
    let last = params.get("final").and_then(Value::as_bool).unwrap_or(false);
    let put = store.put_chunk(&sender.to_string(), hash, size, offset, &data, last).map_err(blob_error)?;
    Ok(Object::new()
        .with("hash", put.hash)
        .with("size", put.size)
        .with("next_offset", put.next_offset)
        .with("complete", put.complete))
}

/// `link.get_blob {hash}`: opens the blob for streaming as `{kind: chunk, hash, offset,
/// data}` frames and a final `{kind: final, hash, size}`.
pub fn open_blob(store: &BlobStore, params: &Object) -> Result<(String, BlobReader), RpcError> {
    let hash = params.get("hash").and_then(Value::as_str).unwrap_or_default();
    let hash = BlobStore::validate_hash(hash).map_err(blob_error)?;
    let reader = store.open(&hash).map_err(blob_error)?;
    Ok((hash, reader))
}

pub fn blob_chunk(hash: &str, offset: u64, data: &[u8]) -> Object {
    Object::new()
        .with("kind", "chunk")
        .with("hash", hash)
        .with("offset", offset)
        .with("data", Base64::encode_string(data))
}

pub fn blob_final(hash: &str, size: u64) -> Object {
    Object::new().with("kind", "final").with("hash", hash).with("size", size)
}

fn invalid_blob(detail: &str) -> RpcError {
    RpcError::new(-32602, "invalid-blob", Object::new().with("detail", detail))
}

pub fn blob_error(e: BlobError) -> RpcError {
    match e {
        BlobError::Invalid(detail) => invalid_blob(&detail),
        BlobError::NotFound => RpcError::new(-32012, "blob-not-found", Value::Null),
        BlobError::Io(detail) => internal_error(&detail),
    }
}

/// `link.ask` result object.
pub fn ask_result(result: &AskResult, session_id: &str) -> Object {
    Object::new()
        .with("text", result.text.as_str())
        .with("tokens_in", result.tokens_in)
        .with("tokens_out", result.tokens_out)
        .with("cost", result.cost)
        .with("session_id", session_id)
        .with("interrupted", result.interrupted)
}

/// The turn a profile is running, if any: one at a time.
#[derive(Default)]
pub struct TurnSlot {
    running: Mutex<Option<Running>>,
}

struct Running {
    sender: Identity,
    session_id: String,
    cancel: Arc<AtomicBool>,
}

/// Holds the slot until dropped.
pub struct TurnGuard<'a> {
    slot: &'a TurnSlot,
    pub cancel: Arc<AtomicBool>,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        *self.slot.lock() = None;
    }
}

impl TurnSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims the slot for `sender`'s turn, or `None` when a turn is already running.
    pub fn claim(&self, sender: &Identity, session_id: &str) -> Option<TurnGuard<'_>> {
        let mut running = self.lock();
        if running.is_some() {
            return None;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        *running = Some(Running {
            sender: sender.clone(),
            session_id: session_id.to_owned(),
            cancel: cancel.clone(),
        });
        Some(TurnGuard { slot: self, cancel })
    }

    /// `link.cancel`: only the peer that started the running turn may stop it, and only
    /// that turn (an empty `session_id` means "whatever I started").
    pub fn cancel(&self, caller: &Identity, session_id: &str) -> Object {
        let running = self.lock();
        match running.as_ref() {
            Some(turn)
                if &turn.sender == caller && (session_id.is_empty() || session_id == turn.session_id) =>
            {
                turn.cancel.store(true, Ordering::SeqCst);
                Object::new().with("cancelled", true).with("session_id", turn.session_id.as_str())
            }
            _ => Object::new().with("cancelled", false),
        }
    }
}

/// A new session id: 12 lowercase hex characters.
pub fn new_session_id() -> String {
    crate::alp::wire::envelope::random_hex16()[..12].to_owned()
}
