//! Every server-side rule of ALP (spec §2 drops, §3 dispatch order, §7 methods) on a
//! real profile directory, with an injected clock and no sockets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use alpi::alp::dispatch::{Node, Via};
use alpi::alp::identity::{Identity, Keypair};
use alpi::alp::methods::{Agent, AskRequest, AskResult, NoAgent};
use alpi::alp::peers::{Peer, PeerFiles};
use alpi::alp::wire::envelope::{self, RpcError};
use alpi::json::{self, Object, Value};
use alpi::profile::{ProfileHome, ProfileName, Root};

const NOW: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const MINUTE: i64 = 60_000_000;

struct World {
    _dir: tempfile::TempDir,
    home: ProfileHome,
    node: Node,
    caller: Keypair,
}

fn world_with(agent: Arc<dyn Agent>, allow: &[&str]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(".alpi"));
    let home = root.create(&ProfileName::parse("researcher").unwrap()).unwrap();
    let caller = Keypair::from_seed([7; 32]);
    let peer = Peer::new("laptop", caller.identity().clone(), allow.iter().map(|s| s.to_string()).collect());
    PeerFiles::new(&home.dir().join("alp")).add(peer).unwrap();
    let node = Node::open(&home, agent, NOW).unwrap().with_progress_after(Duration::from_millis(50));
    World { _dir: dir, home, node, caller }
}

fn world(allow: &[&str]) -> World {
    world_with(Arc::new(NoAgent::for_profile("researcher", "")), allow)
}

impl World {
    fn request(&self, method: &str, params: Object, at: i64) -> Vec<u8> {
        let to = self.node.identity().clone();
        let id = envelope::random_hex16();
        Value::Object(envelope::request(&self.caller, &to, &id, method, params, at)).wire()
    }

    /// Sends bytes at time `now`; returns every frame, parsed and checked as a client would.
    fn send_at(&self, bytes: &[u8], now: i64) -> Vec<Frame> {
        send_via(&self.node, bytes, Via::Unix, now, &self.caller)
    }

    fn send(&self, bytes: &[u8]) -> Vec<Frame> {
        self.send_at(bytes, NOW)
    }

    fn call(&self, method: &str, params: Object) -> Frame {
        let frames = self.send(&self.request(method, params, NOW));
        assert_eq!(frames.len(), 1, "{frames:?}");
        frames.into_iter().next().unwrap()
    }

    fn pending(&self) -> Vec<Identity> {
        PeerFiles::new(&self.home.dir().join("alp"))
            .pending()
            .unwrap()
            .into_iter()
            .map(|p| p.pubkey)
            .collect()
    }
}

#[derive(Debug)]
struct Frame {
    outcome: Result<Value, RpcError>,
    stream: Option<envelope::Stream>,
}

fn send_via(node: &Node, bytes: &[u8], via: Via<'_>, now: i64, caller: &Keypair) -> Vec<Frame> {
    let mut frames = Vec::new();
    node.handle(bytes, via, &|| now, &mut |frame| {
        let wire = Value::Object(frame).wire();
        let reply = envelope::authenticate(&wire, now).expect("responses are authentic");
        assert_eq!(&reply.from, node.identity());
        assert_eq!(&reply.to, caller.identity());
        let outcome = reply.reply().expect("a response").cloned();
        frames.push(Frame { outcome, stream: reply.stream() });
        true
    });
    frames
}

fn nonce(n: &str) -> Object {
    Object::new().with("nonce", n)
}

fn error_of(frame: &Frame) -> &RpcError {
    frame.outcome.as_ref().expect_err("an error reply")
}

#[test]
fn ping_answers_with_nonce_version_and_profile_name() {
    let w = world(&["link.ping"]);
    let frame = w.call("link.ping", nonce("abc"));
    let result = frame.outcome.unwrap();
    assert_eq!(result.get("nonce").and_then(Value::as_str), Some("abc"));
    assert_eq!(result.get("version").and_then(Value::as_i64), Some(1));
    assert_eq!(result.get("agent_name").and_then(Value::as_str), Some("researcher"));
    assert!(frame.stream.is_none());
}

#[test]
fn unpinned_sender_is_dropped_silently_and_recorded_as_pending() {
    let w = world(&["link.ping"]);
    let stranger = Keypair::from_seed([99; 32]);
    let bytes =
        Value::Object(envelope::request(&stranger, w.node.identity(), "id1", "link.ping", nonce("x"), NOW))
            .wire();
    assert!(send_via(&w.node, &bytes, Via::Unix, NOW, &stranger).is_empty());
    assert_eq!(w.pending(), [stranger.identity().clone()]);
}

