//! The daemon's control socket, `<root>/run/daemon-<scope>.sock` (0600): one postcard
//! request per connection (the client half-closes after writing it), one postcard reply.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Requests and replies are tiny; anything bigger is not ours.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    Status,
    Stop,
    /// Look for new or removed profiles now.
    Reload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Status(Status),
    Stopping,
    Reloaded { profiles: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub version: String,
    pub scope: String,
    pub started_at_micros: i64,
    pub profiles: Vec<ServedProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedProfile {
    pub name: String,
    pub identity: String,
    pub socket: String,
    /// `host:port` ALP.2 listens on for this profile, if any.
    pub tcp: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no daemon answers at {0}")]
    NotRunning(String),
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("control socket: unreadable reply ({0})")]
    Decode(#[from] postcard::Error),
}

/// Sends `request` to the daemon listening at `socket` and waits for its reply.
pub fn ask(socket: &Path, request: &Request) -> Result<Reply, Error> {
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            Error::NotRunning(socket.display().to_string())
        }
        _ => Error::Io(e),
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(&postcard::to_stdvec(request)?)?;
    stream.shutdown(Shutdown::Write)?;
    let mut bytes = Vec::new();
    stream.take(MAX_MESSAGE as u64).read_to_end(&mut bytes)?;
    Ok(postcard::from_bytes(&bytes)?)
}
