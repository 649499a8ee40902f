//! Asking nameservers: A and AAAA together over UDP, each server in turn with a timeout
//! and a few attempts, and over TCP when a UDP answer comes back truncated.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::wire::{self, Answer, TYPE_A, TYPE_AAAA};
use super::{DnsError, ResolverConfig};

/// Queries carry no EDNS, so honest answers fit in 512 bytes; anything longer than this
/// arrives cut and is refused as malformed.
const UDP_BUFFER: usize = 4096;

/// Where a name led: addresses (IPv4 first) and how many seconds they may be reused.
pub struct Found {
    pub addrs: Vec<IpAddr>,
    pub ttl: u32,
}

/// Asks `config`'s nameservers, in order, for `host`'s A and AAAA records.
pub fn lookup(host: &str, config: &ResolverConfig) -> Result<Found, DnsError> {
    let mut queries = [Query::new(host, TYPE_A)?, Query::new(host, TYPE_AAAA)?];
    let mut troubles = Troubles::default();
    for &server in &config.nameservers {
        if queries.iter().all(Query::settled) {
            break;
        }
        ask_server(server, host, &mut queries, config, &mut troubles);
    }
    settle(host, &queries, troubles)
}

/// One question (A or AAAA) on its way through the servers.
struct Query {
    qtype: u16,
    id: u16,
    packet: Vec<u8>,
    state: State,
}

enum State {
    /// Waiting for the current server.
    Open,
    /// The current server's UDP answer was cut short: ask it again over TCP.
    Truncated,
    /// The current server gave nothing usable; the next one may do better.
    Failed(Trouble),
    Answered(Answer),
    NoSuchName,
}

#[derive(Clone)]
enum Trouble {
    /// No answer at all: a timeout or a socket error.
    Silent(String),
    /// An answer that was unusable.
    Bad(String),
}

impl Query {
    fn new(host: &str, qtype: u16) -> Result<Self, DnsError> {
        let id = random_id();
        Ok(Self { qtype, id, packet: wire::encode_query(id, host, qtype)?, state: State::Open })
    }

    fn settled(&self) -> bool {
        matches!(self.state, State::Answered(_) | State::NoSuchName)
    }

    fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }
}

impl State {
    fn from_reply(reply: Result<Answer, DnsError>) -> Self {
        match reply {
            Ok(answer) if answer.truncated => Self::Truncated,
            Ok(answer) => Self::Answered(answer),
            Err(DnsError::NotFound(_)) => Self::NoSuchName,
            Err(DnsError::Malformed(why)) => Self::Failed(Trouble::Bad(why)),
            Err(other) => Self::Failed(Trouble::Bad(other.to_string())),
        }
    }
}

/// A query id nobody off the path can guess; the clock stands in only if the OS has no
/// randomness to give, which beats not resolving at all.
fn random_id() -> u16 {
    getrandom::u32()
        .unwrap_or_else(|_| SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos())
        as u16
}

/// Puts every unsettled query to `server`: UDP first, TCP for truncated answers.
fn ask_server(
    server: SocketAddr,
    host: &str,
    queries: &mut [Query],
    config: &ResolverConfig,
    troubles: &mut Troubles,
) {
    for query in queries.iter_mut().filter(|q| !q.settled()) {
        query.state = State::Open;
    }
    let udp_error = ask_over_udp(server, host, queries, config).err();
    for query in queries.iter_mut().filter(|q| matches!(q.state, State::Truncated)) {
        query.state = ask_over_tcp(server, host, query, config.timeout);
    }
    for query in queries.iter() {
        match &query.state {
            State::Open => {
                let why =
                    udp_error.as_ref().map_or_else(|| "no answer".to_string(), |e| e.kind().to_string());
                troubles.note(server, &Trouble::Silent(why));
            }
            State::Failed(trouble) => troubles.note(server, trouble),
            _ => {}
        }
    }
}

