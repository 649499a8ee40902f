//! ALP.2 figures for ci/bench, as `name value unit` lines, against a real
//! `alpi daemon run --bind 127.0.0.1:0` on loopback:
//! - a new session's Noise handshake plus its first ping (median of 50);
//! - `link.ping` on a warm session, p50 and p99 of 2,000;
//! - 20 MiB through `alpi peers blob-put` and `blob-get` (the CLI, wall clock);
//! - the daemon's resident memory when idle, and while it holds 100 idle sessions
//!   (measured first, before the blob transfers grow its heap).

#[path = "common/mod.rs"]
mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alpi::alp::client::{Client, Route};
use alpi::alp::identity::Keypair;
use alpi::alp::peers::Peer;
use alpi::alp::transport::tcp::Outgoing;
use alpi::json::Object;

const BIN: &str = env!("CARGO_BIN_EXE_alpi");

fn alpi(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("HOME", home).env_remove("ALPI_HOME").env_remove("ALPI_PROFILE");
    cmd
}

fn key_of(home: &Path) -> String {
    let out = alpi(home, &["peers", "key"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn keypair_of(home: &Path) -> Keypair {
    let pem = std::fs::read_to_string(home.join(".alpi/alp/secrets/alp_key.pem")).unwrap();
    Keypair::from_seed(alpi::alp::identity::pem::decode_private(&pem).unwrap())
}

fn start_daemon(home: &Path) -> (Child, String) {
    let mut child = alpi(home, &["daemon", "run", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line[line.find(" on ").expect("ALP.2 address") + 4..].trim().to_owned();
    (child, address)
}

fn run_ok(mut cmd: Command) -> Duration {
    let started = Instant::now();
    let out = cmd.stdout(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    started.elapsed()
}

fn main() {
    if common::listing() {
        return;
    }
    let (server_dir, client_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, laptop) = (server_dir.path(), client_dir.path());
    let (server_key, laptop_key) = (key_of(server), key_of(laptop));
    let allow = "link.ping,link.put_blob,link.get_blob";
    run_ok(alpi(server, &["peers", "add", "laptop", &laptop_key, "--allow", allow]));
    std::fs::write(server.join(".alpi/alp/peers.yaml"), {
        let text = std::fs::read_to_string(server.join(".alpi/alp/peers.yaml")).unwrap();
        text + "  rate_limit:\n    per_minute: 1000000\n"
    })
    .unwrap();
    let (mut daemon, address) = start_daemon(server);
    run_ok(alpi(laptop, &["peers", "add", "home", &server_key, "--address", &address]));

    let me = keypair_of(laptop);
    let peer = Peer::new("home", server_key.parse().unwrap(), vec![]);
    let route = Route::Tcp(address.clone());
    let ping = |client: &Client| {
        client
            .call(&peer, &route, "link.ping", Object::new(), Duration::from_secs(5), &mut |_| {})
            .unwrap()
            .elapsed
    };

    let before = common::vm_kib(daemon.id(), "VmRSS:");
    let held: Vec<Outgoing> =
        (0..100).map(|_| Outgoing::connect(&address, &me, &peer.pubkey).expect("session")).collect();
    std::thread::sleep(Duration::from_millis(300)); // let the daemon finish its side of the last handshakes
    let with_sessions = common::vm_kib(daemon.id(), "VmRSS:");
    drop(held);
    let mut cold: Vec<Duration> = (0..50).map(|_| ping(&Client::new(&me))).collect();
    cold.sort();
    let warm_client = Client::new(&me);
    let mut warm: Vec<Duration> = (0..2000).map(|_| ping(&warm_client)).collect();
    warm.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("alp2.handshake_and_first_ping.median {:.3} ms", ms(cold[25]));
    println!("alp2.ping.warm.p50 {:.3} ms", ms(warm[1000]));
    println!("alp2.ping.warm.p99 {:.3} ms", ms(warm[1980]));

    let blob = laptop.join("blob.bin");
    let mut x = 0x9e37_79b9u32;
    let bytes: Vec<u8> = (0..20 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(&blob, &bytes).unwrap();
    let put = run_ok(alpi(laptop, &["peers", "blob-put", "home", blob.to_str().unwrap()]));
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    let out = laptop.join("blob.out");
    let get = run_ok(alpi(laptop, &["peers", "blob-get", "home", &hash, "--output", out.to_str().unwrap()]));
    println!("alp2.blob_put.20mib {:.1} MiB/s", 20.0 / put.as_secs_f64());
    println!("alp2.blob_get.20mib {:.1} MiB/s", 20.0 / get.as_secs_f64());
    println!("rss.daemon.tcp_idle {before} KiB");
    println!("rss.daemon.100_idle_sessions {with_sessions} KiB");

    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
