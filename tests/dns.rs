//! The resolver against a tiny authoritative server of our own on 127.0.0.1 (UDP and TCP
//! on one port): addresses, CNAME chains, NXDOMAIN, truncation, silent and refusing
//! servers, spoofed ids and looping compression pointers; plus random packets decoded.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alpi::net::dns::{
    self, DnsError, ResolverConfig, TYPE_A, TYPE_AAAA, decode_response, encode_query, resolve_with,
};

const TIMEOUT: Duration = Duration::from_millis(200);

// --- the test server ---------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Udp,
    Tcp,
}

/// `Flaky` answers `flaky.test` with SERVFAIL; `Healthy` answers it properly.
#[derive(Clone, Copy, PartialEq)]
enum Mood {
    Healthy,
    Flaky,
}

struct Server {
    addr: SocketAddr,
    /// Queries seen for `count.test`.
    counted: Arc<AtomicUsize>,
    /// Queries that arrived over TCP.
    over_tcp: Arc<AtomicUsize>,
}

fn server(mood: Mood) -> Server {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let Ok(tcp) = TcpListener::bind(addr) else { continue };
        let counted = Arc::new(AtomicUsize::new(0));
        let over_tcp = Arc::new(AtomicUsize::new(0));
        let zone = Zone { mood, counted: counted.clone() };
        std::thread::spawn(move || serve_udp(&udp, &zone));
        let zone = Zone { mood, counted: counted.clone() };
        let tcp_count = over_tcp.clone();
        std::thread::spawn(move || serve_tcp(&tcp, &zone, &tcp_count));
        return Server { addr, counted, over_tcp };
    }
    panic!("no port free for both UDP and TCP");
}

fn serve_udp(socket: &UdpSocket, zone: &Zone) {
    let mut buf = [0u8; 512];
    while let Ok((len, from)) = socket.recv_from(&mut buf) {
        for packet in zone.reply(&buf[..len], Transport::Udp) {
            socket.send_to(&packet, from).unwrap();
        }
    }
}

fn serve_tcp(listener: &TcpListener, zone: &Zone, over_tcp: &AtomicUsize) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            continue;
        }
        let mut query = vec![0; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).is_err() {
            continue;
        }
        over_tcp.fetch_add(1, Ordering::SeqCst);
        for packet in zone.reply(&query, Transport::Tcp) {
            let _ = stream.write_all(&(packet.len() as u16).to_be_bytes());
            let _ = stream.write_all(&packet);
        }
    }
}

/// A UDP socket that takes queries and never answers; kept bound so no ICMP refusal
/// gives the client a shortcut.
fn silent_server() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// A port nothing listens on: the kernel refuses at once.
fn closed_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

struct Zone {
    mood: Mood,
    counted: Arc<AtomicUsize>,
}

