//! `alpi workgroup …`: rooms (ALP.3). On the hub: create, kick, add-member, pause,
//! resume; on a member: join, post, pull, leave; files up and down on either.

use std::process::ExitCode;

use argh::FromArgs;

use super::{CliResult, open_profile};
use crate::alp::identity::Identity;
use crate::alp::peers::PeerFiles;
use crate::alp::workgroup::hub::{Change, Room};
use crate::alp::workgroup::member::{Member, MemberError, Post, Subscription};
use crate::json::Value;
use crate::profile::ProfileHome;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "workgroup")]
/// rooms: a shared, end-to-end encrypted transcript anchored at a hub profile
pub struct WorkgroupCmd {
    #[argh(subcommand)]
    command: Sub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Sub {
    Create(CreateCmd),
    Join(JoinCmd),
    Post(PostCmd),
    Pull(PullCmd),
    List(ListCmd),
    Show(ShowCmd),
    Leave(LeaveCmd),
    Pause(PauseCmd),
    Resume(ResumeCmd),
    Kick(KickCmd),
    AddMember(AddMemberCmd),
    FilePut(FilePutCmd),
    FileGet(FileGetCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "create")]
/// create a room with this profile as hub; prints its wg_… id
struct CreateCmd {
    /// the room's name
    #[argh(positional)]
    name: String,
    /// a member: pinned peer id or 44-char key (repeat)
    #[argh(option)]
    member: Vec<String>,
    /// what the room is for, shown to every member
    #[argh(option, default = "String::new()")]
    briefing: String,
    /// lifetime spending cap of the room, USD
    #[argh(option)]
    budget_usd: Option<f64>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "join")]
/// join a room at a pinned hub: fetches the sealed group key
struct JoinCmd {
    /// the hub's peer id
    #[argh(positional)]
    hub: String,
    /// the room id (wg_…)
    #[argh(positional)]
    wg: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "post")]
/// post a message to a room
struct PostCmd {
    #[argh(positional)]
    wg: String,
    #[argh(positional)]
    text: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pull")]
/// print new posts (seq, time, author, text)
struct PullCmd {
    #[argh(positional)]
    wg: String,
    /// print posts after this seq (default: since the last pull)
    #[argh(option)]
    since: Option<u64>,
    /// keep waiting for new posts
    #[argh(switch)]
    follow: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// rooms this profile is hub of or member of
struct ListCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "show")]
/// a room's details
struct ShowCmd {
    #[argh(positional)]
    wg: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "leave")]
/// leave a room (the hub rotates the key)
struct LeaveCmd {
    #[argh(positional)]
    wg: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pause")]
/// stop posts to a room (hub only)
struct PauseCmd {
    #[argh(positional)]
    wg: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "resume")]
/// allow posts again (hub only)
struct ResumeCmd {
    #[argh(positional)]
    wg: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "kick")]
/// remove a member and rotate the key (hub only)
struct KickCmd {
    #[argh(positional)]
    wg: String,
    /// pinned peer id or 44-char key
    #[argh(positional)]
    member: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add-member")]
/// add a member and rotate the key (hub only)
struct AddMemberCmd {
    #[argh(positional)]
    wg: String,
    /// pinned peer id or 44-char key
    #[argh(positional)]
    member: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "file-put")]
/// upload a file to a room (encrypted, up to 20 MiB)
struct FilePutCmd {
    #[argh(positional)]
    wg: String,
    #[argh(positional)]
    path: String,
    /// a note posted with the file
    #[argh(option, default = "String::new()")]
    note: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "file-get")]
/// download a room file by its sha256 and check it
struct FileGetCmd {
    #[argh(positional)]
    wg: String,
    #[argh(positional)]
    sha256: String,
    /// where to write it
    #[argh(option)]
    output: String,
}

