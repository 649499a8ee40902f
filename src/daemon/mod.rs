//! `alpi daemon run`: one foreground process that serves the ALP socket of every
//! profile under the root (or of one profile), notices profiles created later, holds a
//! pid file and a lock on each profile it serves, answers its control socket, and stops
//! cleanly on SIGTERM/SIGINT (SIGHUP rescans).
//!
//! Async stops at the network edge: ALP.2 and the control socket run on smol. Each
//! profile's ALP.1 socket is served by plain blocking threads, and everything else here
//! is plain sequential code.

pub mod control;
pub mod gateway;
pub mod service;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::unix::UnixListener;

use crate::agent::peer_turns::ProfileAgent;
use crate::alp::dispatch::{self, Node};
use crate::alp::transport::{tcp, unix};
use crate::alp::workgroup::poller::Pollers;
use crate::clock::now_micros;
use crate::fsio;
use crate::profile::config::Config;
use crate::profile::{self, ProfileHome, ProfileName, Root};
use crate::schedule;
use crate::signals::{self, Signal};
use control::{Reply, Request, ServedProfile, Status};

/// New and removed profiles are noticed within this long.
pub const RESCAN_EVERY: Duration = Duration::from_secs(2);

/// What one daemon serves.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every profile under the root (`alpi daemon run`).
    All,
    /// One profile (`alpi -p NAME daemon run`, or `ALPI_HOME`).
    One(ProfileHome),
}

impl Scope {
    /// `all` or the profile's name: names the pid file and control socket.
    pub fn name(&self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::One(home) => home.name().to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "profile {profile} is already served by daemon pid {pid} — stop it with `alpi{flag} daemon stop`"
    )]
    Busy { profile: String, pid: String, flag: String },
    #[error(transparent)]
    Io(#[from] fsio::Error),
    #[error("{profile}: {source}")]
    Node { profile: String, source: dispatch::Error },
    #[error(transparent)]
    Profile(#[from] profile::Error),
    #[error("cannot start the scheduler: {0}")]
    Scheduler(std::io::Error),
    #[error("cannot take over signals: {0}")]
    Signals(std::io::Error),
    #[error(
        "{profile}: cannot listen for ALP.2 on {address}: {source} — check network.host / alp.tcp_port or --bind"
    )]
    Listen { profile: String, address: String, source: std::io::Error },
    #[error(
        "{profile}: cannot start the threads that answer its ALP.1 socket: {source} — the system is out of threads or memory (see `ulimit -u`); free some and start the daemon again"
    )]
    Acceptors { profile: String, source: std::io::Error },
}

/// `<root>/run/daemon-<scope>.pid`.
pub fn pid_path(root: &Root, scope: &str) -> PathBuf {
    root.path().join("run").join(format!("daemon-{scope}.pid"))
}

/// `<root>/run/daemon-<scope>.sock`.
pub fn control_path(root: &Root, scope: &str) -> PathBuf {
    root.path().join("run").join(format!("daemon-{scope}.sock"))
}

/// `daemon run --bind HOST:PORT`: where one profile listens for ALP.2, overriding its
/// `network.host` / `alp.tcp_port`.
#[derive(Debug, Clone)]
pub struct Bind {
    pub profile: String,
    pub address: String,
}

