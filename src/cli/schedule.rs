//! `alpi schedule`: the profile's jobs, changed under the same lock the daemon uses —
//! with the daemon running or not; it picks changes up at its next tick.

use std::process::ExitCode;

use argh::FromArgs;

use super::{CliResult, open_profile};
use crate::clock::now_micros;
use crate::json::{Object, Value};
use crate::profile::ProfileHome;
use crate::schedule::store::{Store, id_of};
use crate::schedule::zone::{SystemZone, fields, wall_at};
use crate::schedule::{self, run};

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "schedule")]
/// jobs the daemon runs: cron, once at a time, or after hours of inactivity
pub struct ScheduleCmd {
    #[argh(subcommand)]
    command: Sub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Sub {
    List(ListCmd),
    Add(AddCmd),
    Remove(RemoveCmd),
    Pause(PauseCmd),
    Resume(ResumeCmd),
    Fire(FireCmd),
    RunOnce(RunOnceCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// the jobs: id, when, next run, last status
struct ListCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// add a job: exactly one of --cron, --at, --after-hours
struct AddCmd {
    /// what the agent is asked (or, with --no-agent, the script to run)
    #[argh(option)]
    prompt: String,
    /// a 5-field cron expression in local time, e.g. "0 9 * * mon-fri"
    #[argh(option)]
    cron: Option<String>,
    /// run once at this local time, e.g. 2026-12-01T09:00
    #[argh(option)]
    at: Option<String>,
    /// run after this many hours without a chat session
    #[argh(option)]
    after_hours: Option<f64>,
    /// a short title for the inbox
    #[argh(option)]
    title: Option<String>,
    /// push the result to the owner through the configured gateway
    #[argh(switch)]
    notify: bool,
    /// run a script under skills/…/scripts/ instead of an agent turn
    #[argh(switch)]
    no_agent: bool,
    /// time limit in seconds (default 600, at most 3600)
    #[argh(option)]
    timeout: Option<u64>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// delete a job
struct RemoveCmd {
    /// the job's id (from `alpi schedule list`)
    #[argh(positional)]
    id: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pause")]
/// stop a job from running on its schedule (fire still runs it)
struct PauseCmd {
    /// the job's id (from `alpi schedule list`)
    #[argh(positional)]
    id: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "resume")]
/// let a paused job run on its schedule again
struct ResumeCmd {
    /// the job's id (from `alpi schedule list`)
    #[argh(positional)]
    id: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "fire")]
/// run a job now, here, and wait for it
struct FireCmd {
    /// the job's id (from `alpi schedule list`)
    #[argh(positional)]
    id: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run-once")]
/// run every job that is due now, here (for a system cron instead of the daemon)
struct RunOnceCmd {}

pub fn run(cmd: ScheduleCmd, home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let store = Store::new(home.dir());
    match cmd.command {
        Sub::List(ListCmd {}) => list(home, &store),
        Sub::Add(c) => add(&store, c),
        Sub::Remove(c) => change(&store, &c.id, "removed", |jobs, i| drop(jobs.remove(i))),
        Sub::Pause(c) => change(&store, &c.id, "paused", |jobs, i| drop(jobs[i].insert("paused", true))),
        Sub::Resume(c) => change(&store, &c.id, "resumed", |jobs, i| drop(jobs[i].remove("paused"))),
        Sub::Fire(c) => fire(home, &c.id),
        Sub::RunOnce(RunOnceCmd {}) => {
            let ran = run::run_due(home)?;
            println!("{ran} job(s) ran");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(home: &ProfileHome, store: &Store) -> CliResult {
    let jobs = store.read()?;
    if jobs.is_empty() {
        eprintln!("no jobs — `alpi schedule add --cron \"0 9 * * *\" --prompt \"…\"` adds one");
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_micros() / 1_000_000;
    let activity = run::last_activity(home);
    for job in &jobs {
        let next = match schedule::next_run(job, now, &SystemZone, activity) {
            Some(t) => local(t),
            None if schedule::is_paused(job) => "paused".into(),
            None => "—".into(),
        };
        let status = job.get("last_run_status").and_then(Value::as_str).unwrap_or("never ran");
        let prompt: String = text(job, "prompt").chars().take(40).collect();
        println!("{}  {:<18} next {next}  {status}  {prompt}", id_of(job), when(job));
    }
    Ok(ExitCode::SUCCESS)
}

fn text<'a>(job: &'a Object, key: &str) -> &'a str {
    job.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn when(job: &Object) -> String {
    match schedule::kind(job) {
        "cron" => format!("cron {}", text(job, "expression")),
        "once" => format!("at {}", text(job, "run_at")),
        _ => format!("idle {}h", job.get("after_hours").and_then(Value::as_f64).unwrap_or(0.0)),
    }
}

/// `YYYY-MM-DD HH:MM` local.
fn local(t: i64) -> String {
    let f = fields(wall_at(&SystemZone, t));
    format!("{:04}-{:02}-{:02} {:02}:{:02}", f.year, f.month, f.day, f.hour, f.minute)
}

fn add(store: &Store, c: AddCmd) -> CliResult {
    let mut job = Object::new().with("id", schedule::new_job_id());
    job = match (c.cron, c.at, c.after_hours) {
        (Some(expr), None, None) => job.with("kind", "cron").with("expression", expr),
        (None, Some(at), None) => job.with("kind", "once").with("run_at", at),
        (None, None, Some(hours)) => job.with("kind", "inactivity").with("after_hours", hours),
        _ => return Err("give exactly one of --cron, --at and --after-hours".into()),
    };
    job = job.with("prompt", c.prompt.trim()).with("notify", c.notify);
    if let Some(title) = c.title {
        job.insert("title", title);
    }
    if c.no_agent {
        job.insert("no_agent", true);
    }
    if let Some(t) = c.timeout {
        job.insert("timeout", t);
    }
    schedule::validate(&job, &SystemZone)?;
    let id = id_of(&job).to_owned();
    let summary = when(&job);
    store.update(|jobs| {
        jobs.push(job);
        Some(())
    })?;
    println!("added {id} · {summary}");
    Ok(ExitCode::SUCCESS)
}

fn change(store: &Store, id: &str, done: &str, apply: impl FnOnce(&mut Vec<Object>, usize)) -> CliResult {
    let found = store.update(|jobs| {
        let index = jobs.iter().position(|j| id_of(j) == id)?;
        apply(jobs, index);
        Some(())
    })?;
    match found {
        Some(()) => {
            println!("{done} {id}");
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!("no job {id:?} — `alpi schedule list` shows them").into()),
    }
}

fn fire(home: &ProfileHome, id: &str) -> CliResult {
    let outcome = run::fire(home, id)?;
    if outcome.ok {
        println!("{}", outcome.reply.trim_end());
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("job {id} failed: {}", outcome.error).into())
    }
}
