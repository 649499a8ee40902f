//! The turn loop with a scripted model (no network): tool steps feed results back,
//! spend is booked and the daily cap stops the next call, interruption skips the
//! remaining tools, and a model that never stops is cut off.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use alpi::agent::ledger::Ledger;
use alpi::agent::provider::{ChatRequest, Event, Message, Role, ToolCall};
use alpi::agent::tools::{self, NoApprover, ToolEnv};
use alpi::agent::turn::{Cancel, Model, ModelError, Progress, TurnError, TurnSettings, run_turn};

/// Plays back one list of events per call and remembers what it was sent.
struct Script {
    replies: RefCell<Vec<Vec<Event>>>,
    seen: RefCell<Vec<ChatRequest>>,
    window: usize,
}

impl Script {
    fn new(replies: Vec<Vec<Event>>) -> Self {
        Self { replies: RefCell::new(replies), seen: RefCell::new(Vec::new()), window: 128_000 }
    }
}

/// A model whose every call fails as an overloaded provider would.
struct Down {
    calls: RefCell<usize>,
}

impl Model for Down {
    fn complete(
        &self,
        _: &ChatRequest,
        _: &Cancel,
        _: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<(), ModelError> {
        *self.calls.borrow_mut() += 1;
        Err(ModelError { message: "test/down returned HTTP 503".into(), retryable: true })
    }

    fn cost(&self, _: u64, _: u64) -> f64 {
        0.0
    }

    fn name(&self) -> &str {
        "test/down"
    }
}

impl Model for Script {
    fn complete(
        &self,
        req: &ChatRequest,
        _: &Cancel,
        on_event: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<(), ModelError> {
        self.seen.borrow_mut().push(req.clone());
        let mut replies = self.replies.borrow_mut();
        let events = if replies.is_empty() {
            vec![call("loop", "terminal", r#"{"command":"true"}"#)]
        } else {
            replies.remove(0)
        };
        for e in &events {
            if !on_event(e) {
                break;
            }
        }
        Ok(())
    }

    fn cost(&self, input: u64, output: u64) -> f64 {
        (input + output) as f64 * 0.001
    }

    fn name(&self) -> &str {
        "test/script"
    }

    fn context_window(&self) -> usize {
        self.window
    }
}

fn call(id: &str, name: &str, args: &str) -> Event {
    Event::ToolCall(ToolCall { id: id.into(), name: name.into(), arguments: args.into() })
}

fn usage(i: u64, o: u64) -> Event {
    Event::Usage { input_tokens: i, output_tokens: o }
}

fn text(t: &str) -> Event {
    Event::TextDelta(t.into())
}

struct Fixture {
    dir: tempfile::TempDir,
    ledger: Ledger,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ws")).unwrap();
    let ledger = Ledger::new(dir.path());
    Fixture { dir, ledger }
}

fn tool_env<'a>(f: &Fixture, approver: &'a mut NoApprover) -> ToolEnv<'a> {
    ToolEnv::new(f.dir.path().join("ws"), f.dir.path(), approver)
}

fn template() -> ChatRequest {
    ChatRequest {
        model: "script".into(),
        system: "be brief".into(),
        tools: tools::specs(&tools::Gate::default(), false),
        stream: true,
        ..Default::default()
    }
}

#[test]
fn tools_run_and_their_results_go_back_to_the_model() {
    let f = fixture();
    let model = Script::new(vec![
        vec![
            text("Let me look. "),
            call("c1", "write_file", r#"{"path":"a.txt","content":"hi"}"#),
            call("c2", "list_dir", "{}"),
            usage(10, 5),
        ],
        vec![text("Done: a.txt exists."), usage(20, 6)],
    ]);
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let settings = TurnSettings { max_steps: 10, ..TurnSettings::new(&f.ledger, &cancel) };
    let mut history = vec![];
    let mut shown = String::new();
    let mut tool_events = vec![];
    let result =
        run_turn(&model, &template(), &mut history, "make a file", &mut env, &settings, &mut |p| match p {
            Progress::Text(t) => shown.push_str(t),
            Progress::ToolFinished { name, ok, .. } => tool_events.push((name.to_owned(), ok)),
            Progress::ToolStarted { .. } => {}
        })
        .unwrap();
    assert_eq!(result.text, "Let me look. Done: a.txt exists.");
    assert_eq!(shown, result.text);
    assert_eq!((result.steps, result.tokens_in, result.tokens_out), (2, 30, 11));
    assert!((result.cost - 0.041).abs() < 1e-9);
    assert_eq!(tool_events, [("write_file".to_owned(), true), ("list_dir".to_owned(), true)]);
    assert_eq!(std::fs::read_to_string(f.dir.path().join("ws/a.txt")).unwrap(), "hi");
    // The second call saw the tool results, tied to their call ids.
    let second = &model.seen.borrow()[1];
    let results: Vec<&Message> = second.messages.iter().filter(|m| m.role == Role::Tool).collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].tool_call_id.as_deref(), Some("c2"));
    assert!(results[1].text.contains("a.txt"));
    assert_eq!(f.ledger.today(alpi::clock::now_micros()).tokens, 41);
}

#[test]
fn the_daily_cap_stops_the_next_model_call() {
    let f = fixture();
    let model = Script::new(vec![vec![call("c1", "list_dir", "{}"), usage(500, 500)], vec![text("never")]]);
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let settings =
        TurnSettings { daily_usd: Some(0.5), peer: Some("laptop"), ..TurnSettings::new(&f.ledger, &cancel) };
    let err = run_turn(&model, &template(), &mut vec![], "go", &mut env, &settings, &mut |_| {}).unwrap_err();
    assert!(matches!(err, TurnError::Budget(_)), "{err}");
    assert!(err.to_string().contains("budget.daily_usd"), "{err}");
    assert_eq!(model.seen.borrow().len(), 1);
}

#[test]
fn an_interrupt_skips_the_remaining_tools() {
    let f = fixture();
    let model = Script::new(vec![vec![
        call("c1", "terminal", r#"{"command":"echo first"}"#),
        call("c2", "terminal", r#"{"command":"echo second"}"#),
    ]]);
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let settings = TurnSettings { max_steps: 10, ..TurnSettings::new(&f.ledger, &cancel) };
    let mut history = vec![];
    let result = run_turn(&model, &template(), &mut history, "go", &mut env, &settings, &mut |p| {
        if let Progress::ToolFinished { .. } = p {
            cancel.store(true, Ordering::SeqCst); // Ctrl-C during the first tool
        }
    })
    .unwrap();
    assert!(result.interrupted);
    assert_eq!(result.tools.len(), 1);
    let skipped = history.iter().find(|m| m.tool_call_id.as_deref() == Some("c2")).unwrap();
    assert_eq!(skipped.text, "[skipped — interrupted]");
}

#[test]
fn a_model_that_never_answers_is_cut_off() {
    let f = fixture();
    let model = Script::new(vec![]);
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let settings = TurnSettings { max_steps: 3, ..TurnSettings::new(&f.ledger, &cancel) };
    let err = run_turn(&model, &template(), &mut vec![], "go", &mut env, &settings, &mut |_| {}).unwrap_err();
    assert!(matches!(err, TurnError::TooManySteps(3)), "{err}");
}

#[test]
fn a_failing_model_falls_back_to_the_next_before_any_output() {
    let f = fixture();
    let down = Down { calls: RefCell::new(0) };
    let backup = Script::new(vec![vec![text("from the backup"), usage(1, 1)]]);
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let fallbacks: [&dyn Model; 1] = [&backup];
    let settings = TurnSettings {
        fallbacks: &fallbacks,
        retries: 1,
        backoff: std::time::Duration::from_millis(1),
        ..TurnSettings::new(&f.ledger, &cancel)
    };
    let result = run_turn(&down, &template(), &mut vec![], "hi", &mut env, &settings, &mut |_| {}).unwrap();
    assert_eq!(result.text, "from the backup");
    assert_eq!(*down.calls.borrow(), 2, "one try and one retry before falling back");
    assert_eq!(backup.seen.borrow()[0].model, "test/script", "the request names the fallback model");
}

#[test]
fn with_no_fallback_left_the_providers_error_ends_the_turn() {
    let f = fixture();
    let down = Down { calls: RefCell::new(0) };
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let settings = TurnSettings { retries: 0, ..TurnSettings::new(&f.ledger, &cancel) };
    let err = run_turn(&down, &template(), &mut vec![], "hi", &mut env, &settings, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

#[test]
fn read_only_calls_of_one_step_all_run_and_answer_in_order() {
    let f = fixture();
    for name in ["a", "b", "c"] {
        std::fs::write(f.dir.path().join("ws").join(name), format!("content of {name}")).unwrap();
    }
    let model = Script::new(vec![
        vec![
            call("r1", "read_file", r#"{"path":"a"}"#),
            call("r2", "read_file", r#"{"path":"b"}"#),
            call("r3", "read_file", r#"{"path":"c"}"#),
        ],
        vec![text("read them")],
    ]);
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let settings = TurnSettings::new(&f.ledger, &cancel);
    let mut history = vec![];
    let mut finished = 0;
    let result = run_turn(&model, &template(), &mut history, "go", &mut env, &settings, &mut |p| {
        if let Progress::ToolFinished { ok, .. } = p {
            assert!(ok);
            finished += 1;
        }
    })
    .unwrap();
    assert_eq!(finished, 3);
    assert_eq!(result.tools.len(), 3);
    let results: Vec<&Message> = history.iter().filter(|m| m.role == Role::Tool).collect();
    for (m, (id, name)) in results.iter().zip([("r1", "a"), ("r2", "b"), ("r3", "c")]) {
        assert_eq!(m.tool_call_id.as_deref(), Some(id));
        assert!(m.text.contains(&format!("content of {name}")), "{}", m.text);
    }
}

#[test]
fn a_history_near_the_window_is_summarised_before_the_call() {
    let f = fixture();
    let mut model = Script::new(vec![vec![text("SUMMARY: user likes tea"), usage(3, 2)], vec![text("ok")]]);
    model.window = 2_000;
    let mut history = vec![Message::user("first question")];
    for i in 0..12 {
        history.push(Message::assistant(format!("answer {i} {}", "x".repeat(400)), vec![]));
        history.push(Message::user(format!("question {i}")));
    }
    let mut approver = NoApprover;
    let mut env = tool_env(&f, &mut approver);
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let settings = TurnSettings::new(&f.ledger, &cancel);
    let result =
        run_turn(&model, &template(), &mut history, "next", &mut env, &settings, &mut |_| {}).unwrap();
    assert_eq!(result.text, "ok");
    let seen = model.seen.borrow();
    assert!(seen[0].system.contains("summariz"), "the first call writes the summary");
    assert!(seen[0].tools.is_empty());
    let sent = &seen[1].messages;
    assert_eq!(sent[0].text, "first question");
    assert!(sent[1].text.contains("SUMMARY: user likes tea"));
    assert!(sent.len() <= 12, "{} messages sent", sent.len());
    assert_eq!(sent.last().unwrap().text, "next");
    assert_eq!(result.tokens_in, 3, "the summary call is booked");
}
