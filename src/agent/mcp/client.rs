//! One running MCP server: its process in a process group of its own, a writer thread
//! feeding its stdin, a reader thread taking its stdout apart into replies, and a
//! keeper thread that started it, copies its stderr into `logs/mcp-<name>.log` and
//! reaps it. Every request has a timeout; a crash, garbage on stdout or an exit fails
//! whatever is waiting at once, with the reason.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use log::Level;

use super::McpError;
use super::config::{Resolved, ServerConfig};
use super::protocol::{self, CallResult, Incoming, ServerInfo, ToolInfo};
use crate::json::{Object, Value};
use crate::logging::ServiceLog;

/// What a server gets of alpi's own environment, besides its configured `env`: enough
/// to find programs and run Node or Python, never API keys.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TZ",
    "PREFIX",
    "LD_PRELOAD",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
];
/// Longest line taken from a server's stdout (an image as base64 can be large).
const MAX_LINE: usize = 16 * 1024 * 1024;
/// Longest stderr line logged as one.
const MAX_STDERR_LINE: u64 = 8 * 1024;
/// Stderr lines kept to explain a crash.
const STDERR_TAIL: usize = 4;
/// Pages of `tools/list` followed at most.
const MAX_PAGES: usize = 50;
/// How often a wait for an answer looks at the interrupt flag.
const CANCEL_POLL: Duration = Duration::from_millis(100);
/// How long a reader that saw the output end waits for the exit status to report it.
const EXIT_REPORT_WAIT: Duration = Duration::from_millis(500);

/// How long dropping a server waits for its killed process to be reaped.
const REAP_WAIT: Duration = Duration::from_millis(200);

type Reply = Result<Value, McpError>;

/// Requests waiting for their answer, and once the server is gone, why.
#[derive(Default)]
struct Calls {
    waiting: HashMap<u64, (String, Sender<Reply>)>,
    closed: Option<McpError>,
}

/// What the server's threads and its handle share.
struct Shared {
    calls: Mutex<Calls>,
    /// Lines for the writer; `None` once stdin is closed.
    outbox: Mutex<Option<Sender<Vec<u8>>>>,
    /// How the process ended, once reaped.
    exit: Mutex<Option<String>>,
    exited: Condvar,
    tools_changed: AtomicBool,
    /// Set when alpi stops it: its exit is then no news.
    stopping: AtomicBool,
    stderr_tail: Mutex<VecDeque<String>>,
    log: ServiceLog,
    target: String,
    /// Values from `.env` given to the server, masked in its log.
    secrets: Vec<String>,
}

/// A started and initialised server. Dropping it kills its process group.
pub struct Server {
    pub info: ServerInfo,
    pid: i32,
    next_id: AtomicU64,
    shared: Arc<Shared>,
}

