//! The blocking HTTP/1.1 client for LLM providers (later Telegram and web_fetch): one
//! request per connection, names resolved by [`crate::net::dns`], TLS by rustls with
//! pure-Rust crypto, proxies from the environment. No redirects, no compression.

mod body;
pub(in crate::net) mod conn;
mod head;
mod proxy;
pub(in crate::net) mod roots;
pub(in crate::net) mod tls;
mod url;

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rustls::ClientConfig;

pub use body::BodyReader;
use std::net::IpAddr;

use conn::{Clock, Conn};
use proxy::{Proxies, Proxy};
use url::Url;

use crate::net::dns::DnsError;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// `addr` names the host and port (and the address tried, or the proxy).
    #[error("{addr}: cannot connect: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("{0}")]
    Tls(String),
    /// `phase` is "connect", "first byte", "idle" or "total".
    #[error("{host}: timed out ({phase} timeout)")]
    Timeout { host: String, phase: &'static str },
    /// The caller's cancel flag was set.
    #[error("{0}: cancelled")]
    Cancelled(String),
    #[error("{0}")]
    Protocol(String),
    /// Socket errors carry the host in their message; [`From<io::Error>`] unwraps the
    /// `HttpError` inside a [`BodyReader`]'s errors.
    #[error("{0}")]
    Io(io::Error),
    #[error("bad URL {0}")]
    BadUrl(String),
    #[error("{host}: response body over {limit} bytes")]
    TooLarge { host: String, limit: usize },
    /// Every address of `host` was refused by the client's address filter.
    #[error("{host} resolves to {addr}, a private, loopback or link-local address; refused")]
    Blocked { host: String, addr: String },
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        if !e.get_ref().is_some_and(|inner| inner.is::<HttpError>()) {
            return HttpError::Io(e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<HttpError>()) {
            Some(Ok(http)) => *http,
            Some(Err(other)) => HttpError::Io(io::Error::new(kind, other)),
            None => HttpError::Io(kind.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// Sent as given, after `Host` and `User-Agent` (which these replace if named).
    /// `Content-Length`, `Transfer-Encoding` and `Connection` are always our own.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl<'a> Request<'a> {
    pub fn get(url: &'a str) -> Self {
        Request { method: "GET", url, headers: Vec::new(), body: Vec::new() }
    }

    pub fn post(url: &'a str, body: Vec<u8>) -> Self {
        Request { method: "POST", url, headers: Vec::new(), body }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// `connect` covers TCP, a proxy's CONNECT and the TLS handshake; `first_byte` the wait
/// for the response after the request is sent; `idle` any later read or write;
/// `total` (if set) the whole exchange, body included.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
    pub total: Option<Duration>,
    /// Set from another thread to give up at once (Ctrl-C): waits are sliced short
    /// enough to notice it, and a set flag fails the exchange with `Cancelled`.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl PartialEq for Timeouts {
    fn eq(&self, other: &Self) -> bool {
        (self.connect, self.first_byte, self.idle, self.total)
            == (other.connect, other.first_byte, other.idle, other.total)
    }
}

impl Default for Timeouts {
    /// 10 s to connect, 60 s for the first byte and between reads, no total.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            total: None,
            cancel: None,
        }
    }
}

/// A response whose head has been read; the body is read on demand.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    host: String,
    body: BodyReader,
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn into_reader(self) -> BodyReader {
        self.body
    }

    /// The whole body, refused with [`HttpError::TooLarge`] past `limit` bytes.
    pub fn bytes(self, limit: usize) -> Result<Vec<u8>, HttpError> {
        let mut out = Vec::new();
        self.body.take((limit as u64).saturating_add(1)).read_to_end(&mut out)?;
        match out.len() > limit {
            true => Err(HttpError::TooLarge { host: self.host, limit }),
            false => Ok(out),
        }
    }

    /// The whole body as UTF-8 text, at most `limit` bytes.
    pub fn text(self, limit: usize) -> Result<String, HttpError> {
        let host = self.host.clone();
        String::from_utf8(self.bytes(limit)?)
            .map_err(|_| HttpError::Protocol(format!("{host}: response body is not UTF-8")))
    }
}

/// Sends requests; cheap to clone. Holds the TLS settings (trust anchors loaded once)
/// and the proxy settings read from the environment when it was made.
#[derive(Debug, Clone)]
pub struct Client {
    tls: Arc<ClientConfig>,
    proxies: Proxies,
    roots_source: Arc<str>,
    /// Addresses it may connect to; checked after resolution, so a name cannot smuggle
    /// a refused address past it.
    allow_address: Option<fn(IpAddr) -> bool>,
}

impl Client {
    /// Trusts the first CA bundle found: `SSL_CERT_FILE`, `$PREFIX/etc/tls/cert.pem`
    /// (Termux), `/etc/ssl/certs/ca-certificates.crt`, `/etc/ssl/cert.pem`,
    /// `/etc/pki/tls/certs/ca-bundle.crt`, then the bundled roots (feature `bundled-roots`).
    pub fn new() -> Result<Self, HttpError> {
        let roots = roots::system()?;
        log::debug!("HTTPS trusts {}", roots.source);
        Client::build(roots)
    }

    /// Trusts exactly the certificates in `pem`.
    pub fn with_roots(pem: &[u8]) -> Result<Self, HttpError> {
        let store = roots::from_pem(pem);
        if store.is_empty() {
            return Err(HttpError::Tls("no CA certificate in the PEM given".into()));
        }
        Client::build(roots::Roots {
            source: format!("the PEM given ({} CA certificates)", store.len()),
            store,
        })
    }

    fn build(roots: roots::Roots) -> Result<Self, HttpError> {
        let tls = tls::config(roots.store, &[b"http/1.1"])?;
        Ok(Client {
            tls,
            proxies: Proxies::from_env(),
            roots_source: roots.source.into(),
            allow_address: None,
        })
    }

    /// Connects only to addresses `allow` accepts, and never through a proxy (which would
    /// resolve names itself). For fetching URLs a model chose (SSRF).
    pub fn with_address_filter(mut self, allow: fn(IpAddr) -> bool) -> Self {
        self.allow_address = Some(allow);
        self
    }

    /// Where the trusted CA certificates came from, e.g.
    /// "/etc/ssl/certs/ca-certificates.crt (146 CA certificates)".
    pub fn roots_source(&self) -> &str {
        &self.roots_source
    }

    /// Sends `req` and reads the response head. Any status is a response, 3xx and
    /// 4xx/5xx included: redirects are not followed.
    pub fn send(&self, req: &Request, timeouts: &Timeouts) -> Result<Response, HttpError> {
        let url = Url::parse(req.url)?;
        let proxy = match self.allow_address {
            Some(_) => None,
            None => self.proxies.for_url(&url).map_err(HttpError::BadUrl)?,
        };
        let mut conn = self.open(&url, proxy, timeouts)?;
        let mut message = head::request(req, &url, proxy.filter(|_| !url.tls))?;
        message.extend_from_slice(&req.body);
        conn.clock.phase(timeouts.idle, "idle");
        conn.write_all(&message)?;
        conn.clock.phase(timeouts.first_byte, "first byte");
        conn.fill_some()?;
        conn.clock.phase(timeouts.idle, "idle");
        let head = head::read(&mut conn)?;
        let framing =
            body::framing(req.method, head.status, &head.headers).map_err(|e| conn.clock.protocol(e))?;
        Ok(Response {
            status: head.status,
            headers: head.headers,
            host: url.host,
            body: BodyReader::new(conn, framing),
        })
    }

    /// A connection ready for the request: direct or through the proxy, TLS if https.
    fn open(&self, url: &Url, proxy: Option<&Proxy>, timeouts: &Timeouts) -> Result<Conn, HttpError> {
        let mut clock = Clock::new(&url.host, timeouts.total, timeouts.cancel.clone());
        clock.phase(timeouts.connect, "connect");
        let tcp = match proxy {
            None => {
                let what = url.authority(false);
                conn::dial(&url.host, url.port, &what, &clock, timeouts.connect, self.allow_address)?
            }
            Some(p) => {
                let what = format!("{} via proxy {}:{}", url.host, p.host, p.port);
                conn::dial(&p.host, p.port, &what, &clock, timeouts.connect, None)?
            }
        };
        let mut conn = Conn::new(tcp, clock);
        if !url.tls {
            return Ok(conn);
        }
        if let Some(p) = proxy {
            tunnel(&mut conn, url, p)?;
        }
        conn.upgrade(&self.tls, &url.host)
    }
}

/// Asks the proxy for a tunnel to `url`'s host and port.
fn tunnel(conn: &mut Conn, url: &Url, proxy: &Proxy) -> Result<(), HttpError> {
    conn.write_all(&head::connect(url, proxy))?;
    let head = head::read(conn)?;
    if !(200..300).contains(&head.status) {
        let why = format!(
            "proxy {}:{} refused the tunnel: {} {}",
            proxy.host, proxy.port, head.status, head.reason
        );
        return Err(conn.clock.protocol(why.trim_end()));
    }
    match conn.buffered().is_empty() {
        true => Ok(()),
        false => Err(conn.clock.protocol("the proxy sent data before the TLS handshake")),
    }
}
