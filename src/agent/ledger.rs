//! `logs/ledger.json`: what a profile spent today (UTC), per peer, and the last 30
//! days — the daily budget's source of truth, shared by every surface and the daemon.
//!
//! Format kept with the original alpi: `{"day", "profile": {"usd", "tokens"},
//! "by_peer": {"<id>": {"usd", "tokens"}}, "history": {"<day>": {"usd", "tokens"}}}`.
//! A corrupt file is moved aside and a fresh one started; it never stops a turn.

use std::path::{Path, PathBuf};

use crate::clock::UtcTime;
use crate::fsio;
use crate::json::{self, Object, Value};

/// Days of history kept beside today.
pub const HISTORY_DAYS: usize = 30;

/// Money and tokens spent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    pub usd: f64,
    pub tokens: u64,
}

/// Today's cap is spent.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("today's budget is spent: ${used:.2} of ${cap:.2} (budget.daily_usd); it resets at 00:00 UTC")]
pub struct BudgetExceeded {
    pub cap: f64,
    pub used: f64,
}

/// The ledger of one profile.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    pub fn new(logs_dir: &Path) -> Self {
        Self { path: logs_dir.join("ledger.json") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was spent today (UTC) at `now`.
    pub fn today(&self, now_micros: i64) -> Spend {
        let doc = self.read().unwrap_or_default();
        if doc.get("day").and_then(Value::as_str) == Some(day_of(now_micros).as_str()) {
            spend_of(doc.get("profile"))
        } else {
            Spend::default()
        }
    }

    /// Refuses when `cap` (USD) is set and today's spend has reached it.
    pub fn check(&self, cap: Option<f64>, now_micros: i64) -> Result<(), BudgetExceeded> {
        let Some(cap) = cap else { return Ok(()) };
        let used = self.today(now_micros).usd;
        if used >= cap { Err(BudgetExceeded { cap, used }) } else { Ok(()) }
    }

    /// Adds a model call's cost to today (and to `peer`'s share), rolling the day over
    /// into history at UTC midnight. Returns today's new total.
    pub fn record(&self, spend: Spend, peer: Option<&str>, now_micros: i64) -> fsio::Result<Spend> {
        let _lock = fsio::lock_exclusive(&self.path.with_file_name("ledger.lock"))?;
        let mut doc = self.read_or_set_aside(now_micros);
        let today = day_of(now_micros);
        if doc.get("day").and_then(Value::as_str) != Some(today.as_str()) {
            doc = roll_over(doc, &today);
        }
        let total = add(spend_of(doc.get("profile")), spend);
        doc.insert("profile", spend_object(total));
        if let Some(peer) = peer {
            let mut by_peer = doc.get("by_peer").and_then(Value::as_object).cloned().unwrap_or_default();
            let share = add(spend_of(by_peer.get(peer)), spend);
            by_peer.insert(peer, spend_object(share));
            doc.insert("by_peer", by_peer);
        }
        fsio::write_atomic(&self.path, fsio::SECRET_FILE, &Value::Object(doc).pretty())?;
        Ok(total)
    }

    fn read(&self) -> Option<Object> {
        let bytes = fsio::read_optional(&self.path).ok()??;
        match json::parse(&bytes) {
            Ok(Value::Object(doc)) => Some(doc),
            _ => None,
        }
    }

    /// The current ledger; an unreadable one is renamed `ledger.json.corrupt-<ts>`.
    fn read_or_set_aside(&self, now_micros: i64) -> Object {
        match fsio::read_optional(&self.path) {
            Ok(None) => Object::new(),
            Ok(Some(bytes)) => match json::parse(&bytes) {
                Ok(Value::Object(doc)) => doc,
                _ => {
                    let aside =
                        self.path.with_file_name(format!("ledger.json.corrupt-{}", now_micros / 1_000_000));
                    match std::fs::rename(&self.path, &aside) {
                        Ok(()) => {
                            log::warn!("{} was unreadable; kept as {}", self.path.display(), aside.display())
                        }
                        Err(e) => log::warn!(
                            "{} was unreadable and could not be moved aside: {e}",
                            self.path.display()
                        ),
                    }
                    Object::new()
                }
            },
            Err(e) => {
                log::warn!("{e}; starting a fresh ledger");
                Object::new()
            }
        }
    }
}

fn day_of(now_micros: i64) -> String {
    UtcTime::from_micros(now_micros).iso_seconds()[..10].to_owned()
}

