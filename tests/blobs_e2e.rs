//! `alpi peers blob-put` / `blob-get` between two machines over ALP.2, through the
//! real binary: sizes at the edges, resume, refusal of a corrupted upload, and two
//! senders racing with the same file.

mod common;

use std::time::Duration;

use alpi::alp::blobs::CHUNK_BYTES;
use alpi::alp::client::{CallError, Client, Route};
use alpi::alp::identity::Keypair;
use alpi::alp::peers::Peer;
use alpi::json::{Object, Value};
use base64ct::{Base64, Encoding};
use common::{Daemon, Sandbox};
use sha2::{Digest, Sha256};

const BLOB_METHODS: &str = "link.ping,link.put_blob,link.get_blob";

struct Pair {
    home: Sandbox,
    laptop: Sandbox,
    home_key: String,
    _daemon: Daemon,
    address: String,
}

/// `home` serves on TCP and lets `laptop` (pinned as "laptop") use blobs.
fn pair() -> Pair {
    let (home, laptop) = (Sandbox::new(), Sandbox::new());
    let home_key = home.ok(&["peers", "key"]).stdout.trim().to_owned();
    let laptop_key = laptop.ok(&["peers", "key"]).stdout.trim().to_owned();
    home.ok(&["peers", "add", "laptop", &laptop_key, "--allow", BLOB_METHODS]);
    let daemon = home.daemon_with(&[], &["--bind", "127.0.0.1:0"]);
    let line = &daemon.ready_line;
    let address = line[line.find(" on ").unwrap() + 4..].trim().to_owned();
    laptop.ok(&["peers", "add", "home", &home_key, "--address", &address, "--allow", "link.ping"]);
    Pair { home, laptop, home_key, _daemon: daemon, address }
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn puts_logged(p: &Pair) -> usize {
    let log = std::fs::read_to_string(p.home.root().join("logs/service.log")).unwrap_or_default();
    log.matches("link.put_blob from laptop").count()
}

#[test]
fn round_trips_at_the_size_edges() {
    let p = pair();
    for (i, len) in [0, 1, CHUNK_BYTES, 20 * 1024 * 1024].into_iter().enumerate() {
        let bytes = data(len, i as u32 + 1);
        let file = p.laptop.home().join(format!("in{i}"));
        std::fs::write(&file, &bytes).unwrap();
        let out = p.laptop.ok(&["peers", "blob-put", "home", file.to_str().unwrap()]).stdout;
        assert_eq!(out.trim(), format!("sha256 {} · {len} bytes · stored on home", sha(&bytes)));
        let stored = p.home.root().join("alp/blobs").join(sha(&bytes));
        assert_eq!(std::fs::read(&stored).unwrap(), bytes);
        assert_eq!(common::mode(&stored), 0o600);

        let back = p.laptop.home().join(format!("out{i}"));
        p.laptop.ok(&["peers", "blob-get", "home", &sha(&bytes), "--output", back.to_str().unwrap()]);
        assert_eq!(std::fs::read(&back).unwrap(), bytes, "{len} bytes");
    }
    // Sending a stored blob again is a no-op that still succeeds.
    let file = p.laptop.home().join("in1");
    // 0 B: the probe is the final chunk; 1 B and 512 KiB: probe + 1; 20 MiB: probe + 40.
    assert!(common::eventually(5, || puts_logged(&p) == 1 + 2 + 2 + 41), "{}", puts_logged(&p));
    let before = puts_logged(&p);
    p.laptop.ok(&["peers", "blob-put", "home", file.to_str().unwrap()]);
    assert!(
        common::eventually(5, || puts_logged(&p) == before + 1),
        "one probe, no chunks: {}",
        puts_logged(&p)
    );
}

#[test]
fn over_twenty_mib_is_refused_before_sending() {
    let p = pair();
    let file = p.laptop.home().join("big");
    std::fs::write(&file, data(20 * 1024 * 1024 + 1, 9)).unwrap();
    let run = p.laptop.run(&["peers", "blob-put", "home", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("larger than the 20 MiB blob limit"), "{}", run.stderr);
    assert_eq!(puts_logged(&p), 0);
}

fn laptop_keys(p: &Pair) -> Keypair {
    let pem = std::fs::read_to_string(p.laptop.root().join("alp/secrets/alp_key.pem")).unwrap();
    Keypair::from_seed(alpi::alp::identity::pem::decode_private(&pem).unwrap())
}

fn put_chunk(
    client: &Client,
    p: &Pair,
    bytes: &[u8],
    offset: usize,
    len: usize,
    last: bool,
) -> Result<Value, CallError> {
    let peer = Peer::new("home", p.home_key.parse().unwrap(), vec![]);
    let params = Object::new()
        .with("hash", sha(bytes))
        .with("size", bytes.len() as u64)
        .with("offset", offset as u64)
        .with("data", Base64::encode_string(&bytes[offset..offset + len]))
        .with("final", last);
    let route = Route::Tcp(p.address.clone());
    client
        .call(&peer, &route, "link.put_blob", params, Duration::from_secs(30), &mut |_| {})
        .map(|r| r.result)
}

#[test]
fn an_interrupted_upload_resumes_where_it_stopped() {
    let p = pair();
    let bytes = data(5 * CHUNK_BYTES + 123, 3);
    let keys = laptop_keys(&p);
    let client = Client::new(&keys);
    for i in 0..3 {
        put_chunk(&client, &p, &bytes, i * CHUNK_BYTES, CHUNK_BYTES, false).unwrap();
    }
    let file = p.laptop.home().join("partial");
    std::fs::write(&file, &bytes).unwrap();
    assert!(common::eventually(5, || puts_logged(&p) == 3), "the 3 chunks sent by hand are logged");
    let before = puts_logged(&p);
    p.laptop.ok(&["peers", "blob-put", "home", file.to_str().unwrap()]);
    // The daemon logs each request just after answering it.
    assert!(
        common::eventually(5, || puts_logged(&p) - before == 1 + 3),
        "a probe, then only the 3 missing chunks"
    );
    assert_eq!(std::fs::read(p.home.root().join("alp/blobs").join(sha(&bytes))).unwrap(), bytes);
}

#[test]
fn a_corrupted_upload_is_refused_and_nothing_is_published() {
    let p = pair();
    let bytes = data(2 * CHUNK_BYTES, 4);
    let keys = laptop_keys(&p);
    let client = Client::new(&keys);
    put_chunk(&client, &p, &bytes, 0, CHUNK_BYTES, false).unwrap();
    let mut tampered = bytes.clone();
    tampered[CHUNK_BYTES + 7] ^= 1;
    let claimed = sha(&bytes);
    let peer = Peer::new("home", p.home_key.parse().unwrap(), vec![]);
    let params = Object::new()
        .with("hash", claimed.as_str())
        .with("size", bytes.len() as u64)
        .with("offset", CHUNK_BYTES as u64)
        .with("data", Base64::encode_string(&tampered[CHUNK_BYTES..]))
        .with("final", true);
    let err = client
        .call(
            &peer,
            &Route::Tcp(p.address.clone()),
            "link.put_blob",
            params,
            Duration::from_secs(30),
            &mut |_| {},
        )
        .unwrap_err();
    let CallError::Remote(e) = err else { panic!("{err:?}") };
    assert_eq!((e.code, e.message.as_str()), (-32602, "invalid-blob"));
    assert_eq!(e.data.get("detail").and_then(Value::as_str), Some("blob hash verification failed"));
    assert!(!p.home.root().join("alp/blobs").join(&claimed).exists());

    let run = p.laptop.run(&["peers", "blob-get", "home", &claimed, "--output", "/tmp/never-written"]);
    assert!(run.stderr.contains("-32012 blob-not-found"), "{}", run.stderr);
}

#[test]
fn two_senders_racing_with_the_same_file_both_succeed() {
    let p = pair();
    let other = Sandbox::new();
    let other_key = other.ok(&["peers", "key"]).stdout.trim().to_owned();
    p.home.ok(&["peers", "add", "desktop", &other_key, "--allow", BLOB_METHODS]);
    other.ok(&["peers", "add", "home", &p.home_key, "--address", &p.address]);
    let bytes = data(3 * CHUNK_BYTES, 5);
    for sb in [&p.laptop, &other] {
        std::fs::write(sb.home().join("same"), &bytes).unwrap();
    }
    let spawn = |sb: &Sandbox| {
        let file = sb.home().join("same");
        sb.cmd(&["peers", "blob-put", "home", file.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&p.laptop), spawn(&other));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let blobs = p.home.root().join("alp/blobs");
    assert_eq!(std::fs::read(blobs.join(sha(&bytes))).unwrap(), bytes);
    assert_eq!(std::fs::read_dir(blobs.join(".incoming")).unwrap().count(), 0, "no staging left behind");
}

#[test]
fn blob_methods_need_to_be_allowed() {
    let (home, laptop) = (Sandbox::new(), Sandbox::new());
    let home_key = home.ok(&["peers", "key"]).stdout.trim().to_owned();
    let laptop_key = laptop.ok(&["peers", "key"]).stdout.trim().to_owned();
    home.ok(&["peers", "add", "laptop", &laptop_key, "--allow", "link.ping"]);
    let daemon = home.daemon_with(&[], &["--bind", "127.0.0.1:0"]);
    let address = daemon.ready_line[daemon.ready_line.find(" on ").unwrap() + 4..].trim().to_owned();
    laptop.ok(&["peers", "add", "home", &home_key, "--address", &address]);
    let file = laptop.home().join("f");
    std::fs::write(&file, b"hello").unwrap();
    let run = laptop.run(&["peers", "blob-put", "home", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("-32001 capability-denied"), "{}", run.stderr);
}
