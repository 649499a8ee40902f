//! The MCP servers of this process: at most one per profile and server name, started
//! on first use (a chat's first turn, `/tools`, a daemon's first ask, or
//! [`warm_up`]), kept while alpi runs, restarted after a crash once its backoff has
//! passed (1 s, doubling to 60 s; a successful call resets it), and stopped by
//! [`stop_all`] — or by the kernel when alpi dies, see `client`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::McpError;
use super::client::Server;
use super::config::{self, ServerConfig};
use super::protocol::{self, CallResult, ServerInfo, ToolInfo};
use crate::json::{Object, Value};
use crate::profile::ProfileHome;
use crate::profile::config::Config;
use crate::profile::dotenv::DotEnv;

/// The longest wait before restarting a server that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long [`stop_all`] lets servers end on their own before killing them.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// One server of one profile, running or not.
#[derive(Default)]
struct Slot {
    /// What the running server was started from; a changed config restarts it.
    config: Option<ServerConfig>,
    server: Option<Arc<Server>>,
    tools: Vec<ToolInfo>,
    /// Failures since the last successful call, for the backoff.
    failures: u32,
    last_error: Option<McpError>,
    retry_at: Option<Instant>,
}

type Key = (PathBuf, String);

static SERVERS: Mutex<BTreeMap<Key, Arc<Mutex<Slot>>>> = Mutex::new(BTreeMap::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn slot(home: &ProfileHome, name: &str) -> Arc<Mutex<Slot>> {
    let key = (home.dir().to_owned(), name.to_owned());
    lock(&SERVERS).entry(key).or_default().clone()
}

fn backoff(failures: u32) -> Duration {
    (Duration::from_secs(1) * 2u32.pow(failures.saturating_sub(1).min(6))).min(MAX_BACKOFF)
}

impl Slot {
    /// The running server, started (and its tools listed) if it is not running.
    fn running(&mut self, home: &ProfileHome, config: &ServerConfig) -> Result<Arc<Server>, McpError> {
        if self.config.as_ref() != Some(config) {
            *self = Slot { config: Some(config.clone()), ..Slot::default() };
        }
        if let Some(server) = &self.server {
            match server.closed() {
                None => return Ok(server.clone()),
                Some(why) => self.failed(why),
            }
        }
        if let Some(at) = self.retry_at.filter(|at| *at > Instant::now()) {
            let reason = self.last_error.as_ref().map_or_else(String::new, ToString::to_string);
            let seconds = at.saturating_duration_since(Instant::now()).as_secs_f64().ceil() as u64;
            return Err(McpError::Backoff { reason, seconds });
        }
        match start(home, config) {
            Ok((server, tools)) => {
                let server = Arc::new(server);
                self.server = Some(server.clone());
                self.tools = tools;
                self.retry_at = None;
                Ok(server)
            }
            Err(e) => {
                self.failed(e.clone());
                Err(e)
            }
        }
    }

    /// The server's tools, listed again when it said they changed.
    fn tools(&mut self, server: &Server, config: &ServerConfig) -> Result<Vec<ToolInfo>, McpError> {
        if server.tools_changed() {
            self.tools = server.list_tools(config.startup_timeout)?;
        }
        Ok(self.tools.clone())
    }

    fn failed(&mut self, error: McpError) {
        self.server = None;
        self.failures += 1;
        self.retry_at = Some(Instant::now() + backoff(self.failures));
        self.last_error = Some(error);
    }
}

fn start(home: &ProfileHome, config: &ServerConfig) -> Result<(Server, Vec<ToolInfo>), McpError> {
    let dotenv = DotEnv::load(&home.env_path()).unwrap_or_default();
    let env = config.resolve_env(&dotenv)?;
    let log = home.logs_dir().join(format!("mcp-{}.log", config.name));
    let server = Server::start(config, env, &log)?;
    let tools = server.list_tools(config.startup_timeout)?;
    Ok((server, tools))
}

/// A server's tool under the name the model sees.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// `mcp__<server>__<tool>`.
    pub exposed: String,
    pub server: String,
    /// The tool's own name on its server.
    pub tool: String,
    pub description: String,
    pub schema: Value,
}

impl McpTool {
    /// How `tools.deny` and a peer's `tools.allow` name it: `<server>.<tool>`.
    pub fn gate_name(&self) -> String {
        format!("{}.{}", self.server, self.tool)
    }
}

/// How one configured server fared when the toolbox was filled.
#[derive(Debug, Clone)]
pub struct ServerReport {
    pub name: String,
    pub outcome: Result<ServerInfo, McpError>,
    /// From asking to having its tools (near zero when it was already running).
    pub elapsed: Duration,
}

/// The MCP tools a turn may offer, from every configured server that runs.
pub struct Toolbox {
    home: ProfileHome,
    configs: Vec<ServerConfig>,
    tools: Vec<McpTool>,
    reports: Vec<ServerReport>,
}

impl Toolbox {
    /// No servers.
    pub fn empty(home: &ProfileHome) -> Self {
        Self { home: home.clone(), configs: Vec::new(), tools: Vec::new(), reports: Vec::new() }
    }

    /// Every configured server's tools, starting (side by side) those not running yet.
    pub fn load(home: &ProfileHome, config: &Config) -> Self {
        Self::load_only(home, config, None)
    }

