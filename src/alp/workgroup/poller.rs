//! The daemon's member side: one thread per joined room holds a long-poll
//! `workgroup.pull` (25 s) at the hub and, when a new post mentions `@<this profile>`
//! (a `#task` addressed to it included), runs one agent turn and posts the answer back.
//! A hub that cannot be reached is retried after 30 s, doubling up to 15 min.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::member::{Member, MemberError, Post, Subscription, subscriptions};
use crate::alp::methods::{Agent, AskRequest, new_session_id};
use crate::json::Object;
use crate::profile::ProfileHome;

const HOLD_S: f64 = super::LONG_POLL_MAX_S;
const BACKOFF_FIRST: Duration = Duration::from_secs(30);
const BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);
/// Posts of context given to a mention turn.
const CONTEXT_POSTS: usize = 12;

/// The room pollers of one profile; dropping it stops them all.
pub struct Pollers {
    home: ProfileHome,
    agent: Arc<dyn Agent>,
    running: Mutex<Vec<(String, Arc<AtomicBool>)>>,
}

impl Pollers {
    pub fn new(home: &ProfileHome, agent: Arc<dyn Agent>) -> Self {
        Self { home: home.clone(), agent, running: Mutex::new(Vec::new()) }
    }

    /// Starts a poller for each newly joined room and stops those of rooms left.
    pub fn sync(&self) {
        let wanted: Vec<String> = subscriptions(&self.home).into_iter().map(|s| s.wg_id).collect();
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|(id, stop)| {
            let keep = wanted.contains(id) && !stop.load(Ordering::SeqCst);
            if !keep {
                stop.store(true, Ordering::SeqCst);
            }
            keep
        });
        for id in wanted {
            if running.iter().any(|(r, _)| *r == id) {
                continue;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let (home, agent, flag, room) = (self.home.clone(), self.agent.clone(), stop.clone(), id.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("room-{}", self.home.name()))
                .spawn(move || poll_room(&home, agent.as_ref(), &room, &flag));
            match spawned {
                Ok(_) => running.push((id, stop)),
                Err(e) => log::warn!("{}: cannot start the poller of {id}: {e}", self.home.name()),
            }
        }
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        for (_, stop) in self.running.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

fn poll_room(home: &ProfileHome, agent: &dyn Agent, id: &str, stop: &AtomicBool) {
    let Ok(member) = Member::open(home) else { return };
    let client = member.client();
    let mut cursor = member.subscription(id).map(|s| s.last_responded_seq).unwrap_or(0);
    let mut backoff = BACKOFF_FIRST;
    while !stop.load(Ordering::SeqCst) {
        match member.pull(&client, id, Some(cursor), HOLD_S) {
            Ok((posts, head)) => {
                backoff = BACKOFF_FIRST;
                let Ok(sub) = member.subscription(id) else { break };
                for post in posts.iter().filter(|p| addressed_to_me(&member, &sub, p)) {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    answer(&member, agent, &sub, &posts, post);
                }
                cursor = cursor.max(head);
            }
            Err(MemberError::NotJoined(_)) => break,
            Err(e) => {
                log::warn!("{}: room {id}: {e}; retrying in {} s", home.name(), backoff.as_secs());
                if sleep_unless_stopped(backoff, stop) {
                    break;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
}

/// Sleeps `total`, waking each second to see whether to stop; true when stopped.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) -> bool {
    let mut left = total;
    while !left.is_zero() {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        let step = left.min(Duration::from_secs(1));
        std::thread::sleep(step);
        left -= step;
    }
    stop.load(Ordering::SeqCst)
}

/// A new post by someone else, since this profile joined, that names it.
fn addressed_to_me(member: &Member, sub: &Subscription, post: &Post) -> bool {
    post.decrypted
        && !sub.paused
        && post.seq > sub.last_responded_seq
        && post.ts.as_str() >= sub.joined_at.as_str()
        && post.from != member.keys.identity().to_string()
        && mentions(&post.text).any(|id| id.eq_ignore_ascii_case(member.home.name().as_str()))
}

/// Every `@id` at the start of the text or after whitespace (the original's
/// `(?:^|\s)@([A-Za-z0-9_-]+)\b`).
pub fn mentions(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let id_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    (0..bytes.len()).filter_map(move |at| {
        if bytes[at] != b'@' || (at > 0 && !bytes[at - 1].is_ascii_whitespace()) {
            return None;
        }
        let mut end = at + 1 + bytes[at + 1..].iter().take_while(|&&b| id_char(b)).count();
        while end > at + 1 && bytes[end - 1] == b'-' {
            end -= 1;
        }
        (end > at + 1).then(|| &text[at + 1..end])
    })
}

/// Runs one turn on the mention and posts the answer; the mention counts as handled
/// either way, so a failing turn is not retried forever.
fn answer(member: &Member, agent: &dyn Agent, sub: &Subscription, posts: &[Post], post: &Post) {
    let name = member.home.name().to_string();
    let author = member.alias(&post.from);
    let earlier: Vec<&Post> = posts.iter().filter(|p| p.seq < post.seq && p.decrypted).collect();
    let context: Vec<String> = earlier[earlier.len().saturating_sub(CONTEXT_POSTS)..]
        .iter()
        .map(|p| format!("#{} {}: {}", p.seq, member.alias(&p.from), p.text))
        .collect();
    let prompt = format!(
        "You are {name}, a member of the workgroup \"{}\".{}\n{}\n{author} wrote (post #{}):\n{}\n\nReply with your post for the workgroup.",
        sub.name,
        if sub.briefing.is_empty() { String::new() } else { format!(" Briefing: {}", sub.briefing) },
        if context.is_empty() { String::new() } else { format!("Earlier posts:\n{}\n", context.join("\n")) },
        post.seq,
        post.text,
    );
    let request = AskRequest {
        peer_id: sub.hub_id.clone(),
        sender: sub.hub_pubkey.clone(),
        prompt,
        session_id: new_session_id(),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let answered = agent.ask(&request, &mut |_| {}, &cancel).map_err(|e| e.to_string()).and_then(|result| {
        let cost =
            Object::new().with("usd", result.cost).with("tokens", result.tokens_in + result.tokens_out);
        let text = result.text.trim();
        if text.is_empty() {
            Ok(0)
        } else {
            member.post(&sub.wg_id, text, Some(cost)).map(|(seq, _)| seq).map_err(|e| e.to_string())
        }
    });
    match answered {
        Ok(seq) => log::info!("{name}: answered #{} in {} (#{seq})", post.seq, sub.wg_id),
        Err(e) => log::warn!("{name}: no answer to #{} in {}: {e}", post.seq, sub.wg_id),
    }
    if let Err(e) = member.mark_responded(&sub.wg_id, post.seq) {
        log::warn!("{name}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn finds_every_mention() {
        let found: Vec<&str> = mentions("@raj @mia #task #pickup Friday, cc me@x.org @Jane-").collect();
        assert_eq!(found, ["raj", "mia", "Jane"], "`\\b` never ends on a trailing `-`");
        assert_eq!(mentions("@jane-, hi").collect::<Vec<_>>(), ["jane"]);
    }
}
