//! ALP.1 (spec §5): `<home>/alp/alp.sock`, mode 0600. One request per connection: the
//! client writes one JSON line (≤ 1 MiB); the server answers with zero or more lines
//! and closes. Zero lines is a silent drop.
//!
//! The listener is async (smol) so one thread can hold every profile's socket; each
//! request is dispatched on the blocking pool. The client is plain blocking I/O.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::unix::{UnixListener, UnixStream};

use super::TransportError;
use crate::alp::dispatch::{Node, Via};
use crate::alp::wire::envelope::MAX_ENVELOPE_BYTES;
use crate::fsio;
use crate::json::Value;

/// The request line must arrive within this long of connecting.
pub const READ_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `<home>/alp/alp.sock`.
pub fn socket_path(home_dir: &Path) -> PathBuf {
    home_dir.join("alp").join("alp.sock")
}

/// Binds the profile's socket: a stale file is removed first, the socket is made 0600
/// before anyone can connect (the directory is 0700 too).
pub fn bind(path: &Path) -> Result<UnixListener, fsio::Error> {
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path).map_err(|e| fsio::Error::new("remove stale socket", path, e))?;
    }
    if let Some(dir) = path.parent() {
        fsio::ensure_private_dir(dir)?;
    }
    let listener = UnixListener::bind(path).map_err(|e| fsio::Error::new("listen on", path, e))?;
    fsio::set_mode(path, fsio::SECRET_FILE)?;
    Ok(listener)
}

/// Accepts connections for `node` until the listener fails.
pub async fn serve(listener: UnixListener, node: Arc<Node>) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        smol::spawn(answer(stream, node.clone())).detach();
    }
}

async fn answer(mut stream: UnixStream, node: Arc<Node>) {
    let read = read_request(&mut stream).or(async {
        smol::Timer::after(READ_REQUEST_TIMEOUT).await;
        None
    });
    let Some(request) = read.await else { return };
    let (tx, rx) = smol::channel::bounded::<Vec<u8>>(16);
    let dispatch = smol::unblock(move || {
        node.handle(&request, Via::Unix, &crate::clock::now_micros, &mut |frame| {
            let mut line = Value::Object(frame).wire();
            line.push(b'\n');
            tx.send_blocking(line).is_ok()
        })
    });
    while let Ok(line) = rx.recv().await {
        if stream.write_all(&line).await.is_err() {
            break;
        }
    }
    drop(rx); // a gone client makes the next send fail, which stops a running turn
    dispatch.await;
    let _ = stream.close().await;
}

/// The request line, without its newline. `None` for an empty, oversized or broken one.
async fn read_request(stream: &mut UnixStream) -> Option<Vec<u8>> {
    let mut line = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return (!line.is_empty()).then_some(line);
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&chunk[..end]);
            return (line.len() <= MAX_ENVELOPE_BYTES).then_some(line);
        }
        line.extend_from_slice(&chunk[..n]);
        if line.len() > MAX_ENVELOPE_BYTES {
            return None;
        }
    }
}

/// What the caller wants after a response line.
pub enum Next {
    More,
    Done,
}

/// Sends one request line to the socket at `path` and hands each response line to
/// `on_line`. `timeout` bounds the connect and each wait for a line.
pub fn call(
    path: &Path,
    request: &[u8],
    timeout: Duration,
    on_line: &mut dyn FnMut(&[u8]) -> Next,
) -> Result<(), TransportError> {
    let mut stream = StdUnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            TransportError::Offline(path.display().to_string())
        }
        _ => TransportError::Io(e),
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = Vec::with_capacity(request.len() + 1);
    line.extend_from_slice(request);
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = BufReader::new(stream);
    let mut answered = false;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = match reader.by_ref().take(MAX_ENVELOPE_BYTES as u64 + 1).read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(TransportError::Timeout(timeout));
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return if answered { Ok(()) } else { Err(TransportError::Silent) };
        }
        answered = true;
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Next::Done = on_line(text) {
            return Ok(());
        }
    }
}