/// Moves the finished day into history (keeping 30 days) and starts `today` at zero.
fn roll_over(mut doc: Object, today: &str) -> Object {
    let mut history = doc.get("history").and_then(Value::as_object).cloned().unwrap_or_default();
    if let (Some(day), Some(spent)) =
        (doc.get("day").and_then(Value::as_str).map(str::to_owned), doc.get("profile"))
    {
        history.insert(day, spend_object(spend_of(Some(spent))));
    }
    let mut days: Vec<(String, Value)> = history.iter().map(|(d, v)| (d.to_owned(), v.clone())).collect();
    days.sort_by(|a, b| b.0.cmp(&a.0));
    days.truncate(HISTORY_DAYS);
    days.reverse();
    let history = days.into_iter().fold(Object::new(), |h, (d, v)| h.with(d, v));
    doc.insert("day", today);
    doc.insert("profile", spend_object(Spend::default()));
    doc.insert("by_peer", Object::new());
    doc.insert("history", history);
    doc
}

fn spend_of(v: Option<&Value>) -> Spend {
    let get = |k: &str| v.and_then(|v| v.get(k));
    Spend {
        usd: get("usd").and_then(Value::as_f64).unwrap_or(0.0),
        tokens: get("tokens").and_then(Value::as_u64).unwrap_or(0),
    }
}

fn spend_object(s: Spend) -> Object {
    Object::new().with("usd", s.usd).with("tokens", s.tokens)
}

fn add(a: Spend, b: Spend) -> Spend {
    Spend { usd: a.usd + b.usd, tokens: a.tokens + b.tokens }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;
    const JAN1: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

    #[test]
    fn records_per_day_and_per_peer_and_rolls_over_at_utc_midnight() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        ledger.record(Spend { usd: 0.5, tokens: 100 }, None, JAN1 + 1).unwrap();
        let total = ledger.record(Spend { usd: 0.25, tokens: 50 }, Some("laptop"), JAN1 + 2).unwrap();
        assert_eq!(total, Spend { usd: 0.75, tokens: 150 });
        assert_eq!(ledger.check(Some(0.75), JAN1 + 3), Err(BudgetExceeded { cap: 0.75, used: 0.75 }));
        assert!(ledger.check(Some(1.0), JAN1 + 3).is_ok());
        assert!(ledger.check(None, JAN1 + 3).is_ok());

        // The next UTC day starts from zero; yesterday goes to history.
        assert_eq!(ledger.today(JAN1 + DAY), Spend::default());
        ledger.record(Spend { usd: 0.1, tokens: 10 }, None, JAN1 + DAY).unwrap();
        let doc = json::parse(&std::fs::read(ledger.path()).unwrap()).unwrap();
        assert_eq!(doc.get("day").and_then(Value::as_str), Some("2026-01-02"));
        let history = doc.get("history").unwrap();
        assert_eq!(history.get("2026-01-01").and_then(|d| d.get("usd")).and_then(Value::as_f64), Some(0.75));
        assert!(doc.get("by_peer").unwrap().as_object().unwrap().is_empty());
        assert_eq!(fsio::mode_of(ledger.path()), Some(0o600));
    }

    #[test]
    fn keeps_thirty_days_of_history() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        for d in 0..40 {
            ledger.record(Spend { usd: 1.0, tokens: 1 }, None, JAN1 + d * DAY).unwrap();
        }
        let doc = json::parse(&std::fs::read(ledger.path()).unwrap()).unwrap();
        let history = doc.get("history").unwrap().as_object().unwrap();
        assert_eq!(history.len(), HISTORY_DAYS);
        assert!(history.get("2026-02-08").is_some() && history.get("2026-01-09").is_none());
    }

    #[test]
    fn a_corrupt_ledger_is_set_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        std::fs::write(ledger.path(), "{not json").unwrap();
        assert_eq!(ledger.today(JAN1), Spend::default());
        ledger.record(Spend { usd: 0.2, tokens: 5 }, None, JAN1).unwrap();
        assert_eq!(ledger.today(JAN1).usd, 0.2);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("ledger.json.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn reads_a_ledger_written_by_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        let original = r#"{"day": "2026-01-01", "profile": {"usd": 1.25, "tokens": 4000}, "by_peer": {"home": {"usd": 0.5, "tokens": 100}}, "history": {}}"#;
        std::fs::write(ledger.path(), original).unwrap();
        assert_eq!(ledger.today(JAN1 + 5), Spend { usd: 1.25, tokens: 4000 });
        ledger.record(Spend { usd: 0.25, tokens: 1 }, Some("home"), JAN1 + 6).unwrap();
        let doc = json::parse(&std::fs::read(ledger.path()).unwrap()).unwrap();
        assert_eq!(
            doc.get("by_peer").and_then(|p| p.get("home")).and_then(|h| h.get("usd")).and_then(Value::as_f64),
            Some(0.75)
        );
    }
}
