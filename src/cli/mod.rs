//! The command line: argh definitions, dispatch, and turning errors into one line for
//! the user. The only layer that prints; everything below returns values and errors.

mod audit;
mod audit_log;
mod chat;
mod daemon;
mod doctor;
mod logs;
mod mcp;
mod pair;
mod peers;
mod profile;
mod schedule;
mod setup;
mod workgroup;

use std::process::ExitCode;

use argh::FromArgs;

use crate::profile::{ProfileHome, Selection};

/// An error already worded for the user.
pub type CliError = Box<dyn std::error::Error>;
pub type CliResult = Result<ExitCode, CliError>;

/// `alpi 0.1.0 (<target triple>)`.
pub const VERSION_LINE: &str = concat!("alpi ", env!("CARGO_PKG_VERSION"), " (", env!("ALPI_TARGET"), ")");

#[derive(FromArgs, Debug)]
/// alpi: a personal AI agent that runs on a phone, a Pi or a laptop.
/// With no command, starts a chat with the profile's agent.
struct Alpi {
    /// profile to use: `default` (~/.alpi) or a name under ~/.alpi/profiles/
    #[argh(option, short = 'p')]
    profile: Option<String>,

    /// print the version and exit
    #[argh(switch)]
    version: bool,

    /// continue the profile's newest chat session
    #[argh(switch, short = 'c', long = "continue")]
    resume: bool,

    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    Profile(profile::ProfileCmd),
    Peers(peers::PeersCmd),
    Doctor(doctor::DoctorCmd),
    Daemon(daemon::DaemonCmd),
    Chat(chat::ChatCmd),
    Setup(setup::SetupCmd),
    Mcp(mcp::McpCmd),
    Schedule(schedule::ScheduleCmd),
    Logs(logs::LogsCmd),
    Pair(pair::PairCmd),
    AuditLog(audit_log::AuditLogCmd),
    Audit(audit::AuditCmd),
    Workgroup(workgroup::WorkgroupCmd),
}

/// Runs the command line of this process.
pub fn main() -> ExitCode {
    let args: Alpi = argh::from_env();
    if args.version {
        println!("{VERSION_LINE}");
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("alpi: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Alpi) -> CliResult {
    if !matches!(args.command, Some(Command::Daemon(_))) {
        quiet_broken_pipe();
    }
    let selection = Selection::from_env(args.profile);
    let home = selection.resolve()?;
    match args.command {
        Some(Command::Daemon(cmd)) => daemon::run(cmd, &home, selection.is_explicit()),
        None => chat::repl(&home, args.resume),
        Some(Command::Profile(cmd)) => profile::run(cmd, &home),
        Some(Command::Peers(cmd)) => peers::run(cmd, &home),
        Some(Command::Doctor(cmd)) => doctor::run(cmd, &home),
        Some(Command::Chat(cmd)) => chat::run(cmd, &home),
        Some(Command::Setup(cmd)) => setup::run(cmd, &home),
        Some(Command::Mcp(cmd)) => mcp::run(cmd, &home),
        Some(Command::Schedule(cmd)) => schedule::run(cmd, &home),
        Some(Command::Logs(cmd)) => logs::run(cmd, &home),
        Some(Command::Pair(cmd)) => pair::run(cmd, &home),
        Some(Command::AuditLog(cmd)) => audit_log::run(cmd, &home),
        Some(Command::Audit(cmd)) => audit::run(cmd, &home),
        Some(Command::Workgroup(cmd)) => workgroup::run(cmd, &home),
    }
}

/// `alpi … | head` ends quietly, as other command-line tools do, instead of a panic on
/// the next print. The daemon keeps SIGPIPE ignored: a peer hanging up must not kill it.
fn quiet_broken_pipe() {
    // SAFETY: restoring the default disposition of one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Creates the profile's layout if needed and starts logging into it.
fn open_profile(home: &ProfileHome) -> Result<(), CliError> {
    home.ensure_layout()?;
    crate::logging::init(&home.service_log(), log::LevelFilter::Warn);
    Ok(())
}

use crate::profile::tilde;