#[test]
fn tampered_or_misaddressed_envelopes_are_dropped_silently() {
    let w = world(&["link.ping"]);
    let good = w.request("link.ping", nonce("n"), NOW);

    let mut tampered = json::parse(&good).unwrap();
    tampered
        .as_object_mut()
        .unwrap()
        .get_mut("params")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert("nonce", "m");
    assert!(w.send(&tampered.wire()).is_empty(), "bad signature");

    let mut bad_sig = json::parse(&good).unwrap();
    let alp = bad_sig.as_object_mut().unwrap().get_mut("alp").unwrap().as_object_mut().unwrap();
    alp.insert("sig", "AAAA");
    assert!(w.send(&bad_sig.wire()).is_empty(), "undecodable signature");

    let someone_else = Keypair::from_seed([5; 32]).identity().clone();
    let elsewhere =
        Value::Object(envelope::request(&w.caller, &someone_else, "i", "link.ping", nonce("n"), NOW));
    assert!(w.send(&elsewhere.wire()).is_empty(), "wrong recipient");

    for field in ["v", "from", "to", "ts", "nonce", "sig"] {
        let mut missing = json::parse(&good).unwrap();
        missing.as_object_mut().unwrap().get_mut("alp").unwrap().as_object_mut().unwrap().remove(field);
        assert!(w.send(&missing.wire()).is_empty(), "missing alp.{field}");
    }
    for junk in [&b"not json"[..], b"[]", b"{}", b"{\"alp\":7}", b""] {
        assert!(w.send(junk).is_empty());
    }
    assert!(w.pending().is_empty(), "drops before the pin check record nothing");
    assert_eq!(w.send(&good).len(), 1, "the untampered original still works");
}

#[test]
fn unknown_version_is_dropped_even_when_signed() {
    let w = world(&["link.ping"]);
    let mut body = envelope::request(&w.caller, w.node.identity(), "i", "link.ping", nonce("n"), NOW);
    let alp = body.get_mut("alp").unwrap().as_object_mut().unwrap();
    alp.insert("v", 2);
    alp.remove("sig");
    let sig = w.caller.sign(&Value::Object(body.clone()).canonical());
    body.get_mut("alp").unwrap().as_object_mut().unwrap().insert("sig", b64(&sig));
    assert!(w.send(&Value::Object(body).wire()).is_empty());
}

#[test]
fn clock_skew_boundary_is_two_minutes_either_way() {
    let w = world(&["link.ping"]);
    for (offset, accepted) in
        [(2 * MINUTE, true), (-2 * MINUTE, true), (2 * MINUTE + 1, false), (-2 * MINUTE - 1, false)]
    {
        let bytes = w.request("link.ping", nonce("n"), NOW + offset);
        assert_eq!(w.send(&bytes).len(), usize::from(accepted), "ts offset {offset} µs");
    }
}

#[test]
fn a_replayed_envelope_is_dropped_also_after_a_restart() {
    let w = world(&["link.ping"]);
    let bytes = w.request("link.ping", nonce("once"), NOW);
    assert_eq!(w.send(&bytes).len(), 1);
    assert!(w.send(&bytes).is_empty(), "replay in the same process");
    let restarted =
        Node::open(&w.home, Arc::new(NoAgent::for_profile("researcher", "")), NOW + MINUTE).unwrap();
    assert!(
        send_via(&restarted, &bytes, Via::Unix, NOW + MINUTE, &w.caller).is_empty(),
        "replay after restart"
    );
}

#[test]
fn sixty_per_minute_then_rate_limited() {
    let w = world(&["link.ping"]);
    for i in 0..60 {
        let frame = w.call("link.ping", nonce(&i.to_string()));
        assert!(frame.outcome.is_ok(), "request {i}");
    }
    let frame = w.call("link.ping", nonce("61"));
    let e = error_of(&frame);
    assert_eq!((e.code, e.message.as_str()), (-32005, "rate-limited"));
    assert_eq!(e.data.get("window_seconds").and_then(Value::as_i64), Some(60));
}

#[test]
fn methods_outside_the_allow_list_are_denied() {
    let w = world(&["link.ping"]);
    let frame = w.call("link.ask", Object::new().with("prompt", "hi"));
    let e = error_of(&frame);
    assert_eq!((e.code, e.message.as_str()), (-32001, "capability-denied"));
    assert_eq!(e.data.get("method").and_then(Value::as_str), Some("link.ask"));
    let e = w.call("link.frobnicate", Object::new());
    assert_eq!(error_of(&e).code, -32001, "unlisted and unknown: denied first");
}

#[test]
fn empty_allow_list_denies_everything() {
    let w = world(&[]);
    assert_eq!(error_of(&w.call("link.ping", nonce("n"))).code, -32001);
}

