//! One agent turn: the model thinks, calls tools, sees their results, and answers —
//! up to `max_steps` model calls, with the daily budget checked before each call and
//! an interrupt flag checked between stream chunks and tool steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::ledger::{Ledger, Spend};
use super::provider::{ChatRequest, Event, Message, ToolCall};
use super::tools::{self, ToolEnv};
use crate::clock::now_micros;

/// What a model call can fail with, worded for the user.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    pub message: String,
    /// Worth another try (429, 5xx, a dropped connection) if nothing was shown yet.
    pub retryable: bool,
}

/// Set to interrupt a turn — from a Ctrl-C handler, or when an ALP caller leaves.
pub type Cancel = Arc<AtomicBool>;

/// Something that answers chat requests: the HTTP providers, or a test double.
pub trait Model {
    /// Streams one response; `on_event` returns false to stop reading. A set `cancel`
    /// may also end a silent wait early (the call then fails; the turn sees the flag).
    fn complete(
        &self,
        req: &ChatRequest,
        cancel: &Cancel,
        on_event: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<(), ModelError>;
    /// USD for these tokens (0 for local models).
    fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64;
    /// `provider/model`, as the user wrote it.
    fn name(&self) -> &str;
    /// Tokens the model can see at once; history is compacted as it nears this.
    fn context_window(&self) -> usize {
        super::compact::DEFAULT_WINDOW
    }
}

/// What the caller sees as the turn happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<'a> {
    Text(&'a str),
    ToolStarted { name: &'a str, arguments: &'a str },
    ToolFinished { name: &'a str, ok: bool, seconds: f64 },
}

/// Limits and the books a turn keeps.
pub struct TurnSettings<'a> {
    pub max_steps: usize,
    pub ledger: &'a Ledger,
    pub daily_usd: Option<f64>,
    /// The ALP peer this turn runs for, so its spend is booked to it.
    pub peer: Option<&'a str>,
    /// Set to interrupt: checked between stream chunks and between tool calls.
    pub cancel: &'a Cancel,
    /// `fallback_models`: tried in order when the active model fails before any output.
    pub fallbacks: &'a [&'a dyn Model],
    /// Extra tries of a failed call (`runtime.max_retries`).
    pub retries: u32,
    /// Wait before the first retry, doubled each time (`runtime.retry_backoff_s`).
    pub backoff: Duration,
}

impl<'a> TurnSettings<'a> {
    /// The defaults: 100 steps, no budget cap, 2 retries from 1.5 s, no fallbacks.
    pub fn new(ledger: &'a Ledger, cancel: &'a Cancel) -> Self {
        Self {
            max_steps: 100,
            ledger,
            daily_usd: None,
            peer: None,
            cancel,
            fallbacks: &[],
            retries: 2,
            backoff: Duration::from_millis(1500),
        }
    }
}

/// How a turn ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnResult {
    pub text: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost: f64,
    pub steps: usize,
    pub tools: Vec<super::session::ToolLog>,
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Budget(#[from] super::ledger::BudgetExceeded),
    #[error("stopped after {0} model calls without a final answer (tools.max_steps_per_turn)")]
    TooManySteps(usize),
}

