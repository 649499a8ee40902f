//! Signed ALP envelopes (spec §2): building and signing requests and responses, and
//! the receiver's stateless checks in the spec's order. Pure: the caller passes `now`;
//! the stateful checks (replay, recipient, pinning) belong to the dispatcher.

use std::fmt;

use base64ct::{Base64, Encoding};

use crate::alp::identity::{Identity, Keypair};
use crate::clock::{UtcTime, parse_iso8601};
use crate::json::{self, Object, Value};

/// `alp.v` this implementation speaks.
pub const VERSION: i64 = 1;
/// Envelopes whose `ts` is further than this from the local clock are dropped.
pub const MAX_SKEW_MICROS: i64 = 2 * 60 * 1_000_000;
/// Largest envelope accepted on any transport.
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;

/// A JSON-RPC error object: `{code, message, data}` (`data` always present).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Value,
}

impl RpcError {
    pub fn new(code: i64, message: &str, data: impl Into<Value>) -> Self {
        Self { code, message: message.to_owned(), data: data.into() }
    }

    fn to_object(&self) -> Object {
        Object::new()
            .with("code", self.code)
            .with("message", self.message.as_str())
            .with("data", self.data.clone())
    }

    fn from_value(v: &Value) -> Option<Self> {
        Some(Self {
            code: v.get("code")?.as_i64()?,
            message: v.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
            data: v.get("data").cloned().unwrap_or(Value::Null),
        })
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)?;
        if !self.data.is_null() {
            write!(f, " {}", String::from_utf8_lossy(&self.data.wire()))?;
        }
        Ok(())
    }
}

/// The `stream` marker of a streamed response frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Chunk,
    Final,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Chunk => "chunk",
            Stream::Final => "final",
        }
    }
}

/// Why an envelope was dropped. Never sent to the peer: drops are silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Not a JSON object, or an `alp` field missing or of the wrong kind.
    Malformed(&'static str),
    Version,
    Skew,
    Signature,
    Replayed,
    WrongRecipient,
    Unpinned,
    /// A reply to someone else's request, or from someone other than the peer asked.
    Unexpected,
}

impl fmt::Display for Drop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drop::Malformed(what) => write!(f, "malformed envelope ({what})"),
            Drop::Version => f.write_str("unsupported alp.v"),
            Drop::Skew => f.write_str("timestamp more than 2 minutes off"),
            Drop::Signature => f.write_str("bad signature"),
            Drop::Replayed => f.write_str("replayed nonce"),
            Drop::WrongRecipient => f.write_str("addressed to another identity"),
            Drop::Unpinned => f.write_str("sender not pinned"),
            Drop::Unexpected => f.write_str("unexpected sender or id"),
        }
    }
}

/// An envelope whose shape, version, time and signature checked out.
#[derive(Debug, Clone)]
pub struct Authentic {
    pub from: Identity,
    pub to: Identity,
    pub nonce: String,
    body: Object,
}

impl Authentic {
    /// The JSON-RPC id, as sent (any JSON value; a string from every alpi).
    pub fn id(&self) -> &Value {
        self.body.get("id").unwrap_or(&Value::Null)
    }

    pub fn method(&self) -> Option<&str> {
        self.body.get("method").and_then(Value::as_str)
    }

    /// Request params; `{}` when absent or not an object.
    pub fn params(&self) -> Object {
        self.body.get("params").and_then(Value::as_object).cloned().unwrap_or_default()
    }

    /// A response's outcome; `None` for a request.
    pub fn reply(&self) -> Option<Result<&Value, RpcError>> {
        if let Some(error) = self.body.get("error") {
            return Some(Err(RpcError::from_value(error).unwrap_or_else(|| {
                RpcError::new(
                    -32603,
                    "internal-error",
                    Object::new().with("detail", "unreadable error object"),
                )
            })));
        }
        self.body.get("result").map(Ok)
    }

    pub fn stream(&self) -> Option<Stream> {
        match self.body.get("stream")?.as_str()? {
            "chunk" => Some(Stream::Chunk),
            "final" => Some(Stream::Final),
            _ => None,
        }
    }
}

/// 16 random bytes as 32 lowercase hex characters: request ids and nonces.
pub fn random_hex16() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    super::hex(&bytes)
}

