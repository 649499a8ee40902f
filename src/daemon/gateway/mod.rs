//! Gateways: the owner reaches a profile's agent from Telegram and by email while the
//! daemon runs. Each gateway is a thread per profile, configured in the profile's
//! `.env`, with a fail-closed allow list; a circuit breaker takes a failing one out
//! for a while instead of hammering its server; each chat keeps a session of its own.

pub mod email;
pub mod telegram;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::agent::run::{Conversation, RunError, Surface};
use crate::agent::session::Session;
use crate::agent::tools::NoApprover;
use crate::fsio;
use crate::json::{self, Object, Value};
use crate::profile::ProfileHome;

/// Consecutive failures that disable a gateway.
pub const TRIP_AFTER: u64 = 5;

/// Stops a gateway thread when dropped (the profile is no longer served).
pub struct Running {
    stop: Arc<AtomicBool>,
}

impl Running {
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Self { stop }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        raise(&self.stop);
    }
}

/// Every [`pause`] waits on this, so [`raise`] can end them at once: an idle gateway
/// sleeps without waking (polling a flag every 100 ms cost ~1.7 s of CPU an hour).
static PAUSES: Mutex<()> = Mutex::new(());
static RAISED: Condvar = Condvar::new();

/// Sleeps `wait`, waking early when `stop` is [`raise`]d; false if it was.
pub fn pause(stop: &AtomicBool, wait: Duration) -> bool {
    let until = std::time::Instant::now() + wait;
    let mut guard = PAUSES.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        guard = RAISED.wait_timeout(guard, left).unwrap_or_else(PoisonError::into_inner).0;
    }
}

/// Sets `flag` and wakes the pauses watching it.
pub fn raise(flag: &AtomicBool) {
    flag.store(true, Ordering::SeqCst);
    let _guard = PAUSES.lock().unwrap_or_else(PoisonError::into_inner);
    RAISED.notify_all();
}

/// `gateway/.breaker-state.json`: `{"<gateway>": {"failures", "state", "until"}}`.
pub struct Breaker {
    path: PathBuf,
    gateway: &'static str,
}

impl Breaker {
    pub fn new(home: &ProfileHome, gateway: &'static str) -> Self {
        Self { path: home.dir().join("gateway").join(".breaker-state.json"), gateway }
    }

    fn change(&self, apply: impl FnOnce(&mut Object)) {
        let result = (|| -> fsio::Result<()> {
            fsio::ensure_private_dir(self.path.parent().unwrap_or(Path::new(".")))?;
            let _lock = fsio::lock_exclusive(&self.path.with_extension("lock"))?;
            let mut doc = read_object(&self.path);
            let mut entry = doc.get(self.gateway).and_then(Value::as_object).cloned().unwrap_or_default();
            apply(&mut entry);
            doc.insert(self.gateway, Value::Object(entry));
            fsio::write_atomic(&self.path, fsio::SECRET_FILE, &Value::Object(doc).pretty())
        })();
        if let Err(e) = result {
            log::warn!("{}: cannot record the breaker state: {e}", self.gateway);
        }
    }

    pub fn success(&self) {
        if self.failures() > 0 || self.state() != "healthy" {
            self.change(|e| {
                e.insert("failures", 0u64);
                e.insert("state", "healthy");
                e.insert("until", 0.0);
            });
        }
    }

    /// One more failure; the fifth and each after it disable the gateway for 5, 10,
    /// 20, 40, then 60 minutes.
    pub fn failure(&self, now: f64) {
        self.change(|e| {
            let failures = e.get("failures").and_then(Value::as_u64).unwrap_or(0) + 1;
            e.insert("failures", failures);
            if failures >= TRIP_AFTER {
                let minutes = (5u64 << (failures - TRIP_AFTER).min(4)).min(60);
                e.insert("state", "disabled");
                e.insert("until", now + (minutes * 60) as f64);
            } else {
                e.insert("state", "degraded");
            }
        });
    }

    fn entry(&self) -> Object {
        read_object(&self.path).get(self.gateway).and_then(Value::as_object).cloned().unwrap_or_default()
    }

    pub fn failures(&self) -> u64 {
        self.entry().get("failures").and_then(Value::as_u64).unwrap_or(0)
    }

    pub fn state(&self) -> String {
        self.entry().get("state").and_then(Value::as_str).unwrap_or("healthy").to_owned()
    }