pub fn run(cmd: WorkgroupCmd, home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let member = Member::open(home)?;
    match cmd.command {
        Sub::Create(c) => create(&member, c),
        Sub::Join(c) => join(&member, &c.hub, &c.wg),
        Sub::Post(c) => {
            let (seq, ts) = member.post(&c.wg, &c.text, None)?;
            println!("posted #{seq} at {ts}");
            Ok(ExitCode::SUCCESS)
        }
        Sub::Pull(c) => pull(&member, &c.wg, c.since, c.follow),
        Sub::List(_) => list(&member),
        Sub::Show(c) => show(&member, &c.wg),
        Sub::Leave(c) => leave(&member, &c.wg),
        Sub::Pause(c) => pause(&member, &c.wg, true),
        Sub::Resume(c) => pause(&member, &c.wg, false),
        Sub::Kick(c) => rekey(&member, &c.wg, &c.member, true),
        Sub::AddMember(c) => rekey(&member, &c.wg, &c.member, false),
        Sub::FilePut(c) => {
            let data = std::fs::read(&c.path).map_err(|e| format!("{}: {e}", c.path))?;
            let name = std::path::Path::new(&c.path).file_name().map(|n| n.to_string_lossy().into_owned());
            let digest = member.send_file(&c.wg, &data, &name.unwrap_or_default(), &c.note)?;
            println!("uploaded {} bytes, sha256 {digest}", data.len());
            Ok(ExitCode::SUCCESS)
        }
        Sub::FileGet(c) => {
            let (name, data) = member.get_file(&c.wg, &c.sha256)?;
            crate::fsio::write_atomic(std::path::Path::new(&c.output), crate::fsio::PUBLIC_FILE, &data)?;
            println!("{name}: {} bytes, sha256 verified, written to {}", data.len(), c.output);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A member named by pinned peer id or by key.
fn identity_of(member: &Member, who: &str) -> Result<Identity, String> {
    if let Ok(key) = who.parse::<Identity>() {
        return Ok(key);
    }
    let peers = PeerFiles::new(&member.home.dir().join("alp")).load().map_err(|e| e.to_string())?;
    peers.into_iter().find(|p| p.id == who).map(|p| p.pubkey).ok_or_else(|| {
        format!("no peer called {who:?} — pin it first with `alpi peers add {who} <key>`, or give its key")
    })
}

fn create(member: &Member, c: CreateCmd) -> CliResult {
    let members = c.member.iter().map(|m| identity_of(member, m)).collect::<Result<Vec<_>, _>>()?;
    let room = member.hub().create(&member.keys, &c.name, &members, &c.briefing, c.budget_usd)?;
    println!("{}", room.meta.id);
    Ok(ExitCode::SUCCESS)
}

fn join(member: &Member, hub: &str, wg: &str) -> CliResult {
    let joined = member.join(hub, wg)?;
    let sub = &joined.subscription;
    println!("joined {} ({})", sub.name, sub.wg_id);
    if !sub.briefing.is_empty() {
        println!("briefing: {}", sub.briefing);
    }
    println!("members: {}", joined.members.join(", "));
    if sub.paused {
        println!("(paused by the hub)");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_post(member: &Member, p: &Post) {
    println!("#{} {} {}: {}", p.seq, p.ts, member.alias(&p.from), p.text);
}

fn pull(member: &Member, wg: &str, since: Option<u64>, follow: bool) -> CliResult {
    let client = member.client();
    let (posts, mut head) = member.pull(&client, wg, since, 0.0)?;
    posts.iter().for_each(|p| print_post(member, p));
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        match member.pull(&client, wg, Some(head), crate::alp::workgroup::LONG_POLL_MAX_S) {
            Ok((posts, new_head)) => {
                posts.iter().for_each(|p| print_post(member, p));
                head = head.max(new_head);
                if member.hub().load(wg).is_ok() && posts.is_empty() {
                    // The hub reads its own file: no held pull, so wait here.
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            }
            Err(MemberError::Unreachable(e)) => {
                eprintln!("alpi: {e}; retrying in 30 s");
                std::thread::sleep(std::time::Duration::from_secs(30));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn describe_hub_room(room: &Room) {
    let budget = room.meta.max_usd.map(|usd| format!(", budget {usd} USD")).unwrap_or_default();
    let paused = if room.meta.paused { ", paused" } else { "" };
    println!(
        "{}  {}  hub  {} members  key v{}{budget}{paused}",
        room.meta.id,
        room.meta.name,
        room.members.len(),
        room.meta.current_key_version
    );
}

fn describe_subscription(s: &Subscription) {
    let paused = if s.paused { ", paused" } else { "" };
    let (id, name, hub, seq, v) = (&s.wg_id, &s.name, &s.hub_id, s.last_seq, s.latest_version());
    println!("{id}  {name}  member of @{hub}  seq {seq}  key v{v}{paused}");
}

fn list(member: &Member) -> CliResult {
    let rooms = member.hub().list();
    let subs = member.subscriptions();
    if rooms.is_empty() && subs.is_empty() {
        println!("no workgroups. `alpi workgroup create` or `alpi workgroup join`.");
    }
    rooms.iter().for_each(describe_hub_room);
    subs.iter().for_each(describe_subscription);
    Ok(ExitCode::SUCCESS)
}

fn show(member: &Member, wg: &str) -> CliResult {
    let (briefing, roster): (String, Vec<(String, String)>) = match member.hub().load(wg) {
        Ok(room) => {
            describe_hub_room(&room);
            let seen = |m: &crate::alp::workgroup::hub::Member| {
                let when = if m.joined { m.last_seen_at.as_str() } else { "not joined" };
                (m.pubkey.to_string(), when.to_owned())
            };
            (room.meta.briefing.clone(), room.members.iter().map(seen).collect())
        }
        Err(_) => {
            let s = member.subscription(wg)?;
            describe_subscription(&s);
            (s.briefing, s.roster)
        }
    };
    if !briefing.is_empty() {
        println!("briefing: {briefing}");
    }
    for (pk, seen) in roster {
        println!("  {}  last seen {seen}", member.alias(&pk));
    }
    Ok(ExitCode::SUCCESS)
}

fn leave(member: &Member, wg: &str) -> CliResult {
    let result = member.leave(wg)?;
    let version = result.get("current_key_version").and_then(Value::as_u64).unwrap_or(0);
    println!("left {wg}; the hub rotated the key to v{version}");
    Ok(ExitCode::SUCCESS)
}

fn pause(member: &Member, wg: &str, paused: bool) -> CliResult {
    let room = member.set_paused(wg, paused)?;
    println!("{} is {}", room.meta.id, if room.meta.paused { "paused" } else { "open for posts again" });
    Ok(ExitCode::SUCCESS)
}

fn rekey(member: &Member, wg: &str, who: &str, kick: bool) -> CliResult {
    let identity = identity_of(member, who)?;
    let hub = member.hub();
    let room = hub.load(wg).map_err(|_| format!("{wg} is not a workgroup this profile is hub of"))?;
    if !room.is_hub(member.keys.identity()) {
        return Err(format!("only the hub of {wg} may change its members").into());
    }
    let change = if kick { Change::Drop(&identity) } else { Change::Add(&identity) };
    let room = hub.rekey(wg, change)?;
    let verb = if kick { "removed" } else { "added" };
    println!(
        "{verb} {who}; {} members, key rotated to v{}",
        room.members.len(),
        room.meta.current_key_version
    );
    Ok(ExitCode::SUCCESS)
}
