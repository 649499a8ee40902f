//! One connection: TCP (through our resolver), optionally TLS on top, a read buffer,
//! and the clock that gives each socket read or write its time limit.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::{HttpError, tls};
use crate::net::dns;

/// Room for the longest line we accept (a 16 KiB header line) and its line break.
const BUF_SIZE: usize = 17 * 1024;

/// Connects to `host:port`, trying each address in turn. `what` names the attempt in
/// errors ("api.example.com:443", or "api.example.com via proxy p:3128").
pub(crate) fn dial(
    host: &str,
    port: u16,
    what: &str,
    clock: &Clock,
    limit: Duration,
    allow: Option<fn(IpAddr) -> bool>,
) -> Result<TcpStream, HttpError> {
    let mut first_error = None;
    let mut addrs = dns::resolve(host, port)?;
    if let Some(allow) = allow {
        let refused = addrs.iter().find(|a| !allow(a.ip())).map(|a| a.ip().to_string());
        // One refused address refuses the name: a mix is how rebinding tricks start.
        if let Some(addr) = refused {
            return Err(HttpError::Blocked { host: host.to_string(), addr });
        }
        addrs.retain(|a| allow(a.ip()));
    }
    for addr in addrs {
        let (wait, phase) = clock.cut(limit, "connect")?;
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(tcp) => {
                tcp.set_nodelay(true).map_err(|e| clock.error(e))?;
                return Ok(tcp);
            }
            Err(e) if is_timeout(&e) => return Err(clock.timeout(phase)),
            Err(e) => {
                first_error.get_or_insert((addr, e));
            }
        }
    }
    let (addr, source) = first_error.ok_or_else(|| dns::DnsError::NotFound(host.to_string()))?;
    let addr = match host.parse::<IpAddr>() {
        Ok(_) => what.to_string(),
        Err(_) => format!("{what} ({})", addr.ip()),
    };
    Err(HttpError::Connect { addr, source })
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Time limits for one exchange: each socket wait is capped by the current phase's
/// limit and by what is left of the total.
#[derive(Debug)]
pub(crate) struct Clock {
    /// The origin host, named in every error.
    host: String,
    total: Option<Instant>,
    limit: Duration,
    phase: &'static str,
    /// The phase to blame if the wait now set on the socket runs out.
    binding: &'static str,
    applied: Option<Duration>,
    /// When the wait armed last runs out, for waits sliced to notice `cancel`.
    until: Instant,
    cancel: Option<Arc<AtomicBool>>,
    /// With a cancel flag, waits are cut into slices this long so the flag is seen soon.
    slice: Duration,
}

/// How soon a cancel flag is noticed by default: a person pressed Ctrl-C.
const CANCEL_SLICE: Duration = Duration::from_millis(100);

impl Clock {
    pub fn new(host: &str, total: Option<Duration>, cancel: Option<Arc<AtomicBool>>) -> Clock {
        let total = total.map(|t| Instant::now() + t);
        Clock {
            host: host.to_string(),
            total,
            limit: Duration::MAX,
            phase: "idle",
            binding: "idle",
            applied: None,
            until: Instant::now(),
            cancel,
            slice: CANCEL_SLICE,
        }
    }

