//! ALP.1 end to end through the real binary: profiles on one machine pin each other,
//! `alpi daemon run` serves their sockets, `alpi peers ping` goes both ways.

mod common;

use std::fs;

use common::{Sandbox, eventually, mode};

/// default and researcher, each pinning the other for link.ping.
fn two_profiles(sb: &Sandbox) -> (String, String) {
    sb.ok(&["profile", "create", "researcher"]);
    let r = sb.ok(&["-p", "researcher", "peers", "key"]).stdout.trim().to_owned();
    let d = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "researcher", &r, "--allow", "link.ping,link.ask"]);
    sb.ok(&["-p", "researcher", "peers", "add", "default", &d, "--allow", "link.ping"]);
    (d, r)
}

#[test]
fn ping_both_ways_through_the_daemon() {
    let sb = Sandbox::new();
    two_profiles(&sb);
    let daemon = sb.daemon(&[]);
    assert!(daemon.ready_line.contains("serving default, researcher"), "{}", daemon.ready_line);
    let sock = sb.root().join("alp/alp.sock");
    assert_eq!(mode(&sock), 0o600);

    let out = sb.ok(&["peers", "ping", "researcher"]).stdout;
    assert!(out.starts_with("pong from researcher · version=1 · nonce="), "{out}");
    assert!(out.contains(" · via unix · ") && out.trim_end().ends_with(" ms"), "{out}");
    let back = sb.ok(&["-p", "researcher", "peers", "ping", "default"]).stdout;
    assert!(back.starts_with("pong from default · version=1"), "{back}");

    let status = sb.ok(&["daemon", "status"]).stdout;
    assert!(status.contains("daemon all · pid ") && status.contains("researcher"), "{status}");
    assert_eq!(daemon.terminate(), Some(0));
    assert!(!sock.exists(), "a clean stop removes the sockets");
    assert!(!sb.root().join("run/daemon-all.pid").exists());
    assert!(!sb.root().join("run/daemon-all.sock").exists());
}

