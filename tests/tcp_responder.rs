//! The ALP.2 responder in-process, with short limits: idle sessions close (sooner for
//! an unpinned Noise identity), a connection that never starts its handshake is closed,
//! and a streamed `link.ask` arrives frame by frame over one session.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alpi::alp::client::{Client, Route};
use alpi::alp::dispatch::Node;
use alpi::alp::identity::Keypair;
use alpi::alp::methods::{Agent, AskRequest, AskResult, NoAgent};
use alpi::alp::peers::{Peer, PeerFiles};

use alpi::alp::transport::tcp::{self, Limits};
use alpi::alp::wire::envelope::RpcError;
use alpi::json::{Object, Value};
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
    responder_with(dir, pinned, Arc::new(NoAgent::for_profile("default", "")))
}

fn responder_with(dir: &std::path::Path, pinned: &Keypair, agent: Arc<dyn Agent>) -> (String, Keypair) {
    let home = Root::new(dir.join(".alpi")).home(&ProfileName::default_profile());
    home.ensure_layout().unwrap();
    let peer = Peer::new("friend", pinned.identity().clone(), vec!["link.ping".into(), "link.ask".into()]);
    PeerFiles::new(&home.dir().join("alp")).add(peer).unwrap();
    let node = Node::open(&home, agent, alpi::clock::now_micros()).unwrap();
    let keys = home.keys().load().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = std_listener.local_addr().unwrap().to_string();
    let listener = smol::net::TcpListener::try_from(std_listener).unwrap();
    smol::spawn(tcp::serve(listener, Arc::new(node), Arc::new(limits()))).detach();
    (address, keys)
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

    let mut pinned = common::noise_handshake(&address, &friend, server.identity()).0;
    let stranger = Keypair::from_seed([2; 32]);
    let mut unpinned = common::noise_handshake(&address, &stranger, server.identity()).0;

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

/// Answers in three pieces.
struct Echo;

impl Agent for Echo {
    fn ask(
        &self,
        ask: &AskRequest,
        on_text: &mut dyn FnMut(&str),
        _: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<AskResult, RpcError> {
        for piece in ["you ", "said: ", ask.prompt.as_str()] {
            on_text(piece);
        }
        Ok(AskResult {
            text: format!("you said: {}", ask.prompt),
            tokens_in: 4,
            tokens_out: 3,
            ..AskResult::default()
        })
    }
}

#[test]
fn a_streamed_ask_arrives_frame_by_frame_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let friend = Keypair::from_seed([1; 32]);
    let (address, server) = responder_with(dir.path(), &friend, Arc::new(Echo));
    let client = Client::new(&friend);
    let peer = Peer::new("server", server.identity().clone(), vec![]);
    let route = Route::Tcp(address);
    let mut chunks = Vec::new();
    let params = Object::new().with("prompt", "hello").with("stream", true);
    let reply = client
        .call(&peer, &route, "link.ask", params, Duration::from_secs(5), &mut |c| chunks.push(c.clone()))
        .unwrap();
    assert_eq!(chunks[0].get("event").and_then(Value::as_str), Some("started"));
    let text: String = chunks.iter().filter_map(|c| c.get("text").and_then(Value::as_str)).collect();
    assert_eq!(text, "you said: hello");
    assert_eq!(reply.result.get("text").and_then(Value::as_str), Some("you said: hello"));
    assert_eq!(reply.result.get("tokens_in").and_then(Value::as_u64), Some(4));
    // A plain call afterwards uses the other (short-call) session: two handshakes in all.
    client.call(&peer, &route, "link.ping", Object::new(), Duration::from_secs(5), &mut |_| {}).unwrap();
    client.call(&peer, &route, "link.ping", Object::new(), Duration::from_secs(5), &mut |_| {}).unwrap();
    assert_eq!(client.handshakes(), 2);
}
