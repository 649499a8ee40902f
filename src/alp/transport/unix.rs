//! ALP.1 (spec §5): `<home>/alp/alp.sock`, mode 0600. One request per connection: the
//! client writes one JSON line (≤ 1 MiB); the server answers with zero or more lines
//! and closes. Zero lines is a silent drop.
//!
//! Plain blocking threads on both sides. A profile's socket is served by a small pool
//! of threads that each block in `accept` and answer the connection they get — read,
//! dispatch, write — on the same thread, so a request costs one wake-up and no
//! hand-offs (the reactor, executor and blocking-pool hops an async listener needs
//! were most of a ping's time). Two spare threads wait per socket; when the last spare
//! takes a connection it starts another, up to [`MAX_ACCEPTORS`], and a thread that
//! finds enough spares waiting when it is done exits. Past the cap, connections wait
//! in the kernel's backlog. The client writes its line, then polls for the answer for
//! up to [`ANSWER_SPIN`] before it sleeps in `read`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::TransportError;
use crate::alp::dispatch::{Node, Via};
use crate::alp::wire::envelope::MAX_ENVELOPE_BYTES;
use crate::fsio;
use crate::json::Value;

/// The request line must arrive within this long of connecting.
pub const READ_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that reads none of a response frame for this long is gone; a turn
/// answering it stops.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Threads waiting in `accept` per socket when nothing is being answered.
pub const SPARE_ACCEPTORS: usize = 2;
/// Connections one profile's socket answers at once.
pub const MAX_ACCEPTORS: usize = 64;

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

/// A profile's socket being served. Dropping it stops accepting — requests being
/// answered finish — and removes the socket file.
pub struct Serving {
    pool: Arc<Pool>,
}

struct Pool {
    listener: UnixListener,
    path: PathBuf,
    node: Arc<Node>,
    /// Threads blocked (or about to block) in `accept`.
    idle: AtomicUsize,
    /// Threads alive, idle or answering.
    threads: AtomicUsize,
    stopped: AtomicBool,
}

/// Serves `listener`, bound at `path`, for `node` on threads of its own.
pub fn serve(listener: UnixListener, path: &Path, node: Arc<Node>) -> io::Result<Serving> {
    let pool = Arc::new(Pool {
        listener,
        path: path.to_owned(),
        node,
        idle: AtomicUsize::new(0),
        threads: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
    });
    let serving = Serving { pool }; // stops what did start if a thread cannot
    for _ in 0..SPARE_ACCEPTORS {
        Pool::add_acceptor(&serving.pool)?;
    }
    Ok(serving)
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.pool.stopped.store(true, SeqCst);
        // Linux and Android wake every thread in `accept` (and fail every later call)
        // when a listening socket is shut down, even if its file was already removed.
        // SAFETY: shutdown on a descriptor the pool owns and keeps open.
        unsafe { libc::shutdown(self.pool.listener.as_raw_fd(), libc::SHUT_RDWR) };
        // Elsewhere it does nothing, so each waiting thread is woken by a connection (if
        // the file is already gone there, they wait until the process exits).
        // SeqCst pairs with `rejoin`: a thread that turns idle after this count is read
        // sees `stopped` and leaves without waiting in `accept`.
        if cfg!(not(any(target_os = "linux", target_os = "android"))) {
            for _ in 0..self.pool.idle.load(SeqCst) {
                let _ = UnixStream::connect(&self.pool.path);
            }
        }
        let _ = std::fs::remove_file(&self.pool.path);
    }
}

impl Pool {
    /// Starts one more thread waiting in `accept`, unless [`MAX_ACCEPTORS`] run already.
    /// It counts as idle from the start, so no other thread starts one for the same need.
    fn add_acceptor(pool: &Arc<Pool>) -> io::Result<()> {
        if pool.threads.fetch_update(SeqCst, SeqCst, |n| (n < MAX_ACCEPTORS).then_some(n + 1)).is_err() {
            return Ok(());
        }
        pool.idle.fetch_add(1, SeqCst);
        let me = pool.clone();
        let started = std::thread::Builder::new().name("alp1".into()).spawn(move || me.accept_loop());
        if let Err(e) = started {
            pool.threads.fetch_sub(1, SeqCst);
            pool.idle.fetch_sub(1, SeqCst);
            return Err(e);
        }
        Ok(())
    }

