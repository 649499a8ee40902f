//! The forwarder a daemon runs for a profile with `audit.hub` or `logging.syslog`: on
//! each tick it sends what its logs gained since the sink's cursor, in batches of at
//! most [`MAX_RECORDS`], saving the cursor after each delivered batch (at-least-once;
//! the hub drops repeats by id). A sink that fails is retried with a growing pause.

use std::time::{Duration, Instant};

use log::Level;

use super::source::{self, Cursor};
use super::syslog::{self, Origin};
use crate::alp::ask::{explain_failure, pinned};
use crate::alp::audit::{LOGS, MAX_RECORDS, Record};
use crate::alp::client::{Client, Route};
use crate::alp::identity::Keypair;
use crate::alp::methods::AUDIT_PUSH;
use crate::alp::transport::CALL_TIMEOUT;
use crate::json::{Object, Value};
use crate::logging::ServiceLog;
use crate::profile::ProfileHome;
use crate::profile::config::Config;

/// Between ticks, unless `ALPI_AUDIT_POLL_MS` says otherwise (tests, soak runs).
pub const POLL: Duration = Duration::from_secs(2);
/// The longest pause between attempts at a sink that keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Whether a profile's settings ask for forwarding at all.
pub fn wanted(config: &Config) -> bool {
    !config.audit.hub.trim().is_empty() || !config.logging.syslog.trim().is_empty()
}

/// The pause between ticks.
pub fn poll_interval() -> Duration {
    std::env::var("ALPI_AUDIT_POLL_MS").ok().and_then(|v| v.parse().ok()).map_or(POLL, Duration::from_millis)
}

/// Which sink a lane feeds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    Hub,
    Syslog,
}

/// One sink's cursor file and retry state.
struct Lane {
    sink: Sink,
    cursor: &'static str,
    retry_at: Option<Instant>,
    failures: u32,
}

impl Lane {
    fn new(sink: Sink, cursor: &'static str) -> Self {
        Self { sink, cursor, retry_at: None, failures: 0 }
    }

    fn due(&self) -> bool {
        self.retry_at.is_none_or(|t| Instant::now() >= t)
    }
}

/// Forwards one profile's records; [`Forwarder::tick`] does one round.
pub struct Forwarder {
    home: ProfileHome,
    keys: Keypair,
    log: ServiceLog,
    lanes: [Lane; 2],
    syslog: syslog::Sender,
    poll: Duration,
    /// What the last round saw; an idle tick that sees the same does nothing.
    seen: Option<Stamp>,
}

/// Inode, size and mtime of `config.yaml` and the two logs.
type Stamp = [Option<(u64, u64, Option<std::time::SystemTime>)>; 3];

impl Forwarder {
    pub fn open(home: &ProfileHome) -> Result<Self, String> {
        let (keys, _) = home.keys().load_or_create().map_err(|e| e.to_string())?;
        Ok(Self {
            home: home.clone(),
            keys,
            log: ServiceLog::open(&home.service_log()),
            lanes: [Lane::new(Sink::Hub, "cursor.json"), Lane::new(Sink::Syslog, "syslog-cursor.json")],
            syslog: syslog::Sender::default(),
            poll: poll_interval(),
            seen: None,
        })
    }

    pub fn poll(&self) -> Duration {
        self.poll
    }

    /// Sends whatever is new to every configured sink that is not backing off.
    pub fn tick(&mut self) {
        let stamp = self.stamp();
        if self.lanes.iter().all(|l| l.failures == 0) && self.seen == Some(stamp) {
            return;
        }
        self.seen = Some(stamp);
        let config = Config::load(&self.home.config_path()).unwrap_or_default();
        for i in 0..self.lanes.len() {
            let target = match self.lanes[i].sink {
                Sink::Hub => config.audit.hub.trim().to_owned(),
                Sink::Syslog => config.logging.syslog.trim().to_owned(),
            };
            if target.is_empty() || !self.lanes[i].due() {
                continue;
            }
            let outcome = self.drain(i, &target);
            self.settle(i, &target, outcome);
        }
    }

