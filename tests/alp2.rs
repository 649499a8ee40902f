//! ALP.2 end to end on loopback: two "machines" (two homes), each `alpi daemon run`
//! with `--bind`, pinned to each other by address; plus hostile clients against the
//! real daemon.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use alpi::alp::client::{Client, Route};
use alpi::alp::identity::Keypair;
use alpi::alp::peers::Peer;
use alpi::alp::transport::noise;
use alpi::alp::transport::tcp::Outgoing;
use alpi::alp::transport::unix::Next;
use alpi::alp::wire::envelope;
use alpi::json::{Object, Value};
use common::{Daemon, Sandbox};

/// The `host:port` a daemon said it listens on for ALP.2.
fn tcp_address(daemon: &Daemon) -> String {
    let line = &daemon.ready_line;
    let at = line.find(" on ").unwrap_or_else(|| panic!("no ALP.2 address in {line:?}"));
    line[at + 4..].trim().to_owned()
}

struct Machine {
    sb: Sandbox,
    key: String,
}

fn machine() -> Machine {
    let sb = Sandbox::new();
    let key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    Machine { sb, key }
}

fn seed_of(m: &Machine) -> Keypair {
    let pem = std::fs::read_to_string(m.sb.root().join("alp/secrets/alp_key.pem")).unwrap();
    Keypair::from_seed(alpi::alp::identity::pem::decode_private(&pem).unwrap())
}

#[test]
fn ping_both_ways_over_tcp_on_ipv4_and_ipv6() {
    for host in ["127.0.0.1", "[::1]"] {
        let (home, laptop) = (machine(), machine());
        home.sb.ok(&["peers", "add", "laptop", &laptop.key, "--allow", "link.ping"]);
        laptop.sb.ok(&["peers", "add", "home", &home.key, "--allow", "link.ping"]);
        let home_daemon = home.sb.daemon_with(&[], &["--bind", &format!("{host}:0")]);
        let laptop_daemon = laptop.sb.daemon_with(&[], &["--bind", &format!("{host}:0")]);
        let (home_addr, laptop_addr) = (tcp_address(&home_daemon), tcp_address(&laptop_daemon));
        laptop.sb.ok(&["peers", "remove", "home"]);
        laptop.sb.ok(&["peers", "add", "home", &home.key, "--allow", "link.ping", "--address", &home_addr]);
        home.sb.ok(&["peers", "remove", "laptop"]);
        home.sb.ok(&[
            "peers",
            "add",
            "laptop",
            &laptop.key,
            "--allow",
            "link.ping",
            "--address",
            &laptop_addr,
        ]);

        let out = laptop.sb.ok(&["peers", "ping", "home"]).stdout;
        assert!(out.starts_with("pong from default · version=1"), "{out}");
        assert!(out.contains(&format!("via tcp {home_addr}")), "{out}");
        let back = home.sb.ok(&["peers", "ping", "laptop"]).stdout;
        assert!(back.contains(&format!("via tcp {laptop_addr}")), "{back}");
    }
}

#[test]
fn listens_only_where_configured() {
    let m = machine();
    let daemon = m.sb.daemon(&[]);
    assert!(
        !daemon.ready_line.contains("ALP.2"),
        "no TCP listener without network.host: {}",
        daemon.ready_line
    );
    drop(daemon);
    std::fs::write(m.sb.root().join("config.yaml"), "network:\n  host: 127.0.0.1\nalp:\n  tcp_port: 0\n")
        .unwrap();
    let daemon = m.sb.daemon(&[]);
    assert!(tcp_address(&daemon).starts_with("127.0.0.1:"), "{}", daemon.ready_line);
    let status = m.sb.ok(&["daemon", "status"]).stdout;
    assert!(status.contains("tcp 127.0.0.1:"), "{status}");
}

