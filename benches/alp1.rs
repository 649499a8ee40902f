//! ALP.1 figures for ci/bench, as `name value unit` lines:
//! - `link.ping` round trip over the real daemon's Unix socket, p50 and p99 of 2,000
//!   sequential pings from an in-process client (sign, send, verify the reply);
//! - the whole `alpi peers ping researcher` command, spawn to exit (median of 50): what
//!   a user or a script waits for, start-up and reading the profile included;
//! - the daemon's resident memory when idle, serving three profiles.
//!
//! `ALPI_BENCH_BIN` runs another binary as the daemon and the CLI (e.g. the static musl
//! one, which is what phones run); `ALPI_BENCH_LABEL` is then added to the row names.

#[path = "common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use alpi::alp::client::{Client, Route};
use alpi::alp::peers::{Peer, PeerFiles};
use alpi::json::Object;
use alpi::profile::{ProfileName, Root};

const PINGS: usize = 2000;
const PROCESS_PINGS: usize = 50;

fn main() {
    if common::listing() {
        return;
    }
    let bin = common::bench_bin();
    let label = common::bench_label();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(".alpi"));
    let default = root.home(&ProfileName::default_profile());
    default.ensure_layout().unwrap();
    let (me, _) = default.keys().load_or_create().unwrap();
    let mut homes = vec![];
    for name in ["researcher", "cron"] {
        let home = root.create(&ProfileName::parse(name).unwrap()).unwrap();
        let (keys, _) = home.keys().load_or_create().unwrap();
        let mut back = Peer::new("default", me.identity().clone(), vec!["link.ping".into()]);
        back.rate_limit = Some(alpi::yaml::parse(b"per_minute: 1000000").unwrap());
        PeerFiles::new(&home.dir().join("alp")).add(back).unwrap();
        homes.push((home, keys));
    }

    let mut daemon = common::daemon(&bin, dir.path());
    std::thread::sleep(Duration::from_millis(500)); // let start-up allocations settle
    let idle_rss = common::vm_kib(daemon.id(), "VmRSS:");

    let (target_home, target_keys) = &homes[0];
    let peer = Peer::new("researcher", target_keys.identity().clone(), vec![]);
    let route = Route::for_peer(&peer, &root);
    assert_eq!(route, Route::Unix(target_home.dir().join("alp/alp.sock")));
    let client = Client::new(&me);
    let mut times: Vec<Duration> = (0..PINGS)
        .map(|i| {
            let params = Object::new().with("nonce", i.to_string());
            let reply = client
                .call(&peer, &route, "link.ping", params, Duration::from_secs(5), &mut |_| {})
                .expect("ping");
            reply.elapsed
        })
        .collect();
    let peak_rss = common::vm_kib(daemon.id(), "VmHWM:");

    // The CLI pings as the default profile, which pins researcher like a user would.
    PeerFiles::new(&default.dir().join("alp"))
        .add(Peer::new("researcher", target_keys.identity().clone(), vec![]))
        .unwrap();
    let mut processes: Vec<Duration> = (0..PROCESS_PINGS)
        .map(|_| {
            let started = Instant::now();
            let out = Command::new(&bin)
                .args(["peers", "ping", "researcher"])
                .env("HOME", dir.path())
                .env_remove("ALPI_HOME")
                .env_remove("ALPI_PROFILE")
                .output()
                .unwrap();
            let took = started.elapsed();
            assert!(out.status.success(), "peers ping: {}", String::from_utf8_lossy(&out.stderr));
            took
        })
        .collect();
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("alp1{label}.ping.p50 {:.3} ms", ms(times[PINGS / 2]));
    println!("alp1{label}.ping.p99 {:.3} ms", ms(times[PINGS * 99 / 100]));
    processes.sort();
    println!("alp1{label}.peers_ping.process.median {:.3} ms", ms(processes[PROCESS_PINGS / 2]));
    println!("rss.daemon{label}.idle_3_profiles {idle_rss} KiB");
    println!("rss.daemon{label}.peak_after_{PINGS}_pings {peak_rss} KiB");
}
