//! Crash safety: the daemon is killed with SIGKILL at random points while pinned
//! requests append to the replay journal, a peer's `link.ask` turns save sessions,
//! unpinned senders fill pending_peers.yaml, a peer uploads blobs, and the CLI adds
//! peers and jobs beside it. After every kill:
//! every state file parses, nothing acknowledged before the kill is lost, no blob lies
//! half-written under its final name, and after the restart a request accepted before
//! the kill, sent again byte for byte, is refused.
//!
//! CI kills 20 times; `ALPI_SOAK=1` (ci/soak) 200. Prints `soak.kills <n>`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alpi::alp::identity::{Identity, Keypair};
use alpi::alp::peers::PeerFiles;
use alpi::alp::replay::ReplayGuard;
use alpi::alp::wire::envelope;
use alpi::json::{self, Object, Value};
use alpi::schedule::store::Store as JobStore;
use common::Sandbox;
use sha2::{Digest, Sha256};

const BLOB_METHODS: &str = "link.ping,link.put_blob,link.get_blob";

/// xorshift64: random kill points and blob contents, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn ping_line(from: &Keypair, to: &Identity) -> Vec<u8> {
    let req = envelope::request(from, to, "c", "link.ping", Object::new(), alpi::clock::now_micros());
    let mut line = Value::Object(req).wire();
    line.push(b'\n');
    line
}

/// What the workers saw acknowledged while one daemon lived.
#[derive(Default)]
struct Acked {
    pings: Vec<Vec<u8>>,
    blobs: Vec<String>,
    peers: Vec<String>,
    jobs: usize,
    sessions: Vec<String>,
}

/// A model server that survives clients killed mid-request: every request gets one
/// short streamed answer.
fn sturdy_model() -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"noted\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let (mut line, mut length) = (String::new(), 0);
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let _ = reader.read_exact(&mut vec![0; length]);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = (&stream).write_all(format!("{head}{answer}").as_bytes());
            });
        }
    });
    port
}

struct World {
    home: Sandbox,
    laptop: Sandbox,
    friend: Keypair,
    home_id: Identity,
    bind: String,
    blob_dir: tempfile::TempDir,
}

fn world() -> World {
    let (home, laptop) = (Sandbox::new(), Sandbox::new());
    home.configure_fake_model(sturdy_model(), "");
    let home_key = home.ok(&["peers", "key"]).stdout.trim().to_owned();
    let laptop_key = laptop.ok(&["peers", "key"]).stdout.trim().to_owned();
    home.ok(&["peers", "add", "laptop", &laptop_key, "--allow", BLOB_METHODS]);
    let friend = Keypair::from_seed([42; 32]);
    home.ok(&["peers", "add", "friend", &friend.identity().to_string(), "--allow", "link.ping,link.ask"]);
    common::lift_rate_limit(&home.root().join("alp"), "friend");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    laptop.ok(&["peers", "add", "home", &home_key, "--address", &bind, "--allow", "link.ping"]);
    World {
        home,
        laptop,
        friend,
        home_id: home_key.parse().unwrap(),
        bind,
        blob_dir: tempfile::tempdir().unwrap(),
    }
}

/// Runs the four writers until `stop`, recording what was acknowledged.
fn workers(
    w: &Arc<World>,
    round: u64,
    stop: &Arc<AtomicBool>,
    acked: &Arc<Mutex<Acked>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let sock = w.home.root().join("alp/alp.sock");
    let pinned = {
        let (w, stop, acked, sock) = (w.clone(), stop.clone(), acked.clone(), sock.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let line = ping_line(&w.friend, &w.home_id);
                if !common::unix_request(&sock, &line).is_empty() {
                    acked.lock().unwrap().pings.push(line);
                }
            }
        })
    };
    let asks = {
        let (w, stop, acked) = (w.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let client = alpi::alp::client::Client::new(&w.friend);
            let peer = alpi::alp::peers::Peer::new("home", w.home_id.clone(), vec![]);
            let route = alpi::alp::client::Route::Unix(w.home.root().join("alp/alp.sock"));
            while !stop.load(Ordering::SeqCst) {
                let params = Object::new().with("prompt", "note this");
                let timeout = Duration::from_secs(10);
                let Ok(reply) = client.call(&peer, &route, "link.ask", params, timeout, &mut |_| {}) else {
                    continue;
                };
                if let Some(id) = reply.result.get("session_id").and_then(Value::as_str) {
                    acked.lock().unwrap().sessions.push(id.to_owned());
                }
            }
        })
    };
    let unpinned = {
        let (w, stop) = (w.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let mut seed = [3u8; 32];
                seed[..8].copy_from_slice(&(round * 1000 + n).to_le_bytes());
                n += 1;
                common::unix_request(&sock, &ping_line(&Keypair::from_seed(seed), &w.home_id));
            }
        })
    };
    let blobs = {
        let (w, stop, acked) = (w.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(round * 7919 + 1);
            while !stop.load(Ordering::SeqCst) {
                let bytes: Vec<u8> = (0..100_000 + rng.next() % 400_000).map(|_| rng.next() as u8).collect();
                let file = w.blob_dir.path().join(format!("b{round}-{}", rng.next()));
                std::fs::write(&file, &bytes).unwrap();
                if w.laptop.run(&["peers", "blob-put", "home", file.to_str().unwrap()]).code == 0 {
                    acked.lock().unwrap().blobs.push(sha(&bytes));
                }
            }
        })
    };
    let cli = {
        let (w, stop, acked) = (w.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let id = format!("p{round}x{n}");
                let key = Keypair::from_seed([
                    (round % 250) as u8 + 1,
                    n as u8,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                    5,
                ]);
                if w.home.run(&["peers", "add", &id, &key.identity().to_string()]).code == 0 {
                    acked.lock().unwrap().peers.push(id);
                }
                let job = w.home.run(&["schedule", "add", "--cron", "0 9 * * *", "--prompt", "morning"]);
                if job.code == 0 {
                    acked.lock().unwrap().jobs += 1;
                }
            }
        })
    };
    vec![pinned, asks, unpinned, blobs, cli]
}

