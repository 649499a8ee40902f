//! `alpi daemon run|status|stop`: the foreground daemon and its control socket.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use argh::FromArgs;

use super::{CliError, CliResult, tilde};
use crate::clock::{UtcTime, now_micros};
use crate::daemon::control::{self, Reply, Request};
use crate::daemon::service::{self, Host, Installed, Platform};
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
    Start(StartCmd),
    Restart(RestartCmd),
    Install(InstallCmd),
    Uninstall(UninstallCmd),
    Supervise(SuperviseCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "start")]
/// start the daemon in the background: through the installed service, else detached
struct StartCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "restart")]
/// restart the daemon (e.g. after an upgrade)
struct RestartCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "install")]
/// keep the daemon running under this machine's supervisor (systemd, launchd, Termux, OpenRC)
struct InstallCmd {
    /// print the main file install would write, change nothing
    #[argh(switch)]
    print: bool,
    /// systemd | systemd-system | launchd | termux | openrc (default: detected)
    #[argh(option)]
    platform: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "uninstall")]
/// stop the service and remove exactly what install wrote
struct UninstallCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "supervise")]
/// (used by `daemon start`) run the daemon in the foreground, restarting it after crashes
struct SuperviseCmd {}

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

/// Starts the served profiles' MCP servers in the background, ready for the first ask.
fn warm_up_mcp(home: &ProfileHome, served: &[control::ServedProfile]) {
    for profile in served {
        if let Ok(name) = crate::profile::ProfileName::parse(&profile.name) {
            crate::agent::mcp::warm_up(&home.root().home(&name));
        }
    }
}

pub fn run(cmd: DaemonCmd, home: &ProfileHome, explicit_profile: bool) -> CliResult {
    let scope = if explicit_profile { Scope::One(home.clone()) } else { Scope::All };
    match cmd.command {
        DaemonSub::Run(RunCmd { bind }) => {
            let bind = bind.map(|address| daemon::Bind { profile: home.name().to_string(), address });
            let served = daemon::run(home.root(), scope, bind, |status| {
                warm_up_mcp(home, &status.profiles);
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
            });
            crate::agent::mcp::stop_all();
            served?;
            Ok(ExitCode::SUCCESS)
        }
        DaemonSub::Status(StatusCmd {}) => status(home),
        DaemonSub::Stop(StopCmd {}) => stop(home, &scope.name()),
        DaemonSub::Start(StartCmd {}) => start(home, &scope, explicit_profile),
        DaemonSub::Restart(RestartCmd {}) => restart(home, &scope, explicit_profile),
        DaemonSub::Install(c) => install(home, c),
        DaemonSub::Uninstall(UninstallCmd {}) => uninstall(home),
        DaemonSub::Supervise(SuperviseCmd {}) => {
            Ok(ExitCode::from(daemon::supervise(&profile_args(home, explicit_profile)) as u8))
        }
    }
}

/// `-p NAME` when a profile was chosen, so child processes serve the same scope.
fn profile_args(home: &ProfileHome, explicit_profile: bool) -> Vec<String> {
    if explicit_profile { vec!["-p".into(), home.name().to_string()] } else { Vec::new() }
}

fn host_and_platform(home: &ProfileHome, platform: Option<&str>) -> Result<(Host, Platform), CliError> {
    let host = Host::current(&std::env::home_dir().unwrap_or_else(|| home.root().path().to_owned()));
    let platform = match platform {
        Some(name) => Platform::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
            format!("unknown platform {name:?}; one of: {}", names.join(", "))
        })?,
        None => Platform::detect(&host).ok_or(
            "no supervisor found here (no systemd, launchd, Termux or OpenRC) — run `alpi daemon start` \
             to keep it running in the background, or `alpi daemon run` in a terminal",
        )?,
    };
    Ok((host, platform))
}

