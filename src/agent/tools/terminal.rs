//! The `terminal` tool: a shell command, classified before it runs (safe runs, caution
//! asks the approver, dangerous never runs), with a timeout, a minimal environment and
//! one `logs/approval.log` line per non-safe decision. `action: background` starts one
//! detached, approved the same way ([`background`]).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Answer, Outcome, ToolEnv, background, schema, text_arg};
use crate::agent::approval::{Decision, Severity, Verdict, literal_pattern, log_line};
use crate::agent::provider::ToolSpec;
use crate::clock::UtcTime;
use crate::json::{Object, Value};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// The only variables a command inherits: no API keys or tokens leak into it.
const ENV_ALLOW: [&str; 10] =
    ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TMPDIR", "TZ", "PREFIX"];

pub fn spec() -> ToolSpec {
    super::spec(
        "terminal",
        "Run a shell command (sh -c) in the workspace and return its output and exit code. \
         Risky commands need the user's approval; destructive ones are always refused. \
         action: run (default) waits up to `timeout`; background starts it detached and returns its pid \
         (servers, long builds); status, output (the latest output) and kill take that `pid`.",
        schema(
            &[
                ("action", "string", "run, background, status, output or kill"),
                ("command", "string", "the shell command (run, background)"),
                ("cwd", "string", "working directory (default: the workspace)"),
                ("timeout", "integer", "seconds before it is killed (default 120; run only)"),
                ("pid", "integer", "a background job's pid (status, output, kill)"),
            ],
            &[],
        ),
    )
}

pub fn run(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let action = args.get("action").and_then(Value::as_str).unwrap_or("run");
    if action != "run" && action != "background" {
        return background::manage(action, args.get("pid").and_then(Value::as_u64));
    }
    let command = match text_arg(args, "command") {
        Ok(c) => c,
        Err(e) => return e,
    };
    if let Some(refusal) = approve(command, env) {
        return refusal;
    }
    let cwd = args
        .get("cwd")
        .and_then(Value::as_str)
        .map(|c| env.workspace.join(c))
        .unwrap_or(env.workspace.clone());
    if action == "background" {
        let logs = env.approval_log.parent().unwrap_or(&env.workspace);
        return background::start(shell(command, &cwd), &logs.join("background"));
    }
    let timeout = args
        .get("timeout")
        .and_then(Value::as_u64)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(MAX_TIMEOUT);
    execute(command, &cwd, timeout)
}

/// `None` when the command may run; otherwise the refusal the model is told.
fn approve(command: &str, env: &mut ToolEnv<'_>) -> Option<Outcome> {
    let (verdict, allowed, why) = match env.policy.decide(command) {
        Decision::Run => {
            let verdict = crate::agent::approval::classify(command);
            if verdict.severity == Severity::Safe {
                return None;
            }
            (verdict, true, "allow-list".to_owned())
        }
        Decision::Refuse(verdict) => {
            let why = if verdict.severity == Severity::Dangerous {
                "dangerous: never run"
            } else {
                "denied by policy"
            };
            (verdict, false, why.to_owned())
        }
        Decision::Ask(verdict) if !env.approver.present() => {
            (verdict, false, "no one to approve it (non-interactive)".to_owned())
        }
        Decision::Ask(verdict) => match env.approver.ask(command, &verdict) {
            Answer::Deny => (verdict, false, "the user said no".to_owned()),
            Answer::Once => (verdict, true, "the user allowed it once".to_owned()),
            Answer::Session => {
                env.policy.session.push(command.trim().to_owned());
                (verdict, true, "the user allowed it for this session".to_owned())
            }
            Answer::Always => {
                env.policy.allow.push(literal_pattern(command.trim()));
                (verdict, true, "the user allowed it always".to_owned())
            }
        },
    };
    record(env, allowed, &verdict, &why, command);
    if allowed {
        return None;
    }
    let hint = match verdict.severity {
        Severity::Dangerous => "dangerous commands are never run".to_owned(),
        _ if !env.approver.present() => "to allow it, run alpi interactively and approve it, or add it to \
                                         tools.terminal.approval.allowlist in config.yaml"
            .to_owned(),
        _ => "ask the user or try another way".to_owned(),
    };
    Some(Outcome::fail(format!("refused ({}: {}): {why} — {hint}", verdict.severity, verdict.reason)))
}

fn record(env: &ToolEnv<'_>, allowed: bool, verdict: &Verdict, why: &str, command: &str) {
    let line = log_line(&UtcTime::now().iso_millis(), allowed, verdict, why, command);
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&env.approval_log)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        log::warn!("{}: {e}", env.approval_log.display());
    }
}

/// `sh -c command` in `cwd` with only [`ENV_ALLOW`] passed on and no stdin.
fn shell(command: &str, cwd: &std::path::Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(cwd).env_clear().stdin(Stdio::null());
    for key in ENV_ALLOW {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd
}

fn execute(command: &str, cwd: &std::path::Path, timeout: Duration) -> Outcome {
    let mut cmd = shell(command, cwd);
    let (mut reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(e) => return Outcome::fail(format!("cannot run the command: {e}")),
    };
    let child = writer.try_clone().map(|w2| cmd.stdout(writer).stderr(w2).spawn());
    let mut child = match child {
        Ok(Ok(c)) => c,
        Ok(Err(e)) | Err(e) => return Outcome::fail(format!("cannot run the command: {e}")),
    };
    drop(cmd); // our copies of the pipe's write end must close, or EOF never comes
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Outcome::fail(format!("waiting for the command: {e}")),
        }
    };
    let output = String::from_utf8_lossy(&collector.join().unwrap_or_default()).into_owned();
    match status {
        None => Outcome::fail(format!("{output}\n[killed after {} s]", timeout.as_secs())),
        Some(s) if s.success() => {
            Outcome::ok(if output.is_empty() { "(no output, exit 0)".into() } else { output })
        }
        Some(s) => {
            Outcome::fail(format!("{output}\n[exit {}]", s.code().map_or("signal".into(), |c| c.to_string())))
        }
    }
}
