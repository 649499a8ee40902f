//! The ALP.2 responder's timers, with short limits on an in-process listener: idle
//! sessions close (sooner for an unpinned Noise identity), and a connection that never
//! starts its handshake is closed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alpi::alp::dispatch::Node;
use alpi::alp::identity::Keypair;
use alpi::alp::methods::NoAgent;
use alpi::alp::peers::{Peer, PeerFiles};
use alpi::alp::transport::noise::{self, Handshake};
use alpi::alp::transport::tcp::{self, Limits};
use alpi::profile::{ProfileName, Root};

fn limits() -> Limits {
    Limits {
        first_message: Duration::from_millis(300),
        handshake: Duration::from_secs(2),
        frame: Duration::from_secs(2),
        idle: Duration::from_millis(900),
        idle_unpinned: Duration::from_millis(200),
        ..Limits::default()
    }
}

/// A responder for a fresh profile that pins `pinned`; returns its address and identity.
fn responder(dir: &std::path::Path, pinned: &Keypair) -> (String, Keypair) {
    let home = Root::new(dir.join(".alpi")).home(&ProfileName::default_profile());
    home.ensure_layout().unwrap();
    let peer = Peer::new("friend", pinned.identity().clone(), vec!["link.ping".into()]);
    PeerFiles::new(&home.dir().join("alp")).add(peer).unwrap();
    let node =
        Node::open(&home, Arc::new(NoAgent::for_profile("default", "")), alpi::clock::now_micros()).unwrap();
    let keys = home.keys().load().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = std_listener.local_addr().unwrap().to_string();
    let listener = smol::net::TcpListener::try_from(std_listener).unwrap();
    smol::spawn(tcp::serve(listener, Arc::new(node), Arc::new(limits()))).detach();
    (address, keys)
}

fn handshake(address: &str, me: &Keypair, them: &Keypair) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hs = Handshake::initiator(me, them.identity()).unwrap();
    stream.write_all(&noise::handshake_frame(&hs.write().unwrap())).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut msg).unwrap();
    hs.read(&msg).unwrap();
    stream.write_all(&noise::handshake_frame(&hs.write().unwrap())).unwrap();
    stream
}

/// How long until the server closes the connection (a read returns EOF).
fn time_to_close(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf).unwrap(), 0, "closed without a byte");
    started.elapsed()
}

#[test]
fn idle_sessions_close_sooner_when_the_noise_identity_is_not_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let friend = Keypair::from_seed([1; 32]);
    let (address, server) = responder(dir.path(), &friend);

    let mut pinned = handshake(&address, &friend, &server);
    let stranger = Keypair::from_seed([2; 32]);
    let mut unpinned = handshake(&address, &stranger, &server);

    let unpinned_after = time_to_close(&mut unpinned);
    assert!(unpinned_after < Duration::from_millis(700), "unpinned idle close took {unpinned_after:?}");
    let pinned_after = time_to_close(&mut pinned);
    assert!(pinned_after > Duration::from_millis(300), "pinned session closed too early ({pinned_after:?})");
    assert!(pinned_after < Duration::from_secs(3), "pinned idle close took {pinned_after:?}");
}

#[test]
fn a_connection_that_never_starts_its_handshake_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (address, _) = responder(dir.path(), &Keypair::from_seed([1; 32]));
    let mut silent = TcpStream::connect(&address).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let after = time_to_close(&mut silent);
    assert!(after < Duration::from_secs(1), "took {after:?}");
}
