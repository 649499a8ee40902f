//! Rooms mixing this build and the original Python alpi (tests/interop/workgroup_py.py):
//! a Python member joins, posts to and pulls from our hub daemon; the original reads a
//! room our hub wrote; our binary hubs a room the original created. Runs when the
//! original is installed (`ALPI_PYTHON`, default /tmp/pyalpi/bin/python); otherwise it
//! says so and passes.

mod common;

use std::path::Path;
use std::process::Command;

use alpi::json::{self, Value};
use common::Sandbox;

fn python() -> Option<String> {
    let py = std::env::var("ALPI_PYTHON").unwrap_or("/tmp/pyalpi/bin/python".into());
    let ok = Command::new(&py)
        .args(["-c", "import alpi.alp.workgroup"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: the original alpi is not installed at {py} (set ALPI_PYTHON)");
    }
    ok.then_some(py)
}

fn original(py: &str, sb: &Sandbox, home: &Path, args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/workgroup_py.py");
    let out = Command::new(py)
        .arg(script)
        .arg(home)
        .args(args)
        .env("HOME", sb.home())
        .env_remove("ALPI_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "original {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    json::parse(stdout.trim().as_bytes()).unwrap_or_else(|_| Value::from(stdout.trim()))
}

#[test]
fn a_python_member_in_our_room_and_our_hub_files_read_by_python() {
    let Some(py) = python() else { return };
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "jane"]);
    sb.ok(&["profile", "create", "pyraj"]);
    let hub_key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    let jane_key = sb.ok(&["-p", "jane", "peers", "key"]).stdout.trim().to_owned();
    let raj_key = sb.ok(&["-p", "pyraj", "peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "jane", &jane_key]);
    sb.ok(&["peers", "add", "pyraj", &raj_key]);
    sb.ok(&["-p", "jane", "peers", "add", "home", &hub_key]);
    sb.ok(&["-p", "jane", "peers", "add", "pyraj", &raj_key]);
    sb.ok(&["-p", "pyraj", "peers", "add", "home", &hub_key]);
    let wg = sb
        .ok(&[
            "workgroup",
            "create",
            "mixed",
            "--member",
            "jane",
            "--member",
            "pyraj",
            "--briefing",
            "both kinds",
        ])
        .stdout
        .trim()
        .to_owned();
    let _daemon = sb.daemon(&[]);
    sb.ok(&["-p", "jane", "workgroup", "join", "home", &wg]);
    sb.ok(&["-p", "jane", "workgroup", "post", &wg, "hello from rust"]);

    let raj = sb.profile("pyraj");
    let joined = original(&py, &sb, &raj, &["join", "home", &wg]);
    assert_eq!(joined.get("name").and_then(Value::as_str), Some("mixed"), "{joined:?}");
    assert_eq!(joined.get("briefing").and_then(Value::as_str), Some("both kinds"));
    let pulled = original(&py, &sb, &raj, &["pull", &wg]);
    let texts: Vec<&str> =
        pulled.as_array().unwrap().iter().filter_map(|p| p.get("text")?.as_str()).collect();
    assert_eq!(texts, ["hello from rust"], "the original decrypts our members' posts");
    let posted = original(&py, &sb, &raj, &["post", &wg, "hello from python, a full sentence"]);
    assert_eq!(posted.get("seq").and_then(Value::as_u64), Some(2), "{posted:?}");
    let read = sb.ok(&["-p", "jane", "workgroup", "pull", &wg, "--since", "0"]).stdout;
    assert!(
        read.contains("pyraj: hello from python, a full sentence"),
        "we decrypt the original's posts: {read}"
    );

    // A rekey our hub makes is followed by the original member.
    sb.ok(&["workgroup", "kick", &wg, "jane"]);
    sb.ok(&["workgroup", "post", &wg, "hub speaking under v2"]);
    let pulled = original(&py, &sb, &raj, &["pull", &wg]);
    let last =
        pulled.as_array().unwrap().last().unwrap().get("text").and_then(Value::as_str).unwrap().to_owned();
    assert_eq!(last, "hub speaking under v2");

    // The original, as the hub, reads the room files our hub wrote.
    let files = original(&py, &sb, sb.root().as_path(), &["hub-read", &wg]);
    assert_eq!(files.get("key_version").and_then(Value::as_u64), Some(2), "{files:?}");
    let created_at = files.get("created_at").and_then(Value::as_str).unwrap();
    assert!(created_at.ends_with('Z') && created_at.contains('T'), "read back as a string: {created_at}");
    let posts: Vec<&str> =
        files.get("posts").unwrap().as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(posts, ["hello from rust", "hello from python, a full sentence", "hub speaking under v2"]);
}

#[test]
fn our_binary_hubs_a_room_the_original_created() {
    let Some(py) = python() else { return };
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "jane"]);
    let hub_key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    let jane_key = sb.ok(&["-p", "jane", "peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "jane", &jane_key]);
    sb.ok(&["-p", "jane", "peers", "add", "home", &hub_key]);
    let wg = original(&py, &sb, sb.root().as_path(), &["hub-create", "from python", &jane_key]);
    let wg = wg.as_str().unwrap().to_owned();
    let _daemon = sb.daemon(&[]);
    let joined = sb.ok(&["-p", "jane", "workgroup", "join", "home", &wg]).stdout;
    assert!(joined.contains("joined from python") && joined.contains("briefing: made by python"), "{joined}");
    sb.ok(&["-p", "jane", "workgroup", "post", &wg, "rust member, python-made room"]);
    sb.ok(&["workgroup", "post", &wg, "rust hub answering"]);
    let shown = sb.ok(&["workgroup", "show", &wg]).stdout;
    assert!(shown.contains("from python") && shown.contains("2 members"), "{shown}");
    let files = original(&py, &sb, sb.root().as_path(), &["hub-read", &wg]);
    let posts: Vec<&str> =
        files.get("posts").unwrap().as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(posts, ["rust member, python-made room", "rust hub answering"]);
}