    /// Like [`Toolbox::load`], limited to the server `only` when given.
    pub fn load_only(home: &ProfileHome, config: &Config, only: Option<&str>) -> Self {
        let mut toolbox = Self::empty(home);
        let entries = match config::entries(config) {
            Ok(entries) => entries,
            Err(e) => {
                let report = ServerReport { name: "mcp".into(), outcome: Err(e), elapsed: Duration::ZERO };
                toolbox.reports.push(report);
                return toolbox;
            }
        };
        let entries: Vec<_> = entries.into_iter().filter(|e| only.is_none_or(|o| o == e.name)).collect();
        let gathered = gather_all(home, &entries);
        for (entry, (found, elapsed)) in entries.into_iter().zip(gathered) {
            let outcome = found.map(|(info, tools)| {
                toolbox.add(&entry.name, tools);
                info
            });
            toolbox.configs.extend(entry.parsed.ok());
            toolbox.reports.push(ServerReport { name: entry.name, outcome, elapsed });
        }
        toolbox
    }

    /// Logs why servers are missing, except those still waiting out a backoff (said
    /// when they failed).
    pub fn warn_failures(&self) {
        for report in &self.reports {
            match &report.outcome {
                Err(McpError::Backoff { .. }) | Ok(_) => {}
                Err(e) => log::warn!("MCP server {}: {e}", report.name),
            }
        }
    }

    fn add(&mut self, server: &str, tools: Vec<ToolInfo>) {
        for tool in tools {
            let mut exposed = protocol::exposed_name(server, &tool.name);
            if self.tools.iter().any(|t| t.exposed == exposed) {
                exposed = protocol::hashed_name(server, &tool.name);
            }
            self.tools.push(McpTool {
                exposed,
                server: server.to_owned(),
                tool: tool.name,
                description: tool.description,
                schema: tool.input_schema,
            });
        }
    }

    pub fn tools(&self) -> &[McpTool] {
        &self.tools
    }

    pub fn reports(&self) -> &[ServerReport] {
        &self.reports
    }

    /// The tool the model calls `exposed`.
    pub fn find(&self, exposed: &str) -> Option<&McpTool> {
        self.tools.iter().find(|t| t.exposed == exposed)
    }

    /// `allow_local` of the server `name`.
    pub fn allows_local(&self, server: &str) -> bool {
        self.configs.iter().any(|c| c.name == server && c.allow_local)
    }

    /// Runs `tool` with `arguments`, restarting its server first if it crashed and its
    /// backoff has passed; `cancel` (Ctrl-C) stops the wait.
    pub fn call(
        &self,
        tool: &McpTool,
        arguments: Object,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<CallResult, McpError> {
        let config = self.configs.iter().find(|c| c.name == tool.server);
        let config = config.ok_or_else(|| McpError::Gone(format!("{} is not configured", tool.server)))?;
        let slot = slot(&self.home, &config.name);
        let server = lock(&slot).running(&self.home, config)?;
        let outcome = server.call_tool(&tool.tool, arguments, config.call_timeout, cancel);
        let mut slot = lock(&slot);
        let current = slot.server.as_ref().is_some_and(|s| Arc::ptr_eq(s, &server));
        match (&outcome, server.closed()) {
            (Ok(_), _) => slot.failures = 0,
            (Err(_), Some(why)) if current => slot.failed(why),
            (Err(_), _) => {}
        }
        outcome
    }
}

type Gathered = (Result<(ServerInfo, Vec<ToolInfo>), McpError>, Duration);

/// Every entry's server running and its tools, side by side.
fn gather_all(home: &ProfileHome, entries: &[config::Entry]) -> Vec<Gathered> {
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            entries.iter().map(|entry| scope.spawn(move || gather(home, entry.parsed.clone()))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| crashed_thread())).collect()
    })
}

/// One server running and its tools, and how long that took.
fn gather(home: &ProfileHome, parsed: Result<ServerConfig, McpError>) -> Gathered {
    let started = Instant::now();
    let found = parsed.and_then(|config| {
        let slot = slot(home, &config.name);
        let mut slot = lock(&slot);
        let server = slot.running(home, &config)?;
        let tools = slot.tools(&server, &config)?;
        Ok((server.info.clone(), tools))
    });
    (found, started.elapsed())
}

fn crashed_thread() -> Gathered {
    (Err(McpError::Gone("the thread starting it crashed".into())), Duration::ZERO)
}

/// Starts `home`'s configured servers in the background (the daemon, before any ask).
pub fn warm_up(home: &ProfileHome) {
    let Ok(config) = Config::load(&home.config_path()) else { return };
    if config::entries(&config).is_ok_and(|e| e.is_empty()) {
        return;
    }
    let home = home.clone();
    let _ = std::thread::Builder::new().name("mcp-warm-up".into()).spawn(move || {
        Toolbox::load(&home, &config).warn_failures();
    });
}

/// Stops every server this process started, side by side: stdin closed, then SIGTERM,
/// then SIGKILL to each process group within [`STOP_GRACE`].
pub fn stop_all() {
    stop_where(|_| true);
}

/// Stops the servers of one profile (one the daemon no longer serves; a test's).
pub fn stop_profile(home: &ProfileHome) {
    stop_where(|(dir, _)| dir == home.dir());
}

fn stop_where(chosen: impl Fn(&Key) -> bool) {
    let slots: Vec<Arc<Mutex<Slot>>> = {
        let mut all = lock(&SERVERS);
        let keys: Vec<Key> = all.keys().filter(|k| chosen(k)).cloned().collect();
        keys.iter().filter_map(|k| all.remove(k)).collect()
    };
    // A slot still locked is a server being started: waiting for it could take a minute,
    // and the kernel ends it with alpi anyway.
    let servers: Vec<Arc<Server>> =
        slots.iter().filter_map(|slot| slot.try_lock().ok().and_then(|mut s| s.server.take())).collect();
    std::thread::scope(|scope| {
        for server in &servers {
            scope.spawn(move || server.stop(STOP_GRACE));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
