//! ALP.2 (spec §6): TCP + Noise_XK between machines. Sessions are persistent: after
//! the handshake, each request is one transport frame and its answer one or more.
//!
//! The responder is async (smol) with hard limits on handshakes in flight, per source
//! and in total, so half-open connections cannot starve pinned peers; requests go to
//! the blocking pool one at a time per session. The initiator is blocking I/O with a
//! small session pool.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream as StdTcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use log::Level;
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};

use super::noise::{self, Handshake, NoiseError, Session};
use super::{TransportError, unix::Next};
use crate::alp::dispatch::{Node, Via};
use crate::alp::identity::{Identity, Keypair};
use crate::json::Value;

/// The responder's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub handshakes_in_flight: usize,
    pub handshakes_per_source: usize,
    pub first_message: Duration,
    pub handshake: Duration,
    pub frame: Duration,
    pub idle: Duration,
    pub idle_unpinned: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshakes_in_flight: 32,
            handshakes_per_source: 4,
            first_message: Duration::from_secs(3),
            handshake: Duration::from_secs(10),
            frame: Duration::from_secs(30),
            idle: Duration::from_secs(90),
            idle_unpinned: Duration::from_secs(10),
        }
    }
}

/// Counts handshakes in flight, in total and per source address.
#[derive(Default)]
pub struct HandshakeGate {
    in_flight: Mutex<HashMap<IpAddr, usize>>,
}

/// A place in the gate, given back when dropped.
pub struct Permit<'a> {
    gate: &'a HandshakeGate,
    ip: IpAddr,
}

impl HandshakeGate {
    pub fn try_enter(&self, ip: IpAddr, limits: &Limits) -> Option<Permit<'_>> {
        let mut map = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = map.values().sum();
        let mine = map.get(&ip).copied().unwrap_or(0);
        if total >= limits.handshakes_in_flight || mine >= limits.handshakes_per_source {
            return None;
        }
        *map.entry(ip).or_insert(0) += 1;
        Some(Permit { gate: self, ip })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut map = self.gate.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Accepts sessions for `node` until the listener fails.
pub async fn serve(listener: TcpListener, node: Arc<Node>, limits: Arc<Limits>) -> io::Result<()> {
    let gate = Arc::new(HandshakeGate::default());
    loop {
        let (stream, from) = listener.accept().await?;
        smol::spawn(respond(stream, from, node.clone(), limits.clone(), gate.clone())).detach();
    }
}

async fn within<T>(limit: Duration, work: impl Future<Output = Option<T>>) -> Option<T> {
    work.or(async {
        smol::Timer::after(limit).await;
        None
    })
    .await
}

async fn respond(
    mut stream: TcpStream,
    from: SocketAddr,
    node: Arc<Node>,
    limits: Arc<Limits>,
    gate: Arc<HandshakeGate>,
) {
    let _ = stream.set_nodelay(true);
    let session = {
        let Some(_permit) = gate.try_enter(from.ip(), &limits) else { return };
        match within(limits.handshake, answer_handshake(&mut stream, &node, &limits)).await {
            Some(session) => session,
            None => return,
        }
    };
    let Session { mut send, mut recv, remote_static, .. } = session;
    let pinned = node.pinned_by_noise_key(&remote_static);
    let who = pinned.as_ref().map_or_else(|| "an unpinned key".to_owned(), |p| p.id.clone());
    node.log_event(Level::Info, format_args!("noise session from {from} · {who}"));
    let idle = if pinned.is_some() { limits.idle } else { limits.idle_unpinned };
    let address = pending_address(from);
    loop {
        let Some(header) = within(idle, read_array::<4>(&mut stream)).await else { break };
        let Ok(len) = noise::transport_frame_len(header) else { break };
        let Some(body) = within(limits.frame, read_vec(&mut stream, len)).await else { break };
        let Ok(request) = recv.decrypt(&body) else { break };
        let (tx, rx) = smol::channel::bounded::<Vec<u8>>(16);
        let (node2, address2) = (node.clone(), address.clone());
        let dispatch = smol::unblock(move || {
            let via = Via::Tcp { noise_static: &remote_static, address: &address2 };
            node2.handle(&request, via, &crate::clock::now_micros, &mut |frame| {
                tx.send_blocking(Value::Object(frame).wire()).is_ok()
            })
        });
        let mut answered = false;
        let mut broken = false;
        while let Ok(envelope) = rx.recv().await {
            answered = true;
            let Ok(sealed) = send.encrypt(&envelope) else {
                broken = true;
                break;
            };
            let frame = noise::transport_frame(&sealed);
            if within(limits.frame, async { stream.write_all(&frame).await.ok() }).await.is_none() {
                broken = true;
                break;
            }
        }
        drop(rx);
        dispatch.await;
        if broken || !answered {
            break; // a silent drop ends the session
        }
    }
    let _ = stream.close().await;
}

/// Where a pending sender may be reached: the address it came from, on the ALP port.
fn pending_address(from: SocketAddr) -> String {
    SocketAddr::new(from.ip(), crate::profile::config::DEFAULT_TCP_PORT).to_string()
}

async fn answer_handshake(stream: &mut TcpStream, node: &Node, limits: &Limits) -> Option<Session> {
    let mut handshake = Handshake::responder(node.keys()).ok()?;
    let first = within(limits.first_message, read_handshake(stream)).await?;
    handshake.read(&first).ok()?;
    let reply = handshake.write().ok()?;
    stream.write_all(&noise::handshake_frame(&reply)).await.ok()?;
    let third = read_handshake(stream).await?;
    handshake.read(&third).ok()?;
    handshake.finish().ok()
}

async fn read_handshake(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let len = u16::from_be_bytes(read_array::<2>(stream).await?) as usize;
    read_vec(stream, len).await
}

async fn read_array<const N: usize>(stream: &mut TcpStream) -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

async fn read_vec(stream: &mut TcpStream, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

/// Connect timeout for outgoing sessions.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole outgoing handshake must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Outgoing sessions unused this long are closed rather than reused.
pub const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// An outgoing session to one peer.
pub struct Outgoing {
    stream: StdTcpStream,
    session: Session,
    last_used: Instant,
}

impl Outgoing {
    /// Connects to `address` and runs the handshake as initiator towards `peer`.
    pub fn connect(address: &str, me: &Keypair, peer: &Identity) -> Result<Self, TransportError> {
        let mut stream = connect_any(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let mut handshake = Handshake::initiator(me, peer).map_err(noise_to_io)?;
        stream.write_all(&noise::handshake_frame(&handshake.write().map_err(noise_to_io)?))?;
        let reply = read_handshake_blocking(&mut stream)?;
        handshake.read(&reply).map_err(noise_to_io)?;
        stream.write_all(&noise::handshake_frame(&handshake.write().map_err(noise_to_io)?))?;
        let session = handshake.finish().map_err(noise_to_io)?;
        Ok(Self { stream, session, last_used: Instant::now() })
    }

    /// Sends one request and hands each answer to `on_line` until it says `Done`.
    /// `timeout` bounds each wait for a frame. Any error leaves the session unusable.
    pub fn exchange(
        &mut self,
        request: &[u8],
        timeout: Duration,
        on_line: &mut dyn FnMut(&[u8]) -> Next,
    ) -> Result<(), TransportError> {
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))?;
        let sealed = self.session.send.encrypt(request).map_err(noise_to_io)?;
        self.stream.write_all(&noise::transport_frame(&sealed))?;
        let mut answered = false;
        loop {
            let mut header = [0u8; 4];
            match self.stream.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !answered => {
                    return Err(TransportError::Silent);
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(TransportError::Timeout(timeout));
                }
                Err(e) => return Err(e.into()),
            }
            let len = noise::transport_frame_len(header).map_err(noise_to_io)?;
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body)?;
            let envelope = self.session.recv.decrypt(&body).map_err(noise_to_io)?;
            answered = true;
            if let Next::Done = on_line(&envelope) {
                self.last_used = Instant::now();
                return Ok(());
            }
        }
    }

    fn is_stale(&self) -> bool {
        self.last_used.elapsed() >= RETIRE_AFTER
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn connect_any(address: &str) -> Result<StdTcpStream, TransportError> {
    // Our own resolver: a static binary on Android has no /etc/resolv.conf for libc's.
    let candidates = crate::net::dns::resolve_address(address)
        .map_err(|e| TransportError::Offline(format!("{address} ({e})")))?;
    let mut last = None;
    for addr in candidates {
        match StdTcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(TransportError::Offline(match last {
        Some(e) => format!("{address} ({e})"),
        None => format!("{address} (no address)"),
    }))
}

fn read_handshake_blocking(stream: &mut StdTcpStream) -> Result<Vec<u8>, TransportError> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(handshake_read_error)?;
    let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut message).map_err(handshake_read_error)?;
    Ok(message)
}

