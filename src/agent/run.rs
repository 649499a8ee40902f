//! One complete turn for a profile, as every surface runs it (`chat --once`, later the
//! REPL, ALP `link.ask`, schedules): settings from `config.yaml`, the model and its
//! key, memory in the system prompt, the session file and `logs/agent.log` afterwards.

use std::path::PathBuf;
use std::time::Duration;

use crate::json::Value;

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
use crate::net::http::Timeouts;
use crate::profile::ProfileHome;
use crate::profile::config::Config;
use crate::profile::dotenv::DotEnv;

/// Model calls per turn at most unless `tools.max_steps_per_turn` says otherwise.
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
    pub cancel: &'a super::turn::Cancel,
    pub peer: Option<&'a str>,
}

/// Runs one turn of `prompt` on a fresh session of `home`'s agent.
pub fn ask(
    home: &ProfileHome,
    prompt: &str,
    surface: Surface<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Answer, RunError> {
    let mut conversation = Conversation::open(home)?;
    conversation.turn(prompt, surface, progress)
}

/// The `runtime.*` settings: provider timeouts and retries.
#[derive(Debug, Clone, PartialEq)]
pub struct Runtime {
    pub timeouts: Timeouts,
    pub retries: u32,
    pub backoff: Duration,
}

impl Runtime {
    /// From `config.yaml`, with the original's defaults; a timeout of 0 turns it off.
    pub fn from_config(config: &Config) -> Self {
        let get = |key: &str| config_node(config, &["runtime", key]).and_then(Value::as_f64);
        let secs = |key: &str, default: f64| {
            let s = get(key).filter(|s| *s >= 0.0).unwrap_or(default);
            Duration::from_secs_f64(if s == 0.0 { OFF } else { s.min(OFF) })
        };
        let total = secs("stream_max_duration_s", 600.0);
        Self {
            timeouts: Timeouts {
                first_byte: secs("first_byte_timeout_s", 300.0),
                idle: secs("stream_idle_timeout_s", 120.0),
                total: (total.as_secs_f64() < OFF).then_some(total),
                ..Timeouts::default()
            },
            retries: get("max_retries").filter(|n| *n >= 0.0).map_or(2, |n| n.min(10.0) as u32),
            backoff: secs("retry_backoff_s", 1.5).min(Duration::from_secs(60)),
        }
    }
}

/// "No timeout": a week, far enough that it never fires and never overflows a clock.
const OFF: f64 = 7.0 * 86_400.0;

/// A profile's agent with a running session: the history the model sees, the session
/// file it is saved to after every turn, and the session's approval answers. The REPL
/// keeps one for its lifetime; one-shot surfaces use one per turn.
pub struct Conversation {
    home: ProfileHome,
    config: Config,
    model: Option<Box<dyn Model>>,
    fallbacks: Vec<Box<dyn Model>>,
    runtime: Runtime,
    policy: Policy,
    history: Vec<Message>,
    session: Session,
    save: bool,
    /// An asking peer's `tools.allow`.
    tool_allow: Option<Vec<String>>,
    /// Where the session is saved: `sessions/`, or `gateway/sessions/` for gateway chats.
    sessions_dir: PathBuf,
}

impl Conversation {
    /// The profile's agent with its configured model (if any) and a fresh session.
    pub fn open(home: &ProfileHome) -> Result<Self, RunError> {
        let config = Config::load(&home.config_path()).map_err(|e| RunError::Setup(e.to_string()))?;
        let mut conversation = Self::with_model(home, config, None);
        let model = conversation.config.model.clone();
        if !model.is_empty() {
            conversation.model = Some(conversation.build(&model)?);
        }
        conversation.fallbacks = string_list(&conversation.config, &["fallback_models"])
            .iter()
            .filter(|name| **name != model)
            .filter_map(|name| {
                conversation.build(name).map_err(|e| log::warn!("fallback model {name} skipped: {e}")).ok()
            })
            .collect();
        Ok(conversation)
    }

    /// The profile's agent talking to `model` (tests, other providers).
    pub fn with_model(home: &ProfileHome, config: Config, model: Option<Box<dyn Model>>) -> Self {
        let policy = Policy {
            allow: string_list(&config, &["tools", "terminal", "approval", "allowlist"]),
            deny: string_list(&config, &["tools", "terminal", "approval", "deny"]),
            session: Vec::new(),
        };
        let name = model.as_ref().map_or(config.model.clone(), |m| m.name().to_owned());
        Self {
            home: home.clone(),
            runtime: Runtime::from_config(&config),
            config,
            model,
            fallbacks: Vec::new(),
            policy,
            history: Vec::new(),
            session: new_session(&name),
            save: true,
            tool_allow: None,
            sessions_dir: home.dir().join("sessions"),
        }
    }

    /// The HTTP model for a `provider/model` string, with this profile's keys and timeouts.
    fn build(&self, name: &str) -> Result<Box<dyn Model>, RunError> {
        let env = DotEnv::load(&self.home.env_path()).map_err(|e| RunError::Setup(e.to_string()))?;
        let raw = self.config.raw.as_ref();
        let model =
            HttpModel::new(name, self.config.providers.as_ref(), raw.and_then(|r| r.get("pricing")), &env)
                .map_err(RunError::Setup)?;
        Ok(Box::new(model.with_timeouts(self.runtime.timeouts.clone())))
    }

    /// `provider/model` of the active model, or "" when none is configured.
    pub fn model_name(&self) -> &str {
        self.model.as_deref().map_or("", |m| m.name())
    }

    /// Switches to `name` for the following turns.
    pub fn set_model(&mut self, name: &str) -> Result<(), RunError> {
        self.model = Some(self.build(name)?);
        self.session.model = name.to_owned();
        Ok(())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `tools.deny`.
    pub fn denied_tools(&self) -> Vec<String> {
        string_list(&self.config, &["tools", "deny"])
    }

    /// Saves sessions in `dir` instead of the profile's `sessions/`.
    pub fn set_sessions_dir(&mut self, dir: PathBuf) {
        self.sessions_dir = dir;
    }

    /// Files the session under `id` (the id an ALP caller was given).
    pub fn set_session_id(&mut self, id: &str) {
        self.session.id = id.to_owned();
    }

    /// Only these tools for the following turns (an asking peer's `tools.allow`).
    pub fn restrict_tools(&mut self, allow: Option<Vec<String>>) {
        self.tool_allow = allow;
    }

    /// Earlier exchanges the model should see before the next prompt.
    pub fn prime(&mut self, history: Vec<Message>) {
        self.history.splice(0..0, history);
    }

    /// Keeps sessions off disk (`chat --once --no-save`).
    pub fn without_saving(mut self) -> Self {
        self.save = false;
        self
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Starts a new session; the model forgets the conversation.
    pub fn reset(&mut self) {
        self.history.clear();
        self.policy.session.clear();
        self.session = new_session(self.model_name());
    }

    /// Continues `session`: its turns become the history the model sees.
    pub fn resume(&mut self, session: Session) {
        self.history = session
            .turns
            .iter()
            .flat_map(|t| [Message::user(&t.user), Message::assistant(&t.assistant, Vec::new())])
            .collect();
        self.session = session;
    }

    /// Runs one turn, then saves the session and logs it.
    pub fn turn(
        &mut self,
        prompt: &str,
        surface: Surface<'_>,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Answer, RunError> {
        let model = self.model.as_deref().ok_or_else(|| RunError::NoModel(self.home.name().to_string()))?;
        let memory = MemoryStore::new(&self.home.dir().join("memories"));
        let workspace = workspace(&self.config);
        let gate = tools::Gate { deny: self.denied_tools(), allow: self.tool_allow.clone() };
        let with_peers = has_peers(&self.home);
        let toolbox = super::mcp::Toolbox::load(&self.home, &self.config);
        toolbox.warn_failures();
        let mut specs = tools::specs(&gate, with_peers);
        specs.extend(tools::mcp::specs(&toolbox, &gate));
        let mut env = ToolEnv {
            workspace: workspace.clone(),
            memory: memory.clone(),
            policy: std::mem::take(&mut self.policy),
            approver: surface.approver,
            approval_log: self.home.logs_dir().join("approval.log"),
            result_chars: config_node(&self.config, &["tools", "budget", "per_result_chars"])
                .and_then(Value::as_u64)
                .map_or(tools::RESULT_CHARS, |n| n as usize),
            gate: gate.clone(),
            fetch_filter: (!allow_local_fetch(&self.config))
                .then_some(tools::web::is_public as fn(std::net::IpAddr) -> bool),
            profile: Some(self.home.clone()),
            mcp: Some(toolbox),
            cancel: Some(surface.cancel.clone()),
        };
        let request = ChatRequest {
            model: model.name().to_owned(),
            system: system_prompt(&self.home, &memory, &workspace),
            tools: specs,
            stream: true,
            ..Default::default()
        };
        let ledger = Ledger::new(&self.home.logs_dir());
        let fallbacks: Vec<&dyn Model> = self.fallbacks.iter().map(|m| m.as_ref()).collect();
        let settings = TurnSettings {
            max_steps: config_node(&self.config, &["tools", "max_steps_per_turn"])
                .and_then(Value::as_u64)
                .map_or(MAX_STEPS, |n| n.max(1) as usize),
            daily_usd: self.config.budget.daily_usd,
            peer: surface.peer,
            fallbacks: &fallbacks,
            retries: self.runtime.retries,
            backoff: self.runtime.backoff,
            ..TurnSettings::new(&ledger, surface.cancel)
        };
        let started = now_micros();
        let outcome = run_turn(model, &request, &mut self.history, prompt, &mut env, &settings, progress);
        self.policy = env.policy;
        let result = match outcome {
            Ok(result) => result,
            Err(e) => {
                self.history.pop_if(|m| m.role == super::provider::Role::User);
                return Err(e.into());
            }
        };
        self.record(prompt, &result, started, surface.name);
        Ok(Answer { session_id: self.session.id.clone(), result })
    }

    /// Adds the turn to the session, saves it, and writes the `agent.log` line.
    fn record(&mut self, prompt: &str, result: &TurnResult, started: i64, surface: &str) {
        let session = &mut self.session;
        session.elapsed += (now_micros() - started) as f64 / 1e6;
        session.input_tokens += result.tokens_in;
        session.output_tokens += result.tokens_out;
        session.cost_usd += result.cost;
        session.last_ctx_tokens = super::compact::estimate(&self.history) as u64;
        session.turns.push(Turn {
            at: started as f64 / 1e6,
            user: prompt.to_owned(),
            assistant: result.text.clone(),
            tools: result.tools.clone(),
            interrupted: result.interrupted,
        });
        if self.save
            && let Err(e) = session.save(&self.sessions_dir)
        {
            log::warn!("could not save the session: {e}");
        }
        log_turn(&self.home, surface, &session.id, prompt, result);
    }
}

fn new_session(model: &str) -> Session {
    Session::new(&crate::alp::methods::new_session_id(), model, now_micros() as f64 / 1e6)
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
    config_node(config, &["tools", "web_fetch", "allow_local"]).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether the profile has pinned peers the `peer` tool could ask.
fn has_peers(home: &ProfileHome) -> bool {
    let files = crate::alp::peers::PeerFiles::new(&home.dir().join("alp"));
    files.load().is_ok_and(|peers| !peers.is_empty())
}

/// The YAML node at `path` in the config as read.
fn config_node<'a>(config: &'a Config, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(config.raw.as_ref()?, |node, key| node.get(key))
}

fn string_list(config: &Config, path: &[&str]) -> Vec<String> {
    config_node(config, path)
        .and_then(|n| n.as_array())
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
