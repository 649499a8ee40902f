//! One agent turn: the model thinks, calls tools, sees their results, and answers —
//! up to `max_steps` model calls, with the daily budget checked before each call and
//! an interrupt flag checked between stream chunks and tool steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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

/// Something that answers chat requests: the HTTP providers, or a test double.
pub trait Model {
    /// Streams one response; `on_event` returns false to stop reading (interrupt).
    fn complete(&self, req: &ChatRequest, on_event: &mut dyn FnMut(&Event) -> bool)
    -> Result<(), ModelError>;
    /// USD for these tokens (0 for local models).
    fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64;
    /// `provider/model`, as the user wrote it.
    fn name(&self) -> &str;
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
    pub cancel: &'a AtomicBool,
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
    loop {
        if result.steps >= settings.max_steps {
            return Err(TurnError::TooManySteps(settings.max_steps));
        }
        settings.ledger.check(settings.daily_usd, now_micros())?;
        result.steps += 1;
        let req = ChatRequest { messages: history.clone(), ..request.clone() };
        let step = call_with_retries(model, &req, cancel, progress)?;
        let cost = model.cost(step.tokens_in, step.tokens_out);
        let spend = Spend { usd: cost, tokens: step.tokens_in + step.tokens_out };
        if let Err(e) = settings.ledger.record(spend, settings.peer, now_micros()) {
            log::warn!("could not record spend: {e}");
        }
        result.tokens_in += step.tokens_in;
        result.tokens_out += step.tokens_out;
        result.cost += cost;
        result.text.push_str(&step.text);
        history.push(Message::assistant(step.text, step.calls.clone()));
        if step.calls.is_empty() || step.interrupted {
            result.interrupted = step.interrupted;
            return Ok(result);
        }
        for call in &step.calls {
            let outcome = if cancel.load(Ordering::SeqCst) {
                tools::Outcome::fail("[skipped — interrupted]")
            } else {
                run_tool(call, env, progress, &mut result)
            };
            history.push(Message::tool_result(&call.id, outcome.text));
        }
        if cancel.load(Ordering::SeqCst) {
            result.interrupted = true;
            return Ok(result);
        }
    }
}

/// Calls made per model step at most: a 429, 5xx or dropped connection is retried with
/// backoff, but only while nothing of the answer has been shown.
pub const ATTEMPTS: u32 = 3;

fn call_with_retries(
    model: &dyn Model,
    req: &ChatRequest,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Step, ModelError> {
    let mut attempt = 1;
    loop {
        match call_model(model, req, cancel, progress) {
            Ok(step) => return Ok(step),
            Err((e, shown)) if e.retryable && !shown && attempt < ATTEMPTS => {
                log::warn!("{e}; retrying");
                std::thread::sleep(super::model::backoff(attempt));
                attempt += 1;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

struct Step {
    text: String,
    calls: Vec<ToolCall>,
    tokens_in: u64,
    tokens_out: u64,
    interrupted: bool,
}

/// One model call; on failure, also whether any text had been shown.
fn call_model(
    model: &dyn Model,
    req: &ChatRequest,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Step, (ModelError, bool)> {
    let mut step =
        Step { text: String::new(), calls: Vec::new(), tokens_in: 0, tokens_out: 0, interrupted: false };
    let mut failure = None;
    let outcome = model.complete(req, &mut |event| {
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
    match (outcome, failure) {
        (Err(e), _) | (Ok(()), Some(e)) => Err((e, shown)),
        (Ok(()), None) => Ok(step),
    }
}

fn run_tool(
    call: &ToolCall,
    env: &mut ToolEnv<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
    result: &mut TurnResult,
) -> tools::Outcome {
    progress(Progress::ToolStarted { name: &call.name, arguments: &call.arguments });
    let started = Instant::now();
    let outcome = tools::run(&call.name, &call.arguments, env);
    let seconds = started.elapsed().as_secs_f64();
    progress(Progress::ToolFinished { name: &call.name, ok: outcome.ok, seconds });
    result.tools.push(super::session::ToolLog {
        at: now_micros() as f64 / 1e6,
        name: call.name.clone(),
        args: call.arguments.clone(),
        result: outcome.text.clone(),
        ok: outcome.ok,
        duration_s: seconds,
    });
    outcome
}
