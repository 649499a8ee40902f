//! `alpi daemon run|status|stop`: the foreground daemon and its control socket.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use argh::FromArgs;

use super::{CliResult, tilde};
use crate::clock::{UtcTime, now_micros};
use crate::daemon::control::{self, Reply, Request};
use crate::daemon::{self, Scope};
use crate::profile::ProfileHome;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "daemon")]
/// run the daemon that answers peers (ALP) for every profile, or query it
pub struct DaemonCmd {
    #[argh(subcommand)]
    command: DaemonSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum DaemonSub {
    Run(RunCmd),
    Status(StatusCmd),
    Stop(StopCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
/// serve every profile (or only -p NAME) in the foreground until SIGTERM/Ctrl-C
struct RunCmd {
    /// listen for peers on other machines (ALP.2) at HOST:PORT, for -p NAME's profile or
    /// the default one (overrides network.host / alp.tcp_port)
    #[argh(option)]
    bind: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
/// show running daemons and the profiles they serve
struct StatusCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "stop")]
/// stop the daemon (the one serving every profile, or -p NAME's)
struct StopCmd {}

pub fn run(cmd: DaemonCmd, home: &ProfileHome, explicit_profile: bool) -> CliResult {
    let scope = if explicit_profile { Scope::One(home.clone()) } else { Scope::All };
    match cmd.command {
        DaemonSub::Run(RunCmd { bind }) => {
            let bind = bind.map(|address| daemon::Bind { profile: home.name().to_string(), address });
            daemon::run(home.root(), scope, bind, |status| {
                let names: Vec<&str> = status.profiles.iter().map(|p| p.name.as_str()).collect();
                let tcp: String = status
                    .profiles
                    .iter()
                    .filter_map(|p| Some(format!(" · ALP.2 {} on {}", p.name, p.tcp.as_ref()?)))
                    .collect();
                println!(
                    "alpi daemon {}: serving {} (pid {}){tcp}",
                    status.scope,
                    names.join(", "),
                    status.pid
                );
            })?;
            Ok(ExitCode::SUCCESS)
        }
        DaemonSub::Status(StatusCmd {}) => status(home),
        DaemonSub::Stop(StopCmd {}) => stop(home, &scope.name()),
    }
}

fn status(home: &ProfileHome) -> CliResult {
    let running = daemon::running(home.root());
    let mut any = false;
    for (scope, socket) in running {
        match control::ask(&socket, &Request::Status) {
            Ok(Reply::Status(s)) => {
                any = true;
                let up = (now_micros() - s.started_at_micros).max(0) / 1_000_000;
                let since = UtcTime::from_micros(s.started_at_micros).iso_seconds();
                println!(
                    "daemon {} · pid {} · alpi {} · up {} since {since}",
                    s.scope,
                    s.pid,
                    s.version,
                    uptime(up)
                );
                for p in &s.profiles {
                    let tcp = p.tcp.as_ref().map(|a| format!("  tcp {a}")).unwrap_or_default();
                    let socket = tilde(std::path::Path::new(&p.socket));
                    println!("  {:<16} {}…  {socket}{tcp}", p.name, &p.identity[..8]);
                }
            }
            Ok(_) => eprintln!("alpi: daemon {scope} gave an unexpected answer"),
            Err(control::Error::NotRunning(_)) => {
                eprintln!("daemon {scope}: not running (stale {})", tilde(&socket));
            }
            Err(e) => eprintln!("daemon {scope}: {e}"),
        }
    }
    if !any {
        println!("no daemon running — start one with `alpi daemon run`");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn uptime(secs: i64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

fn stop(home: &ProfileHome, scope: &str) -> CliResult {
    let socket = daemon::control_path(home.root(), scope);
    let pid_file = daemon::pid_path(home.root(), scope);
    let pid = daemon::read_pid(&pid_file);
    match control::ask(&socket, &Request::Stop) {
        Ok(Reply::Stopping) => {}
        Ok(_) => return Err(format!("daemon {scope} gave an unexpected answer to stop").into()),
        Err(control::Error::NotRunning(_)) => {
            return Err(format!("no daemon {scope} is running — `alpi daemon status` lists them").into());
        }
        Err(e) => return Err(e.into()),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    // Removing its pid file is the daemon's last act; a dead one cannot remove it.
    while let Some(pid) = pid.filter(|p| pid_file.exists() && daemon::process_alive(*p)) {
        if Instant::now() > deadline {
            return Err(format!("daemon {scope} (pid {pid}) is still running after 10 s").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("stopped daemon {scope}");
    Ok(ExitCode::SUCCESS)
}
