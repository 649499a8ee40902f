//! The turn loop with a scripted model (no network): tool steps feed results back,
//! spend is booked and the daily cap stops the next call, interruption skips the
//! remaining tools, and a model that never stops is cut off.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use alpi::agent::approval::Policy;
use alpi::agent::ledger::Ledger;
use alpi::agent::memory::MemoryStore;
use alpi::agent::provider::{ChatRequest, Event, Message, Role, ToolCall};
use alpi::agent::tools::{self, NoApprover, ToolEnv};
use alpi::agent::turn::{Model, ModelError, Progress, TurnError, TurnSettings, run_turn};

/// Plays back one list of events per call and remembers what it was sent.
struct Script {
    replies: RefCell<Vec<Vec<Event>>>,
    seen: RefCell<Vec<ChatRequest>>,
}

impl Script {
    fn new(replies: Vec<Vec<Event>>) -> Self {
        Self { replies: RefCell::new(replies), seen: RefCell::new(Vec::new()) }
    }
}

impl Model for Script {
    fn complete(
        &self,
        req: &ChatRequest,
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
    ToolEnv {
        workspace: f.dir.path().join("ws"),
        memory: MemoryStore::new(&f.dir.path().join("memories")),
        policy: Policy::default(),
        approver,
        approval_log: f.dir.path().join("approval.log"),
        result_chars: tools::RESULT_CHARS,
        deny: vec![],
        fetch_filter: Some(tools::web::is_public),
    }
}

fn template() -> ChatRequest {
    ChatRequest {
        model: "script".into(),
        system: "be brief".into(),
        tools: tools::specs(&[]),
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
    let cancel = AtomicBool::new(false);
    let settings =
        TurnSettings { max_steps: 10, ledger: &f.ledger, daily_usd: None, peer: None, cancel: &cancel };
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
    let cancel = AtomicBool::new(false);
    let settings = TurnSettings {
        max_steps: 10,
        ledger: &f.ledger,
        daily_usd: Some(0.5),
        peer: Some("laptop"),
        cancel: &cancel,
    };
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
    let cancel = AtomicBool::new(false);
    let settings =
        TurnSettings { max_steps: 10, ledger: &f.ledger, daily_usd: None, peer: None, cancel: &cancel };
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
    let cancel = AtomicBool::new(false);
    let settings =
        TurnSettings { max_steps: 3, ledger: &f.ledger, daily_usd: None, peer: None, cancel: &cancel };
    let err = run_turn(&model, &template(), &mut vec![], "go", &mut env, &settings, &mut |_| {}).unwrap_err();
    assert!(matches!(err, TurnError::TooManySteps(3)), "{err}");
}