/// A home daemon with `laptop` pinned, and the laptop's keys for in-process clients.
fn pinned_pair() -> (Machine, Machine, Daemon, String) {
    let (home, laptop) = (machine(), machine());
    home.sb.ok(&["peers", "add", "laptop", &laptop.key, "--allow", "link.ping"]);
    let daemon = home.sb.daemon_with(&[], &["--bind", "127.0.0.1:0"]);
    let address = tcp_address(&daemon);
    (home, laptop, daemon, address)
}

#[test]
fn one_session_carries_many_pings() {
    let (home, laptop, _daemon, address) = pinned_pair();
    let me = seed_of(&laptop);
    let client = Client::new(&me);
    let peer = Peer::new("home", home.key.parse().unwrap(), vec![]);
    let route = Route::Tcp(address);
    for i in 0..20 {
        let params = Object::new().with("nonce", i.to_string());
        let reply =
            client.call(&peer, &route, "link.ping", params, Duration::from_secs(5), &mut |_| {}).unwrap();
        assert_eq!(reply.result.get("nonce").and_then(Value::as_str), Some(i.to_string().as_str()));
    }
    assert_eq!(client.handshakes(), 1);
    // The daemon logs each request just after answering it.
    let log = || std::fs::read_to_string(home.sb.root().join("logs/service.log")).unwrap();
    assert!(common::eventually(5, || log().matches("link.ping from laptop · ok").count() == 20), "{}", log());
    assert_eq!(log().matches("noise session from").count(), 1, "{}", log());
}

#[test]
fn unpinned_initiator_is_dropped_and_recorded_with_its_address() {
    let (home, _laptop, _daemon, address) = pinned_pair();
    let stranger = machine();
    stranger.sb.ok(&["peers", "add", "home", &home.key, "--address", &address, "--allow", "link.ping"]);
    let run = stranger.sb.run(&["peers", "ping", "home"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("home is unverified"), "{}", run.stderr);
    let pending = home.sb.ok(&["peers", "pending"]).stdout;
    assert!(pending.contains(&stranger.key) && pending.contains("127.0.0.1:7423"), "{pending}");
}

#[test]
fn a_noise_identity_that_differs_from_the_envelope_signer_is_dropped() {
    let (home, laptop, _daemon, address) = pinned_pair();
    let laptop_keys = seed_of(&laptop);
    let home_id: alpi::alp::identity::Identity = home.key.parse().unwrap();
    // Noise as a stranger, envelope signed by the pinned laptop.
    let stranger = Keypair::from_seed([77; 32]);
    let mut session = Outgoing::connect(&address, &stranger, &home_id).unwrap();
    let request =
        envelope::request(&laptop_keys, &home_id, "x", "link.ping", Object::new(), alpi::clock::now_micros());
    let result =
        session.exchange(&Value::Object(request).wire(), Duration::from_secs(5), &mut |_| Next::Done);
    assert!(matches!(result, Err(alpi::alp::transport::TransportError::Silent)), "{result:?}");
}

/// True when the server closes the connection without sending anything: EOF, or a
/// reset when it closed with our unread bytes still queued.
fn closed_silently(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

#[test]
fn garbage_truncated_and_oversized_frames_close_the_session() {
    let (home, laptop, _daemon, address) = pinned_pair();
    let me = seed_of(&laptop);
    let home_id = home.key.parse().unwrap();

    let mut junk = TcpStream::connect(&address).unwrap();
    junk.write_all(b"\x00\x30GET / HTTP/1.1\r\nHost: x\r\n\r\n........................").unwrap();
    assert!(closed_silently(&mut junk), "a bad first handshake message");

    let (mut stream, _) = common::noise_handshake(&address, &me, &home_id);
    stream.write_all(&(noise::MAX_FRAME as u32 + 1).to_be_bytes()).unwrap();
    assert!(closed_silently(&mut stream), "an oversized length prefix");

    let (mut stream, mut session) = common::noise_handshake(&address, &me, &home_id);
    let mut sealed = session.send.encrypt(b"{\"not\":\"an envelope\"}").unwrap();
    sealed[3] ^= 0xff;
    stream.write_all(&noise::transport_frame(&sealed)).unwrap();
    assert!(closed_silently(&mut stream), "a frame that does not decrypt");

    let (mut stream, mut session) = common::noise_handshake(&address, &me, &home_id);
    let sealed = session.send.encrypt(b"not json").unwrap();
    stream.write_all(&noise::transport_frame(&sealed)).unwrap();
    assert!(closed_silently(&mut stream), "an envelope that is dropped ends the session");

    let (mut stream, _) = common::noise_handshake(&address, &me, &home_id);
    stream.write_all(&[0, 0, 0, 50, 1, 2, 3]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed_silently(&mut stream), "a truncated frame");

    // Still serving a well-behaved peer afterwards.
    let client = Client::new(&me);
    let peer = Peer::new("home", home_id, vec![]);
    client
        .call(&peer, &Route::Tcp(address), "link.ping", Object::new(), Duration::from_secs(5), &mut |_| {})
        .unwrap();
}

/// A TCP connection from `source` (e.g. 127.0.0.2) that never says a word.
fn half_open_from(source: [u8; 4], to: std::net::SocketAddr) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let std::net::SocketAddr::V4(to) = to else { panic!("IPv4 only") };
    // SAFETY: plain socket calls on a fresh descriptor we own; the sockaddr structs are
    // fully initialised and their sizes passed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut local: libc::sockaddr_in = std::mem::zeroed();
        local.sin_family = libc::AF_INET as libc::sa_family_t;
        local.sin_addr.s_addr = u32::from_ne_bytes(source);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, &local as *const _ as *const libc::sockaddr, len), 0);
        let mut remote: libc::sockaddr_in = std::mem::zeroed();
        remote.sin_family = libc::AF_INET as libc::sa_family_t;
        remote.sin_port = to.port().to_be();
        remote.sin_addr.s_addr = u32::from_ne_bytes(to.ip().octets());
        assert_eq!(libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len), 0);
        std::os::fd::OwnedFd::from_raw_fd(fd)
    }
}

