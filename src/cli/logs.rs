//! `alpi logs`: the profile's logs merged by time — the daemon's own log with the
//! profile's service log, agent turns, approval decisions and scheduled runs — the
//! last N lines, or following them as they grow.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use super::{CliResult, open_profile};
use crate::clock::UtcTime;
use crate::json::{self, Value};
use crate::profile::ProfileHome;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "logs")]
/// the profile's logs merged by time (service, agent, approval, schedule)
pub struct LogsCmd {
    /// only this log: service, agent, approval or schedule
    #[argh(option)]
    source: Option<String>,
    /// how many lines (default 50)
    #[argh(option, short = 'n', default = "50")]
    lines: usize,
    /// keep printing new lines as they are written
    #[argh(switch, short = 'f')]
    follow: bool,
}

const SOURCES: [&str; 4] = ["service", "agent", "approval", "schedule"];

/// The files behind a source; the rotated `.1` first so lines stay in order.
fn files(home: &ProfileHome, source: &str) -> Vec<PathBuf> {
    let logs = home.logs_dir();
    let with_rotated = |p: PathBuf| vec![p.with_extension("log.1"), p];
    match source {
        "service" => {
            [with_rotated(home.root().path().join("logs/daemon.log")), with_rotated(logs.join("service.log"))]
                .concat()
        }
        "agent" => with_rotated(logs.join("agent.log")),
        "approval" => with_rotated(logs.join("approval.log")),
        _ => vec![logs.join("runs.jsonl")],
    }
}

/// A line as shown: log lines as written, run records as `time INFO alpi.schedule …`.
fn shown(line: &str) -> Option<String> {
    if !line.starts_with('{') {
        return (!line.trim().is_empty()).then(|| line.to_owned());
    }
    let run = json::parse(line.as_bytes()).ok()?;
    let at = run.get("at").and_then(Value::as_f64)?;
    let text = |k: &str| run.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let tail: String = text("output_tail").replace('\n', " ").chars().take(80).collect();
    Some(format!(
        "{} INFO alpi.schedule job={} outcome={} elapsed={:.1}s {tail}",
        UtcTime::from_micros((at * 1e6) as i64).iso_millis(),
        text("job_id"),
        text("outcome"),
        run.get("elapsed_s").and_then(Value::as_f64).unwrap_or(0.0)
    ))
}

fn read_lines(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| text.lines().filter_map(shown).collect::<Vec<_>>())
        .collect()
}

pub fn run(cmd: LogsCmd, home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let sources: Vec<&str> = match cmd.source.as_deref() {
        None => SOURCES.to_vec(),
        Some(s) if SOURCES.contains(&s) => vec![s],
        Some(other) => return Err(format!("no log called {other:?}: use {}", SOURCES.join(", ")).into()),
    };
    let paths: Vec<PathBuf> = sources.iter().flat_map(|s| files(home, s)).collect();
    let mut lines = read_lines(&paths);
    // Every line starts with its ISO-8601 UTC time, so text order is time order.
    lines.sort();
    let mut out = std::io::stdout().lock();
    for line in &lines[lines.len().saturating_sub(cmd.lines)..] {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if cmd.follow {
        follow(&paths)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints what is appended to `paths` from now on (a rotated file starts over).
fn follow(paths: &[PathBuf]) -> std::io::Result<()> {
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut offsets: Vec<u64> = paths.iter().map(size).collect();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let mut fresh = Vec::new();
        for (path, offset) in paths.iter().zip(offsets.iter_mut()) {
            let now = size(path);
            if now < *offset {
                *offset = 0;
            }
            if now > *offset {
                let bytes = std::fs::read(path).unwrap_or_default();
                let start = (*offset as usize).min(bytes.len());
                fresh.extend(String::from_utf8_lossy(&bytes[start..]).lines().filter_map(shown));
                *offset = now;
            }
        }
        fresh.sort();
        let mut out = std::io::stdout().lock();
        for line in fresh {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
}