fn install(home: &ProfileHome, c: InstallCmd) -> CliResult {
    let (host, platform) = host_and_platform(home, c.platform.as_deref())?;
    let plan = service::plan(platform, &host, home.root());
    if c.print {
        print!("{}", plan.files[0].contents);
        eprintln!(
            "# {platform}: would write {}",
            plan.files.iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        for s in &plan.install {
            eprintln!("# then run: {}", s.argv.join(" "));
        }
        for note in &plan.notes {
            eprintln!("# {note}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for line in service::install(&plan, home.root())? {
        println!("{line}");
    }
    println!("installed the alpi daemon as a {platform} service");
    for note in &plan.notes {
        println!("{note}");
    }
    Ok(ExitCode::SUCCESS)
}

fn uninstall(home: &ProfileHome) -> CliResult {
    let installed = Installed::read(home.root()).ok_or(service::Error::NotInstalled)?;
    let (host, _) = host_and_platform(home, Some(installed.platform.name()))?;
    let plan = service::plan(installed.platform, &host, home.root());
    for line in service::uninstall(&plan, home.root())? {
        println!("{line}");
    }
    println!("uninstalled the {} service", installed.platform);
    Ok(ExitCode::SUCCESS)
}

/// With an installed service, runs its supervisor's steps (start or restart) and says
/// so; `None` when no service is installed.
fn through_supervisor(
    home: &ProfileHome,
    steps: fn(&service::Plan) -> &[service::Step],
) -> Option<CliResult> {
    let installed = Installed::read(home.root())?;
    let run = || -> CliResult {
        let (host, _) = host_and_platform(home, Some(installed.platform.name()))?;
        for line in service::run_steps(steps(&service::plan(installed.platform, &host, home.root())))? {
            println!("{line}");
        }
        Ok(ExitCode::SUCCESS)
    };
    Some(run())
}

fn start(home: &ProfileHome, scope: &Scope, explicit_profile: bool) -> CliResult {
    if let Some(done) = through_supervisor(home, |plan| &plan.start) {
        return done;
    }
    let control = daemon::control_path(home.root(), &scope.name());
    if control::ask(&control, &Request::Status).is_ok() {
        println!("daemon {} is already running", scope.name());
        return Ok(ExitCode::SUCCESS);
    }
    let logs = home.root().path().join("logs");
    crate::fsio::ensure_private_dir(&logs)?;
    let out_path = logs.join("daemon.out");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(&out_path)?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(profile_args(home, explicit_profile))
        .args(["daemon", "supervise"])
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: setsid is async-signal-safe; it detaches the child from our terminal so
    // closing the shell does not stop the daemon.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Reply::Status(s)) = control::ask(&control, &Request::Status) {
            println!("started daemon {} (pid {}); output in {}", s.scope, s.pid, tilde(&out_path));
            return Ok(ExitCode::SUCCESS);
        }
        if let Ok(Some(exit)) = child.try_wait() {
            return Err(format!("the daemon did not start ({exit}); see {}", tilde(&out_path)).into());
        }
        if Instant::now() > deadline {
            return Err(format!("the daemon did not answer within 10 s; see {}", tilde(&out_path)).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn restart(home: &ProfileHome, scope: &Scope, explicit_profile: bool) -> CliResult {
    if let Some(done) = through_supervisor(home, |plan| &plan.restart) {
        return done;
    }
    let control = daemon::control_path(home.root(), &scope.name());
    if control::ask(&control, &Request::Status).is_ok() {
        stop(home, &scope.name())?;
    }
    start(home, scope, explicit_profile)
}

/// The installed service, if any, and whether it is what this binary would write.
fn service_line(home: &ProfileHome) -> Option<String> {
    let installed = Installed::read(home.root())?;
    let (host, _) = host_and_platform(home, Some(installed.platform.name())).ok()?;
    let plan = service::plan(installed.platform, &host, home.root());
    let main = tilde(&plan.files[0].path);
    Some(if installed.is_current(&plan) {
        format!("service: {} ({main}) · up to date", installed.platform)
    } else {
        format!(
            "service: {} ({main}) · stale: this alpi would write something else — run `alpi daemon install` again",
            installed.platform
        )
    })
}

fn status(home: &ProfileHome) -> CliResult {
    let running = daemon::running(home.root());
    let mut any = false;
    match service_line(home) {
        Some(line) => println!("{line}"),
        None => println!("service: none installed (`alpi daemon install` keeps it running)"),
    }
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
                    if let Ok(name) = crate::profile::ProfileName::parse(&p.name) {
                        println!("  {:<16} {}", "", jobs_line(&home.root().home(&name)));
                    }
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

/// `scheduler: 3 jobs, next 09:00 · telegram: healthy` — read from the profile's files.
fn jobs_line(home: &ProfileHome) -> String {
    use crate::schedule::{self, store::Store, zone};
    let jobs = Store::new(home.dir()).read();
    let now = now_micros() / 1_000_000;
    let activity = schedule::run::last_activity(home);
    let scheduler = match jobs {
        Err(e) => format!("scheduler: {e}"),
        Ok(jobs) => {
            let next =
                jobs.iter().filter_map(|j| schedule::next_run(j, now, &zone::SystemZone, activity)).min();
            let when = next.map(|t| {
                let f = zone::fields(zone::wall_at(&zone::SystemZone, t));
                format!(", next {:04}-{:02}-{:02} {:02}:{:02}", f.year, f.month, f.day, f.hour, f.minute)
            });
            format!("scheduler: {} job(s){}", jobs.len(), when.unwrap_or_default())
        }
    };
    let configured = crate::profile::dotenv::DotEnv::load(&home.env_path())
        .is_ok_and(|env| env.get("TELEGRAM_BOT_TOKEN").is_some());
    let telegram = if configured {
        let breaker = crate::daemon::gateway::Breaker::new(home, "telegram");
        format!("telegram: {}", breaker.state())
    } else {
        "telegram: off".into()
    };
    format!("{scheduler} · {telegram}")
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