/// Runs the daemon until it is told to stop. `ready` is called once every profile's
/// socket and the control socket accept connections.
pub fn run(root: &Root, scope: Scope, bind: Option<Bind>, ready: impl FnOnce(&Status)) -> Result<(), Error> {
    let (events_tx, events_rx) = smol::channel::unbounded::<Signal>();
    let signal_tx = events_tx.clone();
    signals::take_over(move |s| {
        let _ = signal_tx.send_blocking(s);
    })
    .map_err(Error::Signals)?;

    let run_dir = root.path().join("run");
    fsio::ensure_private_dir(&run_dir)?;
    fsio::ensure_private_dir(&root.path().join("logs"))?;
    crate::logging::init(&root.path().join("logs").join("daemon.log"), log::LevelFilter::Info);

    let daemon = Arc::new(Daemon {
        root: root.clone(),
        scope: scope.clone(),
        started_at: now_micros(),
        served: Mutex::new(BTreeMap::new()),
        busy_logged: Mutex::new(Vec::new()),
        bind,
        tcp_limits: Arc::new(tcp::Limits::default()),
        running_jobs: Arc::new(Mutex::new(Vec::new())),
        schedule_watch: Arc::new(Mutex::new(BTreeMap::new())),
    });
    for home in daemon.wanted() {
        daemon.serve(&home)?;
    }
    let scope_name = scope.name();
    let pid_file = pid_path(root, &scope_name);
    let stamp = format!("{} {}\n", std::process::id(), daemon.started_at / 1_000_000);
    fsio::write_atomic(&pid_file, fsio::SECRET_FILE, stamp.as_bytes())?;
    let control_socket = control_path(root, &scope_name);
    let control = unix::bind(&control_socket)?;
    let control =
        UnixListener::try_from(control).map_err(|e| fsio::Error::new("listen on", &control_socket, e))?;

    let (stop_scheduler, stopped) = std::sync::mpsc::channel::<()>();
    let scheduler = daemon.clone();
    std::thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || scheduler.schedule_forever(&stopped))
        .map_err(Error::Scheduler)?;
    let result = smol::block_on(async {
        let _control = smol::spawn(serve_control(control, daemon.clone(), events_tx.clone()));
        log::info!("daemon {scope_name} serving {} (pid {})", daemon.names().join(", "), std::process::id());
        ready(&daemon.status());
        while let Ok(event) = events_rx.recv().await {
            match event {
                Signal::Stop => break,
                Signal::Reload => daemon.rescan(),
            }
        }
        Ok(())
    });
    log::info!("daemon {scope_name} stopping");
    drop(stop_scheduler);
    daemon.served().clear();
    let _ = std::fs::remove_file(&control_socket);
    let _ = std::fs::remove_file(&pid_file);
    result
}

struct Daemon {
    root: Root,
    scope: Scope,
    started_at: i64,
    served: Mutex<BTreeMap<String, Served>>,
    /// Profiles already reported as held by another daemon (said once, not every rescan).
    busy_logged: Mutex<Vec<String>>,
    bind: Option<Bind>,
    tcp_limits: Arc<tcp::Limits>,
    /// Profiles whose due jobs are being run now.
    running_jobs: Arc<Mutex<Vec<String>>>,
    /// Per profile: whether its job files need reading at the next tick.
    schedule_watch: Arc<Mutex<BTreeMap<String, schedule::run::Watch>>>,
}

/// A profile being served. Dropping it stops its listeners and removes its socket, then
/// releases the profile's lock (fields drop in order).
struct Served {
    node: Arc<Node>,
    socket: PathBuf,
    /// Where ALP.2 listens for this profile, if it does.
    tcp: Option<SocketAddr>,
    _listener: unix::Serving,
    _tcp_listener: Option<smol::Task<std::io::Result<()>>>,
    /// Gateway threads, stopped when this is dropped.
    _gateways: Vec<gateway::Running>,
    /// Long-polls of the rooms this profile joined, stopped when this is dropped.
    rooms: Pollers,
    _lock: File,
}

impl Daemon {
    fn served(&self) -> MutexGuard<'_, BTreeMap<String, Served>> {
        self.served.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The profiles this daemon should be serving now.
    fn wanted(&self) -> Vec<ProfileHome> {
        match &self.scope {
            Scope::All => {
                self.root.list().into_iter().filter(|h| h.exists() || h.name().is_default()).collect()
            }
            Scope::One(home) => vec![home.clone()],
        }
    }

    fn names(&self) -> Vec<String> {
        self.served().keys().cloned().collect()
    }

