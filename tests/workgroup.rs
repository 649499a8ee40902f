//! Rooms (ALP.3) end to end with the real binary: a hub and three members — one on the
//! hub's machine (ALP.1), two on loopback "machines" (ALP.2) — creating, joining,
//! posting, pulling, a mention answered by a member's agent, pause, files, a leave
//! that rotates the key, and a hub restart; plus three members posting at once.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;

use alpi::alp::identity::{Keypair, pem};
use alpi::alp::workgroup::crypto;
use alpi::alp::workgroup::member::Member;
use alpi::json::{self, Value};
use alpi::profile::{ProfileName, Root};
use common::{Daemon, Sandbox, eventually};
use fake_openai::{Canned, fake_provider, final_stream};

fn tcp_address(daemon: &Daemon) -> String {
    let line = &daemon.ready_line;
    let at = line.find(" on ").unwrap_or_else(|| panic!("no ALP.2 address in {line:?}"));
    line[at + 4..].trim().to_owned()
}

fn key(sb: &Sandbox, profile: &str) -> String {
    sb.ok(&["-p", profile, "peers", "key"]).stdout.trim().to_owned()
}

fn keypair(dir: &std::path::Path) -> Keypair {
    let text = std::fs::read_to_string(dir.join("alp/secrets/alp_key.pem")).unwrap();
    Keypair::from_seed(pem::decode_private(&text).unwrap())
}

fn transcript(sb: &Sandbox, wg: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(sb.root().join("alp/workgroups").join(wg).join("transcript.jsonl")).unwrap();
    text.lines().map(|l| json::parse(l.as_bytes()).expect("whole lines only")).collect()
}

/// A profile `name` on a machine of its own, using the fake model at `port` if given.
fn machine(name: &str, port: Option<u16>) -> Sandbox {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", name]);
    if let Some(port) = port {
        let dir = sb.profile(name);
        let config = format!(
            "model: fake/test-model\nproviders:\n  custom:\n    - name: fake\n      base_url: http://127.0.0.1:{port}/v1\n      api_key_env: FAKE_KEY\n"
        );
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        std::fs::write(dir.join(".env"), "FAKE_KEY=test-key\n").unwrap();
    }
    sb
}

