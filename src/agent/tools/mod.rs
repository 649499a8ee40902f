//! The tools the model may call, their JSON-schema descriptions, and the one place a
//! call is dispatched. Each tool returns text for the model; failures are text too
//! (`ok: false`), so a bad call costs a step, never the turn.

mod background;
pub mod files;
pub mod gate;
pub mod inbox;
pub mod mcp;
pub mod peer;
pub mod schedule;
pub mod search;
pub mod terminal;
pub mod web;

use std::path::PathBuf;

use super::approval::{Policy, Verdict};
use super::memory::{MemoryFile, MemoryStore};
use super::provider::ToolSpec;
use crate::json::{self, Object, Value};
use crate::profile::ProfileHome;
pub use gate::Gate;

/// Default cap on one tool result, in characters (`tools.budget.per_result_chars`).
pub const RESULT_CHARS: usize = 100_000;

/// What a tool call produced for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub text: String,
}

impl Outcome {
    pub fn ok(text: impl Into<String>) -> Self {
        Self { ok: true, text: text.into() }
    }

    pub fn fail(text: impl Into<String>) -> Self {
        Self { ok: false, text: text.into() }
    }
}

/// The human's answer to a caution-level command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Once,
    Session,
    Always,
    Deny,
}

impl Answer {
    /// A typed reply to the approval question: o/once/y/yes, s/session, a/always;
    /// anything else denies.
    pub fn parse(reply: &str) -> Answer {
        match reply.trim().to_ascii_lowercase().as_str() {
            "o" | "once" | "y" | "yes" => Answer::Once,
            "s" | "session" => Answer::Session,
            "a" | "always" => Answer::Always,
            _ => Answer::Deny,
        }
    }
}

/// Who answers caution-level commands. Daemon turns and `--once` without a terminal
/// have none: [`NoApprover`].
pub trait Approver {
    fn ask(&mut self, command: &str, verdict: &Verdict) -> Answer;
    fn present(&self) -> bool {
        true
    }
}

/// Denies everything that asks.
pub struct NoApprover;

impl Approver for NoApprover {
    fn ask(&mut self, _: &str, _: &Verdict) -> Answer {
        Answer::Deny
    }

    fn present(&self) -> bool {
        false
    }
}

/// Everything a tool may use.
pub struct ToolEnv<'a> {
    pub workspace: PathBuf,
    pub memory: MemoryStore,
    pub policy: Policy,
    pub approver: &'a mut dyn Approver,
    /// `logs/approval.log`.
    pub approval_log: PathBuf,
    pub result_chars: usize,
    /// `tools.deny`, and an asking peer's `tools.allow`.
    pub gate: Gate,
    /// Addresses `web_fetch` may reach: public ones ([`web::is_public`]) unless
    /// `tools.web_fetch.allow_local` lifts it (`None`).
    pub fetch_filter: Option<fn(std::net::IpAddr) -> bool>,
    /// The profile the turn runs in: the `peer`, `schedule`, `notify` and
    /// `send_message` tools work on it; `None` (a detached read-only call) has none.
    pub profile: Option<ProfileHome>,
    /// The profile's MCP servers' tools; `None` offers none.
    pub mcp: Option<crate::agent::mcp::Toolbox>,
    /// Set when the user interrupts the turn: a long wait on a tool gives up.
    pub cancel: Option<crate::agent::turn::Cancel>,
}

impl<'a> ToolEnv<'a> {
    /// Tools working in `workspace`, with memories and `approval.log` under `state_dir`,
    /// the default policy and limits, no profile, no MCP, no interrupt.
    pub fn new(workspace: PathBuf, state_dir: &std::path::Path, approver: &'a mut dyn Approver) -> Self {
        ToolEnv {
            workspace,
            memory: MemoryStore::new(&state_dir.join("memories")),
            policy: Policy::default(),
            approver,
            approval_log: state_dir.join("approval.log"),
            result_chars: RESULT_CHARS,
            gate: Gate::default(),
            fetch_filter: Some(web::is_public),
            profile: None,
            mcp: None,
            cancel: None,
        }
    }

    /// What a read-only tool needs to run on another thread.
    pub fn detached(&self) -> Detached {
        Detached {
            workspace: self.workspace.clone(),
            memory: self.memory.clone(),
            result_chars: self.result_chars,
            gate: self.gate.clone(),
            fetch_filter: self.fetch_filter,
        }
    }
}

/// A [`ToolEnv`] without approver or policy, for [`parallel_safe`] tools.
pub struct Detached {
    workspace: PathBuf,
    memory: MemoryStore,
    result_chars: usize,
    gate: Gate,
    fetch_filter: Option<fn(std::net::IpAddr) -> bool>,
}

impl Detached {
    pub fn run(self, name: &str, arguments: &str) -> Outcome {
        let mut approver = NoApprover;
        let mut env = ToolEnv {
            workspace: self.workspace,
            memory: self.memory,
            policy: Policy::default(),
            approver: &mut approver,
            approval_log: PathBuf::new(),
            result_chars: self.result_chars,
            gate: self.gate,
            fetch_filter: self.fetch_filter,
            profile: None,
            mcp: None,
            cancel: None,
        };
        run(name, arguments, &mut env)
    }
}