    /// Locks the profile, opens its node and starts listening on its socket.
    fn serve(&self, home: &ProfileHome) -> Result<(), Error> {
        let name = home.name().to_string();
        home.ensure_layout()?;
        let lock = lock_profile(home)?;
        let config = Config::load(&home.config_path()).unwrap_or_default();
        let agent = Arc::new(ProfileAgent { home: home.clone() });
        let rooms = Pollers::new(home, agent.clone());
        rooms.sync();
        let node = Node::open(home, agent, now_micros())
            .map_err(|source| Error::Node { profile: name.clone(), source })?;
        let node = Arc::new(node);
        let socket = unix::socket_path(home.dir());
        let tcp = match self.tcp_address(home, &config) {
            Some(address) => Some(bind_tcp(&name, &address)?),
            None => None,
        };
        let listener = unix::bind(&socket)?;
        let listener = unix::serve(listener, &socket, node.clone())
            .map_err(|source| Error::Acceptors { profile: name.clone(), source })?;
        let (tcp, tcp_task) = match tcp {
            Some((addr, listener)) => {
                (Some(addr), Some(smol::spawn(tcp::serve(listener, node.clone(), self.tcp_limits.clone()))))
            }
            None => (None, None),
        };
        let mut gateways = start_gateways(home);
        gateways.extend(start_audit(home, &config));
        let served = Served {
            node,
            socket,
            tcp,
            _listener: listener,
            _tcp_listener: tcp_task,
            _gateways: gateways,
            rooms,
            _lock: lock,
        };
        self.served().insert(name, served);
        Ok(())
    }

    /// `--bind` for this profile, else `network.host` with `alp.tcp_port` (7423 for the
    /// default profile). No host, no listener: ALP.2 listens only where it is told to.
    fn tcp_address(&self, home: &ProfileHome, config: &Config) -> Option<String> {
        if let Some(bind) = self.bind.as_ref().filter(|b| b.profile == home.name().as_str()) {
            return Some(bind.address.clone());
        }
        let host = config.network.host.trim();
        let port = config.tcp_port(home.name().is_default());
        match (host.is_empty(), port) {
            (true, _) => None,
            (false, Some(port)) => Some(join_host_port(host, port)),
            (false, None) => {
                log::warn!(
                    "{}: network.host is set but alp.tcp_port is not; not listening on TCP",
                    home.name()
                );
                None
            }
        }
    }

    /// Starts serving new profiles and stops serving removed ones.
    fn rescan(&self) {
        let wanted = self.wanted();
        let gone: Vec<String> = {
            let served = self.served();
            served
                .keys()
                .filter(|name| !wanted.iter().any(|h| h.name().as_str() == name.as_str()))
                .cloned()
                .collect()
        };
        for name in gone {
            log::info!("profile {name} is gone; no longer serving it");
            self.served().remove(&name);
        }
        for home in wanted {
            let name = home.name().to_string();
            if self.served().contains_key(&name) {
                continue;
            }
            match self.serve(&home) {
                Ok(()) => log::info!("now serving new profile {name}"),
                Err(e) => {
                    let mut said = self.busy_logged.lock().unwrap_or_else(PoisonError::into_inner);
                    if !said.contains(&name) {
                        log::warn!("not serving {name}: {e}");
                        said.push(name);
                    }
                }
            }
        }
    }

