//! `alpi audit`: every file and directory of the profile whose mode lets others in,
//! each with the `chmod` that fixes it; exit 1 if any.

use std::process::ExitCode;

use argh::FromArgs;

use super::CliResult;
use crate::profile::ProfileHome;
use crate::profile::health::loose_modes;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "audit")]
/// check the modes of the profile's files: directories 0700, files 0600
pub struct AuditCmd {}

pub fn run(_: AuditCmd, home: &ProfileHome) -> CliResult {
    if !home.exists() {
        return Err(format!("{} does not exist — nothing to audit", home.dir().display()).into());
    }
    let loose = loose_modes(home);
    for entry in &loose {
        println!(
            "{:04o} {} (want {:04o}) — fix: {}",
            entry.mode,
            entry.path.display(),
            entry.want,
            entry.fix()
        );
    }
    if loose.is_empty() {
        println!("ok: every file of {} is private", home.dir().display());
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::FAILURE)
}
