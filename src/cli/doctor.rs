//! `alpi doctor`: one line per check of the active profile; exit 1 if any fails.

use std::process::ExitCode;

use argh::FromArgs;

use super::CliResult;
use crate::profile::ProfileHome;
use crate::profile::health::{Verdict, check_profile};

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "doctor")]
/// check the profile: directories and modes, keys, config, .env
pub struct DoctorCmd {}

pub fn run(_cmd: DoctorCmd, home: &ProfileHome) -> CliResult {
    let checks = check_profile(home);
    let name_w = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &checks {
        println!("{:<4}  {:<name_w$}  {}", c.verdict, c.name, c.detail);
    }
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