    /// The daemon's housekeeping, on one plain thread until `stop` closes: every
    /// [`RESCAN_EVERY`] new and removed profiles (when serving them all), every
    /// [`schedule::TICK`] each served profile's due jobs — in a child process watched
    /// by a thread of their own, one run per profile at a time, so a long job in one
    /// profile never holds up another.
    fn schedule_forever(&self, stop: &std::sync::mpsc::Receiver<()>) {
        let mut last_tick: Option<std::time::Instant> = None;
        loop {
            if matches!(self.scope, Scope::All) {
                self.rescan();
            }
            self.served().values().for_each(|s| s.rooms.sync());
            if last_tick.is_none_or(|t| t.elapsed() >= schedule::TICK) {
                last_tick = Some(std::time::Instant::now());
                let homes: Vec<ProfileHome> = {
                    let served = self.served();
                    let names = served.keys().filter_map(|name| ProfileName::parse(name).ok());
                    names.map(|n| self.root.home(&n)).collect()
                };
                for home in homes {
                    self.run_due_jobs(home);
                }
            }
            match stop.recv_timeout(RESCAN_EVERY) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                _ => return,
            }
        }
    }

    fn run_due_jobs(&self, home: ProfileHome) {
        let name = home.name().to_string();
        let now = now_micros() / 1_000_000;
        let watches = self.schedule_watch.clone();
        let quiet = watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .is_some_and(|w| !w.may_be_due(&home, now));
        if quiet {
            return;
        }
        let running = self.running_jobs.clone();
        {
            let mut busy = running.lock().unwrap_or_else(PoisonError::into_inner);
            if busy.contains(&name) {
                return;
            }
            busy.push(name.clone());
        }
        let worker = std::thread::Builder::new().name(format!("jobs-{name}")).spawn(move || {
            run_due_in_child(&home);
            let mut watch = schedule::run::Watch::default();
            watch.refresh(&home, now_micros() / 1_000_000);
            watches.lock().unwrap_or_else(PoisonError::into_inner).insert(name.clone(), watch);
            running.lock().unwrap_or_else(PoisonError::into_inner).retain(|n| *n != name);
        });
        if let Err(e) = worker {
            log::warn!("cannot start a job thread: {e}");
        }
    }

    fn status(&self) -> Status {
        let served = self.served();
        Status {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            scope: self.scope.name(),
            started_at_micros: self.started_at,
            profiles: served
                .iter()
                .map(|(name, s)| ServedProfile {
                    name: name.clone(),
                    identity: s.node.identity().to_string(),
                    socket: s.socket.display().to_string(),
                    tcp: s.tcp.map(|a| a.to_string()),
                })
                .collect(),
        }
    }
}

/// The profile's configured gateways, each on a thread of its own.
fn start_gateways(home: &ProfileHome) -> Vec<gateway::Running> {
    let telegram = gateway::telegram::Telegram::from_env(home);
    let email = gateway::email::Email::from_env(home);
    let started = [
        start_gateway(home, "telegram", telegram, |g, stop| g.run(stop)),
        start_gateway(home, "email", email, |g, stop| g.run(stop)),
    ];
    started.into_iter().flatten().collect()
}

/// Runs one gateway (`None`: not configured) on a thread named after it and the profile.
fn start_gateway<G: Send + 'static, E: std::fmt::Display>(
    home: &ProfileHome,
    name: &str,
    configured: Option<Result<G, E>>,
    run: fn(G, Arc<std::sync::atomic::AtomicBool>),
) -> Option<gateway::Running> {
    let gateway = match configured? {
        Ok(gateway) => gateway,
        Err(e) => {
            log::warn!("{}: {name} gateway not started: {e}", home.name());
            return None;
        }
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let thread =
        std::thread::Builder::new().name(format!("{name}-{}", home.name())).spawn(move || run(gateway, flag));
    match thread {
        Ok(_) => Some(gateway::Running::new(stop)),
        Err(e) => {
            log::warn!("{}: cannot start the {name} gateway: {e}", home.name());
            None
        }
    }
}

/// The audit forwarder, when `audit.hub` or `logging.syslog` is set, on its own thread.
fn start_audit(home: &ProfileHome, config: &Config) -> Option<gateway::Running> {
    if !crate::audit::forward::wanted(config) {
        return None;
    }
    let mut forwarder = crate::audit::forward::Forwarder::open(home)
        .map_err(|e| log::warn!("{}: audit forwarding not started: {e}", home.name()))
        .ok()?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new().name(format!("audit-{}", home.name())).spawn(move || {
        forwarder.tick();
        while gateway::pause(&flag, forwarder.poll()) {
            forwarder.tick();
        }
    });
    match thread {
        Ok(_) => Some(gateway::Running::new(stop)),
        Err(e) => {
            log::warn!("{}: cannot start audit forwarding: {e}", home.name());
            None
        }
    }
}

/// Takes `<home>/alp/daemon.lock` and writes our pid in it, or says who holds it.
fn lock_profile(home: &ProfileHome) -> Result<File, Error> {
    let path = home.dir().join("alp").join("daemon.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(fsio::SECRET_FILE)
        .open(&path)
        .map_err(|e| fsio::Error::new("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let name = home.name();
            let flag = if name.is_default() { String::new() } else { format!(" -p {name}") };
            return Err(Error::Busy { profile: name.to_string(), pid: holder.trim().to_owned(), flag });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(fsio::Error::new("lock", &path, e).into()),
    }
    let stamped = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()));
    stamped.map_err(|e| fsio::Error::new("write", &path, e))?;
    Ok(file)
}

/// `host:port`, bracketing an IPv6 host.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn bind_tcp(profile: &str, address: &str) -> Result<(SocketAddr, smol::net::TcpListener), Error> {
    let failed = |e: std::io::Error| Error::Listen {
        profile: profile.to_owned(),
        address: address.to_owned(),
        source: e,
    };
    let listener = std::net::TcpListener::bind(address).map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    let listener = smol::net::TcpListener::try_from(listener).map_err(failed)?;
    Ok((local, listener))
}

