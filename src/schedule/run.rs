//! Carrying out a job: an agent turn in the profile with a `[SCHEDULED …]` header and no
//! one to approve risky commands, or with `no_agent` a script under the profile's
//! `skills/` run directly (no shell) — either stopped at the job's time limit. Every run
//! lands in `logs/runs.jsonl`, its result in the outputs inbox, its status in
//! `runs.json`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::store::{Store, StoreError, id_of};
use super::zone::SystemZone;
use super::{claim_due, kind, record_outcome, text, timeout_of};
use crate::agent::run::{Conversation, Surface};
use crate::agent::tools::NoApprover;
use crate::clock::now_micros;
use crate::json::{Object, Value};
use crate::profile::ProfileHome;
use crate::profile::outputs;

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    /// The answer or the script's output.
    pub reply: String,
    /// Why it failed, one line.
    pub error: String,
    pub timed_out: bool,
    pub exit_code: Option<i32>,
    pub elapsed: f64,
    pub session_id: String,
    pub backend: &'static str,
}

/// Runs every job due now, one after another; returns how many ran.
pub fn run_due(home: &ProfileHome) -> Result<usize, StoreError> {
    let store = Store::new(home.dir());
    let now = now_micros() / 1_000_000;
    let due = claim_due(&store, now, &SystemZone, last_activity(home))?;
    for job in &due {
        let outcome = run_job(home, job);
        finish(home, &store, job, &outcome)?;
    }
    Ok(due.len())
}

/// What the daemon remembers of a profile's schedule between ticks, so that an idle
/// tick reads no job files at all: when the files last changed, and the earliest
/// next run (sessions only move an inactivity job later, so this is never too late).
#[derive(Debug, Default)]
pub struct Watch {
    stamp: Option<[Option<std::time::SystemTime>; 2]>,
    next: Option<i64>,
}

impl Watch {
    fn files_stamp(home: &ProfileHome) -> [Option<std::time::SystemTime>; 2] {
        let store = Store::new(home.dir());
        let modified = |p: std::path::PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        [modified(store.jobs_path()), modified(store.runs_path())]
    }

    /// Whether a job may be due: the files changed, or the earliest run has come.
    pub fn may_be_due(&self, home: &ProfileHome, now: i64) -> bool {
        self.stamp != Some(Self::files_stamp(home)) || self.next.is_some_and(|next| next <= now)
    }

    /// Remembers the files as they are now and when their earliest job runs.
    pub fn refresh(&mut self, home: &ProfileHome, now: i64) {
        let stamp = Self::files_stamp(home);
        let jobs = Store::new(home.dir()).read().unwrap_or_default();
        let activity = last_activity(home);
        self.next = jobs.iter().filter_map(|j| super::next_run(j, now, &SystemZone, activity)).min();
        self.stamp = Some(stamp);
    }
}

/// `alpi schedule fire`: runs one job now, paused or not, and records it like any run.
pub fn fire(home: &ProfileHome, id: &str) -> Result<Outcome, String> {
    let store = Store::new(home.dir());
    let now = super::iso(now_micros() / 1_000_000);
    let job = store
        .update(|jobs| {
            let job = jobs.iter_mut().find(|j| id_of(j) == id)?;
            job.insert("last_run_at", now.as_str());
            job.insert("last_run_status", "running");
            Some(job.clone())
        })
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no job {id:?} — `alpi schedule list` shows them"))?;
    let outcome = run_job(home, &job);
    finish(home, &store, &job, &outcome).map_err(|e| e.to_string())?;
    Ok(outcome)
}

/// When the newest session was last written.
pub fn last_activity(home: &ProfileHome) -> Option<i64> {
    let entries = std::fs::read_dir(home.dir().join("sessions")).ok()?;
    let modified = entries.flatten().filter_map(|e| e.metadata().ok()?.modified().ok());
    let newest = modified.max()?;
    newest.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}

pub fn run_job(home: &ProfileHome, job: &Object) -> Outcome {
    let started = Instant::now();
    let mut outcome = if job.get("no_agent").and_then(Value::as_bool).unwrap_or(false) {
        run_script(home, text(job, "prompt"), timeout_of(job))
    } else {
        run_agent(home, job, timeout_of(job))
    };
    outcome.elapsed = started.elapsed().as_secs_f64();
    outcome
}