/// What a record says.
enum Data {
    Ip(IpAddr),
    Alias(&'static str),
}

const NOERROR: u16 = 0;
const SERVFAIL: u16 = 2;
const NXDOMAIN: u16 = 3;

impl Zone {
    /// The packets sent back for `query`, in order.
    fn reply(&self, query: &[u8], transport: Transport) -> Vec<Vec<u8>> {
        let (id, name, qtype, question) = parse_query(query);
        let ip = |s: &str| Data::Ip(s.parse().unwrap());
        let answer =
            |records: Vec<(&'static str, u32, Data)>| build(id, NOERROR, false, &name, question, &records);
        let want = |v4: &str, v6: &str| if qtype == TYPE_A { ip(v4) } else { ip(v6) };
        let packet = match name.as_str() {
            "a.test" => answer(vec![("a.test", 60, want("192.0.2.1", "2001:db8::1"))]),
            "multi.test" if qtype == TYPE_A => {
                answer(vec![("multi.test", 60, ip("192.0.2.10")), ("multi.test", 60, ip("192.0.2.11"))])
            }
            "v4only.test" | "multi.test" if qtype == TYPE_AAAA => answer(vec![]),
            "v4only.test" => answer(vec![("v4only.test", 60, ip("192.0.2.20"))]),
            "alias.test" => answer(vec![
                ("alias.test", 30, Data::Alias("mid.test")),
                ("mid.test", 45, Data::Alias("a.test")),
                ("a.test", 60, want("192.0.2.1", "2001:db8::1")),
            ]),
            "big.test" if transport == Transport::Udp => build(id, NOERROR, true, &name, question, &[]),
            "big.test" => answer(vec![("big.test", 60, want("192.0.2.99", "2001:db8::99"))]),
            "wrongid.test" => {
                let spoof = build(
                    id ^ 0x5555,
                    NOERROR,
                    false,
                    &name,
                    question,
                    &[("wrongid.test", 60, want("203.0.113.66", "2001:db8::666"))],
                );
                return vec![spoof, answer(vec![("wrongid.test", 60, want("192.0.2.7", "2001:db8::7"))])];
            }
            "spoofonly.test" => build(
                id.wrapping_add(1),
                NOERROR,
                false,
                &name,
                question,
                &[("spoofonly.test", 60, ip("203.0.113.66"))],
            ),
            "pointerloop.test" => pointer_loop(id, question),
            "flaky.test" if self.mood == Mood::Flaky => build(id, SERVFAIL, false, &name, question, &[]),
            "flaky.test" => answer(vec![("flaky.test", 60, want("192.0.2.33", "2001:db8::33"))]),
            "count.test" => {
                self.counted.fetch_add(1, Ordering::SeqCst);
                answer(vec![("count.test", 60, want("192.0.2.44", "2001:db8::44"))])
            }
            _ => build(id, NXDOMAIN, false, &name, question, &[]),
        };
        vec![packet]
    }
}

/// Id, lowercase dotted name, type, and the raw question section of a query.
fn parse_query(query: &[u8]) -> (u16, String, u16, &[u8]) {
    let id = u16::from_be_bytes([query[0], query[1]]);
    let mut pos = 12;
    let mut labels = Vec::new();
    while query[pos] != 0 {
        let len = usize::from(query[pos]);
        labels.push(String::from_utf8_lossy(&query[pos + 1..pos + 1 + len]).to_lowercase());
        pos += 1 + len;
    }
    let qtype = u16::from_be_bytes([query[pos + 1], query[pos + 2]]);
    (id, labels.join("."), qtype, &query[12..pos + 5])
}

fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
    out
}

/// A response; records owned by the question's name point back at it (compression).
fn build(
    id: u16,
    rcode: u16,
    truncated: bool,
    qname: &str,
    question: &[u8],
    records: &[(&str, u32, Data)],
) -> Vec<u8> {
    let flags = 0x8000 | 0x0400 | 0x0100 | 0x0080 | if truncated { 0x0200 } else { 0 } | rcode;
    let mut p = Vec::new();
    for field in [id, flags, 1, records.len() as u16, 0, 0] {
        p.extend(field.to_be_bytes());
    }
    p.extend(question);
    for (owner, ttl, data) in records {
        if *owner == qname {
            p.extend([0xC0, 12])
        } else {
            p.extend(wire_name(owner))
        }
        let (rtype, rdata) = match data {
            Data::Ip(IpAddr::V4(v4)) => (TYPE_A, v4.octets().to_vec()),
            Data::Ip(IpAddr::V6(v6)) => (TYPE_AAAA, v6.octets().to_vec()),
            Data::Alias(target) => (5, wire_name(target)),
        };
        p.extend(rtype.to_be_bytes());
        p.extend(1u16.to_be_bytes());
        p.extend(ttl.to_be_bytes());
        p.extend((rdata.len() as u16).to_be_bytes());
        p.extend(rdata);
    }
    p
}

/// A correct header and question, then one record whose owner name is a pointer to itself.
fn pointer_loop(id: u16, question: &[u8]) -> Vec<u8> {
    let mut p = build(id, NOERROR, false, "", question, &[]);
    p[7] = 1;
    let at = p.len() as u8;
    p.extend([0xC0, at]);
    p.extend([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    p
}

// --- the tests -----------------------------------------------------------------------

fn config(nameservers: &[SocketAddr]) -> ResolverConfig {
    ResolverConfig {
        nameservers: nameservers.to_vec(),
        timeout: TIMEOUT,
        attempts: 2,
        hosts_files: Vec::new(),
    }
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn a_and_aaaa_come_back_ipv4_first() {
    let s = server(Mood::Healthy);
    assert_eq!(
        resolve_with("a.test", 443, &config(&[s.addr])).unwrap(),
        addrs(&["192.0.2.1:443", "[2001:db8::1]:443"])
    );
    assert_eq!(resolve_with("A.Test.", 1, &config(&[s.addr])).unwrap().len(), 2, "case and trailing dot");
    assert_eq!(s.over_tcp.load(Ordering::SeqCst), 0, "no TCP without truncation");
}

#[test]
fn several_records_keep_their_order_and_a_missing_aaaa_is_fine() {
    let s = server(Mood::Healthy);
    let cfg = config(&[s.addr]);
    assert_eq!(resolve_with("multi.test", 80, &cfg).unwrap(), addrs(&["192.0.2.10:80", "192.0.2.11:80"]));
    assert_eq!(resolve_with("v4only.test", 80, &cfg).unwrap(), addrs(&["192.0.2.20:80"]));
}

#[test]
fn cname_chains_are_followed() {
    let s = server(Mood::Healthy);
    assert_eq!(
        resolve_with("alias.test", 80, &config(&[s.addr])).unwrap(),
        addrs(&["192.0.2.1:80", "[2001:db8::1]:80"])
    );
}

#[test]
fn nxdomain_is_not_found() {
    let s = server(Mood::Healthy);
    assert_eq!(
        resolve_with("missing.test", 80, &config(&[s.addr])),
        Err(DnsError::NotFound("missing.test".into()))
    );
}

#[test]
fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let s = server(Mood::Healthy);
    assert_eq!(
        resolve_with("big.test", 53, &config(&[s.addr])).unwrap(),
        addrs(&["192.0.2.99:53", "[2001:db8::99]:53"])
    );
    assert_eq!(s.over_tcp.load(Ordering::SeqCst), 2, "A and AAAA each retried over TCP");
}

#[test]
fn a_silent_server_is_passed_over_after_its_attempts() {
    let s = server(Mood::Healthy);
    let (_keep, silent) = silent_server();
    let started = Instant::now();
    assert_eq!(resolve_with("a.test", 80, &config(&[silent, s.addr])).unwrap().len(), 2);
    let took = started.elapsed();
    assert!(took >= TIMEOUT * 2 - Duration::from_millis(20), "both attempts waited: {took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn a_refusing_port_is_passed_over_at_once() {
    let s = server(Mood::Healthy);
    let started = Instant::now();
    assert_eq!(resolve_with("a.test", 80, &config(&[closed_port(), s.addr])).unwrap().len(), 2);
    assert!(started.elapsed() < TIMEOUT * 2, "{:?}", started.elapsed());
}

#[test]
fn all_servers_silent_is_a_timeout_naming_them() {
    let (_keep1, one) = silent_server();
    let (_keep2, two) = silent_server();
    let started = Instant::now();
    let Err(DnsError::Timeout(host, tried)) = resolve_with("a.test", 80, &config(&[one, two])) else {
        panic!("expected a timeout");
    };
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(host, "a.test");
    assert!(tried.contains(&one.to_string()) && tried.contains(&two.to_string()), "{tried}");
}

#[test]
fn answers_with_a_wrong_id_are_ignored() {
    let s = server(Mood::Healthy);
    let cfg = config(&[s.addr]);
    assert_eq!(resolve_with("wrongid.test", 80, &cfg).unwrap(), addrs(&["192.0.2.7:80", "[2001:db8::7]:80"]));
    assert!(matches!(resolve_with("spoofonly.test", 80, &cfg), Err(DnsError::Timeout(..))));
}

#[test]
fn a_looping_compression_pointer_is_an_error_not_a_hang() {
    let s = server(Mood::Healthy);
    let started = Instant::now();
    let result = resolve_with("pointerloop.test", 80, &config(&[s.addr]));
    assert!(matches!(&result, Err(DnsError::Malformed(why)) if why.contains("pointer")), "{result:?}");
    assert!(started.elapsed() < TIMEOUT * 2, "{:?}", started.elapsed());
}

#[test]
fn servfail_moves_on_to_the_next_server_and_is_reported_when_none_is_left() {
    let (flaky, healthy) = (server(Mood::Flaky), server(Mood::Healthy));
    assert_eq!(resolve_with("flaky.test", 80, &config(&[flaky.addr, healthy.addr])).unwrap().len(), 2);
    let result = resolve_with("flaky.test", 80, &config(&[flaky.addr]));
    assert!(matches!(&result, Err(DnsError::Malformed(why)) if why.contains("SERVFAIL")), "{result:?}");
}

#[test]
fn hosts_files_answer_before_dns() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "fd00::5 printer.lan\n10.0.0.5 printer.lan printer # office\n").unwrap();
    let s = server(Mood::Healthy);
    let (_keep, silent) = silent_server();
    let cfg = ResolverConfig { hosts_files: vec![dir.path().join("absent"), hosts], ..config(&[silent]) };
    let started = Instant::now();
    assert_eq!(resolve_with("printer.lan", 631, &cfg).unwrap(), addrs(&["10.0.0.5:631", "[fd00::5]:631"]));
    assert_eq!(resolve_with("PRINTER", 631, &cfg).unwrap(), addrs(&["10.0.0.5:631"]));
    assert!(started.elapsed() < TIMEOUT * 2, "no query was sent");
    let cfg = ResolverConfig { nameservers: vec![s.addr], ..cfg };
    assert_eq!(resolve_with("a.test", 1, &cfg).unwrap().len(), 2, "other names still go to DNS");
}

#[test]
fn literals_localhost_and_bad_names_need_no_server() {
    let cfg = config(&[]);
    assert_eq!(resolve_with("192.0.2.1", 80, &cfg).unwrap(), addrs(&["192.0.2.1:80"]));
    assert_eq!(resolve_with("[2001:db8::1]", 80, &cfg).unwrap(), addrs(&["[2001:db8::1]:80"]));
    assert_eq!(resolve_with("localhost", 80, &cfg).unwrap(), addrs(&["127.0.0.1:80", "[::1]:80"]));
    for bad in ["exämple.com", "a..b", "", &"x".repeat(64)] {
        assert_eq!(resolve_with(bad, 80, &cfg), Err(DnsError::InvalidName(bad.to_string())));
    }
    assert_eq!(dns::resolve_address("[::1]:7423").unwrap(), addrs(&["[::1]:7423"]));
    assert!(matches!(dns::resolve_address("::1:7423"), Err(DnsError::InvalidName(_))));
}

/// `resolve` reads `ALPI_DNS` and caches: checked in a child process, since changing
/// the environment of this multi-threaded one is not sound.
#[test]
fn resolve_reads_alpi_dns_and_caches_answers() {
    let s = server(Mood::Healthy);
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "alpi_dns_child", "--nocapture", "--test-threads=1"])
        .env("ALPI_DNS_TEST_CHILD", "1")
        .env("ALPI_DNS", format!("{},{}", closed_port(), s.addr))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(s.counted.load(Ordering::SeqCst), 2, "one A and one AAAA query for three lookups");
}