    /// Notices the cancel flag only every `slice`: for a daemon's long idle waits,
    /// where every wake-up costs CPU for the whole hour and a stop may take a second.
    pub fn with_slice(mut self, slice: Duration) -> Clock {
        self.slice = slice;
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Later waits get `limit` and are blamed on `phase` ("first byte", "idle", …).
    pub fn phase(&mut self, limit: Duration, phase: &'static str) {
        (self.limit, self.phase) = (limit, phase);
    }

    /// `limit`, or less if the total deadline comes first, and which of the two binds.
    fn cut(&self, limit: Duration, phase: &'static str) -> Result<(Duration, &'static str), HttpError> {
        match self.total.map(|t| t.saturating_duration_since(Instant::now())) {
            Some(left) if left.is_zero() => Err(self.timeout("total")),
            Some(left) if left < limit => Ok((left, "total")),
            _ => Ok((limit, phase)),
        }
    }

    /// Sets the socket's read and write timeouts for the next operation.
    fn arm(&mut self, socket: &TcpStream) -> Result<(), HttpError> {
        self.check_cancel()?;
        let (wait, binding) = self.cut(self.limit, self.phase)?;
        self.binding = binding;
        self.until = Instant::now().checked_add(wait).unwrap_or(self.until);
        let wait = if self.cancel.is_some() { wait.min(self.slice) } else { wait };
        self.set_wait(socket, wait)
    }

    fn set_wait(&mut self, socket: &TcpStream, wait: Duration) -> Result<(), HttpError> {
        let wait = wait.max(Duration::from_millis(1));
        if self.applied != Some(wait) {
            socket.set_read_timeout(Some(wait)).map_err(|e| self.error(e))?;
            socket.set_write_timeout(Some(wait)).map_err(|e| self.error(e))?;
            self.applied = Some(wait);
        }
        Ok(())
    }

    fn check_cancel(&self) -> Result<(), HttpError> {
        match &self.cancel {
            Some(flag) if flag.load(Ordering::SeqCst) => Err(HttpError::Cancelled(self.host.clone())),
            _ => Ok(()),
        }
    }

    /// After a read timed out: whether to wait again (a slice ran out, not the wait),
    /// re-armed for what is left; `Cancelled` once the flag is set.
    fn wait_again(&mut self, socket: &TcpStream) -> Result<bool, HttpError> {
        self.check_cancel()?;
        let left = self.until.saturating_duration_since(Instant::now());
        if self.cancel.is_none() || left.is_zero() {
            return Ok(false);
        }
        self.set_wait(socket, left.min(self.slice))?;
        Ok(true)
    }

    fn timeout(&self, phase: &'static str) -> HttpError {
        HttpError::Timeout { host: self.host.clone(), phase }
    }

    /// A socket error, blamed on the binding phase if it was a timeout.
    pub fn error(&self, e: io::Error) -> HttpError {
        match is_timeout(&e) {
            true => self.timeout(self.binding),
            false => HttpError::Io(io::Error::new(e.kind(), format!("{}: {e}", self.host))),
        }
    }

    pub fn protocol(&self, what: impl std::fmt::Display) -> HttpError {
        HttpError::Protocol(format!("{}: {what}", self.host))
    }
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Transport {
    fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buf),
            // Many servers close without close_notify; framing (length or chunks) is
            // what tells a complete body from a cut one.
            Transport::Tls(tls) => match tls.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write(buf),
            Transport::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(tcp) => tcp.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}

/// A connected stream with a read buffer.
pub(crate) struct Conn {
    io: Transport,
    pub clock: Clock,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Conn {
    pub fn new(tcp: TcpStream, clock: Clock) -> Conn {
        Conn { io: Transport::Plain(tcp), clock, buf: vec![0; BUF_SIZE].into_boxed_slice(), start: 0, end: 0 }
    }

    /// TLS over this (plain, drained) connection, verified for `host`; the handshake's
    /// waits belong to the current phase.
    pub fn upgrade(self, config: &Arc<ClientConfig>, host: &str) -> Result<Conn, HttpError> {
        let Conn { io: Transport::Plain(mut tcp), mut clock, buf, .. } = self else {
            return Err(HttpError::Tls(format!("{host}: TLS inside TLS is not supported")));
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| HttpError::Tls(format!("{host}: not a valid TLS server name")))?;
        let mut tls = ClientConnection::new(config.clone(), name)
            .map_err(|e| HttpError::Tls(format!("{host}: TLS set-up failed: {e}")))?;
        while tls.is_handshaking() {
            clock.arm(&tcp)?;
            tls.complete_io(&mut tcp).map_err(|e| match is_timeout(&e) {
                true => clock.error(e),
                false => tls::handshake_error(host, e),
            })?;
        }
        let io = Transport::Tls(Box::new(StreamOwned::new(tls, tcp)));
        Ok(Conn { io, clock, buf, start: 0, end: 0 })
    }

    pub fn write_all(&mut self, data: &[u8]) -> Result<(), HttpError> {
        self.clock.arm(self.io.socket())?;
        self.io.write_all(data).and_then(|()| self.io.flush()).map_err(|e| self.clock.error(e))
    }

    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Reads more into the buffer; `Ok(0)` at end of stream (or if the buffer is full).
    pub fn fill(&mut self) -> Result<usize, HttpError> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        self.clock.arm(self.io.socket())?;
        let n = loop {
            match self.io.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) && self.clock.wait_again(self.io.socket())? => continue,
                other => break other.map_err(|e| self.clock.error(e))?,
            }
        };
        self.end += n;
        Ok(n)
    }

    /// At least one byte buffered, unless the stream has ended.
    pub fn fill_some(&mut self) -> Result<&[u8], HttpError> {
        if self.start == self.end {
            self.fill()?;
        }
        Ok(self.buffered())
    }

    /// The next line without its `\n` or `\r\n`; `None` if the stream ends before it
    /// starts. A line over `cap` bytes is refused with `too_long`.
    pub fn read_line(&mut self, cap: usize, too_long: &str) -> Result<Option<Vec<u8>>, HttpError> {
        let cap = cap.min(BUF_SIZE - 1);
        let mut searched = 0;
        loop {
            let data = self.buffered();
            if let Some(i) = data[searched..].iter().position(|&b| b == b'\n').map(|i| i + searched) {
                let line = data[..i].strip_suffix(b"\r").unwrap_or(&data[..i]).to_vec();
                if line.len() > cap {
                    return Err(self.clock.protocol(too_long));
                }
                self.consume(i + 1);
                return Ok(Some(line));
            }
            if data.len() > cap {
                return Err(self.clock.protocol(too_long));
            }
            searched = data.len();
            if self.fill()? == 0 {
                return match self.buffered().is_empty() {
                    true => Ok(None),
                    false => Err(self.clock.protocol("connection closed in the middle of a line")),
                };
            }
        }
    }
}