fn run_agent(home: &ProfileHome, job: &Object, limit: Duration) -> Outcome {
    let failed = |error: String| Outcome { error, backend: "agent", ..Outcome::default() };
    let mut conversation = match Conversation::open(home) {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    let title = match text(job, "title") {
        "" => String::new(),
        t => format!(" · {t}"),
    };
    let prompt = format!("[SCHEDULED {} job {}{title}]\n{}", kind(job), id_of(job), text(job, "prompt"));
    let cancel = Arc::new(AtomicBool::new(false));
    let (done, watchdog) = start_watchdog(cancel.clone(), limit);
    let mut approver = NoApprover;
    let surface = Surface { name: "schedule", approver: &mut approver, cancel: &cancel, peer: None };
    let result = conversation.turn(&prompt, surface, &mut |_| {});
    drop(done);
    let timed_out = watchdog.join().unwrap_or(false);
    match result {
        Ok(answer) if timed_out => Outcome {
            timed_out,
            error: format!("stopped after {} s (timeout)", limit.as_secs()),
            reply: answer.result.text,
            session_id: answer.session_id,
            backend: "agent",
            ..Outcome::default()
        },
        Ok(answer) => Outcome {
            ok: true,
            reply: answer.result.text,
            session_id: answer.session_id,
            backend: "agent",
            ..Outcome::default()
        },
        Err(e) => failed(e.to_string()),
    }
}

/// Sets `cancel` once `limit` passes, unless the returned sender is dropped first; the
/// thread says whether it fired.
fn start_watchdog(
    cancel: Arc<AtomicBool>,
    limit: Duration,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<bool>) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || match rx.recv_timeout(limit) {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            cancel.store(true, Ordering::SeqCst);
            true
        }
        _ => false,
    });
    (tx, handle)
}

/// A `no_agent` job: `script args…` or `python3 script args…`, the script inside the
/// profile's `skills/…/scripts/`, run without a shell in the profile directory.
fn run_script(home: &ProfileHome, command: &str, limit: Duration) -> Outcome {
    let failed = |error: String| Outcome { error, backend: "script", ..Outcome::default() };
    let argv = match checked_command(home, command) {
        Ok(argv) => argv,
        Err(e) => return failed(format!("no_agent rejected: {e}")),
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(home.dir())
        .env("ALPI_HOME", home.dir())
        .env("ALPI_PLATFORM", "cron")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return failed(format!("cannot start {}: {e}", argv[0])),
    };
    let pid = child.id();
    let (done, watchdog) = start_watchdog(Arc::new(AtomicBool::new(false)), limit);
    let killer = std::thread::spawn(move || {
        let fired = watchdog.join().unwrap_or(false);
        if fired {
            // SAFETY: signalling the process group of the child we started, which
            // wait_with_output below has not reaped yet (it is still waiting).
            unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
        }
        fired
    });
    let output = child.wait_with_output();
    drop(done);
    let timed_out = killer.join().unwrap_or(false);
    let output = match output {
        Ok(o) => o,
        Err(e) => return failed(format!("{}: {e}", argv[0])),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let exit_code = output.status.code();
    let error = match (timed_out, exit_code) {
        (true, _) => format!("stopped after {} s (timeout)", limit.as_secs()),
        (false, Some(0)) => String::new(),
        (false, code) => {
            format!("exit {}: {}", code.map_or("signal".into(), |c| c.to_string()), tail(&stderr, 300))
        }
    };
    Outcome {
        ok: error.is_empty(),
        reply: stdout,
        error,
        timed_out,
        exit_code,
        backend: "script",
        ..Outcome::default()
    }
}

/// The words of `command` (quotes and backslashes as a shell reads them), allowed only
/// in the two forms above.
fn checked_command(home: &ProfileHome, command: &str) -> Result<Vec<String>, String> {
    let expanded = command
        .replace("${ALPI_HOME}", &home.dir().to_string_lossy())
        .replace("$ALPI_HOME", &home.dir().to_string_lossy());
    let argv = split_words(&expanded)?;
    let Some(exe) = argv.first() else { return Err("empty command".into()) };
    let skills = home
        .dir()
        .join("skills")
        .canonicalize()
        .map_err(|_| "the profile has no skills/ directory".to_owned())?;
    let in_skills = |word: &str| {
        let path = home.dir().join(word).canonicalize().ok();
        let rel = path.as_ref().and_then(|p| p.strip_prefix(&skills).ok().map(|r| r.to_owned()));
        rel.is_some_and(|r| {
            let parts: Vec<_> = r.components().collect();
            parts.len() >= 3 && parts[..parts.len() - 1].iter().any(|c| c.as_os_str() == "scripts")
        })
    };
    if in_skills(exe) {
        let mut argv = argv.clone();
        argv[0] = home.dir().join(exe).to_string_lossy().into_owned();
        return Ok(argv);
    }
    let name = std::path::Path::new(exe).file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !(name == "python" || name.starts_with("python3")) {
        return Err(format!(
            "the command must be a script under skills/…/scripts/ (or python running one), not {exe:?}"
        ));
    }
    match argv[1..].iter().find(|w| !w.starts_with('-') || w.starts_with("-c") || w.starts_with("-m")) {
        Some(w) if w.starts_with('-') => Err(format!("python {w} is not allowed here")),
        Some(script) if in_skills(script) => Ok(argv),
        Some(other) => Err(format!("python must run a script under skills/…/scripts/, not {other:?}")),
        None => Err("python needs a script under skills/…/scripts/".into()),
    }
}

/// Splits like a POSIX shell's word splitting: whitespace, '…', "…" and `\`.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let (mut words, mut word, mut in_word) = (Vec::new(), String::new(), false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unclosed '".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.push(chars.next().ok_or("unclosed \"")?),
                        Some(c) => word.push(c),
                        None => return Err("unclosed \"".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(max)).collect()
}