/// Tools that only read, so several calls of one step may run side by side.
pub fn parallel_safe(name: &str) -> bool {
    matches!(name, "read_file" | "list_dir" | "search" | "web_fetch")
}

/// The tools the gate lets the model see; `peer` only with peers to ask.
pub fn specs(gate: &Gate, with_peers: bool) -> Vec<ToolSpec> {
    let all = [
        terminal::spec(),
        files::read_spec(),
        files::write_spec(),
        files::edit_spec(),
        files::list_spec(),
        search::spec(),
        web::spec(),
        memory_spec(),
        peer::spec(),
        schedule::spec(),
        inbox::notify_spec(),
        inbox::send_spec(),
    ];
    all.into_iter().filter(|s| gate.offers(&s.name) && (with_peers || s.name != "peer")).collect()
}

/// Runs the tool `name` with the model's JSON `arguments`.
pub fn run(name: &str, arguments: &str, env: &mut ToolEnv<'_>) -> Outcome {
    let args = match json::parse(arguments.trim().as_bytes()) {
        Ok(Value::Object(args)) => args,
        Ok(_) | Err(_) if arguments.trim().is_empty() => Object::new(),
        _ => return Outcome::fail(format!("arguments for {name} are not a JSON object")),
    };
    if mcp::is_mcp(name) {
        let outcome = mcp::run(name, args, env);
        return cap(outcome, env.result_chars);
    }
    let default_action = if name == "terminal" {
        "run"
    } else if name == "memory" {
        "read"
    } else {
        ""
    };
    let action = args.get("action").and_then(Value::as_str).unwrap_or(default_action);
    if let Err(refusal) = env.gate.check(name, action) {
        return Outcome::fail(refusal);
    }
    let outcome = match name {
        "terminal" => terminal::run(&args, env),
        "read_file" => files::read(&args, env),
        "write_file" => files::write(&args, env),
        "edit_file" => files::edit(&args, env),
        "list_dir" => files::list(&args, env),
        "search" => search::run(&args, env),
        "web_fetch" => web::run(&args, env),
        "memory" => memory(&args, env),
        "peer" => peer::run(&args, env),
        "schedule" => schedule::run(&args, env),
        "notify" => inbox::notify(&args, env),
        "send_message" => inbox::send_message(&args, env),
        other => Outcome::fail(format!("there is no tool called {other}")),
    };
    cap(outcome, env.result_chars)
}

/// Keeps the head and tail of an oversized result, with a marker between.
fn cap(mut outcome: Outcome, limit: usize) -> Outcome {
    let count = outcome.text.chars().count();
    if count > limit {
        let head: String = outcome.text.chars().take(limit / 2).collect();
        let tail: String = outcome.text.chars().skip(count - limit / 2).collect();
        outcome.text = format!("{head}\n[… {} characters elided …]\n{tail}", count - limit);
    }
    outcome
}

/// A string argument, or a message naming what is missing.
pub fn text_arg<'a>(args: &'a Object, key: &str) -> Result<&'a str, Outcome> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Outcome::fail(format!("missing string argument `{key}`")))
}

/// A JSON-schema object with string properties; `required` lists the mandatory ones.
pub fn schema(properties: &[(&str, &str, &str)], required: &[&str]) -> Value {
    let props = properties.iter().fold(Object::new(), |o, (name, kind, description)| {
        o.with(*name, Object::new().with("type", *kind).with("description", *description))
    });
    let required: Vec<Value> = required.iter().map(|r| Value::from(*r)).collect();
    Value::Object(Object::new().with("type", "object").with("properties", props).with("required", required))
}

fn spec(name: &str, description: &str, parameters: Value) -> ToolSpec {
    ToolSpec { name: name.into(), description: description.into(), parameters }
}

fn memory_spec() -> ToolSpec {
    spec(
        "memory",
        "Persist facts beyond this turn. target: USER.md (about the user), MEMORY.md (about their world: \
         projects, tools, people), AGENT.md (how you behave). action: read | add | replace | remove. \
         add needs `entry`; replace needs `old` (text of the one entry to change) and `entry`; remove needs `old`.",
        schema(
            &[
                ("target", "string", "USER.md, MEMORY.md or AGENT.md"),
                ("action", "string", "read, add, replace or remove"),
                ("entry", "string", "the new entry"),
                ("old", "string", "text identifying the existing entry"),
            ],
            &["target", "action"],
        ),
    )
}

fn memory(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let target = match text_arg(args, "target") {
        Ok(t) => t,
        Err(e) => return e,
    };
    let Some(file) = MemoryFile::parse(target) else {
        return Outcome::fail(format!("no memory file {target:?}; use USER.md, MEMORY.md or AGENT.md"));
    };
    let arg = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default();
    let result = match args.get("action").and_then(Value::as_str).unwrap_or("read") {
        "read" => env.memory.read(file),
        "add" => env.memory.add(file, arg("entry")),
        "replace" => env.memory.replace(file, arg("old"), arg("entry")),
        "remove" => env.memory.remove(file, arg("old")),
        other => return Outcome::fail(format!("unknown memory action {other:?}")),
    };
    match result {
        Ok(text) if text.is_empty() => Outcome::ok(format!("{file} is empty")),
        Ok(text) => Outcome::ok(text),
        Err(e) => Outcome::fail(e.to_string()),
    }
}
