//! A chat session on disk: `sessions/<id>.json` in the original alpi's schema (v3),
//! rewritten atomically after every turn with secret-shaped strings redacted.

use std::path::{Path, PathBuf};

use super::redact::redact;
use crate::fsio;
use crate::json::{self, Object, Value};

pub const SCHEMA_VERSION: i64 = 3;
/// Longest user or assistant text kept per turn, in bytes.
pub const TEXT_CAP: usize = 64 * 1024;
/// Longest tool result kept per call, in characters.
pub const RESULT_CAP: usize = 400;

/// One tool call within a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolLog {
    pub at: f64,
    pub name: String,
    pub args: String,
    pub result: String,
    pub ok: bool,
    pub duration_s: f64,
}

/// One exchange: what the user said, what the agent answered, the tools in between.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    pub at: f64,
    pub user: String,
    pub assistant: String,
    pub tools: Vec<ToolLog>,
    pub interrupted: bool,
}

/// A session and its running totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub model: String,
    pub started_at: f64,
    pub elapsed: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub last_ctx_tokens: u64,
    pub turns: Vec<Turn>,
}

/// A session file found on disk, not yet read.
#[derive(Debug, Clone)]
pub struct Saved {
    pub id: String,
    pub path: PathBuf,
    /// When it was last written: sessions are rewritten after every turn.
    pub modified: std::time::SystemTime,
}

impl Saved {
    pub fn load(&self) -> Result<Session, String> {
        Session::load(&self.path)
    }
}

/// The sessions in `sessions_dir`, newest first, by file time: listing and resuming
/// read only the few files they show, however long the history.
pub fn saved(sessions_dir: &Path) -> Vec<Saved> {
    let mut all: Vec<Saved> = std::fs::read_dir(sessions_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".json")?.to_owned();
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some(Saved { id, path: entry.path(), modified })
        })
        .collect();
    all.sort_by(|a, b| b.modified.cmp(&a.modified).then_with(|| b.id.cmp(&a.id)));
    all
}

impl Session {
    pub fn new(id: &str, model: &str, started_at: f64) -> Self {
        Self {
            id: id.to_owned(),
            model: model.to_owned(),
            started_at,
            elapsed: 0.0,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            last_ctx_tokens: 0,
            turns: Vec::new(),
        }
    }

    /// `<sessions dir>/<id>.json`.
    pub fn path_in(&self, sessions_dir: &Path) -> PathBuf {
        sessions_dir.join(format!("{}.json", self.id))
    }

    /// Writes the session (nothing while it has no turn), atomically, 0600.
    pub fn save(&self, sessions_dir: &Path) -> fsio::Result<Option<PathBuf>> {
        if self.turns.is_empty() {
            return Ok(None);
        }
        fsio::ensure_private_dir(sessions_dir)?;
        let path = self.path_in(sessions_dir);
        fsio::write_atomic(&path, fsio::SECRET_FILE, &Value::Object(self.to_object()).pretty())?;
        Ok(Some(path))
    }

    fn to_object(&self) -> Object {
        Object::new()
            .with("schema_version", SCHEMA_VERSION)
            .with("id", self.id.as_str())
            .with("model", self.model.as_str())
            .with("started_at", self.started_at)
            .with("elapsed", self.elapsed)
            .with("input_tokens", self.input_tokens)
            .with("output_tokens", self.output_tokens)
            .with("cost_usd", self.cost_usd)
            .with("last_ctx_tokens", self.last_ctx_tokens)
            .with("turns", self.turns.iter().map(|t| Value::Object(turn_object(t))).collect::<Vec<_>>())
    }

