//! `alpi peers …`: this profile's identity, its pinned peers, the unpinned senders
//! waiting in pending, and `ping` to check a link end to end.

use std::io::{self, Write};
use std::process::ExitCode;

use argh::FromArgs;

use super::{CliError, CliResult, open_profile, tilde};
use crate::alp::client::{self, CallError, Route};
use crate::alp::identity::{Identity, Keypair};
use crate::alp::peers::{DEFAULT_ALLOW, Peer, PeerFiles};
use crate::alp::transport::PING_TIMEOUT;
use crate::alp::wire::envelope::random_hex16;
use crate::alp::wire::json::{Object, Value};
use crate::clock::UtcTime;
use crate::profile::ProfileHome;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "peers")]
/// this profile's ALP identity and the peers it trusts
pub struct PeersCmd {
    #[argh(subcommand)]
    command: PeersSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum PeersSub {
    Key(KeyCmd),
    List(ListCmd),
    Add(AddCmd),
    Remove(RemoveCmd),
    Ping(PingCmd),
    Pending(PendingCmd),
    Accept(AcceptCmd),
    Discard(DiscardCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "key")]
/// print this profile's identity (44-char base64 Ed25519 key), creating it on first use
struct KeyCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list pinned peers: id, short key, address or local, allowed methods
struct ListCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// pin a peer's identity under a local id
struct AddCmd {
    /// local label for the peer: 1–64 of a-z, 0-9, '_' and '-'
    #[argh(positional)]
    id: String,
    /// the peer's identity (what `alpi peers key` prints on its side)
    #[argh(positional)]
    pubkey: String,
    /// methods it may call, comma-separated (default: none — it can call nothing)
    #[argh(option)]
    allow: Option<String>,
    /// host:port of a peer on another machine (omit for a profile on this machine)
    #[argh(option)]
    address: Option<String>,
    /// a display name
    #[argh(option)]
    alias: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// unpin a peer
struct RemoveCmd {
    /// the peer's local id
    #[argh(positional)]
    id: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "ping")]
/// check the link to a peer end to end (signed both ways)
struct PingCmd {
    /// the peer's local id
    #[argh(positional)]
    id: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pending")]
/// unpinned identities that tried to reach this profile
struct PendingCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "accept")]
/// pin a pending identity (default allow: link.ping,link.ask)
struct AcceptCmd {
    /// the pending identity
    #[argh(positional)]
    pubkey: String,
    /// local id to pin it under
    #[argh(positional)]
    id: String,
    /// methods it may call, comma-separated
    #[argh(option)]
    allow: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "discard")]
/// forget a pending identity
struct DiscardCmd {
    /// the pending identity
    #[argh(positional)]
    pubkey: String,
}

pub fn run(cmd: PeersCmd, home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let files = PeerFiles::new(&home.dir().join("alp"));
    match cmd.command {
        PeersSub::Key(KeyCmd {}) => key(home),
        PeersSub::List(ListCmd {}) => list(&files),
        PeersSub::Add(c) => add(&files, c),
        PeersSub::Remove(c) => {
            let peer = files.remove(&c.id)?;
            println!("removed {} ({})", peer.id, peer.pubkey.short());
            Ok(ExitCode::SUCCESS)
        }
        PeersSub::Ping(c) => ping(home, &files, &c.id),
        PeersSub::Pending(PendingCmd {}) => pending(&files),
        PeersSub::Accept(c) => {
            let allow = c
                .allow
                .as_deref()
                .map(split_allow)
                .unwrap_or_else(|| DEFAULT_ALLOW.map(String::from).to_vec());
            let peer = files.accept(&parse_identity(&c.pubkey)?, &c.id, allow)?;
            println!("pinned {} ({}) · allow {}", peer.id, peer.pubkey.short(), allow_text(&peer));
            Ok(ExitCode::SUCCESS)
        }
        PeersSub::Discard(c) => {
            if files.discard(&parse_identity(&c.pubkey)?)? {
                println!("discarded {}", c.pubkey.trim());
                Ok(ExitCode::SUCCESS)
            } else {
                Err(format!("{} is not pending — `alpi peers pending` lists who is", c.pubkey.trim()).into())
            }
        }
    }
}

fn key(home: &ProfileHome) -> CliResult {
    let (keys, created) = home.keys().load_or_create()?;
    if created {
        log::info!("created identity {} for profile {}", keys.identity().short(), home.name());
    }
    println!("{}", keys.identity());
    Ok(ExitCode::SUCCESS)
}

fn parse_identity(text: &str) -> Result<Identity, CliError> {
    text.parse().map_err(|_| {
        format!("{:?} is not an identity: expected the 44-character key `alpi peers key` prints", text.trim())
            .into()
    })
}

fn split_allow(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect()
}

fn allow_text(peer: &Peer) -> String {
    if peer.allow.is_empty() { "(nothing)".into() } else { peer.allow.join(",") }
}

