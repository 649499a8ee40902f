//! `alpi peers …`: this profile's identity and, as ALP lands, its pinned peers.

use std::process::ExitCode;

use argh::FromArgs;

use super::{CliResult, open_profile};
use crate::profile::ProfileHome;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "peers")]
/// this profile's ALP identity and peers
pub struct PeersCmd {
    #[argh(subcommand)]
    command: PeersSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum PeersSub {
    Key(KeyCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "key")]
/// print this profile's identity (44-char base64 Ed25519 key), creating it on first use
struct KeyCmd {}

pub fn run(cmd: PeersCmd, home: &ProfileHome) -> CliResult {
    match cmd.command {
        PeersSub::Key(KeyCmd {}) => key(home),
    }
}

fn key(home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let (keys, created) = home.keys().load_or_create()?;
    if created {
        log::info!("created identity {} for profile {}", keys.identity().short(), home.name());
    }
    println!("{}", keys.identity());
    Ok(ExitCode::SUCCESS)
}