    /// Reads a session file (ours or the original's); unknown fields are ignored.
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc = json::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let count = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let turns = doc.get("turns").and_then(Value::as_array).unwrap_or_default();
        Ok(Self {
            id: text(&doc, "id"),
            model: text(&doc, "model"),
            started_at: num(&doc, "started_at"),
            elapsed: num(&doc, "elapsed"),
            input_tokens: count(&doc, "input_tokens"),
            output_tokens: count(&doc, "output_tokens"),
            cost_usd: num(&doc, "cost_usd"),
            last_ctx_tokens: count(&doc, "last_ctx_tokens"),
            turns: turns
                .iter()
                .map(|t| Turn {
                    at: num(t, "at"),
                    user: text(t, "user"),
                    assistant: text(t, "assistant"),
                    interrupted: t.get("interrupted").and_then(Value::as_bool).unwrap_or(false),
                    tools: t
                        .get("tools")
                        .and_then(Value::as_array)
                        .unwrap_or_default()
                        .iter()
                        .map(|l| ToolLog {
                            at: num(l, "at"),
                            name: text(l, "name"),
                            args: l
                                .get("args")
                                .map(|a| {
                                    a.as_str()
                                        .map(str::to_owned)
                                        .unwrap_or_else(|| String::from_utf8_lossy(&a.wire()).into_owned())
                                })
                                .unwrap_or_default(),
                            result: text(l, "result"),
                            ok: l.get("ok").and_then(Value::as_bool).unwrap_or(false),
                            duration_s: num(l, "duration_s"),
                        })
                        .collect(),
                })
                .collect(),
        })
    }
}

fn turn_object(t: &Turn) -> Object {
    let mut row = Object::new()
        .with("at", t.at)
        .with("user", clip_bytes(&redact(&t.user), TEXT_CAP))
        .with("assistant", clip_bytes(&redact(&t.assistant), TEXT_CAP))
        .with(
            "tools",
            t.tools
                .iter()
                .map(|l| {
                    Value::Object(
                        Object::new()
                            .with("at", l.at)
                            .with("name", l.name.as_str())
                            .with("status", if l.ok { "ok" } else { "failed" })
                            .with("ok", l.ok)
                            .with("duration_s", (l.duration_s * 1000.0).round() / 1000.0)
                            .with("args", redact(&l.args).into_owned())
                            .with("result", clip_chars(&redact(&l.result), RESULT_CAP)),
                    )
                })
                .collect::<Vec<_>>(),
        );
    if t.interrupted {
        row.insert("interrupted", true);
    }
    row
}

fn clip_bytes(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_owned();
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn clip_chars(text: &str, cap: usize) -> String {
    match text.char_indices().nth(cap) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_redacted_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Session::new("0123456789ab", "openai/gpt-4o-mini", 1_767_225_600.5);
        assert_eq!(s.save(dir.path()).unwrap(), None, "no file before the first turn");
        s.turns.push(Turn {
            at: 1_767_225_601.0,
            user: "my key is sk-proj-abcdefghijklmnopqrstu".into(),
            assistant: "noted".into(),
            tools: vec![ToolLog {
                at: 1_767_225_601.2,
                name: "read_file".into(),
                args: r#"{"path":"notes.md"}"#.into(),
                result: "x".repeat(1000),
                ok: true,
                duration_s: 0.01234,
            }],
            interrupted: false,
        });
        s.input_tokens = 10;
        s.cost_usd = 0.002;
        let path = s.save(dir.path()).unwrap().unwrap();
        assert_eq!(fsio::mode_of(&path), Some(0o600));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": 3,\n  \"id\": \"0123456789ab\""), "{text}");
        assert!(!text.contains("sk-proj-abcdef") && text.contains("[REDACTED]"));
        let back = Session::load(&path).unwrap();
        assert_eq!(back.turns[0].tools[0].result.chars().count(), RESULT_CAP + 1);
        assert_eq!(back.turns[0].tools[0].duration_s, 0.012);
        assert_eq!(back.input_tokens, 10);
    }

    #[test]
    fn loads_a_session_written_by_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.json");
        let original = r#"{"schema_version": 3, "id": "abcdefabcdef", "model": "anthropic/claude-sonnet-4", "connection_id": null,
            "started_at": 1767225600.0, "elapsed": 12.5, "input_tokens": 100, "cached_input_tokens": 0, "output_tokens": 20,
            "cost_usd": 0.01, "last_ctx_tokens": 120, "turns": [{"at": 1767225601.0, "user": "hi", "assistant": "hello",
            "tools": [{"at": 1767225601.5, "name": "terminal", "status": "ok", "ok": true, "duration_s": 0.2, "args": {"command": "ls"}, "result": "a\nb"}]}]}"#;
        std::fs::write(&path, original).unwrap();
        let s = Session::load(&path).unwrap();
        assert_eq!(
            (s.id.as_str(), s.turns.len(), s.turns[0].tools[0].name.as_str()),
            ("abcdefabcdef", 1, "terminal")
        );
        assert_eq!(s.turns[0].tools[0].args, r#"{"command":"ls"}"#);
    }
}
