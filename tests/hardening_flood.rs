//! Floods and slow clients against the real daemon on loopback, while a pinned peer
//! pings every 100 ms over ALP.2: envelopes from unpinned keys on the Unix socket as
//! fast as they go, a slowloris from 127.0.0.2 writing one byte a second, oversized
//! Noise length prefixes, 1 MiB garbage lines. The pinned peer's pings all succeed with
//! p99 under 50 ms, the daemon's RSS stays under 16 MB, pending_peers.yaml keeps ≤ 20
//! entries and the daemon's descriptors return to their baseline.
//!
//! CI runs the short form; `ALPI_SOAK=1` (ci/soak) the full one. Figures are printed as
//! `soak.<name> <value> <unit>`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alpi::alp::client::{Client, Route};
use alpi::alp::identity::{Identity, Keypair};
use alpi::alp::peers::Peer;
use alpi::alp::wire::envelope;
use alpi::json::{Object, Value};
use common::{Sandbox, eventually};

struct Figures {
    envelopes: usize,
    slow_connections: usize,
    slow_secs: u64,
    garbage_lines: usize,
}

fn figures() -> Figures {
    match std::env::var_os("ALPI_SOAK").is_some() {
        true => Figures { envelopes: 20_000, slow_connections: 500, slow_secs: 60, garbage_lines: 200 },
        false => Figures { envelopes: 2_000, slow_connections: 100, slow_secs: 5, garbage_lines: 20 },
    }
}

fn figure(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("soak.{name} {value} {unit}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// The pinned peer: pings over one Noise session every 100 ms until `stop`; returns
/// each round trip, and panics on the first failure.
fn pinger(me: Keypair, home: Identity, address: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let client = Client::new(&me);
    let peer = Peer::new("home", home, vec![]);
    let route = Route::Tcp(address);
    let mut times = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let reply =
            client.call(&peer, &route, "link.ping", Object::new(), Duration::from_secs(5), &mut |_| {});
        if let Err(e) = reply {
            panic!("ping {} failed: {e}", times.len() + 1);
        }
        times.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(100).saturating_sub(started.elapsed()));
    }
    times
}

/// `count` envelopes to `home`, signed by `count / 10` unpinned keys, from 4 threads.
fn envelope_flood(sock: PathBuf, home: Identity, count: usize) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (sock, home) = (sock.clone(), home.clone());
            std::thread::spawn(move || {
                for i in (t..count).step_by(4) {
                    let mut seed = [7u8; 32];
                    seed[..8].copy_from_slice(&(i as u64 / 10).to_le_bytes());
                    let keys = Keypair::from_seed(seed);
                    let now = alpi::clock::now_micros();
                    let req = envelope::request(&keys, &home, "f", "link.ping", Object::new(), now);
                    let mut line = Value::Object(req).wire();
                    line.push(b'\n');
                    assert!(common::unix_request(&sock, &line).is_empty(), "an unpinned key got an answer");
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
}

/// 1 MiB (and a bit) of bytes that are not JSON, then a newline, `count` times.
fn garbage_lines(sock: PathBuf, count: usize) {
    let mut line = vec![b'x'; 1024 * 1024 + 16];
    line.push(b'\n');
    for _ in 0..count {
        assert!(common::unix_request(&sock, &line).is_empty());
    }
}

/// Noise frames claiming 65,535 bytes and sending a few, from 127.0.0.3.
fn oversized_prefixes(to: SocketAddr, count: usize) {
    for _ in 0..count {
        let Ok(mut s) = TcpStream::connect(to) else { continue };
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let _ = s.write_all(&[0xff, 0xff]);
        let _ = s.write_all(&[0x42; 300]);
        let _ = s.read_to_end(&mut Vec::new());
    }
}

/// A non-blocking TCP socket from `source` connecting to `to`.
fn socket_from(source: [u8; 4], to: SocketAddr) -> Option<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else { return None };
    // SAFETY: plain socket calls on a fresh descriptor we own; the sockaddr structs are
    // fully initialised and their sizes passed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
        if fd < 0 {
            return None;
        }
        let stream = TcpStream::from_raw_fd(fd);
        let mut local: libc::sockaddr_in = std::mem::zeroed();
        local.sin_family = libc::AF_INET as libc::sa_family_t;
        local.sin_addr.s_addr = u32::from_ne_bytes(source);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0 {
            return None;
        }
        let mut remote: libc::sockaddr_in = std::mem::zeroed();
        remote.sin_family = libc::AF_INET as libc::sa_family_t;
        remote.sin_port = to.port().to_be();
        remote.sin_addr.s_addr = u32::from_ne_bytes(to.ip().octets());
        libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len);
        Some(stream)
    }
}