    fn stamp(&self) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let logs = self.home.logs_dir();
        [self.home.config_path(), logs.join("agent.log"), logs.join("approval.log")]
            .map(|p| std::fs::metadata(p).ok().map(|m| (m.ino(), m.len(), m.modified().ok())))
    }

    /// Sends batches until the logs hold nothing new; returns how many records went.
    fn drain(&mut self, lane: usize, target: &str) -> Result<usize, String> {
        let cursor_path = self.home.dir().join("audit").join(self.lanes[lane].cursor);
        let mut cursor = Cursor::load(&cursor_path)?;
        let logs_dir = self.home.logs_dir();
        let client = Client::new(&self.keys);
        let mut sent = 0;
        loop {
            let mut moved = false;
            for (i, log) in LOGS.into_iter().enumerate() {
                let read = source::read(&logs_dir, log, &cursor.epoch, cursor.positions[i], MAX_RECORDS)
                    .map_err(|e| format!("{}: {e}", logs_dir.join(format!("{log}.log")).display()))?;
                if read.skipped {
                    self.event(
                        Level::Warn,
                        format_args!("{log}.log rotated past unsent records; some were lost"),
                    );
                }
                if read.end == cursor.positions[i] {
                    continue;
                }
                if !read.records.is_empty() {
                    match self.lanes[lane].sink {
                        Sink::Hub => push(&self.home, &self.keys, &client, target, &read.records)?,
                        Sink::Syslog => {
                            let origin = Origin {
                                hostname: crate::net::hostname().unwrap_or_default(),
                                profile: self.home.name().to_string(),
                                pid: std::process::id(),
                            };
                            self.syslog.send(&syslog::parse_url(target)?, &origin, &read.records)?;
                        }
                    }
                }
                sent += read.records.len();
                cursor.positions[i] = read.end;
                cursor.save()?;
                moved = true;
            }
            if !moved {
                return Ok(sent);
            }
        }
    }

    /// Records the outcome: the first failure and the recovery are logged, and a
    /// failing sink waits twice as long each time, up to [`MAX_BACKOFF`].
    fn settle(&mut self, lane: usize, target: &str, outcome: Result<usize, String>) {
        let name = if self.lanes[lane].sink == Sink::Hub { "hub" } else { "syslog" };
        match outcome {
            Ok(sent) => {
                let failures = std::mem::take(&mut self.lanes[lane].failures);
                self.lanes[lane].retry_at = None;
                if failures > 0 {
                    self.event(
                        Level::Info,
                        format_args!(
                            "{name} {target} reachable again after {failures} failed attempts; sent {sent}"
                        ),
                    );
                }
            }
            Err(e) => {
                let l = &mut self.lanes[lane];
                l.failures += 1;
                let wait =
                    (self.poll * 2u32.saturating_pow(l.failures.min(16))).min(MAX_BACKOFF.max(self.poll));
                l.retry_at = Some(Instant::now() + wait);
                let level = if l.failures == 1 { Level::Warn } else { Level::Debug };
                let attempt = l.failures;
                self.event(
                    level,
                    format_args!(
                        "cannot forward to {name} {target} (attempt {attempt}): {e}; retrying in {wait:?}"
                    ),
                );
            }
        }
    }

    fn event(&self, level: Level, message: std::fmt::Arguments<'_>) {
        self.log.event(level, "alpi.audit", message);
    }
}

/// `audit.push {records}` to the hub pinned as `hub`.
fn push(
    home: &ProfileHome,
    keys: &Keypair,
    client: &Client<'_>,
    hub: &str,
    records: &[Record],
) -> Result<(), String> {
    let peer = pinned(home, hub).map_err(|e| format!("audit.hub: {e}"))?;
    let route = Route::for_peer(&peer, home.root());
    let list: Vec<Value> = records.iter().map(|r| Value::Object(r.to_object())).collect();
    let params = Object::new().with("records", list);
    client
        .call(&peer, &route, AUDIT_PUSH, params, CALL_TIMEOUT, &mut |_| {})
        .map(drop)
        .map_err(|e| explain_failure(home, keys, &peer, &route, e))
}