/// Runs one turn on `history` (to which the prompt, answers and tool results are appended).
pub fn run_turn(
    model: &dyn Model,
    request: &ChatRequest,
    history: &mut Vec<Message>,
    prompt: &str,
    env: &mut ToolEnv<'_>,
    settings: &TurnSettings<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<TurnResult, TurnError> {
    let cancel = settings.cancel;
    history.push(Message::user(prompt));
    let mut result = TurnResult::default();
    let mut models = std::iter::once(model).chain(settings.fallbacks.iter().copied());
    let mut model = models.next().unwrap_or(model);
    loop {
        if result.steps >= settings.max_steps {
            return Err(TurnError::TooManySteps(settings.max_steps));
        }
        settings.ledger.check(settings.daily_usd, now_micros())?;
        result.steps += 1;
        super::compact::fit(model, request, history, settings, &mut result);
        let req = ChatRequest { messages: history.clone(), ..request.clone() };
        let step = loop {
            let req = ChatRequest { model: model.name().to_owned(), ..req.clone() };
            match call_with_retries(model, &req, settings, progress) {
                Ok(step) => break step,
                Err((e, false)) => match models.next() {
                    Some(next) => {
                        log::warn!("{e}; falling back to {}", next.name());
                        model = next;
                    }
                    None => return Err(e.into()),
                },
                Err((e, true)) => return Err(e.into()),
            }
        };
        book(model, &step, settings, &mut result);
        result.text.push_str(&step.text);
        history.push(Message::assistant(step.text, step.calls.clone()));
        if step.calls.is_empty() || step.interrupted {
            result.interrupted = step.interrupted;
            return Ok(result);
        }
        for (call, outcome) in
            step.calls.iter().zip(run_tools(&step.calls, env, cancel, progress, &mut result))
        {
            history.push(Message::tool_result(&call.id, outcome.text));
        }
        if cancel.load(Ordering::SeqCst) {
            result.interrupted = true;
            return Ok(result);
        }
    }
}

/// Books a model call's tokens and cost into the turn and the ledger.
pub(crate) fn book(model: &dyn Model, step: &Step, settings: &TurnSettings<'_>, result: &mut TurnResult) {
    let cost = model.cost(step.tokens_in, step.tokens_out);
    let spend = Spend { usd: cost, tokens: step.tokens_in + step.tokens_out };
    if let Err(e) = settings.ledger.record(spend, settings.peer, now_micros()) {
        log::warn!("could not record spend: {e}");
    }
    result.tokens_in += step.tokens_in;
    result.tokens_out += step.tokens_out;
    result.cost += cost;
}

/// Calls one model, retrying a 429, 5xx or dropped connection with backoff while
/// nothing of the answer has been shown. On failure, also whether text was shown.
pub(crate) fn call_with_retries(
    model: &dyn Model,
    req: &ChatRequest,
    settings: &TurnSettings<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Step, (ModelError, bool)> {
    let mut attempt = 0;
    loop {
        match call_model(model, req, settings.cancel, progress) {
            Ok(step) => return Ok(step),
            Err((e, false)) if e.retryable && attempt < settings.retries => {
                log::warn!("{e}; retrying");
                std::thread::sleep(settings.backoff * 2u32.pow(attempt.min(5)));
                attempt += 1;
            }
            Err(failure) => return Err(failure),
        }
    }
}

pub(crate) struct Step {
    pub(crate) text: String,
    pub(crate) calls: Vec<ToolCall>,
    pub(crate) tokens_in: u64,
    pub(crate) tokens_out: u64,
    pub(crate) interrupted: bool,
}

/// One model call; on failure, also whether any text had been shown.
pub(crate) fn call_model(
    model: &dyn Model,
    req: &ChatRequest,
    cancel: &Cancel,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Step, (ModelError, bool)> {
    let mut step =
        Step { text: String::new(), calls: Vec::new(), tokens_in: 0, tokens_out: 0, interrupted: false };
    let mut failure = None;
    let outcome = model.complete(req, cancel, &mut |event| {
        if cancel.load(Ordering::SeqCst) {
            step.interrupted = true;
            return false;
        }
        match event {
            Event::TextDelta(piece) => {
                step.text.push_str(piece);
                progress(Progress::Text(piece));
            }
            Event::ToolCall(call) => step.calls.push(call.clone()),
            Event::Usage { input_tokens, output_tokens } => {
                step.tokens_in = *input_tokens;
                step.tokens_out = *output_tokens;
            }
            Event::Done { .. } => {}
            Event::Error { message } => {
                failure =
                    Some(ModelError { message: format!("{}: {message}", model.name()), retryable: false });
                return false;
            }
        }
        true
    });
    let shown = !step.text.is_empty();
    if cancel.load(Ordering::SeqCst) {
        step.interrupted = true;
        return Ok(step);
    }
    match (outcome, failure) {
        (Err(e), _) | (Ok(()), Some(e)) => Err((e, shown)),
        (Ok(()), None) => Ok(step),
    }
}

/// Runs a step's tool calls: side by side when every one of them is read-only
/// ([`tools::parallel_safe`]), else one after another; results in call order.
fn run_tools(
    calls: &[ToolCall],
    env: &mut ToolEnv<'_>,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Progress<'_>),
    result: &mut TurnResult,
) -> Vec<tools::Outcome> {
    let parallel = calls.len() > 1 && calls.iter().all(|c| tools::parallel_safe(&c.name));
    if !parallel || cancel.load(Ordering::SeqCst) {
        return calls
            .iter()
            .map(|call| {
                if cancel.load(Ordering::SeqCst) {
                    return tools::Outcome::fail("[skipped — interrupted]");
                }
                progress(Progress::ToolStarted { name: &call.name, arguments: &call.arguments });
                let started = Instant::now();
                let outcome = tools::run(&call.name, &call.arguments, env);
                finish(call, outcome, started.elapsed().as_secs_f64(), progress, result)
            })
            .collect();
    }
    for call in calls {
        progress(Progress::ToolStarted { name: &call.name, arguments: &call.arguments });
    }
    let started = Instant::now();
    let env: &ToolEnv<'_> = env;
    let outcomes: Vec<(tools::Outcome, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = calls
            .iter()
            .map(|call| {
                let detached = env.detached();
                scope.spawn(move || (detached.run(&call.name, &call.arguments), Instant::now()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (tools::Outcome::fail("the tool crashed"), Instant::now())))
            .collect()
    });
    calls
        .iter()
        .zip(outcomes)
        .map(|(call, (outcome, ended))| {
            let seconds = ended.duration_since(started).as_secs_f64();
            finish(call, outcome, seconds, progress, result)
        })
        .collect()
}

/// Reports a finished call and logs it into the turn.
fn finish(
    call: &ToolCall,
    outcome: tools::Outcome,
    seconds: f64,
    progress: &mut dyn FnMut(Progress<'_>),
    result: &mut TurnResult,
) -> tools::Outcome {
    progress(Progress::ToolFinished { name: &call.name, ok: outcome.ok, seconds });
    result.tools.push(super::session::ToolLog {
        at: now_micros() as f64 / 1e6 - seconds,
        name: call.name.clone(),
        args: call.arguments.clone(),
        result: outcome.text.clone(),
        ok: outcome.ok,
        duration_s: seconds,
    });
    outcome
}
