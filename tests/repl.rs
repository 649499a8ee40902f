//! The line REPL end to end, against the local OpenAI-format server: piped input (no
//! prompts, one reply per line), slash commands, `-c`, `@peer` over ALP, and — through
//! a real pseudo-terminal — streaming, Ctrl-C and the inline approval question.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;
#[path = "common/pty.rs"]
mod pty;

use alpi::json::Value;
use common::Sandbox;
use fake_openai::{Canned, fake_provider, final_stream, sse};
use pty::Pty;

/// The texts of the messages the model was sent in request `n`.
fn sent_texts(fake: &fake_openai::FakeProvider, n: usize) -> Vec<String> {
    let requests = fake.requests.lock().unwrap();
    let messages = requests[n].get("messages").and_then(Value::as_array).unwrap();
    messages.iter().filter_map(|m| m.get("content").and_then(Value::as_str).map(str::to_owned)).collect()
}

#[test]
fn three_piped_lines_get_three_replies_and_nothing_else_on_stdout() {
    let fake = fake_provider(vec![
        Canned::ok(final_stream("A")),
        Canned::ok(final_stream("B")),
        Canned::ok(final_stream("C")),
    ]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let run = sb.run_with_stdin(&[], "one\ntwo\nthree\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "A\nB\nC\n");
    assert_eq!(run.stderr.matches("fake/test-model · ").count(), 3, "a status line per turn: {}", run.stderr);
    let third = sent_texts(&fake, 2);
    assert!(third.ends_with(&["one", "A", "two", "B", "three"].map(String::from)), "{third:?}");
}

#[test]
fn without_a_model_commands_work_and_a_message_gets_one_hint() {
    let sb = Sandbox::new();
    let run = sb.run_with_stdin(&["chat"], "/help\nhello there\n/nonsense\n/s\n/stat\n@nobody hi\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("/model") && run.stdout.contains("@id text"), "{}", run.stdout);
    assert_eq!(
        run.stderr.matches("no model configured").count(),
        3,
        "at start and per message: {}",
        run.stderr
    );
    assert!(run.stderr.contains("alpi setup"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown command /nonsense — /help lists them"), "{}", run.stderr);
    assert!(run.stderr.contains("/s could be /status /sessions"), "{}", run.stderr);
    assert!(run.stdout.contains("profile   default"), "prefix /stat runs /status: {}", run.stdout);
}

#[test]
fn model_switches_for_the_following_turns() {
    let fake = fake_provider(vec![Canned::ok(final_stream("one")), Canned::ok(final_stream("two"))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let run = sb.run_with_stdin(&[], "first\n/model fake/other-model\nsecond\n/model\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let models: Vec<String> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.get("model").unwrap().as_str().unwrap().into())
        .collect();
    assert_eq!(models, ["test-model", "other-model"]);
    assert!(run.stdout.contains("model: fake/other-model"), "{}", run.stdout);
}

#[test]
fn continue_picks_up_the_newest_session() {
    let fake = fake_provider(vec![Canned::ok(final_stream("noted: tea")), Canned::ok(final_stream("tea"))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    sb.run_with_stdin(&[], "I drink tea\n");
    let run = sb.run_with_stdin(&["-c"], "what do I drink?\n/sessions\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("continuing session"), "{}", run.stderr);
    assert_eq!(sent_texts(&fake, 1)[1..], ["I drink tea", "noted: tea", "what do I drink?"]);
    assert!(run.stdout.contains("2 turns  I drink tea"), "one session, now two turns: {}", run.stdout);
}

#[test]
fn a_mention_goes_to_the_pinned_peer_with_no_model_call_here() {
    let fake = fake_provider(vec![Canned::ok(final_stream("hello from home"))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    sb.ok(&["profile", "create", "phone"]);
    let phone_key = sb.ok(&["-p", "phone", "peers", "key"]).stdout.trim().to_owned();
    let home_key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "phone", &phone_key, "--allow", "link.ask"]);
    sb.ok(&["-p", "phone", "peers", "add", "home", &home_key]);
    let _daemon = sb.daemon(&[]);
    let run = sb.run_with_stdin(&["-p", "phone"], "@home say hi\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "home: hello from home\n");
    assert_eq!(fake.requests.lock().unwrap().len(), 1, "only the peer's model was called");
    assert_eq!(sent_texts(&fake, 0).last().map(String::as_str), Some("say hi"));
}

fn repl_on_a_pty(sb: &Sandbox) -> Pty {
    let mut cmd = sb.cmd(&[]);
    cmd.env("TERM", "xterm").env_remove("NO_COLOR");
    Pty::spawn(cmd)
}

#[test]
fn ctrl_c_stops_a_streaming_turn_and_the_prompt_comes_back() {
    let first = r#"{"choices":[{"index":0,"delta":{"content":"Thinking about it"}}]}"#;
    let body = sse(&[first]);
    let stalls = Canned { cut_at: Some(format!("data: {first}\n\n").len()), hang: true, ..Canned::ok(body) };
    let fake = fake_provider(vec![stalls, Canned::ok(final_stream("fine"))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let mut term = repl_on_a_pty(&sb);
    let at = term.expect("› ");
    term.line("tell me a long story");
    let at = term.expect_from(at, "Thinking about it");
    term.ctrl_c();
    let at = term.expect_from(at, "(interrupted)");
    let at = term.expect_from(at, "› ");
    term.line("ok then");
    term.expect_from(at, "fine");
    term.ctrl_d();
    assert_eq!(term.wait(), Some(0));

    let sessions: Vec<_> = std::fs::read_dir(sb.root().join("sessions")).unwrap().flatten().collect();
    assert_eq!(sessions.len(), 1);
    let saved = alpi::agent::session::Session::load(&sessions[0].path()).unwrap();
    assert_eq!(saved.turns.len(), 2);
    assert!(saved.turns[0].interrupted);
    assert_eq!(saved.turns[0].assistant, "Thinking about it");
}

#[test]
fn two_ctrl_c_at_the_prompt_quit() {
    let sb = Sandbox::new();
    let mut term = repl_on_a_pty(&sb);
    term.expect("› ");
    term.ctrl_c();
    term.expect("Ctrl-C again to quit");
    term.ctrl_c();
    assert_eq!(term.wait(), Some(130));
}

#[test]
fn a_caution_command_is_asked_inline_and_d_refuses_it() {
    let call = sse(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"terminal","arguments":"{\"command\":\"rm -r build\"}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ]);
    let fake = fake_provider(vec![Canned::ok(call), Canned::ok(final_stream("Left it alone."))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let build = sb.home().join("ws/build");
    std::fs::create_dir_all(&build).unwrap();
    let mut term = repl_on_a_pty(&sb);
    let at = term.expect("› ");
    term.line("clean the build dir");
    let at = term.expect_from(at, "[d]eny: ");
    term.line("d");
    let at = term.expect_from(at, "Left it alone.");
    term.expect_from(at, "› ");
    term.ctrl_d();
    assert_eq!(term.wait(), Some(0));
    assert!(build.exists(), "the refused command did not run");
    let tool_result = sent_texts(&fake, 1).last().cloned().unwrap();
    assert!(tool_result.contains("denied") || tool_result.contains("refused"), "{tool_result}");
    let log = std::fs::read_to_string(sb.root().join("logs/approval.log")).unwrap();
    assert!(log.contains("rm -r build"), "{log}");
}
