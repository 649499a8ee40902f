//! `alpi peers …`: this profile's identity, its pinned peers, the unpinned senders
//! waiting in pending, and `ping` to check a link end to end.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};
use std::process::ExitCode;

use argh::FromArgs;

use super::{CliError, CliResult, open_profile};
use crate::alp::ask::explain_failure;
use crate::alp::blobs;
use crate::alp::client::{CallError, Client, Route};
use crate::alp::identity::Identity;
use crate::alp::peers::{DEFAULT_ALLOW, Peer, PeerFiles};
use crate::alp::transport::{CALL_TIMEOUT, PING_TIMEOUT};
use crate::alp::wire::envelope::random_hex16;
use crate::alp::wire::hex;
use crate::clock::UtcTime;
use crate::fsio;
use crate::json::{Object, Value};
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
    BlobPut(BlobPutCmd),
    BlobGet(BlobGetCmd),
    Tools(ToolsCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "tools")]
/// limit the tools a peer's link.ask may run here (tools.allow)
struct ToolsCmd {
    /// the peer's local id
    #[argh(positional)]
    id: String,
    /// tool names, `*` patterns or tool:action, comma-separated; "" allows no tool;
    /// omit it to remove the limit
    #[argh(option)]
    allow: Option<String>,
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

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "blob-put")]
/// send a file (up to 20 MiB) to a peer; resumes an interrupted upload
struct BlobPutCmd {
    /// the peer's local id
    #[argh(positional)]
    id: String,
    /// the file to send
    #[argh(positional)]
    file: PathBuf,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "blob-get")]
