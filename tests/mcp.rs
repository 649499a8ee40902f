//! MCP servers as agent tools. Failure paths against a misbehaving script (garbage on
//! stdout, a crash mid-call, silence, an old protocol, a missing command); then the
//! real npm servers (`server-everything`, `server-filesystem`, pinned) through the
//! binary: `alpi mcp list/test`, a chat turn that calls one and uses its result, and
//! a REPL session that keeps one server for all its turns. No test leaves a process.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;
#[path = "common/mcp_servers.rs"]
mod mcp_servers;

use std::path::Path;
use std::time::{Duration, Instant};

use alpi::agent::mcp::{McpError, Toolbox, stop_profile};
use alpi::agent::tools::{self, NoApprover, ToolEnv};
use alpi::json::{self, Value};
use alpi::profile::config::Config;
use alpi::profile::{ProfileHome, ProfileName, Root};
use common::Sandbox;
use fake_openai::{Canned, FakeProvider, fake_provider, final_stream, tool_names};
use mcp_servers::{gone, installed, misbehave_script, started_pids};

/// A profile with `mcp.servers` from `servers`; its servers are stopped when dropped.
struct Profile {
    _dir: tempfile::TempDir,
    home: ProfileHome,
    config: Config,
}

impl Profile {
    fn new(servers: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Root::new(dir.path().join(".alpi")).home(&ProfileName::default_profile());
        home.ensure_layout().unwrap();
        let text = format!("mcp:\n  servers:\n{servers}");
        std::fs::write(home.config_path(), &text).unwrap();
        let config = Config::parse(&home.config_path(), &text).unwrap();
        Self { _dir: dir, home, config }
    }

    fn toolbox(&self) -> Toolbox {
        Toolbox::load(&self.home, &self.config)
    }

    fn log(&self, server: &str) -> String {
        std::fs::read_to_string(self.home.logs_dir().join(format!("mcp-{server}.log"))).unwrap_or_default()
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        stop_profile(&self.home);
    }
}

/// A `mcp.servers` entry running the misbehaving script in `mode`.
fn misbehaving(mode: &str, extra: &str) -> String {
    format!("    {mode}:\n      command: {}\n      args: [{mode}]\n{extra}", misbehave_script().display())
}

fn error_of(toolbox: &Toolbox, server: &str) -> McpError {
    let report = toolbox.reports().iter().find(|r| r.name == server).unwrap();
    report.outcome.clone().expect_err(server)
}

fn call(toolbox: &Toolbox, exposed: &str, args: &str) -> Result<String, McpError> {
    let tool = toolbox.find(exposed).unwrap_or_else(|| panic!("no tool {exposed}"));
    let Ok(Value::Object(args)) = json::parse(args.as_bytes()) else { panic!("bad args {args}") };
    toolbox.call(tool, args, None).map(|r| r.text)
}

#[test]
fn misbehaving_servers_fail_fast_and_say_why() {
    let servers = [
        misbehaving("garbage", ""),
        misbehaving("silent", "      startup_timeout_s: 1\n"),
        misbehaving("old-protocol", ""),
        "    missing:\n      command: no-such-mcp-server\n".to_owned(),
        "    nocommand:\n      args: [x]\n".to_owned(),
    ];
    let profile = Profile::new(&servers.concat());
    let started = Instant::now();
    let toolbox = profile.toolbox();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(toolbox.tools().is_empty());
    assert_eq!(error_of(&toolbox, "garbage"), McpError::NotJsonRpc("Server listening on port 3000".into()));
    assert_eq!(error_of(&toolbox, "silent"), McpError::Timeout { method: "initialize".into(), seconds: 1 });
    let old = error_of(&toolbox, "old-protocol").to_string();
    assert!(old.contains("\"2023-01-01\"") && old.contains("2025-06-18"), "{old}");
    assert_eq!(error_of(&toolbox, "missing"), McpError::CommandNotFound("no-such-mcp-server".into()));
    assert_eq!(error_of(&toolbox, "nocommand").to_string(), "mcp.servers.nocommand: `command` is missing");
    assert!(profile.log("garbage").contains("not JSON-RPC"), "{}", profile.log("garbage"));
    for server in ["garbage", "silent", "old-protocol"] {
        let pids = started_pids(&profile.home.logs_dir().join(format!("mcp-{server}.log")));
        assert!(pids.iter().all(|pid| gone(*pid)), "{server} left a process behind");
    }
}