#[test]
fn failures_say_offline_unverified_or_refused() {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "researcher"]);
    let r = sb.ok(&["-p", "researcher", "peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "researcher", &r, "--allow", "link.ping"]);

    let offline = sb.run(&["peers", "ping", "researcher"]);
    assert_eq!(offline.code, 1);
    assert!(
        offline.stderr.contains("researcher is offline") && offline.stderr.contains("alpi daemon run"),
        "{}",
        offline.stderr
    );

    let _daemon = sb.daemon(&[]);
    // researcher has not pinned default: silent drop, and default shows up in its pending list.
    let unverified = sb.run(&["peers", "ping", "researcher"]);
    assert_eq!(unverified.code, 1);
    assert!(unverified.stderr.contains("researcher is unverified"), "{}", unverified.stderr);
    assert!(unverified.stderr.contains("alpi -p researcher peers add default"), "{}", unverified.stderr);
    let d = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    let pending = sb.ok(&["-p", "researcher", "peers", "pending"]).stdout;
    assert!(pending.contains(&d), "{pending}");

    // Accepting with a narrow allow list: pinned, but link.ping is not allowed.
    sb.ok(&["-p", "researcher", "peers", "accept", &d, "default", "--allow", "link.ask"]);
    assert!(!sb.ok(&["-p", "researcher", "peers", "pending"]).stdout.contains(&d));
    let refused = sb.run(&["peers", "ping", "researcher"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("researcher refused: -32001 capability-denied"), "{}", refused.stderr);

    sb.ok(&["-p", "researcher", "peers", "remove", "default"]);
    sb.ok(&["-p", "researcher", "peers", "add", "default", &d, "--allow", "link.ping"]);
    sb.ok(&["peers", "ping", "researcher"]);
}

#[test]
fn peers_add_validates_and_list_shows_what_is_pinned() {
    let sb = Sandbox::new();
    let key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    for (args, needle) in [
        (vec!["peers", "add", "x", "not-a-key"], "not an identity"),
        (vec!["peers", "add", "x", &key[..43]], "not an identity"),
        (vec!["peers", "add", "Bad", &key], "invalid peer id"),
        (vec!["peers", "add", "x", &key, "--address", "nohost"], "invalid address"),
    ] {
        let run = sb.run(&args);
        assert_eq!(run.code, 1, "{args:?}");
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    sb.ok(&["peers", "add", "home", &key, "--allow", "link.ping", "--address", "100.64.0.2:7423"]);
    let dup = sb.run(&["peers", "add", "home2", &key]);
    assert!(dup.stderr.contains("already pinned as \"home\""), "{}", dup.stderr);
    let list = sb.ok(&["peers", "list"]).stdout;
    assert!(
        list.starts_with("home") && list.contains("100.64.0.2:7423") && list.contains("link.ping"),
        "{list}"
    );
    assert!(list.contains(&format!("{}…{}", &key[..8], &key[40..])), "{list}");
    let yaml = fs::read_to_string(sb.root().join("alp/peers.yaml")).unwrap();
    assert!(yaml.starts_with("- id: home\n  pubkey: "), "{yaml}");
}

#[test]
fn a_killed_daemon_leaves_nothing_corrupt_and_restarts() {
    let sb = Sandbox::new();
    two_profiles(&sb);
    let daemon = sb.daemon(&[]);
    for _ in 0..5 {
        sb.ok(&["peers", "ping", "researcher"]);
    }
    let peers_before = fs::read(sb.root().join("alp/peers.yaml")).unwrap();
    daemon.kill9();
    assert!(sb.root().join("alp/alp.sock").exists(), "SIGKILL leaves a stale socket behind");

    assert_eq!(fs::read(sb.root().join("alp/peers.yaml")).unwrap(), peers_before);
    let journal = fs::read_to_string(sb.profile("researcher").join("alp/secrets/replay.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 5, "one replay entry per ping: {journal}");
    assert!(journal.lines().all(|l| l.starts_with("{\"seen_at\":") && l.ends_with('}')), "{journal}");

    let _again = sb.daemon(&[]);
    sb.ok(&["peers", "ping", "researcher"]);
    sb.ok(&["-p", "researcher", "peers", "ping", "default"]);
    let doctor = sb.ok(&["-p", "researcher", "doctor"]);
    assert!(!doctor.stdout.contains("fail"), "{}", doctor.stdout);
}

#[test]
fn two_daemons_never_serve_one_profile() {
    let sb = Sandbox::new();
    two_profiles(&sb);
    sb.ok(&["profile", "create", "other"]);
    let one = sb.daemon(&["-p", "researcher"]);
    assert!(one.ready_line.contains("serving researcher"), "{}", one.ready_line);
    let side_by_side = sb.daemon(&["-p", "other"]);
    assert!(side_by_side.ready_line.contains("serving other"));

    let (code, err) = sb.try_daemon(&[]).err().expect("the all-profiles daemon must refuse");
    assert_eq!(code, Some(1));
    let held_by = |pid: u32| err.contains(&format!("already served by daemon pid {pid}"));
    assert!(held_by(one.pid()) || held_by(side_by_side.pid()), "{err}");
    assert!(
        err.contains("alpi -p researcher daemon stop") || err.contains("alpi -p other daemon stop"),
        "{err}"
    );
    let (_, err) =
        sb.try_daemon(&["-p", "researcher"]).err().expect("a second daemon for one profile refuses");
    assert!(err.contains("profile researcher is already served"), "{err}");

    let status = sb.ok(&["daemon", "status"]).stdout;
    assert!(status.contains("daemon researcher") && status.contains("daemon other"), "{status}");
    sb.ok(&["-p", "researcher", "daemon", "stop"]);
    assert!(!sb.profile("researcher").join("alp/alp.sock").exists());
    assert!(sb.profile("other").join("alp/alp.sock").exists(), "the other daemon keeps serving");
}

#[test]
fn profiles_created_later_are_served_within_seconds() {
    let sb = Sandbox::new();
    let d = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    let _daemon = sb.daemon(&[]);
    sb.ok(&["profile", "create", "late"]);
    let late = sb.ok(&["-p", "late", "peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["-p", "late", "peers", "add", "default", &d, "--allow", "link.ping"]);
    sb.ok(&["peers", "add", "late", &late, "--allow", "link.ping"]);
    assert!(
        eventually(5, || sb.run(&["peers", "ping", "late"]).code == 0),
        "the new profile was not served within 5 s"
    );
}

#[test]
fn malformed_or_oversized_input_is_closed_without_a_byte() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let sb = Sandbox::new();
    two_profiles(&sb);
    let _daemon = sb.daemon(&[]);
    let sock = sb.profile("researcher").join("alp/alp.sock");
    let send = |bytes: &[u8]| {
        let mut s = UnixStream::connect(&sock).unwrap();
        // A write can fail once the server has given up on an oversized line; that is fine.
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        answer
    };
    assert!(send(b"this is not json\n").is_empty());
    assert!(send(b"{\"jsonrpc\":\"2.0\"}\n").is_empty());
    assert!(send(b"").is_empty());
    let mut huge = vec![b' '; 1024 * 1024 + 10];
    huge.push(b'\n');
    assert!(send(&huge).is_empty());
    // The daemon is still serving afterwards.
    sb.ok(&["peers", "ping", "researcher"]);
}

#[test]
fn daemon_status_and_stop_without_a_daemon_say_so() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let status = sb.run(&["daemon", "status"]);
    assert_eq!(status.code, 1);
    assert!(status.stdout.contains("no daemon running"), "{}", status.stdout);
    let stop = sb.run(&["daemon", "stop"]);
    assert_eq!(stop.code, 1);
    assert!(stop.stderr.contains("no daemon all is running"), "{}", stop.stderr);
}
