//! `alpi pair`: this profile's identity and address, and the one line the other side
//! runs to pin it — pairing devices by copy-paste instead of editing YAML.

use std::process::ExitCode;

use argh::FromArgs;

use super::{CliResult, open_profile};
use crate::alp::peers::{DEFAULT_ALLOW, validate_address, validate_id};
use crate::daemon::join_host_port;
use crate::profile::ProfileHome;
use crate::profile::config::Config;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pair")]
/// print this profile's identity and the `alpi peers add …` line to run on the other side
pub struct PairCmd {
    /// host:port the other side reaches this profile at (default: network.host and
    /// alp.tcp_port; none for a profile on the same machine)
    #[argh(option)]
    address: Option<String>,
    /// methods the other side lets this profile call (default: link.ping,link.ask; ""
    /// for none, as a shared service that never calls back wants)
    #[argh(option)]
    allow: Option<String>,
    /// the label the other side pins this profile under (default: the profile name, or
    /// the host name for the default profile of another machine)
    #[argh(option)]
    id: Option<String>,
    /// the other side's profile, when it is not its default one (adds `-p NAME`)
    #[argh(option)]
    on: Option<String>,
}

pub fn run(cmd: PairCmd, home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let (keys, _) = home.keys().load_or_create()?;
    let config = Config::load(&home.config_path())?;
    let address = match cmd.address {
        Some(a) => Some(a),
        None => configured_address(home, &config)?,
    };
    if let Some(a) = &address {
        validate_address(a)?;
    }
    let id = cmd.id.unwrap_or_else(|| default_label(home, address.is_some()));
    validate_id(&id)?;
    let allow = match cmd.allow.unwrap_or_else(|| DEFAULT_ALLOW.join(",")) {
        a if a.trim().is_empty() => String::new(),
        a => format!(" --allow {a}"),
    };
    let identity = keys.identity();
    println!("profile  {}", home.name());
    println!("identity {identity} ({})", identity.short());
    println!(
        "address  {}",
        address.as_deref().unwrap_or("none (same machine: reached over its Unix socket)")
    );
    println!("on the other side run:");
    let profile = cmd.on.map(|p| format!(" -p {p}")).unwrap_or_default();
    let reach = address.map(|a| format!(" --address {a}")).unwrap_or_default();
    println!("alpi{profile} peers add {id} {identity}{reach}{allow}");
    Ok(ExitCode::SUCCESS)
}

/// `network.host` with `alp.tcp_port`, as the daemon listens; a wildcard host cannot
/// be handed to another machine.
fn configured_address(home: &ProfileHome, config: &Config) -> Result<Option<String>, String> {
    let host = config.network.host.trim();
    let port = config.tcp_port(home.name().is_default());
    match (host, port) {
        ("", _) => Ok(None),
        ("0.0.0.0" | "::" | "[::]", _) => Err(format!(
            "network.host is {host}, which the other side cannot dial — pass --address HOST:PORT"
        )),
        (_, Some(port)) => Ok(Some(join_host_port(host, port))),
        (_, None) => Err("network.host is set but alp.tcp_port is not — set it, or pass --address".into()),
    }
}

/// A named profile is known by its name; the default profile of another machine by
/// that machine's host name.
fn default_label(home: &ProfileHome, remote: bool) -> String {
    let host = crate::net::hostname().map(|h| {
        let h = h.split('.').next().unwrap_or_default().to_ascii_lowercase();
        h.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect::<String>()
    });
    match host {
        Some(h) if remote && home.name().is_default() && !h.is_empty() => h,
        _ => home.name().to_string(),
    }
}
