//! The Telegram gateway through the daemon, against a local server speaking the Bot API
//! wire format and the local fake LLM: allowed and denied chats, the offset kept
//! across a restart (no double reply, no lost message), old messages skipped on a
//! first start, 4,096-character pieces, shortcuts, and the circuit breaker.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use alpi::json::{self, Value};
use common::{Sandbox, eventually};
use fake_openai::{Canned, FakeProvider, fake_provider, final_stream};
use fake_telegram::FakeTelegram;

fn gateway_profile(fake: &FakeProvider, telegram: &FakeTelegram, allowed: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let env = format!(
        "FAKE_KEY=test-key\nTELEGRAM_BOT_TOKEN={}\nTELEGRAM_ALLOWED_CHAT_IDS={allowed}\nTELEGRAM_API_BASE={}\n",
        telegram.token,
        telegram.base()
    );
    std::fs::write(sb.root().join(".env"), env).unwrap();
    sb
}

#[test]
fn an_allowed_chat_is_answered_in_its_own_session_and_others_are_ignored() {
    let fake =
        fake_provider(vec![Canned::ok(final_stream("Hello Jane!")), Canned::ok(final_stream("Still here."))]);
    let telegram = FakeTelegram::start();
    let sb = gateway_profile(&fake, &telegram, "42, 43");
    telegram.message(7, "let me in", 0);
    telegram.message(42, "hello", 0);
    let _daemon = sb.daemon(&[]);
    assert!(telegram.wait_for(|s| s.sent.len() == 1), "no reply");
    assert_eq!(telegram.sent_texts(), [(42, "Hello Jane!".to_owned())]);
    let prompt = String::from_utf8(fake.requests.lock().unwrap()[0].wire()).unwrap();
    assert!(prompt.contains("[INBOUND TELEGRAM from Jane (chat 42)"), "{prompt}");
    assert!(telegram.state.0.lock().unwrap().actions >= 1, "typing shown");

    telegram.message(42, "/help", 0);
    telegram.message(42, "and now?", 0);
    assert!(telegram.wait_for(|s| s.sent.len() == 3));
    let texts = telegram.sent_texts();
    assert!(texts[1].1.contains("/new"), "{texts:?}");
    assert_eq!(texts[2].1, "Still here.");
    let second = String::from_utf8(fake.requests.lock().unwrap()[1].wire()).unwrap();
    assert!(second.contains("Hello Jane!"), "the chat's session carries on: {second}");
    let map = json::parse(&std::fs::read(sb.root().join("gateway/sessions/_map.json")).unwrap()).unwrap();
    assert!(map.get("42").and_then(Value::as_str).is_some());
    assert_eq!(fake.requests.lock().unwrap().len(), 2, "chat 7 never reached the model");
    let status = sb.ok(&["daemon", "status"]).stdout;
    assert!(status.contains("scheduler: 0 job(s) · telegram: healthy"), "{status}");
}

#[test]
fn the_offset_survives_a_restart_without_double_or_lost_replies() {
    let fake = fake_provider(vec![Canned::ok(final_stream("one")), Canned::ok(final_stream("two"))]);
    let telegram = FakeTelegram::start();
    let sb = gateway_profile(&fake, &telegram, "42");
    telegram.message(42, "first", 0);
    let daemon = sb.daemon(&[]);
    assert!(telegram.wait_for(|s| s.sent.len() == 1));
    assert!(eventually(5, || sb.root().join("gateway/telegram-state.json").exists()));
    daemon.terminate();
    telegram.message(42, "while you were away", 0);
    let _daemon = sb.daemon(&[]);
    assert!(telegram.wait_for(|s| s.sent.len() == 2));
    assert!(telegram.wait_for(|s| s.polls >= 3), "polling goes on");
    assert_eq!(telegram.sent_texts().iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(), ["one", "two"]);
    let offsets = telegram.state.0.lock().unwrap().offsets.clone();
    assert_eq!(offsets[0], None, "the very first poll has no offset");
    assert!(offsets[1..].iter().all(Option::is_some), "{offsets:?}");
}

#[test]
fn a_first_start_skips_old_messages_and_long_replies_come_in_pieces() {
    let long = "x".repeat(9000);
    let fake = fake_provider(vec![Canned::ok(final_stream(&long))]);
    let telegram = FakeTelegram::start();
    let sb = gateway_profile(&fake, &telegram, "42");
    telegram.message(42, "from yesterday", 86_400);
    telegram.message(42, "now", 0);
    let _daemon = sb.daemon(&[]);
    assert!(telegram.wait_for(|s| s.sent.len() == 3));
    let sizes: Vec<usize> = telegram.sent_texts().iter().map(|(_, t)| t.len()).collect();
    assert_eq!(sizes, [4096, 4096, 808]);
    let prompt = String::from_utf8(fake.requests.lock().unwrap()[0].wire()).unwrap();
    assert!(!prompt.contains("from yesterday") && prompt.contains("now"), "{prompt}");
}

#[test]
fn repeated_failures_trip_the_breaker() {
    let fake = fake_provider(vec![]);
    let telegram = FakeTelegram::start();
    telegram.state.0.lock().unwrap().fail_next = 5;
    let sb = gateway_profile(&fake, &telegram, "42");
    let _daemon = sb.daemon(&[]);
    let breaker = sb.root().join("gateway/.breaker-state.json");
    let tripped = eventually(20, || {
        let doc = std::fs::read(&breaker).ok().and_then(|b| json::parse(&b).ok());
        doc.and_then(|d| d.get("telegram")?.get("state")?.as_str().map(str::to_owned)).as_deref()
            == Some("disabled")
    });
    assert!(tripped, "{:?}", std::fs::read_to_string(&breaker));
    let polls = telegram.state.0.lock().unwrap().polls;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(telegram.state.0.lock().unwrap().polls, polls, "a disabled gateway rests");
    let doctor = sb.run(&["doctor", "--offline"]).stdout;
    assert!(
        doctor.lines().any(|l| l.starts_with("warn") && l.contains("telegram") && l.contains("disabled")),
        "{doctor}"
    );
}

#[test]
fn a_notify_jobs_result_is_pushed_to_the_owner() {
    let fake = fake_provider(vec![Canned::ok(final_stream("Backup done."))]);
    let telegram = FakeTelegram::start();
    let sb = gateway_profile(&fake, &telegram, "42");
    let _daemon = sb.daemon(&[]);
    let added = sb.ok(&[
        "schedule",
        "add",
        "--cron",
        "0 3 * * *",
        "--prompt",
        "back up",
        "--title",
        "nightly",
        "--notify",
    ]);
    let id = added.stdout.split_whitespace().nth(1).unwrap().to_owned();
    sb.ok(&["schedule", "fire", &id]);
    assert!(telegram.wait_for(|s| !s.sent.is_empty()), "nothing pushed");
    assert_eq!(telegram.sent_texts(), [(42, "nightly\n\nBackup done.".to_owned())]);
    let inbox = std::fs::read_to_string(sb.root().join("outputs/outputs.jsonl")).unwrap();
    assert!(inbox.contains(r#""delivered_to":["telegram"]"#), "{inbox}");
}
