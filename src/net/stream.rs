//! A line-oriented connection for the text protocols (IMAP, SMTP): TCP through our
//! resolver, TLS from the start or after STARTTLS, each read and write under a time
//! limit, and a stop flag that ends any wait within [`STOP_SLICE`]. The HTTP client's dialer,
//! TLS set-up and trust anchors, without its ALPN.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rustls::ClientConfig;

use super::http::HttpError;
use super::http::conn::{self, Clock, Conn};
use super::http::{roots, tls};

/// How soon a set stop flag ends a wait. These connections belong to the daemon and
/// mostly sit in IMAP IDLE: at 100 ms the wake-ups alone cost ~3.6 s of CPU an idle
/// hour (benches/jobs.rs); at 2 s ~0.2 s, and a stop still takes well under 5 s.
pub const STOP_SLICE: Duration = Duration::from_secs(2);
/// The longest line read: IMAP and SMTP lines are far shorter.
const LINE_CAP: usize = 16 * 1024;

/// TLS client settings with the trust anchors loaded once; cheap to clone.
#[derive(Debug, Clone)]
pub struct TlsSettings(Arc<ClientConfig>);

impl TlsSettings {
    /// Trusts what HTTPS trusts: `SSL_CERT_FILE`, the system bundle, the bundled roots.
    pub fn system() -> Result<Self, HttpError> {
        Ok(Self(tls::config(roots::system()?.store, &[])?))
    }
}

pub struct Stream {
    conn: Conn,
    host: String,
}

impl Stream {
    /// Connects to `host:port` (plain TCP); `stop` set from another thread fails any
    /// later wait with [`HttpError::Cancelled`].
    pub fn connect(host: &str, port: u16, limit: Duration, stop: Arc<AtomicBool>) -> Result<Self, HttpError> {
        let mut clock = Clock::new(host, None, Some(stop)).with_slice(STOP_SLICE);
        clock.phase(limit, "connect");
        let what = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{host}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let tcp = conn::dial(host, port, &what, &clock, limit, None)?;
        Ok(Self { conn: Conn::new(tcp, clock), host: host.to_owned() })
    }

    /// TLS over this connection, verified for the host it was opened to. Refused if the
    /// server already sent more: bytes that arrived before the handshake were not
    /// protected by it (the STARTTLS injection).
    pub fn start_tls(self, tls: &TlsSettings) -> Result<Self, HttpError> {
        if !self.conn.buffered().is_empty() {
            return Err(self.conn.clock.protocol("data arrived before the TLS handshake"));
        }
        let Self { conn, host } = self;
        Ok(Self { conn: conn.upgrade(&tls.0, &host)?, host })
    }

    /// Each later read or write waits at most `limit`.
    pub fn set_timeout(&mut self, limit: Duration) {
        self.conn.clock.phase(limit, "idle");
    }

    /// The next line without its line break; the end of the stream is an error.
    pub fn read_line(&mut self) -> Result<Vec<u8>, HttpError> {
        self.conn
            .read_line(LINE_CAP, "line too long")?
            .ok_or_else(|| self.conn.clock.protocol("the server closed the connection"))
    }

    /// Exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, HttpError> {
        let mut out = Vec::with_capacity(n.min(1 << 20));
        while out.len() < n {
            let data = self.conn.fill_some()?;
            if data.is_empty() {
                return Err(self.conn.clock.protocol("the server closed the connection"));
            }
            let take = data.len().min(n - out.len());
            out.extend_from_slice(&data[..take]);
            self.conn.consume(take);
        }
        Ok(out)
    }

    pub fn write_all(&mut self, data: &[u8]) -> Result<(), HttpError> {
        self.conn.write_all(data)
    }

    pub fn host(&self) -> &str {
        &self.host
    }
}
