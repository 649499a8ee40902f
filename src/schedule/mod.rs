//! The scheduler: a profile's jobs (`cron` in local time, `once` at a time, or
//! `inactivity` after hours without a session), when each is due, and the tick that
//! claims due jobs under the store's lock — a job is stamped before it runs, so missed
//! runs after downtime collapse into one and a failing job never refires in a loop.
//! `run` carries a job out; the daemon ticks every 30 s, `alpi schedule` works on the
//! same files with or without it.

pub mod cron;
pub mod run;
pub mod store;
pub mod zone;

use std::time::Duration;

use crate::clock::UtcTime;
use crate::json::{Object, Value};
use cron::Cron;
use store::{Store, StoreError, id_of};
use zone::Zone;

/// How often the daemon looks for due jobs.
pub const TICK: Duration = Duration::from_secs(30);
/// A run's time limit unless the job sets `timeout`, and the most it may set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// A failed `once` job is tried again no sooner than this.
pub const ONCE_RETRY_AFTER: i64 = 300;

/// Seconds since the epoch of a stored ISO-8601 time.
fn instant(job: &Object, key: &str) -> Option<i64> {
    let text = job.get(key).and_then(Value::as_str)?;
    zone::parse_time(text, &zone::SystemZone)
}

fn text<'a>(job: &'a Object, key: &str) -> &'a str {
    job.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub fn kind(job: &Object) -> &str {
    match text(job, "kind") {
        "" => "cron",
        k => k,
    }
}

pub fn is_paused(job: &Object) -> bool {
    job.get("paused").and_then(Value::as_bool).unwrap_or(false)
}

/// The run's time limit: `timeout` seconds, capped.
pub fn timeout_of(job: &Object) -> Duration {
    job.get("timeout")
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
        .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs_f64(s).min(MAX_TIMEOUT))
}

/// Checks a job definition before it is stored: a known kind with what that kind needs.
pub fn validate(job: &Object, zone: &dyn Zone) -> Result<(), String> {
    if text(job, "prompt").trim().is_empty() {
        return Err("a job needs a prompt".into());
    }
    match kind(job) {
        "cron" => Cron::parse(text(job, "expression")).map(drop).map_err(|e| e.to_string()),
        "once" => zone::parse_time(text(job, "run_at"), zone)
            .map(drop)
            .ok_or_else(|| format!("run_at {:?} is not a time like 2026-12-01T09:00", text(job, "run_at"))),
        "inactivity" => match job.get("after_hours").and_then(Value::as_f64) {
            Some(h) if h > 0.0 => Ok(()),
            _ => Err("an inactivity job needs after_hours > 0".into()),
        },
        other => Err(format!("unknown kind {other:?}: use cron, once or inactivity")),
    }
}

/// Whether `job` should run at `now`; `last_activity` is when the newest session was
/// last written (for `inactivity`).
pub fn is_due(job: &Object, now: i64, zone: &dyn Zone, last_activity: Option<i64>) -> bool {
    if is_paused(job) {
        return false;
    }
    let last = instant(job, "last_run_at");
    match kind(job) {
        "cron" => {
            let Ok(cron) = Cron::parse(text(job, "expression")) else { return false };
            let Some(anchor) = last.or_else(|| instant(job, "first_seen_at")) else { return false };
            cron.next_after(anchor, zone).is_some_and(|next| next <= now)
        }
        "once" => {
            let failed = text(job, "last_run_status").starts_with("error");
            let retry = last.is_none_or(|at| failed && now - at >= ONCE_RETRY_AFTER);
            retry && zone::parse_time(text(job, "run_at"), zone).is_some_and(|at| at <= now)
        }
        "inactivity" => {
            let hours = job.get("after_hours").and_then(Value::as_f64).unwrap_or(0.0);
            let threshold = (hours * 3600.0) as i64;
            if threshold <= 0 || last.is_some_and(|at| now - at < threshold) {
                return false;
            }
            last_activity.is_none_or(|at| now - at >= threshold)
        }
        _ => false,
    }
}

