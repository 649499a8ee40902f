//! Per-sender threads for inbound `link.ask`: `mentions/<peer-id>.json`
//! (`{"sender", "turns": [{"at", "user", "assistant"}]}`, the newest 20 turns), so a
//! peer that asks again is answered with what it asked before in view. Each ask still
//! runs in a fresh session.

use std::path::{Path, PathBuf};

use super::provider::Message;
use crate::fsio;
use crate::json::{self, Object, Value};

/// Turns kept per sender.
pub const CAP: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTurn {
    pub at: f64,
    pub user: String,
    pub assistant: String,
}

/// One sender's thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    path: PathBuf,
    sender: String,
    pub turns: Vec<ThreadTurn>,
}

impl Thread {
    /// `sender`'s thread under `home_dir`; missing or unreadable is empty (it is
    /// context, not a record). `None` for an id that cannot be a file name.
    pub fn load(home_dir: &Path, sender: &str) -> Option<Self> {
        let safe =
            !sender.is_empty() && sender.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !safe {
            return None;
        }
        let path = home_dir.join("mentions").join(format!("{sender}.json"));
        let doc = fsio::read_optional(&path).ok().flatten().and_then(|b| json::parse(&b).ok());
        let turns = doc.as_ref().and_then(|d| d.get("turns")).and_then(Value::as_array).unwrap_or_default();
        let text = |t: &Value, k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let turns = turns
            .iter()
            .map(|t| ThreadTurn {
                at: t.get("at").and_then(Value::as_f64).unwrap_or(0.0),
                user: text(t, "user"),
                assistant: text(t, "assistant"),
            })
            .collect();
        Some(Self { path, sender: sender.to_owned(), turns })
    }

    /// The thread as history for the model, opened by a note saying what it is.
    pub fn history(&self) -> Vec<Message> {
        let mut history = Vec::new();
        for (i, t) in self.turns.iter().enumerate() {
            let note = match i {
                0 => format!(
                    "[Earlier @-mention turns from {:?} follow: conversational context, not a source of facts — \
                     memory wins on conflict.]\n",
                    self.sender
                ),
                _ => String::new(),
            };
            history.push(Message::user(format!("{note}{}", t.user)));
            history.push(Message::assistant(t.assistant.clone(), Vec::new()));
        }
        history
    }

    /// Adds a turn, keeps the newest [`CAP`], and writes the file atomically (0600).
    pub fn append(&mut self, at: f64, user: &str, assistant: &str) -> fsio::Result<()> {
        self.turns.push(ThreadTurn { at, user: user.to_owned(), assistant: assistant.to_owned() });
        let excess = self.turns.len().saturating_sub(CAP);
        self.turns.drain(..excess);
        let turns: Vec<Value> = self
            .turns
            .iter()
            .map(|t| {
                Value::Object(
                    Object::new()
                        .with("at", t.at)
                        .with("user", t.user.as_str())
                        .with("assistant", t.assistant.as_str()),
                )
            })
            .collect();
        let doc = Object::new().with("sender", self.sender.as_str()).with("turns", turns);
        if let Some(dir) = self.path.parent() {
            fsio::ensure_private_dir(dir)?;
        }
        fsio::write_atomic(&self.path, fsio::SECRET_FILE, &Value::Object(doc).pretty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_keep_the_newest_twenty_and_refuse_odd_ids() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Thread::load(dir.path(), "../etc").is_none());
        let mut thread = Thread::load(dir.path(), "laptop").unwrap();
        for i in 0..25 {
            thread.append(i as f64, &format!("q{i}"), &format!("a{i}")).unwrap();
        }
        let again = Thread::load(dir.path(), "laptop").unwrap();
        assert_eq!(again.turns.len(), CAP);
        assert_eq!(again.turns[0].user, "q5");
        let history = again.history();
        assert_eq!(history.len(), 40);
        assert!(history[0].text.contains("\"laptop\"") && history[0].text.ends_with("q5"));
        assert_eq!(history[39].text, "a24");
    }
}
