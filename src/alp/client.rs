//! Calling a pinned peer: sign the request, send it over the peer's transport, and
//! believe only authentic answers from that peer to that request.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::alp::identity::{Identity, Keypair};
use crate::alp::peers::Peer;
use crate::alp::transport::TransportError;
use crate::alp::transport::tcp::{Dial, Pool, Purpose};
use crate::alp::transport::unix::{self, Next};
use crate::alp::wire::envelope::{self, Drop, RpcError, Stream};
use crate::clock::now_micros;
use crate::json::{Object, Value};
use crate::profile::Root;

/// Where a peer is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Another profile on this machine (ALP.1).
    Unix(PathBuf),
    /// Another machine, `host:port` (ALP.2).
    Tcp(String),
}

impl Route {
    /// A local peer's socket is found by its key among this machine's profiles, else by
    /// its id (`default` → the root, anything else → `profiles/<id>`).
    pub fn for_peer(peer: &Peer, root: &Root) -> Self {
        if let Some(address) = &peer.address {
            return Route::Tcp(address.clone());
        }
        let home = root.find_by_identity(&peer.pubkey).map(|h| h.dir().to_owned()).unwrap_or_else(|| {
            if peer.id == crate::profile::DEFAULT {
                root.path().to_owned()
            } else {
                root.profiles_dir().join(&peer.id)
            }
        });
        Route::Unix(unix::socket_path(&home))
    }

    /// `unix` or `tcp <address>`, as `peers ping` prints it.
    pub fn describe(&self) -> String {
        match self {
            Route::Unix(_) => "unix".into(),
            Route::Tcp(address) => format!("tcp {address}"),
        }
    }
}

/// Why a call produced no result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("offline: {0}")]
    Offline(String),
    #[error("unverified: it answered nothing")]
    Unverified,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("remote error {0}")]
    Remote(RpcError),
    #[error("its answer did not verify ({0})")]
    BadReply(Drop),
    #[error("{0}")]
    Io(std::io::Error),
}

impl From<TransportError> for CallError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Offline(at) => CallError::Offline(at),
            TransportError::Silent => CallError::Unverified,
            TransportError::Timeout(t) => CallError::Timeout(t),
            TransportError::Io(e) => CallError::Io(e),
        }
    }
}

/// A successful call's final result.
#[derive(Debug, Clone)]
pub struct Reply {
    pub result: Value,
    pub elapsed: Duration,
}

/// Signs and sends calls for one profile, keeping TCP sessions for reuse.
pub struct Client<'a> {
    keys: &'a Keypair,
    pool: Pool,
}

impl<'a> Client<'a> {
    pub fn new(keys: &'a Keypair) -> Self {
        Self { keys, pool: Pool::new() }
    }

    /// Noise handshakes made so far (one per TCP session opened).
    pub fn handshakes(&self) -> u64 {
        self.pool.handshakes()
    }

    /// Calls `method` on `peer`; streamed chunks go to `on_chunk` as they arrive.
    /// `timeout` bounds each wait for a frame, so a long stream stays alive while it talks.
    pub fn call(
        &self,
        peer: &Peer,
        route: &Route,
        method: &str,
        params: Object,
        timeout: Duration,
        on_chunk: &mut dyn FnMut(&Value),
    ) -> Result<Reply, CallError> {
        let purpose = if streams(method, &params) { Purpose::Stream } else { Purpose::Short };
        let id = envelope::random_hex16();
        let request =
            Value::Object(envelope::request(self.keys, &peer.pubkey, &id, method, params, now_micros()))
                .wire();
        let started = Instant::now();
        let mut check =
            ReplyCheck { me: self.keys.identity(), peer: &peer.pubkey, id: &id, nonces: HashSet::new() };
        let mut outcome: Option<Result<Value, CallError>> = None;
        let mut on_line = |line: &[u8]| match check.judge(line) {
            Err(drop) => {
                outcome = Some(Err(CallError::BadReply(drop)));
                Next::Done
            }
            Ok((Ok(value), Some(Stream::Chunk))) => {
                on_chunk(&value);
                Next::More
            }
            Ok((result, _)) => {
                outcome = Some(result.map_err(CallError::Remote));
                Next::Done
            }
        };
        match route {
            Route::Unix(socket) => unix::call(socket, &request, timeout, &mut on_line)?,
            Route::Tcp(address) => {
                let dial = Dial { me: self.keys, peer: &peer.pubkey, address };
                self.pool.exchange(dial, purpose, &request, timeout, &mut on_line)?
            }
        }
        let result = outcome.unwrap_or(Err(CallError::Unverified))?;
        Ok(Reply { result, elapsed: started.elapsed() })
    }
}

/// Calls whose answers stream get a session of their own.
fn streams(method: &str, params: &Object) -> bool {
    method == "link.get_blob" || params.get("stream").and_then(Value::as_bool) == Some(true)
}

/// Accepts a response line only from the peer, to us, for our request, never twice.
struct ReplyCheck<'a> {
    me: &'a Identity,
    peer: &'a Identity,
    id: &'a str,
    nonces: HashSet<String>,
}

impl ReplyCheck<'_> {
    fn judge(&mut self, line: &[u8]) -> Result<(Result<Value, RpcError>, Option<Stream>), Drop> {
        let reply = envelope::authenticate(line, now_micros())?;
        if &reply.from != self.peer || reply.id().as_str() != Some(self.id) {
            return Err(Drop::Unexpected);
        }
        if &reply.to != self.me {
            return Err(Drop::WrongRecipient);
        }
        if !self.nonces.insert(reply.nonce.clone()) {
            return Err(Drop::Replayed);
        }
        let outcome = reply.reply().ok_or(Drop::Malformed("not a response"))?;
        Ok((outcome.cloned(), reply.stream()))
    }
}