/// fetch a file a peer holds, by its sha256
struct BlobGetCmd {
    /// the peer's local id
    #[argh(positional)]
    id: String,
    /// the blob's sha256 (what blob-put printed)
    #[argh(positional)]
    sha256: String,
    /// where to write it (must not exist yet)
    #[argh(option)]
    output: PathBuf,
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
        PeersSub::Tools(c) => tools(&files, c),
        PeersSub::BlobPut(c) => blob_put(home, &files, &c.id, &c.file),
        PeersSub::BlobGet(c) => blob_get(home, &files, &c.id, &c.sha256, &c.output),
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

/// Sets or removes `tools.allow`, checked before it is written.
fn tools(files: &PeerFiles, c: ToolsCmd) -> CliResult {
    let value = c.allow.as_deref().map(|list| {
        let entries: Vec<Value> = split_allow(list).into_iter().map(Value::from).collect();
        Value::from(Object::new().with("allow", entries))
    });
    let mut updated = None;
    files.update(|peers| {
        let peer = peers
            .iter_mut()
            .find(|p| p.id == c.id)
            .ok_or_else(|| crate::alp::peers::Error::UnknownId(c.id.clone()))?;
        let mut candidate = peer.clone();
        candidate.tools = value.clone();
        candidate.allowed_tools().map_err(crate::alp::peers::Error::BadToolPolicy)?;
        *peer = candidate;
        updated = Some(peer.clone());
        Ok(())
    })?;
    let peer = updated.ok_or("the peer list did not change")?;
    match peer.allowed_tools() {
        Ok(Some(list)) if list.is_empty() => println!("{}: its link.ask may run no tool", peer.id),
        Ok(Some(list)) => println!("{}: its link.ask may run only {}", peer.id, list.join(", ")),
        _ => println!("{}: no tool limit (the profile's own tools.deny still applies)", peer.id),
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

fn pinned(files: &PeerFiles, id: &str) -> Result<Peer, CliError> {
    files.load()?.into_iter().find(|p| p.id == id).ok_or_else(|| {
        CliError::from(format!("no peer called {id:?} — `alpi peers list` shows the pinned ones"))
    })
}

/// Sends `file` in 512 KiB chunks, first asking how much of it the peer already staged.
fn blob_put(home: &ProfileHome, files: &PeerFiles, id: &str, file: &Path) -> CliResult {
    let peer = pinned(files, id)?;
    let (hash, size) = blobs::hash_file(file)?;
    let (keys, _) = home.keys().load_or_create()?;
    let client = Client::new(&keys);
    let route = Route::for_peer(&peer, home.root());
    let put = |offset: u64, data: &[u8], last: bool| {
        let params = Object::new()
            .with("hash", hash.as_str())
            .with("size", size)
            .with("offset", offset)
            .with("data", Base64::encode_string(data))
            .with("final", last);
        client.call(&peer, &route, "link.put_blob", params, CALL_TIMEOUT, &mut |_| {}).map(|r| r.result)
    };
    let explain = |e| explain_failure(home, &keys, &peer, &route, e);
    // An empty chunk at the end tells us whether the peer has it, or how much it staged.
    let (mut offset, mut complete) = match put(size, &[], size == 0) {
        Ok(result) => (size, result.get("complete").and_then(Value::as_bool) == Some(true)),
        Err(CallError::Remote(e)) => {
            let staged = e.data.get("detail").and_then(Value::as_str).and_then(blobs::expected_offset);
            (staged.ok_or_else(|| explain(CallError::Remote(e)))?, false)
        }
        Err(e) => return Err(explain(e).into()),
    };
    let mut source = File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    source.seek(SeekFrom::Start(offset)).map_err(|e| format!("{}: {e}", file.display()))?;
    let progress = Progress::new(size);
    let mut chunk = vec![0u8; blobs::CHUNK_BYTES];
    while !complete {
        let want = (size - offset).min(blobs::CHUNK_BYTES as u64) as usize;
        source.read_exact(&mut chunk[..want]).map_err(|e| format!("{}: {e}", file.display()))?;
        let result = put(offset, &chunk[..want], offset + want as u64 == size).map_err(explain)?;
        offset = result
            .get("next_offset")
            .and_then(Value::as_u64)
            .filter(|n| *n <= size)
            .ok_or("bad next_offset")?;
        complete = result.get("complete").and_then(Value::as_bool) == Some(true);
        progress.show(offset);
    }
    progress.done();
    println!("sha256 {hash} · {size} bytes · stored on {id}");
    Ok(ExitCode::SUCCESS)
}

/// Fetches a blob into `output`, verified against its hash before it appears there.
fn blob_get(home: &ProfileHome, files: &PeerFiles, id: &str, sha256: &str, output: &Path) -> CliResult {
    let peer = pinned(files, id)?;
    let hash = blobs::BlobStore::validate_hash(sha256)?;
    if output.exists() {
        return Err(format!("{} already exists; choose another --output", output.display()).into());
    }
    let (keys, _) = home.keys().load_or_create()?;
    let client = Client::new(&keys);
    let route = Route::for_peer(&peer, home.root());
    let mut failure = None;
    let written = fsio::write_atomic_with(output, fsio::SECRET_FILE, |out| {
        let mut digest = Sha256::new();
        let mut received = 0u64;
        let mut write_error = None;
        let params = Object::new().with("hash", hash.as_str());
        let result = client.call(&peer, &route, "link.get_blob", params, CALL_TIMEOUT, &mut |chunk| {
            let data = chunk.get("data").and_then(Value::as_str).and_then(|d| Base64::decode_vec(d).ok());
            let in_order = chunk.get("offset").and_then(Value::as_u64) == Some(received);
            match data {
                Some(data) if in_order && write_error.is_none() => {
                    digest.update(&data);
                    received += data.len() as u64;
                    if let Err(e) = out.write_all(&data) {
                        write_error = Some(e);
                    }
                }
                _ => write_error = write_error.take().or(Some(io::Error::other("chunks out of order"))),
            }
        });
        if let Some(e) = write_error {
            return Err(e);
        }
        let result = result.map_err(|e| {
            failure = Some(e);
            io::Error::other("call failed")
        })?;
        let size = result.result.get("size").and_then(Value::as_u64);
        let actual = hex(&digest.finalize());
        if size != Some(received) || actual != hash {
            return Err(io::Error::other(format!("received {received} bytes hashing to {actual}; refused")));
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(explain_failure(home, &keys, &peer, &route, e).into());
    }
    written?;
    println!("sha256 {hash} · {} bytes · {}", std::fs::metadata(output)?.len(), output.display());
    Ok(ExitCode::SUCCESS)
}

/// `sent 3.5/20.0 MiB` on one line of a terminal's stderr; silent otherwise.
struct Progress {
    total: u64,
    on_tty: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self { total, on_tty: io::stderr().is_terminal() }
    }

    fn show(&self, done: u64) {
        if self.on_tty {
            let mib = |n: u64| n as f64 / 1_048_576.0;
            eprint!("\rsent {:.1}/{:.1} MiB", mib(done), mib(self.total));
        }
    }

    fn done(&self) {
        if self.on_tty {
            eprintln!();
        }
    }
}

fn ping(home: &ProfileHome, files: &PeerFiles, id: &str) -> CliResult {
    let peer = pinned(files, id)?;
    let (keys, _) = home.keys().load_or_create()?;
    let route = Route::for_peer(&peer, home.root());
    let nonce = random_hex16();
    let params = Object::new().with("nonce", nonce.as_str());
    match Client::new(&keys).call(&peer, &route, "link.ping", params, PING_TIMEOUT, &mut |_| {}) {
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
