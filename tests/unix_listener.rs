//! The ALP.1 listener in-process: connections that hold a thread (a slow client, a
//! long turn) do not keep a ping waiting, at most `MAX_ACCEPTORS` are answered at once
//! and the rest wait their turn, the pool shrinks back to its spares, and stopping it
//! removes the socket while a connection already accepted is still answered.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alpi::alp::client::{CallError, Client, Route};
use alpi::alp::dispatch::Node;
use alpi::alp::identity::Keypair;
use alpi::alp::methods::NoAgent;
use alpi::alp::peers::{Peer, PeerFiles};
use alpi::alp::transport::unix::{self, MAX_ACCEPTORS, SPARE_ACCEPTORS, Serving};
use alpi::alp::wire::envelope;
use alpi::json::{Object, Value};
use alpi::profile::{ProfileName, Root};
use common::eventually;

/// The tests count this process's `alp1` threads, so they take turns.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn acceptor_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|name| name.trim() == "alp1"))
        .count()
}

/// Fields drop in order: the pool stops before its directory goes.
struct Served {
    serving: Option<Serving>,
    socket: PathBuf,
    _dir: tempfile::TempDir,
    friend: Keypair,
    server: Peer,
}

/// A profile pinning `friend` for `link.ping` (no rate limit), served on its socket.
fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let home = Root::new(dir.path().join(".alpi")).home(&ProfileName::default_profile());
    home.ensure_layout().unwrap();
    let friend = Keypair::from_seed([5; 32]);
    let peer = Peer::new("friend", friend.identity().clone(), vec!["link.ping".into()]);
    let alp = home.dir().join("alp");
    PeerFiles::new(&alp).add(peer).unwrap();
    common::lift_rate_limit(&alp, "friend");
    let node = Node::open(&home, Arc::new(NoAgent::for_profile("default", "")), alpi::clock::now_micros());
    let node = Arc::new(node.unwrap());
    let server = Peer::new("home", node.identity().clone(), vec![]);
    let socket = unix::socket_path(home.dir());
    let serving = unix::serve(unix::bind(&socket).unwrap(), &socket, node).unwrap();
    Served { serving: Some(serving), socket, _dir: dir, friend, server }
}

impl Served {
    fn ping(&self, timeout: Duration) -> Result<(), CallError> {
        let client = Client::new(&self.friend);
        let route = Route::Unix(self.socket.clone());
        client.call(&self.server, &route, "link.ping", Object::new(), timeout, &mut |_| {}).map(|_| ())
    }

    /// A signed ping request line, for writing by hand on a held connection.
    fn ping_line(&self) -> Vec<u8> {
        let now = alpi::clock::now_micros();
        let request =
            envelope::request(&self.friend, &self.server.pubkey, "held", "link.ping", Object::new(), now);
        let mut line = Value::Object(request).wire();
        line.push(b'\n');
        line
    }
}

/// `n` connections that send nothing yet, each holding a listener thread.
fn hold(socket: &Path, n: usize) -> Vec<UnixStream> {
    (0..n).map(|_| UnixStream::connect(socket).unwrap()).collect()
}

#[test]
fn held_connections_do_not_keep_a_ping_waiting_and_the_pool_shrinks_back() {
    let _turn = one_at_a_time();
    let s = served();
    assert!(eventually(5, || acceptor_threads() == SPARE_ACCEPTORS));

    let held = hold(&s.socket, 5);
    s.ping(Duration::from_secs(5)).expect("a ping while five connections hold threads");
    assert!(acceptor_threads() > 5, "{} threads for 5 held connections and a spare", acceptor_threads());

    drop(held);
    assert!(
        eventually(5, || acceptor_threads() == SPARE_ACCEPTORS),
        "{} threads once the held connections closed",
        acceptor_threads()
    );
    s.ping(Duration::from_secs(5)).expect("a ping after the pool shrank");
}

#[test]
fn past_the_cap_a_connection_waits_for_a_free_thread() {
    let _turn = one_at_a_time();
    let s = served();
    let mut held = hold(&s.socket, MAX_ACCEPTORS);
    assert!(eventually(5, || acceptor_threads() == MAX_ACCEPTORS));

    let waiting = s.ping(Duration::from_millis(300));
    assert!(
        matches!(waiting, Err(CallError::Timeout(_))),
        "every thread is busy, so the ping waits: {waiting:?}"
    );
    assert_eq!(acceptor_threads(), MAX_ACCEPTORS, "never more threads than the cap");

    held.pop();
    s.ping(Duration::from_secs(5)).expect("a ping once one connection let go");
}

#[test]
fn stopping_removes_the_socket_and_still_answers_what_was_accepted() {
    let _turn = one_at_a_time();
    let mut s = served();
    let mut accepted = UnixStream::connect(&s.socket).unwrap();
    s.ping(Duration::from_secs(5)).expect("served");

    drop(s.serving.take());
    assert!(!s.socket.exists(), "the socket file is removed");
    assert!(matches!(s.ping(Duration::from_secs(1)), Err(CallError::Offline(_))), "nothing listens any more");

    accepted.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    accepted.write_all(&s.ping_line()).unwrap();
    let mut answer = Vec::new();
    accepted.read_to_end(&mut answer).unwrap();
    let line = answer.strip_suffix(b"\n").expect("one answer line");
    let reply = envelope::authenticate(line, alpi::clock::now_micros()).expect("a signed answer");
    assert_eq!(reply.from, s.server.pubkey);
    let result = reply.reply().expect("a response").expect("not an error");
    assert_eq!(result.get("version").and_then(Value::as_i64), Some(1), "the ping's answer");
    assert!(eventually(5, || acceptor_threads() == 0), "{} threads after stopping", acceptor_threads());
}

#[test]
fn a_profile_removed_under_the_listener_still_stops_it() {
    let _turn = one_at_a_time();
    let mut s = served();
    s.ping(Duration::from_secs(5)).expect("served");
    std::fs::remove_dir_all(s._dir.path().join(".alpi")).unwrap();
    drop(s.serving.take());
    assert!(eventually(5, || acceptor_threads() == 0), "{} threads after stopping", acceptor_threads());
}
