//! `alpi audit-log tail`: on an audit hub, the agent and approval records its peers
//! forwarded (`<home>/audit/<peer>/…`), merged by time, one line each with the sender.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use super::{CliResult, open_profile};
use crate::alp::audit::{self, HubStore, Stored};
use crate::profile::ProfileHome;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "audit-log")]
/// records other profiles forwarded to this one as their audit hub
pub struct AuditLogCmd {
    #[argh(subcommand)]
    command: AuditLogSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum AuditLogSub {
    Tail(TailCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "tail")]
/// the newest forwarded records, merged by time: `<peer> <log line>`
struct TailCmd {
    /// only this sender (its local peer id)
    #[argh(option)]
    peer: Option<String>,
    /// only approval decisions (default: agent turns and approvals)
    #[argh(switch)]
    approvals: bool,
    /// how many records (default 50)
    #[argh(option, short = 'n', default = "50")]
    lines: usize,
    /// keep printing records as they arrive
    #[argh(switch, short = 'f')]
    follow: bool,
}

pub fn run(cmd: AuditLogCmd, home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let AuditLogSub::Tail(tail) = cmd.command;
    let senders = audit::senders(home.dir());
    let chosen: Vec<String> = match &tail.peer {
        None => senders,
        Some(p) if senders.contains(p) => vec![p.clone()],
        Some(p) if senders.is_empty() => {
            return Err(
                format!("no audit records from {p:?} — no peer has forwarded any to this profile").into()
            );
        }
        Some(p) => {
            return Err(format!("no audit records from {p:?} — senders here: {}", senders.join(", ")).into());
        }
    };
    let logs: &[&str] = if tail.approvals { &["approval"] } else { &audit::LOGS };
    let store = HubStore::new(home.dir());
    let mut files: Vec<(String, PathBuf, u64)> = chosen
        .iter()
        .flat_map(|peer| logs.iter().map(|log| (peer.clone(), store.file(peer, log), 0)))
        .collect();
    let records = read_new(&mut files);
    let shown = &records[records.len().saturating_sub(tail.lines)..];
    print(shown)?;
    if !tail.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        print(&read_new(&mut files))?;
    }
}

/// What the files gained since their offsets, merged by time.
fn read_new(files: &mut [(String, PathBuf, u64)]) -> Vec<Stored> {
    let mut records = Vec::new();
    for (peer, path, offset) in files.iter_mut() {
        let (new, end) = audit::read_stored(path, peer, *offset);
        records.extend(new);
        *offset = end;
    }
    records.sort_by(|a, b| a.record.ts.cmp(&b.record.ts));
    records
}

fn print(records: &[Stored]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for s in records {
        writeln!(out, "{} {}", s.peer, s.record.line)?;
    }
    out.flush()
}