/// Records a finished run: its status in runs.json (a `once` success removes the job),
/// a line in logs/runs.jsonl, and the result in the outputs inbox.
pub fn finish(home: &ProfileHome, store: &Store, job: &Object, outcome: &Outcome) -> Result<(), StoreError> {
    let now = now_micros();
    let id = id_of(job);
    record_outcome(store, id, outcome.ok, &outcome.error, now / 1_000_000)?;
    let result = if outcome.ok {
        "ok"
    } else if outcome.timed_out {
        "timeout"
    } else {
        "error"
    };
    let run_id = crate::alp::wire::envelope::random_hex16()[..12].to_owned();
    let tail_text = if outcome.ok { &outcome.reply } else { &outcome.error };
    let run = Object::new()
        .with("kind", "schedule")
        .with("outcome", result)
        .with("elapsed_s", (outcome.elapsed * 1000.0).round() / 1000.0)
        .with("at", now as f64 / 1e6)
        .with("profile", home.name().as_str())
        .with("job_id", id)
        .with("run_id", run_id.as_str())
        .with("backend", outcome.backend)
        .with("exit_code", outcome.exit_code.map_or(Value::Null, |c| Value::from(i64::from(c))))
        .with("timeout_reason", if outcome.timed_out { Value::from("timeout") } else { Value::Null })
        .with("output_tail", tail(tail_text, 500));
    if let Err(e) = outputs::append_run(home.dir(), run) {
        log::warn!("{}: could not record run of job {id}: {e}", home.name());
    }
    let body = if outcome.ok { outcome.reply.clone() } else { format!("job {id} failed: {}", outcome.error) };
    let title = match text(job, "title") {
        "" => format!("scheduled {}", kind(job)),
        t => t.to_owned(),
    };
    let row = Object::new()
        .with("id", crate::alp::wire::envelope::random_hex16()[..12].to_owned())
        .with("profile", home.name().as_str())
        .with("created_at", now as f64 / 1e6)
        .with("body", body.as_str())
        .with("type", if outcome.ok { "info" } else { "error" })
        .with("status", "unread")
        .with("session_id", outcome.session_id.as_str())
        .with("delivered_to", Vec::<Value>::new())
        .with("title", title)
        .with("summary", tail(&body.replace('\n', " "), 120))
        .with("job_id", id)
        .with("run_id", run_id)
        .with("push", job.get("notify").and_then(Value::as_bool).unwrap_or(false));
    if let Err(e) = outputs::append_output(home.dir(), row) {
        log::warn!("{}: could not add job {id}'s result to the inbox: {e}", home.name());
    }
    log::info!("{}: job {id} ran: {result} in {:.1} s", home.name(), outcome.elapsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn words_split_as_a_shell_would() {
        assert_eq!(split_words(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(), ["a", "b c", "d \"e\"", "f g"]);
        assert!(split_words("a 'b").is_err());
        assert!(split_words("   ").unwrap().is_empty());
    }
}