/// When `job` runs next, if it is scheduled at all.
pub fn next_run(job: &Object, now: i64, zone: &dyn Zone, last_activity: Option<i64>) -> Option<i64> {
    if is_paused(job) {
        return None;
    }
    if is_due(job, now, zone, last_activity) {
        return Some(now);
    }
    match kind(job) {
        "cron" => {
            let anchor = instant(job, "last_run_at").or_else(|| instant(job, "first_seen_at")).unwrap_or(now);
            Cron::parse(text(job, "expression")).ok()?.next_after(anchor, zone)
        }
        "once" if instant(job, "last_run_at").is_none() => zone::parse_time(text(job, "run_at"), zone),
        "inactivity" => {
            let threshold = (job.get("after_hours").and_then(Value::as_f64)? * 3600.0) as i64;
            let after_activity = last_activity.map_or(now, |at| at + threshold);
            let after_last = instant(job, "last_run_at").map_or(now, |at| at + threshold);
            Some(after_activity.max(after_last))
        }
        _ => None,
    }
}

fn iso(secs: i64) -> String {
    UtcTime::from_micros(secs * 1_000_000).iso_seconds()
}

/// Claims every job due at `now`: stamps `last_run_at` (and `first_seen_at` on cron
/// jobs seen for the first time, which start counting from then) and returns the due
/// jobs to run.
pub fn claim_due(
    store: &Store,
    now: i64,
    zone: &dyn Zone,
    last_activity: Option<i64>,
) -> Result<Vec<Object>, StoreError> {
    let claimed = store.update(|jobs| {
        let mut due = Vec::new();
        let mut changed = false;
        for job in jobs.iter_mut() {
            let unanchored = kind(job) == "cron"
                && !is_paused(job)
                && instant(job, "last_run_at").is_none()
                && instant(job, "first_seen_at").is_none();
            if unanchored {
                job.insert("first_seen_at", iso(now));
                changed = true;
            } else if is_due(job, now, zone, last_activity) {
                job.insert("last_run_at", iso(now));
                job.insert("last_run_status", "running");
                due.push(job.clone());
                changed = true;
            }
        }
        changed.then_some(due)
    })?;
    Ok(claimed.unwrap_or_default())
}

/// Records how a run ended; a `once` job that succeeded is removed.
pub fn record_outcome(store: &Store, id: &str, ok: bool, message: &str, now: i64) -> Result<(), StoreError> {
    store.update(|jobs| {
        let index = jobs.iter().position(|j| id_of(j) == id)?;
        if ok && kind(&jobs[index]) == "once" {
            jobs.remove(index);
            return Some(());
        }
        let job = &mut jobs[index];
        let status = if ok { "ok".to_owned() } else { format!("error: {message}") };
        job.insert("last_run_status", status.chars().take(300).collect::<String>());
        if ok {
            job.insert("last_ok_at", iso(now));
        }
        Some(())
    })?;
    Ok(())
}

/// A new job id: 8 lowercase hex characters.
pub fn new_job_id() -> String {
    crate::alp::wire::envelope::random_hex16()[..8].to_owned()
}

#[cfg(test)]
mod tests {
    use super::zone::tests::Berlin;
    use super::zone::{Utc, wall_of};
    use super::*;

    fn cron_job(expr: &str) -> Object {
        Object::new().with("id", "c0ffee01").with("kind", "cron").with("prompt", "p").with("expression", expr)
    }