/// A signed request to `to`.
pub fn request(
    keys: &Keypair,
    to: &Identity,
    id: &str,
    method: &str,
    params: Object,
    now_micros: i64,
) -> Object {
    let body =
        Object::new().with("jsonrpc", "2.0").with("id", id).with("method", method).with("params", params);
    seal(keys, to, body, now_micros)
}

/// A signed response to request `id` from `to`: `Ok(result)` (never null) or an error.
pub fn response(
    keys: &Keypair,
    to: &Identity,
    id: &Value,
    outcome: Result<Object, RpcError>,
    stream: Option<Stream>,
    now_micros: i64,
) -> Object {
    let mut body = Object::new().with("jsonrpc", "2.0").with("id", id.clone());
    match outcome {
        Ok(result) => body.insert("result", result),
        Err(error) => body.insert("error", error.to_object()),
    };
    if let Some(stream) = stream {
        body.insert("stream", stream.as_str());
    }
    seal(keys, to, body, now_micros)
}

/// Adds the `alp` block and signs the canonical JSON of everything but `alp.sig`.
fn seal(keys: &Keypair, to: &Identity, mut body: Object, now_micros: i64) -> Object {
    let alp = Object::new()
        .with("v", VERSION)
        .with("from", keys.identity().to_string())
        .with("to", to.to_string())
        .with("ts", UtcTime::from_micros(now_micros).iso_micros())
        .with("nonce", random_hex16());
    body.insert("alp", alp);
    let signature = keys.sign(&Value::Object(body.clone()).canonical());
    if let Some(Value::Object(alp)) = body.get_mut("alp") {
        alp.insert("sig", Base64::encode_string(&signature));
    }
    body
}

/// Parses one envelope and runs checks 1–4 of spec §2: all six `alp` fields present,
/// `v == 1`, `ts` within two minutes of `now`, signature valid for `from`.
pub fn authenticate(bytes: &[u8], now_micros: i64) -> Result<Authentic, Drop> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(Drop::Malformed("too large"));
    }
    let Ok(Value::Object(mut body)) = json::parse(bytes) else {
        return Err(Drop::Malformed("not a JSON object"));
    };
    let Some(Value::Object(alp)) = body.get_mut("alp") else { return Err(Drop::Malformed("no alp block")) };
    for field in ["v", "from", "to", "ts", "nonce", "sig"] {
        if !alp.contains_key(field) {
            return Err(Drop::Malformed("alp field missing"));
        }
    }
    if !speaks_our_version(alp.get("v").expect("checked")) {
        return Err(Drop::Version);
    }
    let text = |field: &str| alp.get(field).and_then(Value::as_str);
    let ts = text("ts").and_then(parse_iso8601).ok_or(Drop::Malformed("alp.ts"))?;
    if (now_micros - ts).abs() > MAX_SKEW_MICROS {
        return Err(Drop::Skew);
    }
    let from: Identity = text("from").and_then(|s| s.parse().ok()).ok_or(Drop::Malformed("alp.from"))?;
    let to: Identity = text("to").and_then(|s| s.parse().ok()).ok_or(Drop::Malformed("alp.to"))?;
    let nonce = text("nonce").ok_or(Drop::Malformed("alp.nonce"))?.to_owned();
    let mut signature = [0u8; 64];
    match alp.remove("sig").as_ref().and_then(Value::as_str).map(|s| Base64::decode(s, &mut signature)) {
        Some(Ok(decoded)) if decoded.len() == 64 => {}
        _ => return Err(Drop::Signature),
    }
    let body = Value::Object(body);
    if !from.verifies(&body.canonical(), &signature) {
        return Err(Drop::Signature);
    }
    let Value::Object(body) = body else { unreachable!("built as an object above") };
    Ok(Authentic { from, to, nonce, body })
}

/// Python compares `alp.v != 1`, so `1` and `1.0` both pass; `true` and `"1"` do not.
fn speaks_our_version(v: &Value) -> bool {
    match v {
        Value::Int(_) => v.as_i64() == Some(VERSION),
        Value::Float(f) => *f == VERSION as f64,
        _ => false,
    }
}