struct Pipes {
    pid: i32,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Server {
    /// Starts `config`'s command with `env` and completes `initialize`, or says why not.
    pub fn start(config: &ServerConfig, env: Resolved, log_path: &Path) -> Result<Server, McpError> {
        let shared = Arc::new(Shared {
            calls: Mutex::new(Calls::default()),
            outbox: Mutex::new(None),
            exit: Mutex::new(None),
            exited: Condvar::new(),
            tools_changed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            stderr_tail: Mutex::new(VecDeque::new()),
            log: ServiceLog::open(log_path),
            target: format!("mcp.{}", config.name),
            secrets: env.secrets.into_iter().filter(|s| s.len() >= 4).collect(),
        });
        let pipes = spawn(command(config, &env.vars), &config.command, &shared)
            .inspect_err(|e| shared.event(Level::Warn, format_args!("{e}")))?;
        shared.event(Level::Info, format_args!("started {} (pid {})", config.command, pipes.pid));
        let mut server =
            Server { info: ServerInfo::default(), pid: pipes.pid, next_id: AtomicU64::new(1), shared };
        *lock(&server.shared.outbox) = Some(start_writer(pipes.stdin, &config.name));
        start_reader(pipes.stdout, server.shared.clone(), pipes.pid, &config.name);
        let answer = server.request(
            "initialize",
            Some(protocol::initialize_params()),
            config.startup_timeout,
            None,
        )?;
        server.info = protocol::negotiated(&answer)?;
        server.notify("notifications/initialized", None);
        let info = &server.info;
        server.shared.event(
            Level::Info,
            format_args!("ready: {} {} · protocol {}", info.name, info.version, info.protocol_version),
        );
        Ok(server)
    }

    /// Sends `method` and waits up to `timeout` for its answer, or until `cancel` is set
    /// (Ctrl-C): then the server is told the request is cancelled.
    pub fn request(
        &self,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
        cancel: Option<&AtomicBool>,
    ) -> Result<Value, McpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        {
            let mut calls = lock(&self.shared.calls);
            if let Some(closed) = &calls.closed {
                return Err(closed.clone());
            }
            calls.waiting.insert(id, (method.to_owned(), tx));
        }
        self.shared.send(protocol::request(id, method, params));
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(CANCEL_POLL)) {
                Ok(reply) => return reply,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.closed().unwrap_or(McpError::Gone("the server went away".into())));
                }
                Err(RecvTimeoutError::Timeout) if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) => {
                    self.give_up(id, method, "interrupted");
                    return Err(McpError::Interrupted(method.to_owned()));
                }
                Err(RecvTimeoutError::Timeout) if left.is_zero() => {
                    self.give_up(id, method, "timed out");
                    let seconds = timeout.as_secs_f64().round() as u64;
                    self.shared.event(Level::Warn, format_args!("no answer to {method} within {seconds} s"));
                    return Err(McpError::Timeout { method: method.to_owned(), seconds });
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Stops waiting for request `id` and tells the server so.
    fn give_up(&self, id: u64, method: &str, reason: &str) {
        lock(&self.shared.calls).waiting.remove(&id);
        // MCP forbids cancelling `initialize`; a server that misses it is stopped anyway.
        if method != "initialize" {
            let cancel = Object::new().with("requestId", id).with("reason", reason);
            self.notify("notifications/cancelled", Some(Value::Object(cancel)));
        }
    }

    fn notify(&self, method: &str, params: Option<Value>) {
        self.shared.send(protocol::notification(method, params));
    }

    /// Every tool the server offers, following `nextCursor`.
    pub fn list_tools(&self, timeout: Duration) -> Result<Vec<ToolInfo>, McpError> {
        self.shared.tools_changed.store(false, Ordering::SeqCst);
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.request("tools/list", protocol::list_params(cursor.as_deref()), timeout, None)?;
            let (more, next) = protocol::tools_page(&page)?;
            tools.extend(more);
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        Ok(tools)
    }

    /// Runs the server's tool `name`.
    pub fn call_tool(
        &self,
        name: &str,
        arguments: Object,
        timeout: Duration,
        cancel: Option<&AtomicBool>,
    ) -> Result<CallResult, McpError> {
        let params = Some(protocol::call_params(name, arguments));
        let result = self.request("tools/call", params, timeout, cancel)?;
        Ok(protocol::call_result(&result))
    }

    /// Still answering: not exited, not closed for garbage.
    pub fn alive(&self) -> bool {
        lock(&self.shared.calls).closed.is_none()
    }

    /// Why the server is gone, if it is.
    pub fn closed(&self) -> Option<McpError> {
        lock(&self.shared.calls).closed.clone()
    }

    /// The server said its tools changed since they were last listed.
    pub fn tools_changed(&self) -> bool {
        self.shared.tools_changed.load(Ordering::SeqCst)
    }

    /// Closes stdin, the way MCP asks a stdio server to stop; SIGTERM after half of
    /// `grace`, SIGKILL after all of it — to the whole process group.
    pub fn stop(&self, grace: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        lock(&self.shared.outbox).take();
        if !self.shared.wait_exit(grace / 2) {
            kill_group(self.pid, libc::SIGTERM);
            if !self.shared.wait_exit(grace / 2) {
                kill_group(self.pid, libc::SIGKILL);
            }
        }
        self.shared.event(Level::Info, format_args!("stopped"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        lock(&self.shared.outbox).take();
        if lock(&self.shared.exit).is_none() {
            kill_group(self.pid, libc::SIGKILL);
            // Reaped by the keeper before alpi itself may exit, so no zombie is left.
            self.shared.wait_exit(REAP_WAIT);
        }
    }
}

/// Signals every process of the group `pid` leads.
fn kill_group(pid: i32, signal: libc::c_int) {
    if pid > 0 {
        // SAFETY: kill has no memory effects; a negative pid addresses the group.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

fn command(config: &ServerConfig, vars: &[(String, String)]) -> Command {
    let mut cmd = Command::new(&config.command);
    cmd.args(&config.args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for key in PASSED_ENV {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    die_with_parent(&mut cmd);
    cmd
}

/// A server must not outlive alpi, even one killed with SIGKILL: Linux can say so.
/// It fires when the spawning thread ends, which is why the keeper thread spawns.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn die_with_parent(_: &mut Command) {}

/// Spawns `cmd` on the keeper thread, which then logs its stderr and reaps it.
fn spawn(mut cmd: Command, program: &str, shared: &Arc<Shared>) -> Result<Pipes, McpError> {
    let (tx, rx) = mpsc::channel();
    let keeper = shared.clone();
    let started =
        std::thread::Builder::new().name("mcp-keeper".into()).stack_size(64 * 1024).spawn(move || {
            let mut child = match cmd.spawn() {
                Ok(child) => child,
                Err(e) => return drop(tx.send(Err(e))),
            };
            let pid = child.id() as i32;
            let (Some(stdin), Some(stdout), stderr) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                let _ = child.kill().and_then(|()| child.wait());
                return;
            };
            let _ = tx.send(Ok(Pipes { pid, stdin, stdout }));
            if let Some(stderr) = stderr {
                keeper.copy_stderr(stderr);
            }
            let status = child.wait();
            // Whatever it started (npx starts node) goes with it.
            kill_group(pid, libc::SIGKILL);
            keeper.record_exit(status);
        });
    let spawn_error = |reason: String| McpError::Spawn { command: program.to_owned(), reason };
    started.map_err(|e| spawn_error(e.to_string()))?;
    match rx.recv() {
        Ok(Ok(pipes)) => Ok(pipes),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(McpError::CommandNotFound(program.into()))
        }
        Ok(Err(e)) => Err(spawn_error(e.to_string())),
        Err(_) => Err(spawn_error("its pipes could not be set up".into())),
    }
}

/// Writes queued lines to the server's stdin until the queue closes or the pipe breaks.
fn start_writer(mut stdin: ChildStdin, name: &str) -> Sender<Vec<u8>> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let thread = std::thread::Builder::new().name(format!("mcp-{name}-in")).stack_size(64 * 1024);
    let _ = thread.spawn(move || {
        block_sigpipe();
        for line in rx {
            if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
                return;
            }
        }
    });
    tx
}

/// A write to a server that has gone raises SIGPIPE, which would end alpi (the CLI
/// restores its default action); blocked in this thread, the write just fails.
fn block_sigpipe() {
    // SAFETY: the set is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn start_reader(stdout: ChildStdout, shared: Arc<Shared>, pid: i32, name: &str) {
    let thread = std::thread::Builder::new().name(format!("mcp-{name}-out")).stack_size(256 * 1024);
    let _ = thread.spawn(move || {
        let ending = shared.read_messages(stdout);
        shared.close(ending, pid);
    });
}

/// Why a server's stdout stopped being read.
enum Ending {
    Closed,
    Garbage(String),
}

impl Shared {
    fn event(&self, level: Level, message: std::fmt::Arguments<'_>) {
        self.log.event(level, &self.target, message);
    }

    fn send(&self, line: Vec<u8>) {
        if let Some(outbox) = lock(&self.outbox).as_ref() {
            let _ = outbox.send(line);
        }
    }

    /// Dispatches each message until stdout ends or carries something else.
    fn read_messages(&self, stdout: ChildStdout) -> Ending {
        let mut reader = BufReader::with_capacity(8 * 1024, stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return Ending::Closed,
                Ok(_) if line.len() > MAX_LINE => {
                    return Ending::Garbage(format!("a line longer than {} MiB", MAX_LINE >> 20));
                }
                // A last line cut short is a crash mid-write, not a protocol breach.
                Ok(_) if line.last() != Some(&b'\n') => return Ending::Closed,
                Ok(_) => {}
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            match protocol::decode(text) {
                Ok(messages) => messages.into_iter().for_each(|m| self.dispatch(m)),
                Err(_) => return Ending::Garbage(preview(text)),
            }
        }
    }

    fn dispatch(&self, message: Incoming) {
        match message {
            Incoming::Response { id: Some(id), outcome } => {
                let waiting = lock(&self.calls).waiting.remove(&id);
                if let Some((method, reply)) = waiting {
                    let _ = reply.send(outcome.map_err(|(code, message)| McpError::Rpc {
                        method,
                        code,
                        message,
                    }));
                }
            }
            Incoming::Response { id: None, outcome } => {
                self.event(Level::Warn, format_args!("an error for no request: {outcome:?}"));
            }
            Incoming::Request { id, method } if method == "ping" => {
                self.send(protocol::reply(&id, Ok(Value::Object(Object::new()))));
            }
            Incoming::Request { id, method } => {
                let refusal = format!("alpi does not offer {method}");
                self.send(protocol::reply(&id, Err((protocol::METHOD_NOT_FOUND, &refusal))));
            }
            Incoming::Notification { method, .. } if method == "notifications/tools/list_changed" => {
                self.tools_changed.store(true, Ordering::SeqCst);
            }
            Incoming::Notification { method, params } if method == "notifications/message" => {
                let data = params.get("data").map(|d| String::from_utf8_lossy(&d.wire()).into_owned());
                self.event(Level::Info, format_args!("log: {}", self.mask(&data.unwrap_or_default())));
            }
            Incoming::Notification { .. } => {}
        }
    }

    /// Marks the server gone and fails every waiting request with the reason.
    fn close(&self, ending: Ending, pid: i32) {
        let error = match ending {
            Ending::Closed => {
                let reason = self.describe_end();
                if lock(&self.exit).is_none() {
                    kill_group(pid, libc::SIGKILL);
                }
                McpError::Gone(reason)
            }
            Ending::Garbage(text) => {
                kill_group(pid, libc::SIGKILL);
                McpError::NotJsonRpc(text)
            }
        };
        if !self.stopping.load(Ordering::SeqCst) {
            self.event(Level::Warn, format_args!("{error}"));
        }
        let waiting = {
            let mut calls = lock(&self.calls);
            calls.closed = Some(error.clone());
            std::mem::take(&mut calls.waiting)
        };
        for (_, (_, reply)) in waiting {
            let _ = reply.send(Err(error.clone()));
        }
    }

    /// "exited with status 1 — stderr: …", as far as known.
    fn describe_end(&self) -> String {
        self.wait_exit(EXIT_REPORT_WAIT);
        let how = lock(&self.exit).clone().unwrap_or_else(|| "closed its output".to_owned());
        let tail = lock(&self.stderr_tail);
        if tail.is_empty() {
            return how;
        }
        format!("{how} — stderr: {}", tail.iter().cloned().collect::<Vec<_>>().join(" | "))
    }

    fn record_exit(&self, status: std::io::Result<ExitStatus>) {
        let how = match status {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                _ => "exited".to_owned(),
            },
            Err(e) => format!("could not be waited for: {e}"),
        };
        self.event(Level::Info, format_args!("{how}"));
        *lock(&self.exit) = Some(how);
        self.exited.notify_all();
    }

    /// Waits up to `limit` for the process to be reaped; whether it was.
    fn wait_exit(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut exit = lock(&self.exit);
        while exit.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            exit = self.exited.wait_timeout(exit, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    fn copy_stderr(&self, stderr: ChildStderr) {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader).take(MAX_STDERR_LINE).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = self.mask(String::from_utf8_lossy(&line).trim_end());
            if text.is_empty() {
                continue;
            }
            self.event(Level::Info, format_args!("stderr: {text}"));
            let mut tail = lock(&self.stderr_tail);
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(preview(text.as_bytes()));
        }
    }

    /// `text` with the server's secrets and anything secret-shaped replaced.
    fn mask(&self, text: &str) -> String {
        let masked = self.secrets.iter().fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[REDACTED]"));
        crate::agent::redact::redact(&masked).into_owned()
    }
}

/// The start of a line, for a message.
fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}