    #[test]
    fn three_days_down_is_one_run_then_back_to_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store
            .update(|jobs| {
                jobs.push(cron_job("0 9 * * *"));
                Some(())
            })
            .unwrap();
        let monday = wall_of(2026, 11, 30, 8, 0);
        assert!(claim_due(&store, monday, &Utc, None).unwrap().is_empty(), "first sight only anchors");
        let thursday = wall_of(2026, 12, 3, 12, 0);
        assert_eq!(claim_due(&store, thursday, &Utc, None).unwrap().len(), 1, "the missed runs collapse");
        assert!(claim_due(&store, thursday + 60, &Utc, None).unwrap().is_empty());
        record_outcome(&store, "c0ffee01", false, "the model was down", thursday + 90).unwrap();
        assert!(
            claim_due(&store, thursday + 120, &Utc, None).unwrap().is_empty(),
            "no refire after a failure"
        );
        let friday_9 = wall_of(2026, 12, 4, 9, 0);
        assert_eq!(claim_due(&store, friday_9, &Utc, None).unwrap().len(), 1);
        let job = &store.read().unwrap()[0];
        assert_eq!(text(job, "last_run_status"), "running");
    }

    #[test]
    fn cron_due_times_follow_local_time_across_dst() {
        let mut job = cron_job("0 9 * * *");
        job.insert("last_run_at", iso(wall_of(2026, 3, 28, 8, 0)));
        let cest_9 = wall_of(2026, 3, 29, 7, 0);
        assert!(!is_due(&job, cest_9 - 60, &Berlin, None));
        assert!(is_due(&job, cest_9, &Berlin, None));
        assert_eq!(next_run(&job, cest_9 - 3600, &Berlin, None), Some(cest_9));
    }

    #[test]
    fn once_runs_at_its_time_is_removed_on_success_and_retried_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let job = Object::new().with("id", "0nce0001").with("kind", "once").with("prompt", "p");
        store
            .update(|jobs| {
                jobs.push(job.with("run_at", "2026-12-01T09:00:00Z"));
                Some(())
            })
            .unwrap();
        let at = wall_of(2026, 12, 1, 9, 0);
        assert!(claim_due(&store, at - 1, &Utc, None).unwrap().is_empty());
        assert_eq!(claim_due(&store, at, &Utc, None).unwrap().len(), 1);
        record_outcome(&store, "0nce0001", false, "boom", at + 5).unwrap();
        assert!(claim_due(&store, at + 60, &Utc, None).unwrap().is_empty(), "not in a tight loop");
        assert_eq!(claim_due(&store, at + ONCE_RETRY_AFTER, &Utc, None).unwrap().len(), 1, "retried");
        record_outcome(&store, "0nce0001", true, "", at + ONCE_RETRY_AFTER + 5).unwrap();
        assert!(store.read().unwrap().is_empty(), "removed after it succeeded");
    }

    #[test]
    fn inactivity_waits_for_quiet_and_cools_down() {
        let job = Object::new().with("id", "1dle0001").with("kind", "inactivity").with("prompt", "p");
        let mut job = job.with("after_hours", 24.0);
        let now = wall_of(2026, 12, 1, 12, 0);
        assert!(is_due(&job, now, &Utc, None), "no session ever");
        assert!(!is_due(&job, now, &Utc, Some(now - 3600)));
        assert!(is_due(&job, now, &Utc, Some(now - 25 * 3600)));
        job.insert("last_run_at", iso(now - 3600));
        assert!(!is_due(&job, now, &Utc, Some(now - 25 * 3600)), "cool-down after its own run");
        job.insert("paused", true);
        assert!(!is_due(&job, now + 86_400, &Utc, None));
    }

    #[test]
    fn definitions_are_checked() {
        let ok = cron_job("*/5 * * * *");
        assert_eq!(validate(&ok, &Utc), Ok(()));
        assert!(validate(&cron_job("every day"), &Utc).unwrap_err().contains("expected 5 fields"));
        let once = Object::new().with("kind", "once").with("prompt", "p").with("run_at", "soon");
        assert!(validate(&once, &Utc).unwrap_err().contains("run_at"));
        let weird = Object::new().with("kind", "hourly").with("prompt", "p");
        assert!(validate(&weird, &Utc).unwrap_err().contains("unknown kind"));
        assert_eq!(timeout_of(&ok.with("timeout", 99_999)), MAX_TIMEOUT);
    }
}