/// Sends the open queries `config.attempts` times, each time waiting up to
/// `config.timeout` for their answers. The socket is connected, so the kernel drops
/// datagrams from anyone but `server`.
fn ask_over_udp(
    server: SocketAddr,
    host: &str,
    queries: &mut [Query],
    config: &ResolverConfig,
) -> io::Result<()> {
    let socket = UdpSocket::bind(any_local_port_for(server))?;
    socket.connect(server)?;
    let mut buf = [0u8; UDP_BUFFER];
    for _ in 0..config.attempts.max(1) {
        if !queries.iter().any(Query::is_open) {
            break;
        }
        for query in queries.iter().filter(|q| q.is_open()) {
            socket.send(&query.packet)?;
        }
        let deadline = Instant::now() + config.timeout;
        while queries.iter().any(Query::is_open) {
            let Some(len) = recv_before(&socket, &mut buf, deadline)? else { break };
            let reply = &buf[..len];
            let ours =
                queries.iter_mut().find(|q| q.is_open() && wire::answers_query(reply, q.id, host, q.qtype));
            if let Some(query) = ours {
                query.state = State::from_reply(wire::decode_response(reply, query.id, host, query.qtype));
            }
        }
    }
    Ok(())
}

fn any_local_port_for(server: SocketAddr) -> SocketAddr {
    let any: IpAddr =
        if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    SocketAddr::new(any, 0)
}

/// One datagram, or `None` once `deadline` has passed.
fn recv_before(socket: &UdpSocket, buf: &mut [u8], deadline: Instant) -> io::Result<Option<usize>> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(buf) {
            Ok(len) => return Ok(Some(len)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn ask_over_tcp(server: SocketAddr, host: &str, query: &Query, timeout: Duration) -> State {
    match exchange_over_tcp(server, &query.packet, timeout) {
        Err(e) => State::Failed(Trouble::Silent(format!("TCP: {}", e.kind()))),
        Ok(reply) => match wire::decode_response(&reply, query.id, host, query.qtype) {
            Ok(answer) if answer.truncated => State::Failed(Trouble::Bad("truncated even over TCP".into())),
            reply => State::from_reply(reply),
        },
    }
}

/// DNS over TCP: each message prefixed with its 2-byte length (RFC 1035 §4.2.2).
fn exchange_over_tcp(server: SocketAddr, packet: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend(packet);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut reply = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}

/// What went wrong where, for the error when no server gave an answer.
#[derive(Default)]
struct Troubles {
    tried: Vec<String>,
    first_bad: Option<String>,
}

impl Troubles {
    fn note(&mut self, server: SocketAddr, trouble: &Trouble) {
        let line = match trouble {
            Trouble::Silent(why) => format!("{server}: {why}"),
            Trouble::Bad(why) => {
                self.first_bad.get_or_insert_with(|| format!("{why} (from {server})"));
                format!("{server}: bad answer")
            }
        };
        if !self.tried.contains(&line) {
            self.tried.push(line);
        }
    }

    /// An unusable answer says more than silence, so it is the one reported.
    fn into_error(self, host: &str) -> DnsError {
        match self.first_bad {
            Some(why) => DnsError::Malformed(why),
            None if self.tried.is_empty() => DnsError::Timeout(host.to_string(), "no nameservers".into()),
            None => DnsError::Timeout(host.to_string(), self.tried.join("; ")),
        }
    }
}

/// Both queries' outcomes as one result: any addresses win (a server that drops AAAA
/// queries must not hide the A records); otherwise NXDOMAIN or "no addresses" is
/// [`DnsError::NotFound`], and silence or bad answers are reported as such.
fn settle(host: &str, queries: &[Query], troubles: Troubles) -> Result<Found, DnsError> {
    let mut found = Found { addrs: Vec::new(), ttl: u32::MAX };
    for query in queries {
        // An empty answer (NODATA) carries no TTL worth bounding the others with.
        if let State::Answered(answer) = &query.state
            && !answer.addrs.is_empty()
        {
            for ip in &answer.addrs {
                if !found.addrs.contains(ip) {
                    found.addrs.push(*ip);
                }
            }
            found.ttl = found.ttl.min(answer.ttl);
        }
    }
    let nxdomain = queries.iter().any(|q| matches!(q.state, State::NoSuchName));
    if !found.addrs.is_empty() {
        Ok(found)
    } else if nxdomain || queries.iter().all(Query::settled) {
        Err(DnsError::NotFound(host.to_string()))
    } else {
        Err(troubles.into_error(host))
    }
}
