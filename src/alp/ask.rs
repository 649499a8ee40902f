//! Asking another agent: `link.ask` to a pinned peer, streamed, and the one-line
//! explanation of a failed call (offline, unverified, refused…) every surface shows —
//! `alpi peers ping`, `@peer` in the chat, the agent's `peer` tool.

use std::time::Duration;

use super::client::{CallError, Client, Route};
use super::identity::Keypair;
use super::methods::{ASK, AskResult};
use super::peers::{Peer, PeerFiles};
use crate::json::{Object, Value};
use crate::profile::{ProfileHome, tilde};

/// How long a streamed ask may stay silent: the peer sends a progress frame every 15 s.
pub const ASK_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A peer's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Asked {
    pub result: AskResult,
    pub session_id: String,
}

/// The pinned peer called `id`, or a line saying how to see who is pinned.
pub fn pinned(home: &ProfileHome, id: &str) -> Result<Peer, String> {
    let files = PeerFiles::new(&home.dir().join("alp"));
    let peers = files.load().map_err(|e| e.to_string())?;
    peers
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| format!("no peer called {id:?} — `alpi peers list` shows the pinned ones"))
}

/// Asks `peer` to run a turn on `prompt`; its answer streams into `on_text`.
pub fn ask(
    home: &ProfileHome,
    peer: &Peer,
    prompt: &str,
    on_text: &mut dyn FnMut(&str),
) -> Result<Asked, String> {
    let (keys, _) = home.keys().load_or_create().map_err(|e| e.to_string())?;
    let route = Route::for_peer(peer, home.root());
    let params = Object::new().with("prompt", prompt).with("stream", true);
    let client = Client::new(&keys);
    let reply = client.call(peer, &route, ASK, params, ASK_IDLE_TIMEOUT, &mut |chunk| {
        if let Some(text) = chunk.get("text").and_then(Value::as_str) {
            on_text(text);
        }
    });
    let reply = reply.map_err(|e| explain_failure(home, &keys, peer, &route, e))?;
    let r = &reply.result;
    let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let count = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(Asked {
        result: AskResult {
            text: text("text"),
            tokens_in: count("tokens_in"),
            tokens_out: count("tokens_out"),
            cost: r.get("cost").and_then(Value::as_f64).unwrap_or(0.0),
            interrupted: r.get("interrupted").and_then(Value::as_bool).unwrap_or(false),
        },
        session_id: text("session_id"),
    })
}

/// Which of offline / unverified / refused happened, and what to try.
pub fn explain_failure(
    home: &ProfileHome,
    keys: &Keypair,
    peer: &Peer,
    route: &Route,
    e: CallError,
) -> String {
    let id = &peer.id;
    match e {
        CallError::Offline(at) => {
            format!(
                "{id} is offline: nothing listening at {} — is `alpi daemon run` running there?",
                tilde(std::path::Path::new(&at))
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
        "target-busy" => " — it is running another turn; try again in a moment",
        _ => "",
    }
}

/// The first `@id` in `text` (at the start or after whitespace) naming a pinned peer,
/// with the prompt that remains once the mention is taken out — the original's
/// `(?:^|\s)@([A-Za-z0-9_-]+)\b`.
pub fn mention<'a>(text: &'a str, is_peer: &dyn Fn(&str) -> bool) -> Option<(&'a str, String)> {
    let bytes = text.as_bytes();
    let at =
        (0..bytes.len()).find(|&i| bytes[i] == b'@' && (i == 0 || bytes[i - 1].is_ascii_whitespace()))?;
    let id_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    let run = bytes[at + 1..].iter().take_while(|b| id_char(b)).count();
    // `\b` after the id: it cannot end on `-` when more text follows it.
    let mut end = at + 1 + run;
    while end > at + 1 && bytes[end - 1] == b'-' && end < bytes.len() {
        end -= 1;
    }
    let id = &text[at + 1..end];
    if id.is_empty() || !is_peer(id) {
        return None;
    }
    let (before, after) = (text[..at].trim_end(), text[end..].trim_start());
    let prompt = match (before.is_empty(), after.is_empty()) {
        (false, false) => format!("{before} {after}"),
        _ => format!("{before}{after}"),
    };
    (!prompt.is_empty()).then_some((id, prompt))
}

#[cfg(test)]
mod tests {
    use super::mention;

    #[test]
    fn mentions_follow_the_originals_pattern() {
        let known = |id: &str| matches!(id, "researcher" | "pi");
        assert_eq!(mention("@researcher find X", &known), Some(("researcher", "find X".into())));
        assert_eq!(mention("ask @pi  about disk", &known), Some(("pi", "ask about disk".into())));
        assert_eq!(mention("mail me@pi today", &known), None, "not after whitespace");
        assert_eq!(mention("@stranger hello", &known), None, "unknown ids fall through to the model");
        assert_eq!(mention("@researcher", &known), None, "nothing to ask");
        assert_eq!(mention("@pi, how are you", &known), Some(("pi", ", how are you".into())));
    }
}