#[test]
fn a_crash_mid_call_fails_the_call_and_restarts_after_a_backoff() {
    let profile = Profile::new(&misbehaving("crash-on-call", ""));
    let toolbox = profile.toolbox();
    let crashed = call(&toolbox, "mcp__crash-on-call__echo", r#"{"text":"hi"}"#).unwrap_err().to_string();
    assert!(crashed.contains("exited with status 3") && crashed.contains("crashing mid-call"), "{crashed}");
    let waiting = call(&toolbox, "mcp__crash-on-call__echo", "{}").unwrap_err();
    assert!(matches!(waiting, McpError::Backoff { seconds: 1, .. }), "{waiting:?}");
    std::thread::sleep(Duration::from_millis(1100));
    let again = call(&toolbox, "mcp__crash-on-call__echo", "{}").unwrap_err().to_string();
    assert!(again.contains("exited with status 3"), "restarted, and crashed again: {again}");
    assert_eq!(
        profile.log("crash-on-call").matches(" started ").count(),
        2,
        "{}",
        profile.log("crash-on-call")
    );
}

#[test]
fn garbage_or_silence_mid_call_is_an_error_not_a_hang() {
    let profile = Profile::new(
        &[misbehaving("garbage-on-call", ""), misbehaving("hang-on-call", "      timeout_s: 1\n")].concat(),
    );
    let toolbox = profile.toolbox();
    assert_eq!(toolbox.tools().len(), 6);
    let garbage = call(&toolbox, "mcp__garbage-on-call__echo", "{}").unwrap_err();
    assert_eq!(garbage, McpError::NotJsonRpc("<html>oops</html>".into()));
    let started = Instant::now();
    let silent = call(&toolbox, "mcp__hang-on-call__echo", "{}").unwrap_err();
    assert_eq!(silent, McpError::Timeout { method: "tools/call".into(), seconds: 1 });
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn ctrl_c_stops_the_wait_for_a_tool_that_never_answers() {
    let profile = Profile::new(&misbehaving("hang-on-call", "      timeout_s: 60\n"));
    let toolbox = profile.toolbox();
    let tool = toolbox.find("mcp__hang-on-call__echo").unwrap();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let stopped = std::thread::scope(|scope| {
        let call = scope.spawn(|| toolbox.call(tool, json::Object::new(), Some(&cancel)));
        std::thread::sleep(Duration::from_millis(300)); // the user presses Ctrl-C mid-call
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        call.join().unwrap()
    });
    assert_eq!(stopped.unwrap_err(), McpError::Interrupted("tools/call".into()));
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[test]
fn list_changed_is_followed_and_server_pings_are_answered() {
    let profile = Profile::new(&misbehaving("well", ""));
    let toolbox = profile.toolbox();
    let names: Vec<&str> = toolbox.tools().iter().map(|t| t.exposed.as_str()).collect();
    assert_eq!(names, ["mcp__well__echo", "mcp__well__grow", "mcp__well__ping"]);
    assert_eq!(call(&toolbox, "mcp__well__echo", r#"{"text":"hi there"}"#).unwrap(), "echo: hi there");
    assert_eq!(call(&toolbox, "mcp__well__ping", "{}").unwrap(), "pong", "alpi answered the server's ping");
    assert_eq!(call(&toolbox, "mcp__well__grow", "{}").unwrap(), "grown");
    let later = profile.toolbox();
    assert!(later.find("mcp__well__extra").is_some(), "listed again after list_changed");
    assert_eq!(profile.log("well").matches(" started ").count(), 1, "one process for both toolboxes");
}

#[test]
fn secret_paths_and_local_urls_are_refused_before_the_server_sees_them() {
    let local = format!(
        "    local:\n      command: {}\n      args: [well]\n      allow_local: true\n",
        misbehave_script().display()
    );
    let profile = Profile::new(&[misbehaving("well", ""), local].concat());
    let mut approver = NoApprover;
    let mut env = ToolEnv {
        gate: tools::Gate::deny(vec!["well.grow".into()]),
        mcp: Some(profile.toolbox()),
        ..ToolEnv::new(profile.home.dir().to_owned(), profile.home.dir(), &mut approver)
    };
    let mut run = |name: &str, args: &str| tools::run(name, args, &mut env);
    for args in [
        r#"{"text":"x","path":"~/.ssh/id_ed25519"}"#,
        r#"{"text":"x","files":["notes.md","/srv/app/.env"]}"#,
        r#"{"text":"file:///home/me/.ssh/id_rsa"}"#,
    ] {
        let refused = run("mcp__well__echo", args);
        assert!(!refused.ok && refused.text.starts_with("refused:"), "{args}: {}", refused.text);
    }
    let local_url = run("mcp__well__echo", r#"{"text":"x","url":"http://127.0.0.1:9/admin"}"#);
    assert!(!local_url.ok && local_url.text.contains("local or private address"), "{}", local_url.text);
    assert!(local_url.text.contains("mcp.servers.well.allow_local"), "{}", local_url.text);
    let allowed = run("mcp__local__echo", r#"{"text":"ok","url":"http://127.0.0.1:9/admin"}"#);
    assert_eq!((allowed.ok, allowed.text.as_str()), (true, "echo: ok"));
    let denied = run("mcp__well__grow", "{}");
    assert!(!denied.ok && denied.text.contains("tools.deny"), "{}", denied.text);
    assert!(!run("mcp__well__nothing", "{}").ok);
    env.result_chars = 10;
    let capped = tools::run("mcp__well__echo", r#"{"text":"0123456789abcdefghij"}"#, &mut env);
    assert!(capped.text.contains("characters elided"), "{}", capped.text);
    let offered: Vec<String> =
        tools::mcp::specs(env.mcp.as_ref().unwrap(), &env.gate).into_iter().map(|s| s.name).collect();
    assert!(
        offered.contains(&"mcp__well__echo".to_owned()) && !offered.contains(&"mcp__well__grow".to_owned())
    );
}

#[test]
fn stopping_a_profile_ends_its_servers() {
    let profile = Profile::new(&misbehaving("well", ""));
    assert_eq!(profile.toolbox().tools().len(), 3);
    let pids = started_pids(&profile.home.logs_dir().join("mcp-well.log"));
    assert_eq!(pids.len(), 1);
    assert!(Path::new(&format!("/proc/{}", pids[0])).exists());
    stop_profile(&profile.home);
    assert!(gone(pids[0]), "the server outlived its stop");
    assert!(profile.log("well").contains(" stopped"), "{}", profile.log("well"));
}

/// The text of the last message of request `n`: the newest tool result.
fn last_message(fake: &FakeProvider, n: usize) -> String {
    let requests = fake.requests.lock().unwrap();
    let messages = requests[n].get("messages").and_then(Value::as_array).unwrap();
    messages.last().and_then(|m| m.get("content")).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// `mcp.servers` with the real servers: `every` and `files` (serving `notes`).
fn real_servers(notes: &Path) -> Option<String> {
    let servers = installed()?;
    Some(format!(
        "mcp:\n  servers:\n    every:\n      command: node\n      args: [{}]\n      env: {{NOTES_TOKEN: \"env:NOTES_TOKEN\"}}\n    files:\n      command: node\n      args: [{}, {}]\n",
        servers.everything.display(),
        servers.filesystem.display(),
        notes.display()
    ))
}

fn all_gone(sb: &Sandbox, servers: &[&str]) {
    for server in servers {
        for pid in started_pids(&sb.root().join(format!("logs/mcp-{server}.log"))) {
            assert!(gone(pid), "{server} (pid {pid}) outlived alpi");
        }
    }
}

#[test]
fn mcp_list_and_test_report_real_servers_and_clear_failures() {
    let sb = Sandbox::new();
    let notes = sb.home().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let Some(servers) = real_servers(&notes) else { return };
    sb.ok(&["peers", "key"]);
    let broken = format!(
        "    missing:\n      command: no-such-mcp-server\n    garbage:\n      command: {}\n      args: [garbage]\n",
        misbehave_script().display()
    );
    std::fs::write(
        sb.root().join("config.yaml"),
        format!("{servers}{broken}tools:\n  deny: [every.get-env]\n"),
    )
    .unwrap();
    std::fs::write(sb.root().join(".env"), "NOTES_TOKEN=tok\n").unwrap();
    let list = sb.run(&["mcp", "list"]);
    assert_eq!(list.code, 1, "a server failed: {}{}", list.stdout, list.stderr);
    for expected in [
        "every  running · ",
        "mcp__every__echo ",
        "files  running · 14 tools · secure-filesystem-server",
        "mcp__files__read_text_file ",
        "(denied by tools.deny)",
        "missing  failed · command `no-such-mcp-server` not found",
        "garbage  failed · wrote something that is not JSON-RPC on stdout: Server listening on port 3000",
    ] {
        assert!(list.stdout.contains(expected), "{expected:?} in:\n{}", list.stdout);
    }
    let test = sb.ok(&["mcp", "test", "files"]);
    assert!(test.stdout.starts_with("files  running") && !test.stdout.contains("every"), "{}", test.stdout);
    assert_eq!(sb.run(&["mcp", "test", "garbage"]).code, 1);
    let unknown = sb.run(&["mcp", "test", "nope"]);
    assert!(unknown.code == 1 && unknown.stderr.contains("no server `nope`"), "{}", unknown.stderr);
    assert!(std::fs::read_to_string(sb.root().join("logs/mcp-files.log")).unwrap().contains("ready: "));
    all_gone(&sb, &["every", "files", "garbage"]);
}

#[test]
fn an_agent_turn_calls_an_mcp_tool_and_uses_its_result() {
    let sb = Sandbox::new();
    let notes = sb.home().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("today.md"), "hello from the notes\n").unwrap();
    let Some(servers) = real_servers(&notes) else { return };
    // The model names the file the way the filesystem server wants it: absolute.
    let path = Value::from(notes.join("today.md").to_str().unwrap()).wire();
    let fake = fake_provider(vec![
        Canned::tool_call(
            "mcp__files__read_text_file",
            &format!(r#"{{"path":{}}}"#, String::from_utf8(path).unwrap()),
        ),
        Canned::tool_call("mcp__every__get-env", "{}"),
        Canned::ok(final_stream("The note says hello.")),
    ]);
    sb.configure_fake_model(fake.port, &format!("{servers}tools:\n  deny: [every.echo]\n"));
    let env_file = sb.root().join(".env");
    let dotenv = std::fs::read_to_string(&env_file).unwrap();
    std::fs::write(&env_file, format!("{dotenv}NOTES_TOKEN=tok-from-dotenv\n")).unwrap();
    let run = sb
        .cmd(&["chat", "--once", "what do my notes say today?"])
        .env("OPENAI_API_KEY", "sk-must-not-reach-servers-0123456789")
        .output()
        .unwrap();
    let run = common::Run::from(run);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "The note says hello.");
    let offered = tool_names(&fake, 0);
    for name in ["read_file", "mcp__files__read_text_file", "mcp__every__get-env", "mcp__every__get-sum"] {
        assert!(offered.contains(&name.to_owned()), "{name} in {offered:?}");
    }
    assert!(!offered.contains(&"mcp__every__echo".to_owned()), "tools.deny: every.echo");
    assert_eq!(last_message(&fake, 1).trim(), "hello from the notes");
    let env = last_message(&fake, 2);
    assert!(env.contains("tok-from-dotenv"), "configured env reaches the server: {env}");
    assert!(!env.contains("sk-must-not-reach"), "alpi's own environment stays behind: {env}");
    all_gone(&sb, &["every", "files"]);
}

/// A profile with the MCP server `well` and a model that calls its echo in each of
/// two turns ("one", then "two"), answering "first done" and "second done".
fn two_echo_turns_with_server_well() -> (FakeProvider, Sandbox) {
    let fake = fake_provider(vec![
        Canned::tool_call("mcp__well__echo", r#"{"text":"one"}"#),
        Canned::ok(final_stream("first done")),
        Canned::tool_call("mcp__well__echo", r#"{"text":"two"}"#),
        Canned::ok(final_stream("second done")),
    ]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, &format!("mcp:\n  servers:\n{}", misbehaving("well", "")));
    (fake, sb)
}

#[test]
fn the_chat_keeps_one_server_for_the_session_and_tools_lists_it() {
    let (fake, sb) = two_echo_turns_with_server_well();
    let run = sb.run_with_stdin(&[], "/tools\nfirst\nsecond\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("MCP server well · 3 tools\n  mcp__well__echo (well.echo) Echo text back"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("first done") && run.stdout.contains("second done"), "{}", run.stdout);
    assert_eq!(last_message(&fake, 1), "echo: one");
    assert_eq!(last_message(&fake, 3), "echo: two");
    let log = std::fs::read_to_string(sb.root().join("logs/mcp-well.log")).unwrap();
    assert_eq!(log.matches(" started ").count(), 1, "one server for the whole session: {log}");
    all_gone(&sb, &["well"]);
}

#[test]
fn the_daemon_starts_servers_up_front_keeps_them_across_asks_and_stops_them() {
    let (fake, sb) = two_echo_turns_with_server_well();
    sb.ok(&["profile", "create", "phone"]);
    let phone_key = sb.ok(&["-p", "phone", "peers", "key"]).stdout.trim().to_owned();
    let home_key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "phone", &phone_key, "--allow", "link.ask"]);
    sb.ok(&["-p", "phone", "peers", "add", "home", &home_key]);
    let mut daemon = sb.daemon(&[]);
    let log = sb.root().join("logs/mcp-well.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("ready: ") {
        assert!(Instant::now() < deadline, "the daemon did not start the server before any ask");
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = sb.run_with_stdin(&["-p", "phone"], "@home first\n@home second\n");
    assert_eq!(run.stdout, "home: first done\nhome: second done\n", "{}", run.stderr);
    assert_eq!(last_message(&fake, 1), "echo: one");
    assert_eq!(last_message(&fake, 3), "echo: two");
    let pids = started_pids(&log);
    assert_eq!(pids.len(), 1, "one server for both asks");
    let term = std::process::Command::new("kill").args(["-TERM", &daemon.child.id().to_string()]).status();
    assert!(term.unwrap().success());
    assert!(daemon.child.wait().unwrap().success());
    assert!(gone(pids[0]), "the server outlived the daemon");
    assert!(std::fs::read_to_string(&log).unwrap().contains(" stopped"));
}
