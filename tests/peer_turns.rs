//! Agents asking agents, through the daemon and the real binary: the `peer` tool, the
//! asker's mention thread on the receiving side, and the receiver's `tools.allow`
//! for that asker — honoured, and refusing the turn when malformed.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;

use alpi::json::{self, Value};
use common::Sandbox;
use fake_openai::{Canned, FakeProvider, fake_provider, final_stream, tool_names};

/// `home` (default profile, served by the daemon) and `phone`, each pinning the other;
/// both use the fake model.
fn two_agents(fake: &FakeProvider, home_pins_phone: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    sb.ok(&["profile", "create", "phone"]);
    let config = std::fs::read_to_string(sb.root().join("config.yaml")).unwrap();
    std::fs::write(sb.profile("phone").join("config.yaml"), config).unwrap();
    std::fs::write(sb.profile("phone").join(".env"), "FAKE_KEY=test-key\n").unwrap();
    let phone_key = sb.ok(&["-p", "phone", "peers", "key"]).stdout.trim().to_owned();
    let home_key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "phone", &phone_key, "--allow", "link.ask"]);
    if !home_pins_phone.is_empty() {
        let peers = sb.root().join("alp/peers.yaml");
        let text = std::fs::read_to_string(&peers).unwrap();
        std::fs::write(&peers, format!("{text}  {home_pins_phone}\n")).unwrap();
    }
    sb.ok(&["-p", "phone", "peers", "add", "home", &home_key]);
    sb
}

fn request_texts(fake: &FakeProvider, n: usize) -> Vec<String> {
    let requests = fake.requests.lock().unwrap();
    let messages = requests[n].get("messages").and_then(Value::as_array).unwrap();
    messages.iter().filter_map(|m| m.get("content").and_then(Value::as_str).map(str::to_owned)).collect()
}

#[test]
fn the_peer_tool_asks_another_profile_and_its_thread_remembers() {
    let fake = fake_provider(vec![
        Canned::tool_call("peer", r#"{"peer_id":"home","prompt":"what is the disk usage?"}"#),
        Canned::ok(final_stream("42% used")),
        Canned::ok(final_stream("Home says 42% used.")),
        Canned::ok(final_stream("still 42%")),
    ]);
    let sb = two_agents(&fake, "");
    let _daemon = sb.daemon(&[]);
    let run = sb.run(&["-p", "phone", "chat", "--once", "ask home about its disk"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "Home says 42% used.");
    assert!(tool_names(&fake, 0).contains(&"peer".to_owned()), "offered: the phone has a peer pinned");
    assert!(request_texts(&fake, 1).last().unwrap().contains("what is the disk usage?"));
    let result = request_texts(&fake, 2).last().cloned().unwrap();
    assert!(result.starts_with("42% used") && result.contains("from home"), "{result}");

    let thread = json::parse(&std::fs::read(sb.root().join("mentions/phone.json")).unwrap()).unwrap();
    assert_eq!(thread.get("sender").and_then(Value::as_str), Some("phone"));
    assert_eq!(thread.get("turns").and_then(Value::as_array).map(|t| t.len()), Some(1));

    // The next ask from the phone carries the earlier exchange.
    let run = sb.run_with_stdin(&["-p", "phone"], "@home and now?\n");
    assert_eq!(run.stdout, "home: still 42%\n", "{}", run.stderr);
    let texts = request_texts(&fake, 3);
    assert!(texts.iter().any(|t| t.contains("what is the disk usage?")), "{texts:?}");
    assert!(texts.iter().any(|t| t == "42% used"), "{texts:?}");
}

#[test]
fn a_peers_tools_allow_limits_what_its_ask_may_run() {
    let fake = fake_provider(vec![
        Canned::tool_call("terminal", r#"{"command":"echo hi"}"#),
        Canned::ok(final_stream("could not run it")),
    ]);
    let sb = two_agents(&fake, "tools: {allow: [read_file, 'memory:read']}");
    let _daemon = sb.daemon(&[]);
    let run = sb.run_with_stdin(&["-p", "phone"], "@home run echo hi\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tool_names(&fake, 0), ["read_file", "memory"], "only the allowed tools are offered");
    let refusal = request_texts(&fake, 1).last().cloned().unwrap();
    assert!(refusal.contains("not among the tools the asking peer may use"), "{refusal}");
}

#[test]
fn a_malformed_tools_allow_refuses_the_turn_with_no_model_call() {
    let fake = fake_provider(vec![Canned::ok(final_stream("never"))]);
    let sb = two_agents(&fake, "tools: {allow: terminal}");
    let _daemon = sb.daemon(&[]);
    let run = sb.run_with_stdin(&["-p", "phone"], "@home hi\n");
    assert!(run.stderr.contains("peer-policy-invalid"), "{}", run.stderr);
    assert!(fake.requests.lock().unwrap().is_empty());
}

#[test]
fn peers_tools_sets_checks_and_removes_the_limit() {
    let sb = Sandbox::new();
    let key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "pi", &key]);
    let set = sb.ok(&["peers", "tools", "pi", "--allow", "read_file,memory:read"]);
    assert!(set.stdout.contains("may run only read_file, memory:read"), "{}", set.stdout);
    let text = std::fs::read_to_string(sb.root().join("alp/peers.yaml")).unwrap();
    assert!(text.contains("tools:") && text.contains("memory:read"), "{text}");
    let bad = sb.run(&["peers", "tools", "pi", "--allow", "rm -rf"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("is not a tool name"), "{}", bad.stderr);
    assert!(std::fs::read_to_string(sb.root().join("alp/peers.yaml")).unwrap().contains("memory:read"));
    let none = sb.ok(&["peers", "tools", "pi", "--allow", ""]);
    assert!(none.stdout.contains("may run no tool"), "{}", none.stdout);
    sb.ok(&["peers", "tools", "pi"]);
    assert!(!std::fs::read_to_string(sb.root().join("alp/peers.yaml")).unwrap().contains("tools:"));
}
