//! How cost grows with the amount of state, for `ci/bench --scale` (`name value unit`
//! lines): dispatching a ping with 1 … 1,000 pinned peers (in-process, the Node a
//! daemon runs), finding a Noise initiator among them, a scheduler pass over 10 …
//! 10,000 jobs (`alpi schedule run-once`, nothing due), listing and resuming with a
//! 50 MB session history, and a room's hub with 100 … 10,000 posts (the cap): admitting
//! a post, a member's pull of what is new, and a pull of the whole transcript.
//! `ALPI_BENCH_BIN`/`ALPI_BENCH_LABEL` as in the other benches.

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alpi::agent::session::{Session, Turn};
use alpi::alp::dispatch::{Node, Via};
use alpi::alp::identity::Keypair;
use alpi::alp::methods::NoAgent;
use alpi::alp::wire::envelope;
use alpi::alp::workgroup::hub::Hub;
use alpi::alp::workgroup::transcript::TRANSCRIPT;
use alpi::alp::workgroup::verbs;
use alpi::json::{Object, Value};
use alpi::profile::{ProfileName, Root};

const PINGS: usize = 2_000;

fn main() {
    if common::listing() {
        return;
    }
    let bin = common::bench_bin();
    let label = common::bench_label();
    // `cargo bench --bench scale -- rooms` runs one curve; no name runs them all.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |curve: &str| only.is_empty() || only.iter().any(|o| o == curve);
    if wanted("peers") {
        for peers in [1, 10, 100, 1_000] {
            peers_curve(peers);
        }
    }
    if wanted("jobs") {
        for jobs in [10, 1_000, 10_000] {
            jobs_curve(&bin, &label, jobs);
        }
    }
    if wanted("sessions") {
        sessions(&bin, &label, 50 << 20);
    }
    if wanted("rooms") {
        for posts in [100, 1_000, 10_000] {
            room_curve(posts);
        }
    }
}

fn median_us(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

fn now_micros() -> i64 {
    alpi::clock::now_micros()
}

/// A profile pinning `count` peers; pings come from the last one pinned.
fn peers_curve(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(".alpi"));
    let home = root.home(&ProfileName::default_profile());
    home.ensure_layout().unwrap();
    let peers: Vec<Keypair> = (0..count as u64)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            Keypair::from_seed(seed)
        })
        .collect();
    let yaml: String = peers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "- id: p{i}\n  pubkey: {}\n  allow: [link.ping]\n  rate_limit: {{per_minute: 100000000}}\n",
                k.identity()
            )
        })
        .collect();
    std::fs::write(home.dir().join("alp/peers.yaml"), yaml).unwrap();
    let node = Node::open(&home, Arc::new(NoAgent::for_profile("default", "")), now_micros()).unwrap();
    let sender = peers.last().unwrap();
    let envelopes: Vec<Vec<u8>> = (0..PINGS)
        .map(|i| {
            let params = Object::new().with("nonce", i.to_string());
            let id = envelope::random_hex16();
            alpi::json::Value::Object(envelope::request(
                sender,
                node.identity(),
                &id,
                "link.ping",
                params,
                now_micros(),
            ))
            .wire()
        })
        .collect();
    let mut dispatch: Vec<Duration> = envelopes
        .iter()
        .map(|bytes| {
            let mut answered = false;
            let started = Instant::now();
            node.handle(bytes, Via::Unix, &now_micros, &mut |_| {
                answered = true;
                true
            });
            let took = started.elapsed();
            assert!(answered, "the ping from a pinned peer was not answered");
            took
        })
        .collect();
    let noise_key = sender.identity().x25519_public().unwrap();
    let mut lookup: Vec<Duration> = (0..PINGS)
        .map(|_| {
            let started = Instant::now();
            assert!(node.pinned_by_noise_key(&noise_key).is_some());
            started.elapsed()
        })
        .collect();
    println!("scale.peers.{count}.dispatch_ping.median {:.1} us", median_us(&mut dispatch));
    println!("scale.peers.{count}.noise_lookup.median {:.2} us", median_us(&mut lookup));
}