#[test]
fn allowed_but_unknown_method_is_not_found() {
    let w = world(&["link.frobnicate"]);
    let frame = w.call("link.frobnicate", Object::new());
    let e = error_of(&frame);
    assert_eq!((e.code, e.message.as_str()), (-32601, "method-not-found"));
    assert!(e.data.is_null());
}

#[test]
fn spent_budget_refuses_every_method_including_ping() {
    let w = world(&["link.ping"]);
    std::fs::write(w.home.config_path(), "budget:\n  daily_usd: 1.5\n").unwrap();
    let ledger =
        r#"{"day": "2026-01-01", "profile": {"usd": 1.75, "tokens": 10}, "by_peer": {}, "history": {}}"#;
    std::fs::write(w.home.logs_dir().join("ledger.json"), ledger).unwrap();
    let frame = w.call("link.ping", nonce("n"));
    let e = error_of(&frame);
    assert_eq!((e.code, e.message.as_str()), (-32005, "budget-exceeded"));
    assert_eq!(e.data.get("cap_kind").and_then(Value::as_str), Some("usd"));
    assert_eq!(e.data.get("cap").and_then(Value::as_f64), Some(1.5));
    assert_eq!(e.data.get("used").and_then(Value::as_f64), Some(1.75));
    // Yesterday's spend does not count today.
    std::fs::write(w.home.logs_dir().join("ledger.json"), ledger.replace("2026-01-01", "2025-12-31"))
        .unwrap();
    assert!(w.call("link.ping", nonce("m")).outcome.is_ok());
}

#[test]
fn ask_without_a_model_is_an_internal_error_naming_the_profile() {
    let w = world(&["link.ask"]);
    let frame = w.call("link.ask", Object::new().with("prompt", "hello"));
    let e = error_of(&frame);
    assert_eq!((e.code, e.message.as_str()), (-32603, "internal-error"));
    assert_eq!(e.data.get("detail").and_then(Value::as_str), Some("no model configured on researcher"));
    let empty = w.call("link.ask", Object::new().with("prompt", "  "));
    assert_eq!(error_of(&empty).code, -32602);
    assert!(error_of(&empty).data.get("detail").is_some());
}

#[test]
fn tcp_sender_must_be_the_noise_identity() {
    let w = world(&["link.ping"]);
    let other = Keypair::from_seed([8; 32]).identity().clone();
    let bytes = w.request("link.ping", nonce("n"), NOW);
    let other_x = other.x25519_public().unwrap();
    let via = Via::Tcp { noise_static: &other_x, address: "127.0.0.1:7423" };
    assert!(send_via(&w.node, &bytes, via, NOW, &w.caller).is_empty());
    let bytes = w.request("link.ping", nonce("n2"), NOW);
    let caller_x = w.caller.identity().x25519_public().unwrap();
    let via = Via::Tcp { noise_static: &caller_x, address: "127.0.0.1:7423" };
    assert_eq!(send_via(&w.node, &bytes, via, NOW, &w.caller).len(), 1);
}

/// An agent a test drives: it emits the pieces it is given, then waits to be released.
struct ScriptedAgent {
    pieces: Vec<&'static str>,
    release: Mutex<mpsc::Receiver<()>>,
    started: Mutex<mpsc::Sender<String>>,
}

impl Agent for ScriptedAgent {
    fn ask(
        &self,
        ask: &AskRequest,
        on_text: &mut dyn FnMut(&str),
        cancel: &std::sync::Arc<AtomicBool>,
    ) -> Result<AskResult, RpcError> {
        self.started.lock().unwrap().send(ask.session_id.clone()).unwrap();
        for piece in &self.pieces {
            on_text(piece);
        }
        let release = self.release.lock().unwrap();
        while !cancel.load(Ordering::SeqCst) {
            if release.recv_timeout(Duration::from_millis(5)).is_ok() {
                break;
            }
        }
        let interrupted = cancel.load(Ordering::SeqCst);
        Ok(AskResult { text: self.pieces.concat(), tokens_in: 3, tokens_out: 2, cost: 0.25, interrupted })
    }
}