/// A responder that closes during the handshake did not accept us: that is "unverified".
fn handshake_read_error(e: io::Error) -> TransportError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => TransportError::Silent,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => TransportError::Timeout(HANDSHAKE_TIMEOUT),
        _ => TransportError::Io(e),
    }
}

fn noise_to_io(e: NoiseError) -> TransportError {
    TransportError::Io(io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Who calls whom, where.
#[derive(Clone, Copy)]
pub struct Dial<'a> {
    pub me: &'a Keypair,
    pub peer: &'a Identity,
    pub address: &'a str,
}

/// What an outgoing session is used for: streams get their own, short calls share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Short,
    Stream,
}

/// Outgoing sessions kept for reuse, per peer and purpose.
#[derive(Default)]
pub struct Pool {
    sessions: Mutex<HashMap<(Identity, Purpose), Outgoing>>,
    handshakes: std::sync::atomic::AtomicU64,
}

impl Pool {
    pub fn new() -> Self {
        Self::default()
    }

    /// Handshakes this pool has made (sessions opened).
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one exchange on a pooled session to `dial`'s peer, opening one if needed. A
    /// session that fails is discarded and the request is not replayed.
    pub fn exchange(
        &self,
        dial: Dial<'_>,
        purpose: Purpose,
        request: &[u8],
        timeout: Duration,
        on_line: &mut dyn FnMut(&[u8]) -> Next,
    ) -> Result<(), TransportError> {
        let Dial { me, peer, address } = dial;
        let key = (peer.clone(), purpose);
        let pooled = self.sessions.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        let mut session = match pooled.filter(|s| !s.is_stale()) {
            Some(session) => session,
            None => {
                let session = Outgoing::connect(address, me, peer)?;
                self.handshakes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                session
            }
        };
        session.exchange(request, timeout, on_line)?;
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner).insert(key, session);
        Ok(())
    }
}