/// `count` connections from 127.0.0.2, each sending one byte a second for `secs`.
fn slowloris(to: SocketAddr, count: usize, secs: u64) {
    let mut conns: Vec<TcpStream> = (0..count).filter_map(|_| socket_from([127, 0, 0, 2], to)).collect();
    for _ in 0..secs {
        std::thread::sleep(Duration::from_secs(1));
        for c in &mut conns {
            let _ = c.write(&[0]);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[test]
fn floods_and_slow_clients_leave_a_pinned_peer_served() {
    let f = figures();
    let (home, laptop) = (Sandbox::new(), Sandbox::new());
    let home_key: Identity = home.ok(&["peers", "key"]).stdout.trim().parse().unwrap();
    let laptop_key = laptop.ok(&["peers", "key"]).stdout.trim().to_owned();
    home.ok(&["peers", "add", "laptop", &laptop_key, "--allow", "link.ping"]);
    common::lift_rate_limit(&home.root().join("alp"), "laptop");
    let daemon = home.daemon_with(&[], &["--bind", "127.0.0.1:0"]);
    let pid = daemon.pid();
    let address = daemon.ready_line.rsplit(" on ").next().unwrap().trim().to_owned();
    let to: SocketAddr = address.parse().unwrap();
    let pem = std::fs::read_to_string(laptop.root().join("alp/secrets/alp_key.pem")).unwrap();
    let me = Keypair::from_seed(alpi::alp::identity::pem::decode_private(&pem).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let pings = {
        let (home_key, address, stop) = (home_key.clone(), address.clone(), stop.clone());
        std::thread::spawn(move || pinger(me, home_key, address, stop))
    };
    let rss_max = Arc::new(AtomicU64::new(0));
    let monitor = {
        let (rss_max, stop) = (rss_max.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                rss_max.fetch_max(rss_kib(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let log = home.root().join("logs/service.log");
    let session_up = || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("noise session from"));
    assert!(eventually(10, session_up), "the pinned peer's session");
    assert!(eventually(5, || fds(pid) > 0));
    let before = fds(pid);

    let sock = home.root().join("alp/alp.sock");
    let started = Instant::now();
    let attacks = vec![
        {
            let (sock, home_key, n) = (sock.clone(), home_key.clone(), f.envelopes);
            std::thread::spawn(move || envelope_flood(sock, home_key, n))
        },
        {
            let n = f.garbage_lines;
            std::thread::spawn(move || garbage_lines(sock, n))
        },
        std::thread::spawn(move || slowloris(to, f.slow_connections, f.slow_secs)),
        std::thread::spawn(move || oversized_prefixes(SocketAddr::from(([127, 0, 0, 3], to.port())), 20)),
    ];
    attacks.into_iter().for_each(|a| a.join().unwrap());
    let flood_secs = started.elapsed().as_secs_f64();
    let fds_back = eventually(20, || fds(pid) <= before);
    let after = fds(pid);
    stop.store(true, Ordering::SeqCst);
    let mut times = pings.join().expect("no ping failed");
    monitor.join().unwrap();
    times.sort();
    let p99 = percentile(&times, 0.99);
    let pending = std::fs::read_to_string(home.root().join("alp/pending_peers.yaml")).unwrap_or_default();
    let pending = pending.matches("pubkey:").count();
    let rss = rss_max.load(Ordering::SeqCst);

    figure("flood.secs", format!("{flood_secs:.1}"), "s");
    figure("flood.envelopes", f.envelopes, "");
    figure("flood.slowloris", f.slow_connections, "connections");
    figure("flood.pinned_pings", times.len(), "ok");
    figure("flood.pinned_ping.p50", format!("{:.1}", percentile(&times, 0.5).as_secs_f64() * 1e3), "ms");
    figure("flood.pinned_ping.p99", format!("{:.1}", p99.as_secs_f64() * 1e3), "ms");
    figure("flood.rss_max", rss, "KiB");
    figure("pending_peers", pending, "");
    figure("fds.after-before", after as i64 - before as i64, "");
    assert!(times.len() >= 10, "only {} pings", times.len());
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
    assert!(rss < 16 * 1024, "RSS {rss} KiB");
    assert!((1..=20).contains(&pending), "{pending} pending");
    assert!(fds_back, "descriptors {before} → {after}");
}
