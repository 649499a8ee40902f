//! `alpi doctor`: one line per check of the active profile; exit 1 if any fails.

use std::process::ExitCode;

use argh::FromArgs;

use super::CliResult;
use crate::agent::provider;
use crate::profile::ProfileHome;
use crate::profile::config::Config;
use crate::profile::dotenv::DotEnv;
use crate::profile::health::{Check, Verdict, check_profile};

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "doctor")]
/// check the profile: directories and modes, keys, config, .env, the model
pub struct DoctorCmd {
    /// skip the 1-token request that checks the model answers
    #[argh(switch)]
    offline: bool,
}

pub fn run(cmd: DoctorCmd, home: &ProfileHome) -> CliResult {
    let mut checks = check_profile(home);
    if let (true, Ok(config)) = (home.exists(), Config::load(&home.config_path())) {
        let at = checks.iter().position(|c| c.name == "sessions").unwrap_or(checks.len());
        checks.splice(at..at, model_checks(home, &config, cmd.offline));
        checks.extend(gateway_checks(home));
        checks.extend(audit_checks(home, &config));
    }
    let name_w = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &checks {
        println!("{:<4}  {:<name_w$}  {}", c.verdict, c.name, c.detail);
    }
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The key the model needs, then (online) whether it answers a 1-token request.
fn model_checks(home: &ProfileHome, config: &Config, offline: bool) -> Vec<Check> {
    if config.model.is_empty() {
        return Vec::new();
    }
    let env = DotEnv::load(&home.env_path()).unwrap_or_default();
    let key = match provider::route(&config.model, config.providers.as_ref()) {
        Ok(route) => match route.key_env {
            None => Check::new(Verdict::Ok, "key", "none needed"),
            Some(var) if env.get(&var).is_some() => Check::new(Verdict::Ok, "key", format!("{var} is set")),
            Some(var) => {
                let fix = format!("{var} is not set — `alpi setup key {var}` reads it from stdin");
                return vec![Check::new(Verdict::Warn, "key", fix)];
            }
        },
        Err(e) => return vec![Check::new(Verdict::Fail, "provider", e.to_string())],
    };
    if offline {
        return vec![key];
    }
    let reach = match super::setup::probe(config, &env) {
        Ok(()) => Check::new(Verdict::Ok, "model reachable", "answered a 1-token request"),
        Err(e) => Check::new(Verdict::Fail, "model reachable", e),
    };
    vec![key, reach]
}

/// A configured gateway's breaker: warn while it is degraded or resting.
fn gateway_checks(home: &ProfileHome) -> Vec<Check> {
    let env = DotEnv::load(&home.env_path()).unwrap_or_default();
    if env.get("TELEGRAM_BOT_TOKEN").is_none() {
        return Vec::new();
    }
    let breaker = crate::daemon::gateway::Breaker::new(home, "telegram");
    let now = crate::clock::now_micros() as f64 / 1e6;
    let check = match (breaker.state().as_str(), breaker.rest(now)) {
        ("healthy", _) => Check::new(Verdict::Ok, "telegram", "healthy"),
        (_, Some(rest)) => Check::new(
            Verdict::Warn,
            "telegram",
            format!(
                "disabled after {} failures; retried in {} min — see `alpi logs`",
                breaker.failures(),
                rest.as_secs() / 60 + 1
            ),
        ),
        (state, None) => {
            Check::new(Verdict::Warn, "telegram", format!("{state}: {} recent failures", breaker.failures()))
        }
    };
    let allowed = env.get("TELEGRAM_ALLOWED_CHAT_IDS").unwrap_or_default();
    if allowed.trim().is_empty() {
        let fix = "TELEGRAM_ALLOWED_CHAT_IDS is empty: every message is ignored — add your chat id";
        return vec![check, Check::new(Verdict::Warn, "telegram chats", fix)];
    }
    vec![check]
}

/// `audit.hub` must name a pinned peer, `logging.syslog` be a `tcp://` address.
fn audit_checks(home: &ProfileHome, config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let hub = config.audit.hub.trim();
    if !hub.is_empty() {
        checks.push(match crate::alp::ask::pinned(home, hub) {
            Ok(peer) => {
                let place = peer.address.unwrap_or_else(|| "local".into());
                Check::new(Verdict::Ok, "audit hub", format!("{hub} ({place})"))
            }
            Err(e) => Check::new(Verdict::Fail, "audit hub", format!("audit.hub: {e}")),
        });
    }
    let syslog = config.logging.syslog.trim();
    if !syslog.is_empty() {
        checks.push(match crate::audit::syslog::parse_url(syslog) {
            Ok(address) => Check::new(Verdict::Ok, "syslog", format!("tcp {address}")),
            Err(e) => Check::new(Verdict::Fail, "syslog", e),
        });
    }
    checks
}