#[test]
fn half_open_connections_from_one_source_do_not_starve_a_pinned_peer() {
    let (home, laptop, _daemon, address) = pinned_pair();
    let to: std::net::SocketAddr = address.parse().unwrap();
    let _flood: Vec<_> = (0..40).map(|_| half_open_from([127, 0, 0, 2], to)).collect();
    let me = seed_of(&laptop);
    let client = Client::new(&me);
    let peer = Peer::new("home", home.key.parse().unwrap(), vec![]);
    let started = Instant::now();
    client
        .call(&peer, &Route::Tcp(address), "link.ping", Object::new(), Duration::from_secs(5), &mut |_| {})
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[test]
fn peer_addresses_may_be_host_names() {
    let (home, laptop, _daemon, address) = pinned_pair();
    let port = address.rsplit_once(':').unwrap().1;
    laptop.sb.ok(&[
        "peers",
        "add",
        "home",
        &home.key,
        "--address",
        &format!("localhost:{port}"),
        "--allow",
        "link.ping",
    ]);
    let out = laptop.sb.ok(&["peers", "ping", "home"]).stdout;
    assert!(out.contains(&format!("via tcp localhost:{port}")), "{out}");
    let mut cmd = laptop.sb.cmd(&["peers", "ping", "home"]);
    laptop.sb.ok(&["peers", "remove", "home"]);
    laptop.sb.ok(&["peers", "add", "home", &home.key, "--address", &format!("no-such-host.invalid:{port}")]);
    let run = common::Run::from(cmd.env("ALPI_DNS", "127.0.0.1:9").output().unwrap());
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("home is offline") && run.stderr.contains("no-such-host.invalid"),
        "{}",
        run.stderr
    );
}
