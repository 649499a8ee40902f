//! `alpi chat --once` end to end against a local server speaking the OpenAI chat
//! completions wire format (SSE, tool calls split across chunks): the real binary,
//! its HTTP client, the turn loop and the tools, with no network beyond loopback.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;

use alpi::json::{self, Value};
use common::Sandbox;
use fake_openai::{Canned, fake_provider, final_stream, sse};

fn tool_call_stream() -> String {
    sse(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Writing it. "}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"write_file","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"hel"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"lo.txt\",\"content\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"hi there\"}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30}}"#,
    ])
}

#[test]
fn a_tool_using_turn_streams_writes_the_file_and_keeps_the_books() {
    let fake = fake_provider(vec![
        Canned::ok(tool_call_stream()),
        Canned::ok(final_stream("Done: hello.txt says hi there.")),
    ]);
    let sb = Sandbox::new();
    sb.configure_fake_model(
        fake.port,
        "pricing:\n  fake/test-model:\n    input_per_mtok: 1.0\n    output_per_mtok: 2.0\n",
    );
    let run = sb.run(&["chat", "--once", "make hello.txt"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Writing it. Done: hello.txt says hi there.\n");
    assert!(run.stderr.contains("→ write_file") && run.stderr.contains("✓ write_file"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(sb.home().join("ws/hello.txt")).unwrap(), "hi there");

    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].get("model").and_then(Value::as_str), Some("test-model"));
    let second = requests[1].get("messages").and_then(Value::as_array).unwrap();
    let tool_msg = second.iter().find(|m| m.get("role").and_then(Value::as_str) == Some("tool")).unwrap();
    assert_eq!(tool_msg.get("tool_call_id").and_then(Value::as_str), Some("call_1"));

    let sessions: Vec<_> = std::fs::read_dir(sb.root().join("sessions")).unwrap().flatten().collect();
    assert_eq!(sessions.len(), 1);
    let session = json::parse(&std::fs::read(sessions[0].path()).unwrap()).unwrap();
    assert_eq!(session.get("input_tokens").and_then(Value::as_u64), Some(320));
    let ledger = json::parse(&std::fs::read(sb.root().join("logs/ledger.json")).unwrap()).unwrap();
    let usd = ledger.get("profile").and_then(|p| p.get("usd")).and_then(Value::as_f64).unwrap();
    assert!((usd - (320.0 * 1.0 + 40.0 * 2.0) / 1e6).abs() < 1e-12, "{usd}");
    let agent_log = std::fs::read_to_string(sb.root().join("logs/agent.log")).unwrap();
    assert!(agent_log.contains("surface=cli") && agent_log.contains("tools=write_file"), "{agent_log}");
}

#[test]
fn json_output_and_a_prompt_from_stdin() {
    let fake = fake_provider(vec![Canned::ok(final_stream("four"))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let run = sb.run_with_stdin(&["chat", "--once", "-", "--json"], "what is 2+2?\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json::parse(run.stdout.trim().as_bytes()).unwrap();
    assert_eq!(doc.get("text").and_then(Value::as_str), Some("four"));
    assert_eq!(doc.get("tokens_in").and_then(Value::as_u64), Some(200));
    assert_eq!(doc.get("session_id").and_then(Value::as_str).map(str::len), Some(12));
    let sent = &fake.requests.lock().unwrap()[0];
    let user = sent.get("messages").and_then(Value::as_array).unwrap().last().unwrap();
    assert_eq!(user.get("content").and_then(Value::as_str), Some("what is 2+2?\n"));
}

#[test]
fn a_rate_limit_is_retried_before_anything_was_shown() {
    let fake = fake_provider(vec![
        Canned {
            status: 429,
            body: r#"{"error":{"message":"slow down"}}"#.into(),
            cut_at: None,
            hang: false,
        },
        Canned::ok(final_stream("ok after retry")),
    ]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "runtime:\n  retry_backoff_s: 0.05\n");
    let run = sb.run(&["chat", "--once", "hi"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "ok after retry");
}

#[test]
fn a_bad_key_is_one_clear_line_naming_what_to_set() {
    let fake = fake_provider(vec![Canned {
        status: 401,
        body: r#"{"error":{"message":"invalid api key"}}"#.into(),
        cut_at: None,
        hang: false,
    }]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let run = sb.run(&["chat", "--once", "hi"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 401") && run.stderr.contains("invalid api key"), "{}", run.stderr);
    assert!(run.stderr.contains("FAKE_KEY"), "{}", run.stderr);
}

#[test]
fn a_stream_cut_mid_answer_is_an_error_not_a_silent_half_answer() {
    let body = final_stream("this answer is cut");
    let cut = body.find("stop").unwrap();
    let fake = fake_provider(vec![Canned { status: 200, body, cut_at: Some(cut), hang: false }]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let run = sb.run(&["chat", "--once", "hi"]);
    assert_eq!(run.code, 1, "stdout: {}", run.stdout);
    assert!(run.stderr.starts_with("alpi: "), "{}", run.stderr);
}

#[test]
fn without_a_model_it_says_how_to_add_one() {
    let sb = Sandbox::new();
    let run = sb.run(&["chat", "--once", "hi"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no model configured") && run.stderr.contains("config.yaml"),
        "{}",
        run.stderr
    );
}

#[test]
fn link_ask_from_a_peer_runs_a_turn_on_the_daemon_profile() {
    use alpi::alp::client::{Client, Route};
    use alpi::alp::identity::Keypair;
    use alpi::alp::peers::Peer;
    use alpi::json::Object;

    let fake = fake_provider(vec![Canned::ok(final_stream("hello from the agent"))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    sb.ok(&["profile", "create", "caller"]);
    let caller_key = sb.ok(&["-p", "caller", "peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "caller", &caller_key, "--allow", "link.ask"]);
    let _daemon = sb.daemon(&[]);

    let pem = std::fs::read_to_string(sb.profile("caller").join("alp/secrets/alp_key.pem")).unwrap();
    let me = Keypair::from_seed(alpi::alp::identity::pem::decode_private(&pem).unwrap());
    let target_key = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    let peer = Peer::new("default", target_key.parse().unwrap(), vec![]);
    let route = Route::Unix(sb.root().join("alp/alp.sock"));
    let mut pieces = String::new();
    let params = Object::new().with("prompt", "say hello").with("stream", true);
    let reply = Client::new(&me)
        .call(&peer, &route, "link.ask", params, std::time::Duration::from_secs(30), &mut |c| {
            if let Some(t) = c.get("text").and_then(Value::as_str) {
                pieces.push_str(t);
            }
        })
        .unwrap();
    assert_eq!(pieces, "hello from the agent");
    assert_eq!(reply.result.get("text").and_then(Value::as_str), Some("hello from the agent"));
    let ledger = json::parse(&std::fs::read(sb.root().join("logs/ledger.json")).unwrap()).unwrap();
    assert!(ledger.get("by_peer").and_then(|p| p.get("caller")).is_some(), "spend booked to the asking peer");
    let agent_log = std::fs::read_to_string(sb.root().join("logs/agent.log")).unwrap();
    assert!(agent_log.contains("surface=alp"), "{agent_log}");
}

/// A provider that sends its response head and then nothing.
fn stalled() -> Canned {
    Canned { cut_at: Some(0), hang: true, ..Canned::ok("") }
}

#[test]
fn a_stalled_provider_times_out_with_a_line_naming_it() {
    let fake = fake_provider(vec![stalled()]);
    let sb = Sandbox::new();
    let runtime = "runtime:\n  first_byte_timeout_s: 1\n  stream_idle_timeout_s: 1\n  max_retries: 0\n";
    sb.configure_fake_model(fake.port, runtime);
    let started = std::time::Instant::now();
    let run = sb.run(&["chat", "--once", "hi"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(run.stderr.contains("timed out") && run.stderr.contains("127.0.0.1"), "{}", run.stderr);
}

#[test]
fn a_failing_model_falls_back_to_the_next_in_fallback_models() {
    let fake = fake_provider(vec![stalled(), Canned::ok(final_stream("from the backup"))]);
    let sb = Sandbox::new();
    let extra =
        "fallback_models: [fake/backup-model]\nruntime:\n  stream_idle_timeout_s: 1\n  max_retries: 0\n";
    sb.configure_fake_model(fake.port, extra);
    let run = sb.run(&["chat", "--once", "hi"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "from the backup");
    let models: Vec<String> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.get("model").unwrap().as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, ["test-model", "backup-model"]);
}

fn anthropic_sse(events: &[&str]) -> String {
    events
        .iter()
        .map(|data| {
            let kind =
                json::parse(data.as_bytes()).unwrap().get("type").unwrap().as_str().unwrap().to_owned();
            format!("event: {kind}\ndata: {data}\n\n")
        })
        .collect()
}

#[test]
fn an_anthropic_model_uses_tools_over_the_messages_api() {
    let tool_step = anthropic_sse(&[
        r#"{"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":50,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"write_file","input":{}}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"path\":\"a.txt\","}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"content\":\"from claude\"}"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}}"#,
        r#"{"type":"message_stop"}"#,
    ]);
    let answer = anthropic_sse(&[
        r#"{"type":"message_start","message":{"id":"m2","type":"message","role":"assistant","content":[],"usage":{"input_tokens":80,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Wrote a.txt."}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}"#,
        r#"{"type":"message_stop"}"#,
    ]);
    let fake = fake_provider(vec![Canned::ok(tool_step), Canned::ok(answer)]);
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let ws = sb.home().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let config = format!("model: anthropic/claude-test\nworkspace: {}\n", ws.display());
    std::fs::write(sb.root().join("config.yaml"), config).unwrap();
    let env =
        format!("ANTHROPIC_API_KEY=sk-ant-test\nANTHROPIC_BASE_URL=http://127.0.0.1:{}/v1\n", fake.port);
    std::fs::write(sb.root().join(".env"), env).unwrap();
    let run = sb.run(&["chat", "--json", "--once", "write a.txt"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "from claude");
    let out = json::parse(run.stdout.trim().as_bytes()).unwrap();
    assert_eq!(out.get("text").unwrap().as_str(), Some("Wrote a.txt."));
    assert_eq!(out.get("tokens_in").unwrap().as_u64(), Some(130));
    assert_eq!(out.get("tokens_out").unwrap().as_u64(), Some(25));
    let heads = fake.heads.lock().unwrap();
    assert!(heads[0].starts_with("POST /v1/messages "), "{}", heads[0]);
    let lower = heads[0].to_ascii_lowercase();
    assert!(lower.contains("x-api-key: sk-ant-test") && lower.contains("anthropic-version:"), "{lower}");
    let second = &fake.requests.lock().unwrap()[1];
    let wire = String::from_utf8(second.wire()).unwrap();
    assert!(
        wire.contains(r#""type":"tool_result""#) && wire.contains(r#""tool_use_id":"toolu_1""#),
        "{wire}"
    );
}

#[test]
fn an_ollama_model_is_asked_its_window_and_chats_without_a_key() {
    let show = std::fs::read_to_string("tests/vectors/providers/ollama_show.json").unwrap();
    let fake = fake_provider(vec![Canned::ok(show), Canned::ok(final_stream("hello from llama"))]);
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let config = format!(
        "model: box/llama3.2\nproviders:\n  ollama:\n    - name: box\n      url: http://127.0.0.1:{}\n",
        fake.port
    );
    std::fs::write(sb.root().join("config.yaml"), config).unwrap();
    let run = sb.run(&["chat", "--once", "hi"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "hello from llama");
    let heads = fake.heads.lock().unwrap();
    assert!(heads[0].starts_with("POST /api/show "), "{}", heads[0]);
    assert!(heads[1].starts_with("POST /v1/chat/completions "), "{}", heads[1]);
    assert!(!heads[1].to_ascii_lowercase().contains("authorization"), "{}", heads[1]);
    assert_eq!(fake.requests.lock().unwrap()[1].get("model").unwrap().as_str(), Some("llama3.2"));
}