fn add(files: &PeerFiles, c: AddCmd) -> CliResult {
    let mut peer =
        Peer::new(&c.id, parse_identity(&c.pubkey)?, c.allow.as_deref().map(split_allow).unwrap_or_default());
    peer.address = c.address;
    peer.alias = c.alias;
    files.add(peer.clone())?;
    let place = peer.address.clone().unwrap_or_else(|| "local".into());
    println!("pinned {} ({}) · {place} · allow {}", peer.id, peer.pubkey.short(), allow_text(&peer));
    if peer.allow.is_empty() {
        eprintln!("note: {} may call nothing here; add --allow link.ping,link.ask to let it", peer.id);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(files: &PeerFiles) -> CliResult {
    let peers = files.load()?;
    if peers.is_empty() {
        eprintln!("no peers pinned — `alpi peers add <id> <key> --allow link.ping` pins one");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 4]> = peers
        .iter()
        .map(|p| {
            [
                p.id.clone(),
                p.pubkey.short(),
                p.address.clone().unwrap_or_else(|| "local".into()),
                allow_text(p),
            ]
        })
        .collect();
    print_table(&rows)
}

fn pending(files: &PeerFiles) -> CliResult {
    let list = files.pending()?;
    if list.is_empty() {
        eprintln!("nobody pending");
        return Ok(ExitCode::SUCCESS);
    }
    let when = |t: f64| UtcTime::from_micros((t * 1e6) as i64).iso_seconds();
    let rows: Vec<[String; 4]> = list
        .iter()
        .map(|p| {
            let address = p.address.clone().unwrap_or_else(|| "local".into());
            [
                p.pubkey.to_string(),
                address,
                format!("first {}", when(p.first_seen)),
                format!("last {}", when(p.last_seen)),
            ]
        })
        .collect();
    print_table(&rows)?;
    eprintln!("pin one with `alpi peers accept <key> <id>`, or forget it with `alpi peers discard <key>`");
    Ok(ExitCode::SUCCESS)
}

fn print_table<const N: usize>(rows: &[[String; N]]) -> CliResult {
    let widths: Vec<usize> =
        (0..N).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = io::stdout().lock();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn ping(home: &ProfileHome, files: &PeerFiles, id: &str) -> CliResult {
    let peer = files.load()?.into_iter().find(|p| p.id == id).ok_or_else(|| {
        CliError::from(format!("no peer called {id:?} — `alpi peers list` shows the pinned ones"))
    })?;
    let (keys, _) = home.keys().load_or_create()?;
    let route = Route::for_peer(&peer, home.root());
    let nonce = random_hex16();
    let params = Object::new().with("nonce", nonce.as_str());
    match client::call(&keys, &peer, &route, "link.ping", params, PING_TIMEOUT, &mut |_| {}) {
        Ok(reply) => {
            let text = |k: &str| reply.result.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
            let version = reply.result.get("version").and_then(Value::as_i64).unwrap_or(0);
            if text("nonce") != nonce {
                return Err(
                    format!("{id} answered with a different nonce — something is wrong on its side").into()
                );
            }
            println!(
                "pong from {} · version={version} · nonce={}… · via {} · {:.1} ms",
                text("agent_name"),
                &nonce[..8],
                route.describe(),
                reply.elapsed.as_secs_f64() * 1e3
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(explain_failure(home, &keys, &peer, &route, e).into()),
    }
}

/// Which of offline / unverified / refused happened, and what to try.
fn explain_failure(home: &ProfileHome, keys: &Keypair, peer: &Peer, route: &Route, e: CallError) -> String {
    let id = &peer.id;
    match e {
        CallError::Offline(at) => {
            format!(
                "{id} is offline: nothing listening at {} — is `alpi daemon run` running there?",
                tilde_str(&at)
            )
        }
        CallError::Unverified => format!(
            "{id} is unverified: it answered nothing. It has probably not pinned this profile — on its side run \
             `alpi{} peers add {} {} --allow link.ping` — or the two clocks differ by more than 2 minutes",
            peer_flag(home, route, peer),
            home.name(),
            keys.identity()
        ),
        CallError::Remote(err) => format!("{id} refused: {err}{}", remote_hint(&err.message)),
        CallError::Timeout(t) => format!("{id} did not answer within {} s", t.as_secs()),
        other => format!("{id}: {other}"),
    }
}

fn peer_flag(home: &ProfileHome, route: &Route, peer: &Peer) -> String {
    match (route, home.root().find_by_identity(&peer.pubkey)) {
        (Route::Unix(_), Some(theirs)) if !theirs.name().is_default() => format!(" -p {}", theirs.name()),
        _ => String::new(),
    }
}

fn remote_hint(message: &str) -> &'static str {
    match message {
        "capability-denied" => {
            " — it has pinned you but does not allow this method; it needs --allow link.ping"
        }
        "rate-limited" => " — wait a minute, or raise rate_limit.per_minute for you on its side",
        "budget-exceeded" => " — its daily budget is spent; it resets at 00:00 UTC",
        _ => "",
    }
}

fn tilde_str(path: &str) -> String {
    tilde(std::path::Path::new(path))
}
