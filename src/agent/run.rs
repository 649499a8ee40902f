//! One complete turn for a profile, as every surface runs it (`chat --once`, later the
//! REPL, ALP `link.ask`, schedules): settings from `config.yaml`, the model and its
//! key, memory in the system prompt, the session file and `logs/agent.log` afterwards.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::approval::Policy;
use super::ledger::Ledger;
use super::memory::{MemoryFile, MemoryStore};
use super::model::HttpModel;
use super::provider::{ChatRequest, Message};
use super::session::{Session, Turn};
use super::tools::{self, Approver, ToolEnv};
use super::turn::{Model, Progress, TurnResult, TurnSettings, run_turn};
use crate::clock::{UtcTime, now_micros};
use crate::logging::ServiceLog;
use crate::profile::ProfileHome;
use crate::profile::config::Config;
use crate::profile::dotenv::DotEnv;

/// Model calls per turn at most (`tools.max_steps_per_turn`).
pub const MAX_STEPS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "no model configured for profile '{0}' — add `model: openai/gpt-4o-mini` to its config.yaml and the key to its .env"
    )]
    NoModel(String),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Turn(#[from] super::turn::TurnError),
}

/// What a finished turn reports.
#[derive(Debug, Clone)]
pub struct Answer {
    pub session_id: String,
    pub result: TurnResult,
}

/// Who is asking and how the turn may be watched or stopped.
pub struct Surface<'a> {
    /// `cli`, `alp`, `schedule`…, for `logs/agent.log`.
    pub name: &'a str,
    pub approver: &'a mut dyn Approver,
    pub cancel: &'a AtomicBool,
    pub peer: Option<&'a str>,
}