#[test]
fn a_room_with_a_hub_and_three_members() {
    let fake = fake_provider(vec![Canned::ok(final_stream("I can pick her up at 3pm."))]);
    // Machine A: the hub (default profile) and jane.
    let home = Sandbox::new();
    home.ok(&["profile", "create", "jane"]);
    let hub_key = key(&home, "default");
    let jane_key = key(&home, "jane");
    let (raj, mia) = (machine("raj", None), machine("mia", Some(fake.port)));
    let (raj_key, mia_key) = (key(&raj, "raj"), key(&mia, "mia"));
    for (id, k) in [("jane", &jane_key), ("raj", &raj_key), ("mia", &mia_key)] {
        home.ok(&["peers", "add", id, k, "--allow", "link.ping"]);
    }
    let hub_daemon = home.daemon_with(&[], &["--bind", "127.0.0.1:0"]);
    let address = tcp_address(&hub_daemon);
    home.ok(&["-p", "jane", "peers", "add", "home", &hub_key]);
    home.ok(&["-p", "jane", "peers", "add", "raj", &raj_key]);
    home.ok(&["-p", "jane", "peers", "add", "mia", &mia_key]);
    raj.ok(&["-p", "raj", "peers", "add", "home", &hub_key, "--address", &address]);
    raj.ok(&["-p", "raj", "peers", "add", "mia", &mia_key]);
    mia.ok(&["-p", "mia", "peers", "add", "home", &hub_key, "--address", &address]);
    mia.ok(&["-p", "mia", "peers", "add", "raj", &raj_key]);

    let created = home.ok(&[
        "workgroup",
        "create",
        "household",
        "--member",
        "jane",
        "--member",
        "raj",
        "--member",
        "mia",
        "--briefing",
        "Family logistics",
        "--budget-usd",
        "5",
    ]);
    let wg = created.stdout.trim().to_owned();
    assert!(wg.starts_with("wg_") && wg.len() == 19, "{wg}");
    let meta =
        std::fs::read_to_string(home.root().join("alp/workgroups").join(&wg).join("meta.yaml")).unwrap();
    assert!(meta.contains("name: household") && meta.contains("max_usd: 5.0"), "{meta}");

    // Not joined yet: posting is refused by the hub.
    let early = raj.run(&["-p", "raj", "workgroup", "post", &wg, "hello?"]);
    assert_ne!(early.code, 0);
    assert!(early.stderr.contains("not joined"), "{}", early.stderr);

    for (sb, p) in [(&home, "jane"), (&raj, "raj"), (&mia, "mia")] {
        let out = sb.ok(&["-p", p, "workgroup", "join", "home", &wg]).stdout;
        assert!(out.contains("joined household") && out.contains("briefing: Family logistics"), "{out}");
        assert_eq!(out.lines().last().unwrap().matches(", ").count(), 3, "four members listed: {out}");
    }
    let _mia_daemon = mia.daemon(&["-p", "mia"]);
    let listed = home.ok(&["workgroup", "list"]).stdout;
    assert!(listed.contains(&format!("{wg}  household  hub  4 members  key v1, budget 5 USD")), "{listed}");
    let shown = home.ok(&["-p", "jane", "workgroup", "show", &wg]).stdout;
    assert!(shown.contains("member of @home") && shown.contains("briefing: Family logistics"), "{shown}");

    home.ok(&["-p", "jane", "workgroup", "post", &wg, "who picks up Mia on Friday?"]);
    let pulled = raj.ok(&["-p", "raj", "workgroup", "pull", &wg]).stdout;
    assert!(pulled.starts_with("#1 ") && pulled.contains(": who picks up Mia on Friday?"), "{pulled}");
    assert!(raj.ok(&["-p", "raj", "workgroup", "pull", &wg]).stdout.is_empty(), "the cursor moved on");

    // The hub stores ciphertext only.
    let on_disk =
        std::fs::read_to_string(home.root().join("alp/workgroups").join(&wg).join("transcript.jsonl"))
            .unwrap();
    assert!(!on_disk.contains("picks up"), "{on_disk}");

    // A mention: mia's daemon answers with its agent, into the room.
    raj.ok(&["-p", "raj", "workgroup", "post", &wg, "@mia can you do Friday?"]);
    let answered = eventually(30, || {
        transcript(&home, &wg).iter().any(|p| p.get("from").and_then(Value::as_str) == Some(mia_key.as_str()))
    });
    assert!(answered, "mia's agent never answered the mention");
    let read = home.ok(&["-p", "jane", "workgroup", "pull", &wg, "--since", "2"]).stdout;
    assert!(read.contains("mia: I can pick her up at 3pm."), "{read}");
    let asked = fake.requests.lock().unwrap()[0].wire();
    assert!(String::from_utf8_lossy(&asked).contains("@mia can you do Friday?"));
    let entry = transcript(&home, &wg).pop().unwrap();
    assert!(entry.get("cost").is_some(), "the turn's cost is declared: {entry:?}");

    // Pause blocks posts (hub only), resume opens them again.
    let refused = raj.run(&["-p", "raj", "workgroup", "pause", &wg]);
    assert!(refused.code != 0 && refused.stderr.contains("only the hub"), "{}", refused.stderr);
    home.ok(&["workgroup", "pause", &wg]);
    let paused = home.run(&["-p", "jane", "workgroup", "post", &wg, "anyone?"]);
    assert!(paused.code != 0 && paused.stderr.contains("paused"), "{}", paused.stderr);
    home.ok(&["workgroup", "resume", &wg]);
    home.ok(&["-p", "jane", "workgroup", "post", &wg, "back again"]);

    // Files: two chunks up over TCP, down on the other machine, sha-256 checked.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let src = raj.home().join("notes.bin");
    std::fs::write(&src, &data).unwrap();
    let up = raj
        .ok(&["-p", "raj", "workgroup", "file-put", &wg, src.to_str().unwrap(), "--note", "the calendar"])
        .stdout;
    let digest = up.trim().rsplit(' ').next().unwrap().to_owned();
    let out = mia.home().join("got.bin");
    let got =
        mia.ok(&["-p", "mia", "workgroup", "file-get", &wg, &digest, "--output", out.to_str().unwrap()]);
    assert!(got.stdout.contains("sha256 verified"), "{}", got.stdout);
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let jane = Member::open(&Root::new(home.root()).home(&ProfileName::parse("jane").unwrap())).unwrap();
    let listed = jane.list_files(&wg).unwrap();
    let first = &listed.get("files").unwrap().as_array().unwrap()[0];
    assert_eq!(first.get("sha256").and_then(Value::as_str), Some(digest.as_str()), "{listed:?}");
    assert_eq!(first.get("name").and_then(Value::as_str), Some("notes.bin"));
    assert_eq!(first.get("note").and_then(Value::as_str), Some("the calendar"));
    let marker = home.ok(&["-p", "jane", "workgroup", "pull", &wg]).stdout;
    assert!(marker.contains(&format!("#file notes.bin · 293KB · sha256:{digest}\nthe calendar")), "{marker}");

    // Leave: the hub rotates the key, and raj's old key opens nothing new.
    let raj_home = Root::new(raj.root()).home(&ProfileName::parse("raj").unwrap());
    let raj_member = Member::open(&raj_home).unwrap();
    let old = raj_member.subscription(&wg).unwrap();
    let old_key = crypto::open(old.sealed_for(1).unwrap(), &keypair(&raj.profile("raj"))).unwrap();
    let left = raj.ok(&["-p", "raj", "workgroup", "leave", &wg]).stdout;
    assert!(left.contains("rotated the key to v2"), "{left}");
    home.ok(&["-p", "jane", "workgroup", "post", &wg, "a secret after raj left"]);
    let last = transcript(&home, &wg).pop().unwrap();
    assert_eq!(last.get("key_version").and_then(Value::as_u64), Some(2));
    let (n, c) =
        (last.get("nonce").unwrap().as_str().unwrap(), last.get("ciphertext").unwrap().as_str().unwrap());
    assert!(crypto::decrypt_post(&old_key, n, c).is_err(), "the leaver's key must not open new posts");
    let gone = raj.run(&["-p", "raj", "workgroup", "pull", &wg]);
    assert!(gone.code != 0 && gone.stderr.contains("not joined"), "{}", gone.stderr);
    let rejoin = raj.run(&["-p", "raj", "workgroup", "join", "home", &wg]);
    assert!(rejoin.code != 0 && rejoin.stderr.contains("not a member"), "{}", rejoin.stderr);
    let mine = home.ok(&["-p", "jane", "workgroup", "pull", &wg]).stdout;
    assert!(mine.contains("a secret after raj left"), "members left get the new key: {mine}");

    // Hub restart: nothing lost, every post still readable by a member.
    let before = transcript(&home, &wg);
    hub_daemon.kill9();
    let _hub_again = home.daemon_with(&[], &["--bind", &address]);
    let all = home.ok(&["-p", "jane", "workgroup", "pull", &wg, "--since", "0"]).stdout;
    assert_eq!(all.matches("\n#").count() + 1, before.len(), "{all}");
    assert!(!all.contains("decrypt failed"), "{all}");
    let seqs: Vec<u64> =
        transcript(&home, &wg).iter().map(|p| p.get("seq").unwrap().as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=before.len() as u64).collect::<Vec<_>>());

    // Errors name the problem.
    let unknown = home.run(&["-p", "jane", "workgroup", "post", "wg_nosuchroom", "x"]);
    assert!(unknown.stderr.contains("not joined to wg_nosuchroom"), "{}", unknown.stderr);
}

