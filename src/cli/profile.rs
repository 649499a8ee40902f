//! `alpi profile list|create|remove`.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use argh::FromArgs;

use super::{CliResult, tilde};
use crate::profile::{ProfileHome, ProfileName, format_bytes};

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "profile")]
/// list, create and remove profiles (one agent each)
pub struct ProfileCmd {
    #[argh(subcommand)]
    command: ProfileSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum ProfileSub {
    List(ListCmd),
    Create(CreateCmd),
    Remove(RemoveCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list profiles with their identity and disk size; * marks the active one
struct ListCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "create")]
/// create a profile under ~/.alpi/profiles/ with its own identity
struct CreateCmd {
    /// profile name: 1–32 of a-z, 0-9, '_' and '-'
    #[argh(positional)]
    name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// delete a profile's directory (keys, memories, sessions) for good
struct RemoveCmd {
    /// profile name
    #[argh(positional)]
    name: String,
    /// do not ask for confirmation
    #[argh(switch)]
    yes: bool,
}

pub fn run(cmd: ProfileCmd, active: &ProfileHome) -> CliResult {
    match cmd.command {
        ProfileSub::List(ListCmd {}) => list(active),
        ProfileSub::Create(c) => create(active, &c.name),
        ProfileSub::Remove(c) => remove(active, &c.name, c.yes),
    }
}

fn list(active: &ProfileHome) -> CliResult {
    let rows: Vec<[String; 5]> = active
        .root()
        .list()
        .iter()
        .map(|home| {
            let mark = if home.dir() == active.dir() { "*" } else { " " };
            let identity = home.keys().read_identity().map(|i| i.short()).unwrap_or_else(|_| "-".into());
            let size = if home.exists() { format_bytes(home.disk_usage()) } else { "-".into() };
            [mark.into(), home.name().to_string(), identity, size, tilde(home.dir())]
        })
        .collect();
    let width = |col: usize| rows.iter().map(|r| r[col].chars().count()).max().unwrap_or(0);
    let (name_w, id_w, size_w) = (width(1), width(2), width(3));
    let mut out = io::stdout().lock();
    for [mark, name, identity, size, path] in &rows {
        writeln!(out, "{mark} {name:<name_w$}  {identity:<id_w$}  {size:>size_w$}  {path}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn create(active: &ProfileHome, name: &str) -> CliResult {
    let name = ProfileName::parse(name)?;
    let home = active.root().create(&name)?;
    crate::logging::init(&home.service_log(), log::LevelFilter::Warn);
    let (keys, _) = home.keys().load_or_create()?;
    log::info!("created profile {name} with identity {}", keys.identity().short());
    println!("created profile {name} at {}", tilde(home.dir()));
    println!("identity {}", keys.identity());
    println!("use it with: alpi -p {name}");
    Ok(ExitCode::SUCCESS)
}

fn remove(active: &ProfileHome, name: &str, yes: bool) -> CliResult {
    let name = ProfileName::parse(name)?;
    let home = active.root().home(&name);
    if !name.is_default() && home.exists() && !yes && !confirm(&home)? {
        eprintln!("alpi: kept profile {name}");
        return Ok(ExitCode::FAILURE);
    }
    let removed = active.root().remove(&name)?;
    println!("removed profile {name} ({})", tilde(&removed));
    Ok(ExitCode::SUCCESS)
}

/// Asks for the profile's name on stdin; end of input refuses and says how to proceed.
fn confirm(home: &ProfileHome) -> Result<bool, super::CliError> {
    let name = home.name();
    eprint!(
        "Remove profile {name} at {} ({}) with its identity and history? Type its name to confirm: ",
        tilde(home.dir()),
        format_bytes(home.disk_usage()),
    );
    io::stderr().flush()?;
    let mut answer = String::new();
    if io::stdin().lock().read_line(&mut answer)? == 0 {
        eprintln!();
        return Err(format!(
            "no confirmation to remove profile {name} (input closed); re-run with --yes to remove it"
        )
        .into());
    }
    Ok(answer.trim() == name.as_str())
}