    fn accept_loop(self: Arc<Self>) {
        loop {
            let accepted = self.listener.accept();
            if self.stopped.load(SeqCst) {
                break;
            }
            self.leave_a_spare();
            match accepted {
                Ok((stream, _)) => answer(stream, &self.node),
                Err(e) => accept_failed(&self.path, &e),
            }
            if !self.rejoin() {
                break;
            }
        }
        self.threads.fetch_sub(1, SeqCst);
    }

    /// This thread stops waiting; if it was the last one waiting, another starts, so a
    /// long answer here does not keep the next connection waiting.
    fn leave_a_spare(self: &Arc<Self>) {
        if self.idle.fetch_sub(1, SeqCst) == 1
            && let Err(e) = Pool::add_acceptor(self)
        {
            log::warn!("{}: cannot start another listener thread: {e}", self.path.display());
        }
    }

    /// Back to waiting, unless enough threads already wait or the socket is closing.
    fn rejoin(&self) -> bool {
        let joined =
            self.idle.fetch_update(SeqCst, SeqCst, |n| (n < SPARE_ACCEPTORS).then_some(n + 1)).is_ok();
        if joined && self.stopped.load(SeqCst) {
            self.idle.fetch_sub(1, SeqCst);
            return false;
        }
        joined
    }
}

/// Out of descriptors (or another passing failure): say so, and give the system a
/// moment rather than spinning on `accept`.
fn accept_failed(path: &Path, e: &io::Error) {
    if e.kind() == io::ErrorKind::ConnectionAborted || e.kind() == io::ErrorKind::Interrupted {
        return;
    }
    log::warn!("{}: accept failed: {e}", path.display());
    std::thread::sleep(Duration::from_millis(100));
}

/// Reads the request, dispatches it and writes each response frame as it comes. A
/// failed write tells the handler the client is gone, which stops a running turn.
fn answer(mut stream: UnixStream, node: &Node) {
    let Some(request) = read_request(&mut stream) else { return };
    if stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
        return;
    }
    node.handle(&request, Via::Unix, &crate::clock::now_micros, &mut |frame| {
        let mut line = Value::Object(frame).wire();
        line.push(b'\n');
        stream.write_all(&line).is_ok()
    });
}

/// The request line, without its newline. `None` for an empty, oversized, broken or
/// late one (all of it must arrive within [`READ_REQUEST_TIMEOUT`]).
fn read_request(stream: &mut UnixStream) -> Option<Vec<u8>> {
    let deadline = Instant::now() + READ_REQUEST_TIMEOUT;
    let mut line = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
        stream.set_read_timeout(Some(left)).ok()?;
        let n = stream.read(&mut chunk).ok()?;
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

/// How long a client busy-waits for the first answer line before it sleeps in the
/// kernel: a short call is answered within this on a laptop, and waking a CPU that went
/// idle costs tens of microseconds on a virtual machine — a sixth of a ping.
pub const ANSWER_SPIN: Duration = Duration::from_micros(500);

/// Polls `stream` without blocking until it has bytes to read or `window` has passed,
/// yielding the CPU between polls so a server on the same core still runs.
fn spin_until_readable(stream: &UnixStream, window: Duration) {
    let started = Instant::now();
    let mut poll = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    while started.elapsed() < window {
        // SAFETY: one pollfd for a descriptor `stream` owns, a zero timeout.
        if unsafe { libc::poll(&mut poll, 1, 0) } != 0 {
            return;
        }
        std::thread::yield_now();
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
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
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
    spin_until_readable(&stream, ANSWER_SPIN);
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
