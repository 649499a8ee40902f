//! Background jobs of the `terminal` tool (`action: background`): started detached in
//! their own process group, stdout and stderr in a log file under the profile's
//! `logs/background/`, managed by pid with `status`, `output` and `kill`. Only jobs this
//! process started are known; a thread per job reaps it, so none is left a zombie.
//!
//! A log lives while its job is in the registry; the oldest finished job is dropped (log
//! and all) when the registry is full, and a later process removes the logs of one that
//! is gone.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Outcome;
use crate::daemon::process_alive;

const MAX_JOBS: usize = 16;
/// How much of the end of a log `output` returns.
const TAIL_BYTES: u64 = 8000;

struct Job {
    pid: u32,
    log: PathBuf,
    started: Instant,
    exit: Option<ExitStatus>,
}

static JOBS: Mutex<Vec<Job>> = Mutex::new(Vec::new());
static NEXT_LOG: AtomicU32 = AtomicU32::new(0);

fn jobs() -> MutexGuard<'static, Vec<Job>> {
    JOBS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts `cmd` (already approved) with its output going to a new log in `dir`.
pub fn start(mut cmd: Command, dir: &Path) -> Outcome {
    let mut jobs = jobs();
    if jobs.len() >= MAX_JOBS {
        let Some(done) = jobs.iter().position(|j| j.exit.is_some()) else {
            return Outcome::fail(format!("{MAX_JOBS} background jobs are running; kill one first"));
        };
        let _ = std::fs::remove_file(jobs.remove(done).log);
    }
    sweep(dir);
    let me = std::process::id();
    let log = dir.join(format!("{me}-{}.log", NEXT_LOG.fetch_add(1, Ordering::Relaxed)));
    let spawned = std::fs::create_dir_all(dir)
        .and_then(|()| OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&log))
        .and_then(|out| Ok((out.try_clone()?, out)))
        .and_then(|(out, err)| cmd.stdout(out).stderr(err).process_group(0).spawn());
    drop(cmd); // closes our copies of the log descriptors
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&log);
            return Outcome::fail(format!("cannot start the command: {e}"));
        }
    };
    let pid = child.id();
    // A job whose pid the system has given out again is long gone.
    if let Some(old) = jobs.iter().position(|j| j.pid == pid) {
        let _ = std::fs::remove_file(jobs.remove(old).log);
    }
    jobs.push(Job { pid, log: log.clone(), started: Instant::now(), exit: None });
    drop(jobs);
    let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || reap(child));
    Outcome::ok(format!(
        "started pid {pid} in the background (output in {})\n\
         use terminal with action status, output or kill and pid {pid} to manage it",
        log.display()
    ))
}

/// `status`, `output` or `kill` of the job `pid`.
pub fn manage(action: &str, pid: Option<u64>) -> Outcome {
    if !matches!(action, "status" | "output" | "kill") {
        return Outcome::fail(format!(
            "unknown action {action:?}; use run, background, status, output or kill"
        ));
    }
    let Some(pid) = pid else {
        return Outcome::fail(format!("{action} needs the `pid` a background action returned"));
    };
    let jobs = jobs();
    let Some(job) = jobs.iter().find(|j| u64::from(j.pid) == pid) else {
        return Outcome::fail(format!(
            "no background job with pid {pid}: only commands started here with action background can be managed"
        ));
    };
    let pid = job.pid;
    match (action, job.exit) {
        ("status", None) => {
            Outcome::ok(format!("pid {pid} is running ({} s)", job.started.elapsed().as_secs()))
        }
        ("status", Some(s)) | ("kill", Some(s)) => Outcome::ok(format!("pid {pid} has exited ({s})")),
        ("kill", None) => {
            drop(jobs);
            kill(pid)
        }
        _ => tail(&job.log),
    }
}

/// Signals the job's whole process group, SIGTERM then SIGKILL, until it is reaped.
fn kill(pid: u32) -> Outcome {
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        if let Some(job) = jobs().iter().find(|j| j.pid == pid && j.exit.is_none()) {
            // SAFETY: plain kill(2). The leader is not reaped until `exit` is set under the
            // lock we hold (see `reap`), so the group id is still this job's.
            unsafe { libc::kill(-(job.pid as libc::pid_t), signal) };
        }
        for _ in 0..100 {
            if let Some(s) = jobs().iter().find(|j| j.pid == pid).and_then(|j| j.exit) {
                return Outcome::ok(format!("killed pid {pid} and its process group ({s})"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Outcome::fail(format!("pid {pid} is still running after SIGKILL"))
}

/// Waits for `child` to exit, then reaps it and records its status. The wait leaves it a
/// zombie (WNOWAIT) until the registry lock is held, so `kill` never signals a pid that
/// has been reused.
fn reap(mut child: Child) {
    // SAFETY: waitid fills `info`, a plain C struct, for our own child.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        while libc::waitid(libc::P_PID, child.id(), &mut info, libc::WEXITED | libc::WNOWAIT) != 0
            && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {}
    }
    let mut jobs = jobs();
    let status = child.wait();
    if let (Some(job), Ok(s)) = (jobs.iter_mut().find(|j| j.pid == child.id()), status) {
        job.exit = Some(s);
    }
}

/// The end of a job's log.
fn tail(log: &Path) -> Outcome {
    let read = File::open(log).and_then(|f| {
        let len = f.metadata()?.len();
        let skip = len.saturating_sub(TAIL_BYTES);
        let mut text = vec![0; (len - skip) as usize];
        f.read_exact_at(&mut text, skip)?;
        Ok((skip, text))
    });
    match read {
        Ok((_, text)) if text.is_empty() => Outcome::ok("(no output yet)"),
        Ok((0, text)) => Outcome::ok(String::from_utf8_lossy(&text)),
        Ok((skip, text)) => {
            Outcome::ok(format!("[… {skip} earlier bytes …]\n{}", String::from_utf8_lossy(&text)))
        }
        Err(e) => Outcome::fail(format!("{}: {e}", log.display())),
    }
}

/// Removes the logs left by processes that are gone (`<pid>-<n>.log`).
fn sweep(dir: &Path) {
    let me = std::process::id();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let owner = name.to_str().and_then(|n| n.split_once('-')).and_then(|(p, _)| p.parse::<u32>().ok());
        if owner.is_some_and(|p| p != me && !process_alive(p)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
