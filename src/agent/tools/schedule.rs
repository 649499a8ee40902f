//! The `schedule` tool: the agent lists, adds, updates, removes and fires the profile's
//! jobs — the same files and checks as `alpi schedule`, with a guard against adding a
//! job that is already there.

use super::{Outcome, ToolEnv, schema, text_arg};
use crate::agent::provider::ToolSpec;
use crate::clock::now_micros;
use crate::json::{Object, Value};
use crate::profile::ProfileHome;
use crate::schedule::store::{Store, id_of};
use crate::schedule::zone::SystemZone;
use crate::schedule::{self, run};

const FIELDS: [&str; 8] =
    ["prompt", "title", "expression", "run_at", "after_hours", "notify", "timeout", "paused"];

pub fn spec() -> ToolSpec {
    super::spec(
        "schedule",
        "Manage scheduled jobs that run while the daemon is up. action: list | add | update | remove | fire. \
         add needs kind (cron | once | inactivity), prompt, and expression (5-field cron, local time) or run_at \
         (e.g. 2026-12-01T09:00, local) or after_hours; optional title, notify (push the result to the owner), \
         timeout (s). update/remove/fire need id. fire runs the job now in the background.",
        schema(
            &[
                ("action", "string", "list, add, update, remove or fire"),
                ("id", "string", "the job id (update, remove, fire)"),
                ("kind", "string", "cron, once or inactivity"),
                ("prompt", "string", "what the agent does when the job runs"),
                ("expression", "string", "cron: minute hour day month weekday"),
                ("run_at", "string", "once: when"),
                ("after_hours", "number", "inactivity: hours without a chat"),
                ("title", "string", "a few words"),
                ("notify", "boolean", "push the result to the owner"),
                ("timeout", "integer", "seconds (default 600)"),
                ("paused", "boolean", "update: pause or resume"),
            ],
            &["action"],
        ),
    )
}

pub fn run(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let Some(home) = env.profile.clone() else {
        return Outcome::fail("schedules are not available in this turn");
    };
    let store = Store::new(home.dir());
    let action = match text_arg(args, "action") {
        Ok(a) => a,
        Err(e) => return e,
    };
    let result = match action {
        "list" => list(&home, &store),
        "add" => add(&store, args),
        "update" => update(&store, args),
        "remove" => remove(&store, args),
        "fire" => fire(&home, args),
        other => Err(format!("unknown action {other:?}: use list, add, update, remove or fire")),
    };
    match result {
        Ok(text) => Outcome::ok(text),
        Err(e) => Outcome::fail(e),
    }
}

fn list(home: &ProfileHome, store: &Store) -> Result<String, String> {
    let jobs = store.read().map_err(|e| e.to_string())?;
    if jobs.is_empty() {
        return Ok("no jobs".into());
    }
    let now = now_micros() / 1_000_000;
    let activity = run::last_activity(home);
    let lines: Vec<String> = jobs
        .iter()
        .map(|job| {
            let next = schedule::next_run(job, now, &SystemZone, activity)
                .map(|t| crate::clock::UtcTime::from_micros(t * 1_000_000).iso_seconds())
                .unwrap_or_else(|| "—".into());
            let mut shown = job.clone();
            shown.insert("next_run", next);
            String::from_utf8_lossy(&Value::Object(shown).wire()).into_owned()
        })
        .collect();
    Ok(lines.join("\n"))
}

/// The job's definition fields from the call.
fn definition(args: &Object, mut job: Object) -> Object {
    if let Some(kind) = args.get("kind").and_then(Value::as_str) {
        job.insert("kind", kind);
    }
    for key in FIELDS {
        if let Some(v) = args.get(key).filter(|v| !v.is_null()) {
            job.insert(key, v.clone());
        }
    }
    job
}

/// Two jobs that would run the same prompt on the same schedule.
fn same(a: &Object, b: &Object) -> bool {
    let key = |j: &Object, k: &str| j.get(k).map(|v| v.wire()).unwrap_or_default();
    ["kind", "prompt", "expression", "run_at", "after_hours"].iter().all(|k| key(a, k) == key(b, k))
}

fn add(store: &Store, args: &Object) -> Result<String, String> {
    let job = definition(args, Object::new().with("id", schedule::new_job_id()));
    let job = if job.contains_key("notify") { job } else { job.with("notify", false) };
    schedule::validate(&job, &SystemZone)?;
    let id = id_of(&job).to_owned();
    let outcome = store
        .update(|jobs| {
            if let Some(existing) = jobs.iter().find(|j| same(j, &job)) {
                return Some(Err(format!(
                    "already scheduled as {}; update that one instead",
                    id_of(existing)
                )));
            }
            jobs.push(job.clone());
            Some(Ok(()))
        })
        .map_err(|e| e.to_string())?;
    outcome.unwrap_or(Ok(()))?;
    Ok(format!("added job {id}"))
}

fn wanted_id(args: &Object) -> Result<&str, String> {
    args.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| "this action needs `id`".into())
}

fn update(store: &Store, args: &Object) -> Result<String, String> {
    let id = wanted_id(args)?;
    let outcome = store
        .update(|jobs| {
            let job = jobs.iter_mut().find(|j| id_of(j) == id)?;
            let changed = definition(args, job.clone());
            Some(schedule::validate(&changed, &SystemZone).map(|()| *job = changed))
        })
        .map_err(|e| e.to_string())?;
    outcome.ok_or_else(|| format!("no job {id}"))??;
    Ok(format!("updated job {id}"))
}

fn remove(store: &Store, args: &Object) -> Result<String, String> {
    let id = wanted_id(args)?;
    let removed = store
        .update(|jobs| {
            let index = jobs.iter().position(|j| id_of(j) == id)?;
            jobs.remove(index);
            Some(())
        })
        .map_err(|e| e.to_string())?;
    removed.map(|()| format!("removed job {id}")).ok_or_else(|| format!("no job {id}"))
}

/// Runs the job in a separate `alpi schedule fire` process, so its turn never nests
/// inside this one; the result lands in the inbox.
fn fire(home: &ProfileHome, args: &Object) -> Result<String, String> {
    let id = wanted_id(args)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the alpi binary: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .args(["schedule", "fire", id])
        .env("ALPI_HOME", home.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the job: {e}"))?;
    std::thread::spawn(move || child.wait());
    Ok(format!("job {id} is running in the background; its result will be in the inbox"))
}