#[test]
fn hub_unreachable_is_said_plainly() {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "jane"]);
    let hub_key = key(&sb, "default");
    let jane_key = key(&sb, "jane");
    sb.ok(&["peers", "add", "jane", &jane_key]);
    sb.ok(&["-p", "jane", "peers", "add", "home", &hub_key, "--address", "127.0.0.1:9"]);
    let wg = sb.ok(&["workgroup", "create", "r", "--member", "jane"]).stdout.trim().to_owned();
    let run = sb.run(&["-p", "jane", "workgroup", "join", "home", &wg]);
    assert!(run.code != 0 && run.stderr.contains("hub unreachable"), "{}", run.stderr);
}

#[test]
fn three_members_posting_at_once_get_contiguous_seqs() {
    const EACH: usize = 200;
    let sb = Sandbox::new();
    let names = ["a", "b", "c"];
    let mut peers = String::new();
    let hub_key = key(&sb, "default");
    for n in names {
        sb.ok(&["profile", "create", n]);
        let k = key(&sb, n);
        peers.push_str(&format!(
            "- id: {n}\n  pubkey: {k}\n  allow: []\n  rate_limit: {{per_minute: 1000}}\n"
        ));
        sb.ok(&["-p", n, "peers", "add", "home", &hub_key]);
    }
    std::fs::write(sb.root().join("alp/peers.yaml"), peers).unwrap();
    let wg = sb
        .ok(&["workgroup", "create", "busy", "--member", "a", "--member", "b", "--member", "c"])
        .stdout
        .trim()
        .to_owned();
    let _daemon = sb.daemon_with(&[], &[]);
    let root = Root::new(sb.root());
    std::thread::scope(|s| {
        for n in names {
            let (root, wg) = (&root, &wg);
            s.spawn(move || {
                let member = Member::open(&root.home(&ProfileName::parse(n).unwrap())).unwrap();
                member.join("home", wg).unwrap();
                for i in 0..EACH {
                    member.post(wg, &format!("{n} {i}"), None).unwrap();
                }
            });
        }
    });
    let posts = transcript(&sb, &wg);
    assert_eq!(posts.len(), 3 * EACH);
    let seqs: Vec<u64> = posts.iter().map(|p| p.get("seq").unwrap().as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=(3 * EACH) as u64).collect::<Vec<_>>(), "contiguous, no duplicate");
    let reader = Member::open(&root.home(&ProfileName::parse("a").unwrap())).unwrap();
    let (read, head) = reader.pull(&reader.client(), &wg, Some(0), 0.0).unwrap();
    assert_eq!(head, (3 * EACH) as u64);
    for n in names {
        let own: Vec<String> =
            read.iter().filter(|p| p.text.starts_with(&format!("{n} "))).map(|p| p.text.clone()).collect();
        let sent: Vec<String> = (0..EACH).map(|i| format!("{n} {i}")).collect();
        assert_eq!(own, sent, "each member's posts all there, in its order");
    }
    let ledger =
        json::parse(&std::fs::read(sb.root().join("alp/workgroups").join(&wg).join("ledger.json")).unwrap())
            .unwrap();
    assert_eq!(ledger.get("posts").and_then(Value::as_u64), Some((3 * EACH) as u64));
}
