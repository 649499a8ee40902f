//! Moving envelopes between processes. Knows bytes and sockets, not methods: ALP.1
//! (Unix socket, one request per connection) now; ALP.2 (TCP + Noise) later.

pub mod noise;
pub mod tcp;
pub mod unix;

use std::time::Duration;

/// How long a `link.ping` waits for its answer.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any other call waits for each frame.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A transport-level failure on the client side, before any envelope is judged.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Nothing is listening where the peer should be.
    #[error("nothing listening at {0}")]
    Offline(String),
    /// The peer closed the connection without writing a byte: a silent drop.
    #[error("closed without answering")]
    Silent,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
