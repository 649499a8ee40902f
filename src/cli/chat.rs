//! `alpi` with no command: the chat REPL. Until the agent turn lands it says plainly
//! what is missing instead of pretending to chat.

use std::process::ExitCode;

use super::{CliResult, open_profile, tilde};
use crate::profile::ProfileHome;
use crate::profile::config::Config;

pub fn repl(home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let config = Config::load(&home.config_path())?;
    let profile = home.name();
    if config.model.is_empty() {
        eprintln!(
            "alpi: no model configured for profile '{profile}' — add `model: openai/gpt-4o-mini` to {} and OPENAI_API_KEY=… to {}",
            tilde(&home.config_path()),
            tilde(&home.env_path()),
        );
    } else {
        eprintln!(
            "alpi: model '{}' is configured, but this build has no chat yet — `alpi doctor` checks the profile",
            config.model
        );
    }
    Ok(ExitCode::FAILURE)
}