/// `alpi schedule run-once` with `count` jobs, none due: what one scheduler pass costs.
fn jobs_curve(bin: &str, label: &str, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let alpi = |args: &[&str]| {
        let out =
            Command::new(bin).args(args).env("HOME", dir.path()).env_remove("ALPI_HOME").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    alpi(&["peers", "key"]);
    let schedule = dir.path().join(".alpi/schedule");
    std::fs::create_dir_all(&schedule).unwrap();
    std::fs::write(schedule.join("jobs.json"), common::jobs_json(count)).unwrap();
    alpi(&["schedule", "run-once"]); // anchors every job in runs.json
    let (time, rss) = timed_runs(bin, dir.path(), &["schedule", "run-once"], "", 5);
    println!("scale.jobs.{count}.run_once{label}.median {time:.2} ms");
    println!("rss.scale.jobs.{count}.run_once{label}.max {rss} KiB");
}

/// Median wall time (ms) of `runs` runs of `alpi args` with `input` on stdin, and the
/// command's own peak RSS (KiB) from one more run.
fn timed_runs(bin: &str, home: &std::path::Path, args: &[&str], input: &str, runs: usize) -> (f64, u64) {
    let command = || {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("HOME", home)
            .env_remove("ALPI_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            use std::io::Write;
            let started = Instant::now();
            let mut child = command().spawn().unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            assert!(child.wait().unwrap().success(), "{args:?} failed");
            started.elapsed()
        })
        .collect();
    times.sort();
    let peak = common::run_with_peak(&mut command(), input.as_bytes());
    assert_eq!(peak.code, 0, "{args:?} failed");
    (times[runs / 2].as_secs_f64() * 1e3, peak.kib)
}

/// Sessions of ~1 MB each (250 turns of 4 KB) adding up to `total` bytes.
fn sessions(bin: &str, label: &str, total: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(".alpi"));
    let home = root.home(&ProfileName::default_profile());
    home.ensure_layout().unwrap();
    let sessions_dir = home.dir().join("sessions");
    let text = "lorem ipsum dolor sit amet ".repeat(75);
    let mut written = 0;
    let mut n = 0;
    while written < total {
        let mut session =
            Session::new(&format!("2026-11-{:02}-{n:06}", 1 + n % 28), "fake/m", 1.7e9 + n as f64);
        for t in 0..250 {
            let at = 1.7e9 + (n * 1000 + t) as f64;
            session.turns.push(Turn { at, user: text.clone(), assistant: text.clone(), ..Turn::default() });
        }
        let path = session.save(&sessions_dir).unwrap().unwrap();
        written += std::fs::metadata(path).unwrap().len() as usize;
        n += 1;
    }
    let mb = written >> 20;
    let (list_ms, list_rss) = timed_runs(bin, dir.path(), &["chat"], "/sessions\n", 5);
    println!("scale.sessions.{mb}mb.list{label}.median {list_ms:.1} ms");
    println!("rss.scale.sessions.{mb}mb.list{label}.max {list_rss} KiB");
    let (resume_ms, resume_rss) = timed_runs(bin, dir.path(), &["chat", "-c"], "/status\n", 5);
    println!("scale.sessions.{mb}mb.resume_newest{label}.median {resume_ms:.1} ms");
    println!("rss.scale.sessions.{mb}mb.resume_newest{label}.max {resume_rss} KiB");
}

/// A room filled to `count` posts (the last `ROOM_SAMPLES` of them admitted while timed,
/// so the largest room ends at the 10,000-post cap), then timed pulls at that size.
fn room_curve(count: usize) {
    const ROOM_SAMPLES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::new(dir.path());
    let (hub_keys, member) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
    let id = hub.create(&hub_keys, "scale", &[member.identity().clone()], "", None).unwrap().meta.id;
    let call = |method: &str, params: Object| {
        verbs::handle(&hub, &hub_keys, method, member.identity(), &params.with("workgroup_id", id.as_str()))
            .unwrap()
    };
    call(verbs::JOIN, Object::new());
    let prefilled = count - ROOM_SAMPLES;
    let room = hub.load(&id).unwrap();
    let lines: String = (1..=prefilled)
        .map(|seq| {
            let post = Object::new()
                .with("seq", seq as u64)
                .with("ts", "2026-11-30T00:00:00+00:00")
                .with("from", member.identity().to_string())
                .with("key_version", 1u64)
                .with("nonce", format!("{seq:024x}"))
                .with("ciphertext", "x".repeat(160));
            let mut line = Value::Object(post).wire();
            line.push(b'\n');
            String::from_utf8(line).unwrap()
        })
        .collect();
    std::fs::write(room.dir.join(TRANSCRIPT), lines).unwrap();

    let post = |seq: usize| {
        Object::new()
            .with("key_version", 1u64)
            .with("nonce", format!("{seq:024x}"))
            .with("ciphertext", "x".repeat(160))
    };
    let mut posting: Vec<Duration> = (prefilled + 1..=count)
        .map(|seq| {
            let started = Instant::now();
            call(verbs::POST, post(seq));
            started.elapsed()
        })
        .collect();
    let pull = |since: usize| {
        let started = Instant::now();
        let reply = call(verbs::PULL, Object::new().with("since", since as u64));
        let got = reply.get("posts").and_then(Value::as_array).map_or(0, <[Value]>::len);
        assert_eq!(got, count - since, "pull since {since}");
        started.elapsed()
    };
    let mut pull_new: Vec<Duration> = (0..ROOM_SAMPLES).map(|_| pull(count - 1)).collect();
    let mut pull_all: Vec<Duration> = (0..5).map(|_| pull(0)).collect();
    let bytes = std::fs::metadata(room.dir.join(TRANSCRIPT)).unwrap().len();
    println!("scale.rooms.{count}.post.median {:.2} ms", median_us(&mut posting) / 1e3);
    println!("scale.rooms.{count}.pull_newest.median {:.2} ms", median_us(&mut pull_new) / 1e3);
    println!("scale.rooms.{count}.pull_all.median {:.2} ms", median_us(&mut pull_all) / 1e3);
    println!("scale.rooms.{count}.transcript {bytes} bytes");
}