/// Every JSON, JSON-lines and YAML file of the profile parses (temps, dot-named, are
/// what readers skip).
fn every_file_parses(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            every_file_parses(&path);
            continue;
        }
        if name.starts_with('.') || !entry.file_type().unwrap().is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let ok = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => json::parse(&bytes).is_ok(),
            Some("yaml") => alpi::yaml::parse(&bytes).is_ok(),
            _ => true,
        };
        assert!(ok, "{} does not parse:\n{}", path.display(), String::from_utf8_lossy(&bytes));
    }
}

fn check_after_kill(w: &World, acked: &Acked, all_peers: &[String], all_blobs: &[String], jobs: usize) {
    let root = w.home.root();
    every_file_parses(&root);
    for id in &acked.sessions {
        assert!(
            root.join("sessions").join(format!("{id}.json")).exists(),
            "session {id} answered, then lost"
        );
    }
    let files = PeerFiles::new(&root.join("alp"));
    let peers = files.load().expect("peers.yaml loads");
    for id in all_peers {
        assert!(peers.iter().any(|p| p.id == *id), "peer {id} was acknowledged, then lost");
    }
    assert!(files.pending().expect("pending_peers.yaml loads").len() <= 20);
    let listed = JobStore::new(&root).read().expect("jobs.json loads");
    assert!(listed.len() >= jobs, "{} jobs listed, {jobs} acknowledged", listed.len());
    let journal = ReplayGuard::open(&root.join("alp/secrets/replay.jsonl"), alpi::clock::now_micros())
        .expect("the replay journal opens");
    assert!(journal.len() >= acked.pings.len().min(1));
    let blob_dir = root.join("alp/blobs");
    for entry in std::fs::read_dir(&blob_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 64 {
            assert_eq!(sha(&std::fs::read(entry.path()).unwrap()), name, "a blob is whole under its name");
        }
    }
    for blob in all_blobs {
        assert!(blob_dir.join(blob).exists(), "blob {blob} was acknowledged, then lost");
    }
}

#[test]
fn kill_nine_at_random_points_loses_nothing_acknowledged() {
    let kills: u64 = if std::env::var_os("ALPI_SOAK").is_some() { 200 } else { 20 };
    let w = Arc::new(world());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut all_peers, mut all_blobs, mut jobs, mut sessions) = (Vec::new(), Vec::new(), 0, 0);
    let mut replays_refused = 0;
    let mut previous: Vec<Vec<u8>> = Vec::new();
    let sock: PathBuf = w.home.root().join("alp/alp.sock");
    for round in 0..kills {
        let daemon = w.home.daemon_with(&[], &["--bind", &w.bind]);
        for line in previous.iter().rev().take(3) {
            assert!(
                common::unix_request(&sock, line).is_empty(),
                "round {round}: a replayed request was answered"
            );
            replays_refused += 1;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Acked::default()));
        let running = workers(&w, round, &stop, &acked);
        std::thread::sleep(Duration::from_millis(50 + rng.next() % 450));
        daemon.kill9();
        stop.store(true, Ordering::SeqCst);
        running.into_iter().for_each(|t| t.join().unwrap());
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        all_peers.extend(acked.peers.iter().cloned());
        all_blobs.extend(acked.blobs.iter().cloned());
        jobs += acked.jobs;
        sessions += acked.sessions.len();
        check_after_kill(&w, &acked, &all_peers, &all_blobs, jobs);
        previous = acked.pings;
    }
    println!("soak.kills {kills}");
    println!(
        "soak.kills.acked {} peers, {} blobs, {jobs} jobs, {sessions} sessions",
        all_peers.len(),
        all_blobs.len()
    );
    println!("soak.kills.replays_refused {replays_refused}");
    assert!(replays_refused > 0 && !all_blobs.is_empty() && !all_peers.is_empty(), "the workload ran");
    assert!(sessions > 0, "link.ask turns ran");
}
