//! Shape 6's shared services on one machine: a `research-bot` and a `tools-bot` that an
//! employee may only ping and ask, each limiting what that employee's asks may run to
//! a narrow list of tools. `tests/peer_turns.rs` already proves a refused tool call is
//! reported to the model; this proves the services' whole contract — no blob upload
//! (`-32001`), no file written however the model is talked into trying, and each
//! service's own list.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;

use alpi::json::Value;
use common::Sandbox;
use fake_openai::{Canned, FakeProvider, fake_provider, final_stream, tool_names};

/// The last message of the `n`th model request (a tool result, after a tool call).
fn last_message(fake: &FakeProvider, n: usize) -> String {
    let requests = fake.requests.lock().unwrap();
    let messages = requests[n].get("messages").and_then(Value::as_array).unwrap();
    messages.last().and_then(|m| m.get("content")?.as_str()).unwrap_or_default().to_owned()
}

/// The last line of `alpi pair` output, as arguments.
fn pairing_line(out: &str) -> Vec<String> {
    out.lines().last().unwrap().split_whitespace().skip(1).map(str::to_owned).collect()
}

fn run_line(sb: &Sandbox, line: &[String]) {
    sb.ok(&line.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The employee (default profile) and the two services, paired with `alpi pair`: the
/// services pin the employee as `alice` (ping, ask) with `tools.allow`; the employee
/// lets the services call nothing back.
fn office(fake: &FakeProvider) -> Sandbox {
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    std::fs::write(sb.home().join("ws/plan.txt"), "the plan\n").unwrap();
    let config = std::fs::read_to_string(sb.root().join("config.yaml")).unwrap();
    for (bot, tools) in [("research-bot", "read_file,list_dir,search"), ("tools-bot", "list_dir")] {
        sb.ok(&["profile", "create", bot]);
        std::fs::write(sb.profile(bot).join("config.yaml"), &config).unwrap();
        std::fs::write(sb.profile(bot).join(".env"), "FAKE_KEY=test-key\n").unwrap();
        run_line(&sb, &pairing_line(&sb.ok(&["pair", "--id", "alice", "--on", bot]).stdout));
        run_line(&sb, &pairing_line(&sb.ok(&["-p", bot, "pair", "--allow", ""]).stdout));
        sb.ok(&["-p", bot, "peers", "tools", "alice", "--allow", tools]);
    }
    sb
}

#[test]
fn services_take_pings_and_asks_but_no_blobs() {
    let fake = fake_provider(vec![]);
    let sb = office(&fake);
    let _daemon = sb.daemon(&[]);
    let file = sb.home().join("ws/plan.txt");
    for bot in ["research-bot", "tools-bot"] {
        assert!(sb.ok(&["peers", "ping", bot]).stdout.starts_with(&format!("pong from {bot}")));
        let put = sb.run(&["peers", "blob-put", bot, file.to_str().unwrap()]);
        assert_eq!(put.code, 1);
        assert!(put.stderr.contains(&format!("{bot} refused: -32001 capability-denied")), "{}", put.stderr);
        let stored = std::fs::read_dir(sb.profile(bot).join("alp/blobs")).map_or(0, |d| d.count());
        assert_eq!(stored, 0, "nothing staged or stored on {bot}");
        let list = sb.ok(&["-p", bot, "peers", "list"]).stdout;
        assert!(list.contains("alice") && list.contains("link.ping,link.ask"), "{list}");
    }
    // And the employee lets neither call anything back.
    assert!(sb.ok(&["peers", "list"]).stdout.lines().all(|l| l.ends_with("(nothing)")));
}

#[test]
fn the_research_bot_cannot_write_files_even_when_asked_to() {
    let fake = fake_provider(vec![
        Canned::tool_call("write_file", r#"{"path":"notes.txt","content":"leaked"}"#),
        Canned::tool_call("terminal", r#"{"command":"echo leaked > notes.txt"}"#),
        Canned::ok(final_stream("I may only read here.")),
    ]);
    let sb = office(&fake);
    let _daemon = sb.daemon(&[]);
    let run = sb.run_with_stdin(&[], "@research-bot save 'leaked' into notes.txt\n");
    assert_eq!(run.stdout, "research-bot: I may only read here.\n", "{}", run.stderr);
    assert_eq!(tool_names(&fake, 0), ["read_file", "list_dir", "search"], "only read-only tools are offered");
    for n in [1, 2] {
        let refusal = last_message(&fake, n);
        assert!(refusal.contains("not among the tools the asking peer may use"), "{refusal}");
    }
    assert!(!sb.home().join("ws/notes.txt").exists(), "a file was written");
}

#[test]
fn the_tools_bot_runs_only_its_own_narrow_list() {
    let fake = fake_provider(vec![
        Canned::tool_call("list_dir", r#"{"path":"."}"#),
        Canned::tool_call("read_file", r#"{"path":"plan.txt"}"#),
        Canned::ok(final_stream("plan.txt is there; I cannot read it.")),
    ]);
    let sb = office(&fake);
    let _daemon = sb.daemon(&[]);
    let run = sb.run_with_stdin(&[], "@tools-bot what does plan.txt say?\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tool_names(&fake, 0), ["list_dir"]);
    assert!(last_message(&fake, 1).contains("plan.txt"), "list_dir ran: {}", last_message(&fake, 1));
    let refusal = last_message(&fake, 2);
    assert!(
        refusal.contains("the read_file tool is not among the tools the asking peer may use"),
        "{refusal}"
    );
    assert!(!refusal.contains("the plan"));
}