/// Runs one turn of `prompt` on a fresh session of `home`'s agent.
pub fn ask(
    home: &ProfileHome,
    prompt: &str,
    surface: Surface<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Answer, RunError> {
    let config = Config::load(&home.config_path()).map_err(|e| RunError::Setup(e.to_string()))?;
    if config.model.is_empty() {
        return Err(RunError::NoModel(home.name().to_string()));
    }
    let env = DotEnv::load(&home.env_path()).map_err(|e| RunError::Setup(e.to_string()))?;
    let raw = config.raw.as_ref();
    let model =
        HttpModel::new(&config.model, config.providers.as_ref(), raw.and_then(|r| r.get("pricing")), &env)
            .map_err(RunError::Setup)?;
    ask_with(home, &config, &model, prompt, surface, progress)
}

/// [`ask`] with a given model (tests, other providers).
pub fn ask_with(
    home: &ProfileHome,
    config: &Config,
    model: &dyn Model,
    prompt: &str,
    surface: Surface<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Answer, RunError> {
    let memory = MemoryStore::new(&home.dir().join("memories"));
    let workspace = workspace(config);
    let deny = string_list(config, &["tools", "deny"]);
    let policy = Policy {
        allow: string_list(config, &["tools", "terminal", "approval", "allowlist"]),
        deny: string_list(config, &["tools", "terminal", "approval", "deny"]),
        session: Vec::new(),
    };
    let mut env = ToolEnv {
        workspace: workspace.clone(),
        memory: memory.clone(),
        policy,
        approver: surface.approver,
        approval_log: home.logs_dir().join("approval.log"),
        result_chars: tools::RESULT_CHARS,
        deny: deny.clone(),
        fetch_filter: (!allow_local_fetch(config))
            .then_some(tools::web::is_public as fn(std::net::IpAddr) -> bool),
    };
    let request = ChatRequest {
        model: model.name().to_owned(),
        system: system_prompt(home, &memory, &workspace),
        tools: tools::specs(&deny),
        stream: true,
        ..Default::default()
    };
    let ledger = Ledger::new(&home.logs_dir());
    let settings = TurnSettings {
        max_steps: MAX_STEPS,
        ledger: &ledger,
        daily_usd: config.budget.daily_usd,
        peer: surface.peer,
        cancel: surface.cancel,
    };
    let started = now_micros();
    let mut history: Vec<Message> = Vec::new();
    let result = run_turn(model, &request, &mut history, prompt, &mut env, &settings, progress)?;
    let session_id = crate::alp::methods::new_session_id();
    let mut session = Session::new(&session_id, model.name(), started as f64 / 1e6);
    session.elapsed = (now_micros() - started) as f64 / 1e6;
    session.input_tokens = result.tokens_in;
    session.output_tokens = result.tokens_out;
    session.cost_usd = result.cost;
    session.turns.push(Turn {
        at: started as f64 / 1e6,
        user: prompt.to_owned(),
        assistant: result.text.clone(),
        tools: result.tools.clone(),
        interrupted: result.interrupted,
    });
    if let Err(e) = session.save(&home.dir().join("sessions")) {
        log::warn!("could not save the session: {e}");
    }
    log_turn(home, surface.name, &session_id, prompt, &result);
    Ok(Answer { session_id, result })
}

/// `workspace` from config (`~` expanded), else the current directory — unless that
/// is `/` (a daemon under a supervisor), then the user's home.
fn workspace(config: &Config) -> PathBuf {
    let raw = config.workspace.trim();
    if raw.is_empty() {
        let home = || std::env::home_dir().unwrap_or_else(|| PathBuf::from("."));
        return match std::env::current_dir() {
            Ok(dir) if dir != std::path::Path::new("/") => dir,
            _ => home(),
        };
    }
    match raw.strip_prefix("~/") {
        Some(rest) => std::env::home_dir().unwrap_or_default().join(rest),
        None => PathBuf::from(raw),
    }
}

/// `tools.web_fetch.allow_local: true`.
fn allow_local_fetch(config: &Config) -> bool {
    let node = config.raw.as_ref().and_then(|r| r.get("tools")).and_then(|t| t.get("web_fetch"));
    node.and_then(|w| w.get("allow_local")).and_then(|v| v.as_bool()).unwrap_or(false)
}

fn string_list(config: &Config, path: &[&str]) -> Vec<String> {
    let mut node = config.raw.as_ref();
    for key in path {
        node = node.and_then(|n| n.get(*key));
    }
    node.and_then(|n| n.as_sequence())
        .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// AGENT.md, USER.md and MEMORY.md, then the facts about where the agent runs.
pub fn system_prompt(home: &ProfileHome, memory: &MemoryStore, workspace: &std::path::Path) -> String {
    let mut prompt = String::from(
        "You are alpi, a personal AI agent. Be concise and concrete. Use tools when they help; \
         say what you did.\n",
    );
    for file in [MemoryFile::Agent, MemoryFile::User, MemoryFile::Memory] {
        let text = memory.read(file).unwrap_or_default();
        if !text.trim().is_empty() {
            prompt.push_str(&format!("\n## {file}\n{}\n", text.trim()));
        }
    }
    let platform = if std::env::var_os("TERMUX_VERSION").is_some() {
        "Android (Termux)"
    } else if std::path::Path::new("/proc/ish").exists() {
        "iOS (iSH, Alpine Linux emulated)"
    } else {
        std::env::consts::OS
    };
    prompt.push_str(&format!(
        "\n## Environment\n- platform: {platform} ({})\n- workspace: {}\n- profile: {}\n- date (UTC): {}\n",
        std::env::consts::ARCH,
        workspace.display(),
        home.name(),
        &UtcTime::now().iso_seconds()[..10],
    ));
    prompt
}

/// One line per turn in `logs/agent.log`.
fn log_turn(home: &ProfileHome, surface: &str, session: &str, prompt: &str, r: &TurnResult) {
    let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
    let head: String = prompt.chars().take(80).map(|c| if c == '\n' { ' ' } else { c }).collect();
    let log = ServiceLog::open(&home.logs_dir().join("agent.log"));
    log.event(
        log::Level::Info,
        "alpi.agent",
        format_args!(
            "surface={surface} session={session} steps={} tools={} tokens_in={} tokens_out={} cost={:.6} prompt={:?}",
            r.steps,
            names.join(","),
            r.tokens_in,
            r.tokens_out,
            r.cost,
            super::redact::redact(&head)
        ),
    );
}