fn scripted(pieces: Vec<&'static str>) -> (Arc<ScriptedAgent>, mpsc::Sender<()>, mpsc::Receiver<String>) {
    let (release_tx, release_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let agent = ScriptedAgent { pieces, release: Mutex::new(release_rx), started: Mutex::new(started_tx) };
    (Arc::new(agent), release_tx, started_rx)
}

#[test]
fn streamed_ask_sends_started_text_progress_and_final() {
    let (agent, release, started) = scripted(vec!["hel", "lo"]);
    let w = world_with(agent, &["link.ask"]);
    let bytes = w.request("link.ask", Object::new().with("prompt", "hi").with("stream", true), NOW);
    let frames = std::thread::scope(|s| {
        let handle = s.spawn(|| w.send(&bytes));
        started.recv().unwrap();
        std::thread::sleep(Duration::from_millis(200)); // long enough for progress frames (every 50 ms here)
        release.send(()).unwrap();
        handle.join().unwrap()
    });
    let first = frames[0].outcome.as_ref().unwrap();
    assert_eq!(first.get("event").and_then(Value::as_str), Some("started"));
    let session = first.get("session_id").and_then(Value::as_str).unwrap().to_owned();
    assert_eq!(session.len(), 12);
    let texts: String =
        frames.iter().filter_map(|f| f.outcome.as_ref().ok()?.get("text")?.as_str()).collect();
    assert!(texts.starts_with("hello"), "{texts}");
    assert!(
        frames.iter().any(|f| f.outcome.as_ref().ok().and_then(|v| v.get("event")).and_then(Value::as_str)
            == Some("progress"))
    );
    let (last, chunks) = frames.split_last().unwrap();
    assert!(chunks.iter().all(|f| f.stream == Some(envelope::Stream::Chunk)));
    assert_eq!(last.stream, Some(envelope::Stream::Final));
    let result = last.outcome.as_ref().unwrap();
    assert_eq!(result.get("text").and_then(Value::as_str), Some("hello"));
    assert_eq!(result.get("session_id").and_then(Value::as_str), Some(session.as_str()));
    assert_eq!(result.get("cost").and_then(Value::as_f64), Some(0.25));
    assert_eq!(result.get("interrupted").and_then(Value::as_bool), Some(false));
}

#[test]
fn one_turn_at_a_time_and_only_its_caller_may_cancel_it() {
    let (agent, _release, started) = scripted(vec![]);
    let w = world_with(agent, &["link.ask", "link.cancel"]);
    // A second pinned peer that may also ask and cancel.
    let other = Keypair::from_seed([8; 32]);
    let allow = vec!["link.ask".to_string(), "link.cancel".to_string()];
    PeerFiles::new(&w.home.dir().join("alp"))
        .add(Peer::new("other", other.identity().clone(), allow))
        .unwrap();
    let from_other = |method: &str, params: Object| {
        let bytes = Value::Object(envelope::request(
            &other,
            w.node.identity(),
            &envelope::random_hex16(),
            method,
            params,
            NOW,
        ))
        .wire();
        send_via(&w.node, &bytes, Via::Unix, NOW, &other)
    };
    let ask = w.request("link.ask", Object::new().with("prompt", "long job"), NOW);
    std::thread::scope(|s| {
        let running = s.spawn(|| w.send(&ask));
        let session = started.recv().unwrap();

        let busy = from_other("link.ask", Object::new().with("prompt", "me too"));
        let e = error_of(&busy[0]);
        assert_eq!((e.code, e.message.as_str()), (-32007, "target-busy"));

        let refused = from_other("link.cancel", Object::new().with("session_id", session.as_str()));
        assert_eq!(
            refused[0].outcome.as_ref().unwrap().get("cancelled").and_then(Value::as_bool),
            Some(false)
        );

        let wrong_id = w.call("link.cancel", Object::new().with("session_id", "000000000000"));
        assert_eq!(wrong_id.outcome.unwrap().get("cancelled").and_then(Value::as_bool), Some(false));

        let ok = w.call("link.cancel", Object::new());
        let ok = ok.outcome.unwrap();
        assert_eq!(ok.get("cancelled").and_then(Value::as_bool), Some(true));
        assert_eq!(ok.get("session_id").and_then(Value::as_str), Some(session.as_str()));

        let frames = running.join().unwrap();
        let result = frames[0].outcome.as_ref().unwrap();
        assert_eq!(result.get("interrupted").and_then(Value::as_bool), Some(true));
    });
    // The slot is free again.
    let nothing = w.call("link.cancel", Object::new());
    assert_eq!(nothing.outcome.unwrap().get("cancelled").and_then(Value::as_bool), Some(false));
}

#[test]
fn a_streaming_client_that_goes_away_interrupts_the_turn() {
    let (agent, _release, started) = scripted(vec!["a", "b"]);
    let w = world_with(agent, &["link.ask"]);
    let bytes = w.request("link.ask", Object::new().with("prompt", "hi").with("stream", true), NOW);
    let mut frames = 0;
    w.node.handle(&bytes, Via::Unix, &|| NOW, &mut |_| {
        frames += 1;
        frames < 2 // the client hangs up after the second frame
    });
    assert!(started.try_recv().is_ok());
    assert_eq!(frames, 2, "nothing is sent after the client is gone");
}

fn b64(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(bytes)
}