async fn serve_control(listener: UnixListener, daemon: Arc<Daemon>, events: smol::channel::Sender<Signal>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let mut bytes = Vec::new();
        let read = (&mut stream).take(control::MAX_MESSAGE as u64).read_to_end(&mut bytes).await;
        let Ok(request) =
            read.map_err(|_| ()).and_then(|_| postcard::from_bytes::<Request>(&bytes).map_err(|_| ()))
        else {
            continue;
        };
        let reply = match request {
            Request::Status => Reply::Status(daemon.status()),
            Request::Stop => Reply::Stopping,
            Request::Reload => {
                let d = daemon.clone();
                smol::unblock(move || d.rescan()).await;
                Reply::Reloaded { profiles: daemon.names().len() as u32 }
            }
        };
        if let Ok(out) = postcard::to_stdvec(&reply) {
            let _ = stream.write_all(&out).await;
        }
        let _ = stream.close().await;
        if request == Request::Stop {
            let _ = events.send(Signal::Stop).await;
        }
    }
}

/// Control sockets of every daemon running under `root`, with their scope names.
pub fn running(root: &Root) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(root.path().join("run")) else { return Vec::new() };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let scope = name.strip_prefix("daemon-")?.strip_suffix(".sock")?.to_owned();
            Some((scope, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Whether a process with `pid` exists (signal 0 probes without sending anything).
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 performs only the permission/existence check.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Runs a profile's due jobs in a child `alpi schedule run-once`: a job that crashes
/// (or runs the memory up) takes its own process down, never the daemon, and the
/// turn's memory is returned to the system when it ends.
fn run_due_in_child(home: &ProfileHome) {
    let name = home.name();
    let run = std::process::Command::new(fsio::self_exe())
        .args(["schedule", "run-once"])
        .env("ALPI_HOME", home.dir())
        .env_remove("ALPI_PROFILE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match run {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stderr);
            let said = said.lines().last().unwrap_or("nothing");
            log::warn!("{name}: the job run ended with {} ({said}); the daemon carries on", out.status);
        }
        Err(e) => log::warn!("{name}: cannot start the job run: {e}"),
    }
}

/// The pid recorded in a pid file, if readable.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.split_whitespace().next()?.parse().ok()
}

/// `alpi daemon start` with no supervisor: keeps `alpi [profile args] daemon run` alive,
/// restarting it with backoff after a crash, until it exits cleanly (`daemon stop`).
/// A run that fails at once with an error (e.g. the profile is already served) is not
/// retried. Returns the last exit code.
pub fn supervise(profile_args: &[String]) -> i32 {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("alpi"));
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = std::time::Instant::now();
        let status = std::process::Command::new(&exe).args(profile_args).args(["daemon", "run"]).status();
        let code = match status {
            Ok(s) if s.success() => return 0,
            Ok(s) => s.code(),
            Err(e) => {
                eprintln!("alpi daemon supervise: cannot start {}: {e}", exe.display());
                return 1;
            }
        };
        let quick = started.elapsed() < Duration::from_secs(2);
        if quick && code.is_some() {
            eprintln!("alpi daemon supervise: daemon exited at once with code {code:?}; not restarting");
            return code.unwrap_or(1);
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        eprintln!("alpi daemon supervise: daemon stopped ({code:?}); restarting in {} s", backoff.as_secs());
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}