    /// How long the gateway must still rest, if it is disabled.
    pub fn rest(&self, now: f64) -> Option<Duration> {
        let entry = self.entry();
        let until = entry.get("until").and_then(Value::as_f64).unwrap_or(0.0);
        let disabled = entry.get("state").and_then(Value::as_str) == Some("disabled");
        (disabled && until > now).then(|| Duration::from_secs_f64(until - now))
    }
}

fn read_object(path: &Path) -> Object {
    let bytes = fsio::read_optional(path).ok().flatten().unwrap_or_default();
    json::parse(&bytes).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default()
}

/// Runs a turn for one gateway chat in that chat's own session
/// (`gateway/sessions/`, found through `_map.json`), with untrusted text framed as such.
pub fn chat_turn(
    home: &ProfileHome,
    surface: &str,
    chat: &str,
    framed_prompt: &str,
) -> Result<String, RunError> {
    let dir = home.dir().join("gateway").join("sessions");
    let map_path = dir.join("_map.json");
    let mut conversation = Conversation::open(home)?;
    conversation.set_sessions_dir(dir.clone());
    let known = read_object(&map_path).get(chat).and_then(Value::as_str).map(str::to_owned);
    if let Some(session) = known.and_then(|id| Session::load(&dir.join(format!("{id}.json"))).ok()) {
        conversation.resume(session);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let mut approver = NoApprover;
    let surface = Surface { name: surface, approver: &mut approver, cancel: &cancel, peer: None };
    let answer = conversation.turn(framed_prompt, surface, &mut |_| {})?;
    set_chat_session(&map_path, chat, Some(&answer.session_id));
    Ok(answer.result.text)
}

/// Forgets a chat's session (`/new`).
pub fn forget_chat(home: &ProfileHome, chat: &str) {
    set_chat_session(&home.dir().join("gateway").join("sessions").join("_map.json"), chat, None);
}

fn set_chat_session(map_path: &Path, chat: &str, session: Option<&str>) {
    let result = (|| -> fsio::Result<()> {
        fsio::ensure_private_dir(map_path.parent().unwrap_or(Path::new(".")))?;
        let _lock = fsio::lock_exclusive(&map_path.with_extension("lock"))?;
        let mut map = read_object(map_path);
        match session {
            Some(id) => drop(map.insert(chat, id)),
            None => drop(map.remove(chat)),
        }
        fsio::write_atomic(map_path, fsio::SECRET_FILE, &Value::Object(map).pretty())
    })();
    if let Err(e) = result {
        log::warn!("cannot record the session of chat {chat}: {e}");
    }
}

/// A reply cut into pieces of at most `limit` characters, at a line break when one is
/// near the end of a piece.
pub fn chunks(text: &str, limit: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.chars().count() > limit {
        let cut = rest.char_indices().nth(limit).map_or(rest.len(), |(i, _)| i);
        let at = rest[..cut].rfind('\n').filter(|&i| i > cut / 2).map_or(cut, |i| i + 1);
        pieces.push(rest[..at].to_owned());
        rest = &rest[at..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_cut_under_the_limit_preferring_line_breaks() {
        let text = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = chunks(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].ends_with('\n') && parts[1].starts_with('b'));
        let long = "é".repeat(9000);
        let parts = chunks(&long, 4096);
        assert_eq!(parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), [4096, 4096, 808]);
        assert_eq!(chunks("", 4096), [""]);
    }

    #[test]
    fn the_breaker_trips_after_five_failures_and_backs_off_longer_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let home = crate::profile::Root::new(dir.path().to_owned())
            .home(&crate::profile::ProfileName::default_profile());
        let breaker = Breaker::new(&home, "telegram");
        for _ in 0..4 {
            breaker.failure(1000.0);
        }
        assert_eq!(breaker.state(), "degraded");
        assert!(breaker.rest(1000.0).is_none());
        breaker.failure(1000.0);
        assert_eq!(breaker.rest(1000.0), Some(Duration::from_secs(300)));
        breaker.failure(1000.0);
        assert_eq!(breaker.rest(1000.0), Some(Duration::from_secs(600)));
        for _ in 0..5 {
            breaker.failure(1000.0);
        }
        assert_eq!(breaker.rest(1000.0), Some(Duration::from_secs(3600)), "capped at an hour");
        breaker.success();
        assert_eq!((breaker.state().as_str(), breaker.failures()), ("healthy", 0));
    }
}