#[test]
fn alpi_dns_child() {
    if std::env::var_os("ALPI_DNS_TEST_CHILD").is_none() {
        return;
    }
    let want = addrs(&["192.0.2.44:80", "[2001:db8::44]:80"]);
    assert_eq!(dns::resolve("count.test", 80).unwrap(), want);
    assert_eq!(dns::resolve("COUNT.test.", 80).unwrap(), want);
    assert_eq!(
        dns::resolve_address("count.test:7423").unwrap(),
        addrs(&["192.0.2.44:7423", "[2001:db8::44]:7423"])
    );
}

// --- hostile input ---------------------------------------------------------------------

/// xorshift64: plenty for making up packets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn ten_thousand_random_packets_decode_without_panicking() {
    const ID: u16 = 0x4242;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let query = encode_query(ID, "a.test", TYPE_A).unwrap();
    let zone = Zone { mood: Mood::Healthy, counted: Arc::new(AtomicUsize::new(0)) };
    let good = zone.reply(&encode_query(ID, "alias.test", TYPE_A).unwrap(), Transport::Tcp).remove(0);
    assert!(decode_response(&good, ID, "alias.test", TYPE_A).is_ok());
    let mut decoded = 0;
    for round in 0..10_000 {
        let packet: Vec<u8> = match round % 3 {
            // Pure noise.
            0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
            // A plausible header and question, then noise: reaches the record parser.
            1 => {
                let mut p = query.clone();
                p[2] |= 0x80;
                p[6..8].copy_from_slice(&(rng.below(8) as u16).to_be_bytes());
                p.extend((0..rng.below(300)).map(|_| rng.next() as u8));
                p
            }
            // A good answer with a few bytes changed.
            _ => {
                let mut p = good.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(p.len());
                    p[at] = rng.next() as u8;
                }
                p
            }
        };
        let (name, qtype) = if round % 3 == 2 { ("alias.test", TYPE_A) } else { ("a.test", TYPE_A) };
        if decode_response(&packet, ID, name, qtype).is_ok() {
            decoded += 1;
        }
        let _ = decode_response(&packet, ID, "a.test", TYPE_AAAA);
    }
    assert!(decoded > 0, "some mutated answers still decode");
}
