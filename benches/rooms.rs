//! Room (ALP.3) figures for ci/bench, as `name value unit` lines:
//! - post → pull latency: a member holds a long-poll `workgroup.pull` at the hub over
//!   TCP loopback (ALP.2) while another member posts; the time from the post being sent
//!   to the held pull returning it, p50 and p99 of 100;
//! - the hub daemon's resident memory holding 20 rooms of 10 members, every member
//!   joined, after those posts.
//!
//! `ALPI_BENCH_BIN` runs another binary as the hub daemon; `ALPI_BENCH_LABEL` is then
//! added to the row names.

#[path = "common/mod.rs"]
mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alpi::alp::peers::{Peer, PeerFiles};
use alpi::alp::workgroup::crypto;
use alpi::alp::workgroup::hub::Hub;
use alpi::alp::workgroup::member::Member;
use alpi::json::{Object, Value};
use alpi::profile::{ProfileName, Root};

const ROOMS: usize = 20;
const MEMBERS: usize = 10;
const POSTS: usize = 100;

fn main() {
    if common::listing() {
        return;
    }
    let bin = common::bench_bin();
    let label = common::bench_label();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(".alpi"));
    let hub_home = root.home(&ProfileName::default_profile());
    hub_home.ensure_layout().unwrap();
    let (hub_keys, _) = hub_home.keys().load_or_create().unwrap();
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let home = root.create(&ProfileName::parse(&format!("m{i}")).unwrap()).unwrap();
        let (keys, _) = home.keys().load_or_create().unwrap();
        let mut peer = Peer::new(&format!("m{i}"), keys.identity().clone(), vec![]);
        peer.rate_limit = Some(alpi::yaml::parse(b"per_minute: 1000000").unwrap());
        PeerFiles::new(&hub_home.dir().join("alp")).add(peer).unwrap();
        members.push((home, keys.identity().clone()));
    }
    let roster: Vec<_> = members.iter().map(|(_, id)| id.clone()).collect();
    let hub = Hub::new(&hub_home.dir().join("alp"));
    let rooms: Vec<String> = (0..ROOMS)
        .map(|i| hub.create(&hub_keys, &format!("room {i}"), &roster, "bench", None).unwrap().meta.id)
        .collect();

    // The hub alone in this daemon: the members' own pollers must not count in its memory.
    let mut daemon = Command::new(&bin)
        .args(["daemon", "run", "--bind", "127.0.0.1:0"])
        .env("HOME", dir.path())
        .env("ALPI_HOME", hub_home.dir())
        .env_remove("ALPI_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let address = ready.rsplit(" on ").next().unwrap().trim().to_owned();
    assert!(address.starts_with("127.0.0.1:"), "no ALP.2 address in {ready:?}");
    for (home, _) in &members {
        let mut pinned = Peer::new("home", hub_keys.identity().clone(), vec![]);
        pinned.address = Some(address.clone());
        PeerFiles::new(&home.dir().join("alp")).add(pinned).unwrap();
        let member = Member::open(home).unwrap();
        for room in &rooms {
            member.join("home", room).unwrap();
        }
    }

    let (poster, puller) = (Member::open(&members[0].0).unwrap(), Member::open(&members[1].0).unwrap());
    let room = &rooms[0];
    let sub = poster.subscription(room).unwrap();
    let key = crypto::open(sub.sealed_for(1).unwrap(), &poster.keys).unwrap();
    let hub_peer = PeerFiles::new(&poster.home.dir().join("alp")).load().unwrap().remove(0);
    let mut times: Vec<Duration> = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<Instant>();
        let waiter = s.spawn(move || {
            let client = puller.client();
            let mut head = 0;
            let mut out = Vec::new();
            while out.len() < POSTS {
                let (posts, new_head) = puller.pull(&client, room, Some(head), 25.0).unwrap();
                let arrived = Instant::now();
                for _ in &posts {
                    out.push(arrived - rx.recv().unwrap());
                }
                head = new_head;
            }
            out
        });
        let client = poster.client();
        for i in 0..POSTS {
            std::thread::sleep(Duration::from_millis(20)); // let the pull be held again
            let (nonce, ciphertext) = crypto::encrypt_post(&key, format!("post {i}").as_bytes()).unwrap();
            let params = Object::new()
                .with("workgroup_id", room.as_str())
                .with("key_version", 1u64)
                .with("nonce", nonce)
                .with("ciphertext", ciphertext);
            tx.send(Instant::now()).unwrap();
            let reply =
                poster.call(&client, &hub_peer, "workgroup.post", params, Duration::from_secs(10)).unwrap();
            assert!(reply.get("seq").and_then(Value::as_u64).is_some());
        }
        waiter.join().unwrap()
    });
    std::thread::sleep(Duration::from_millis(500));
    let rss = common::vm_kib(daemon.id(), "VmRSS:");
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("rooms{label}.post_to_pull.p50 {:.3} ms", ms(times[POSTS / 2]));
    println!("rooms{label}.post_to_pull.p99 {:.3} ms", ms(times[POSTS * 99 / 100]));
    println!("rss.hub{label}.{ROOMS}_rooms_{MEMBERS}_members {rss} KiB");
}
