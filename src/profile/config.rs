//! `config.yaml`: typed settings with defaults. Keys this build does not know are kept
//! in [`Config::raw`] and reported, never fatal; a malformed file is an error that
//! names the file, line and column.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

use crate::fsio;

/// Written into a new profile: every key is optional.
pub const TEMPLATE: &str = "\
# alpi profile settings — docs/config.md lists every key.
# model: openai/gpt-4o-mini     # provider/model; the key goes in .env (OPENAI_API_KEY=…)
# workspace: ~/work             # where the agent's file tools may work
# budget:
#   daily_usd: 1.00             # stop spending for the day past this
# network:
#   host: 100.64.0.2            # address ALP.2 listens on (none by default)
# alp:
#   tcp_port: 7423
";

/// Port ALP.2 listens on for the default profile unless `alp.tcp_port` says otherwise.
pub const DEFAULT_TCP_PORT: u16 = 7423;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// `provider/model`, empty when none is configured.
    pub model: String,
    pub workspace: String,
    pub budget: Budget,
    pub network: Network,
    pub alp: Alp,
    pub audit: Audit,
    pub logging: Logging,
    /// Provider connection lists, read by the agent layer.
    pub providers: Option<Value>,
    /// The whole document as read, unknown keys included.
    #[serde(skip)]
    pub raw: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Budget {
    pub daily_usd: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Network {
    pub host: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Alp {
    pub tcp_port: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Audit {
    /// The pinned peer (its local id) that agent and approval records are pushed to.
    pub hub: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Logging {
    /// `tcp://host:port` of a syslog server that receives the same records (RFC 5424).
    pub syslog: String,
}

/// Keys this build reads, as dotted paths; sections list their children.
const KNOWN: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("workspace", &[]),
    ("budget", &["daily_usd"]),
    ("network", &["host"]),
    ("alp", &["tcp_port"]),
    ("audit", &["hub"]),
    ("logging", &["syslog"]),
    ("gateway", &["imap"]),
    ("providers", &["*"]),
    ("pricing", &["*"]),
    ("tools", &["deny", "terminal", "web_fetch", "max_steps_per_turn", "budget"]),
    ("fallback_models", &[]),
    ("mcp", &["servers"]),
    (
        "runtime",
        &[
            "first_byte_timeout_s",
            "stream_idle_timeout_s",
            "stream_max_duration_s",
            "max_retries",
            "retry_backoff_s",
        ],
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}:{column}: {message} — fix the file, or move it aside to start from defaults", path.display())]
    Malformed { path: PathBuf, line: usize, column: usize, message: String },
    #[error(transparent)]
    Io(#[from] fsio::Error),
}

impl Config {
    /// Reads `path`; a missing or empty file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, Error> {
        match fsio::read_optional(path)? {
            Some(bytes) => Self::parse(path, &String::from_utf8_lossy(&bytes)),
            None => Ok(Self::default()),
        }
    }

    /// Parses `text` as the contents of `path` (the path is for error messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let malformed = |e: serde_norway::Error| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
            Error::Malformed { path: path.to_owned(), line, column, message: strip_location(&e) }
        };
        let typed: Option<Config> = serde_norway::from_str(text).map_err(malformed)?;
        let raw: Option<Value> = serde_norway::from_str(text).map_err(malformed)?;
        let mut config = typed.unwrap_or_default();
        config.raw = raw.filter(|v| !v.is_null());
        Ok(config)
    }

    /// Dotted paths of the keys present in the file that this build does not use.
    pub fn unknown_keys(&self) -> Vec<String> {
        let Some(Value::Mapping(top)) = &self.raw else {
            return Vec::new();
        };
        let mut unknown = Vec::new();
        for (key, value) in top {
            let key = key_text(key);
            match KNOWN.iter().find(|(k, _)| *k == key) {
                None => unknown.push(key),
                Some((_, children)) if children.contains(&"*") => {}
                Some((_, children)) => {
                    if let Value::Mapping(section) = value {
                        unknown.extend(
                            section
                                .keys()
                                .map(key_text)
                                .filter(|k| !children.contains(&k.as_str()))
                                .map(|k| format!("{key}.{k}")),
                        );
                    }
                }
            }
        }
        unknown
    }

    /// The ALP.2 port: `alp.tcp_port`, else 7423 for the default profile, else none.
    pub fn tcp_port(&self, is_default_profile: bool) -> Option<u16> {
        self.alp.tcp_port.or(is_default_profile.then_some(DEFAULT_TCP_PORT))
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other).unwrap_or_default().trim_end().to_owned(),
    }
}

/// serde_norway appends " at line L column C"; the error already carries both.
fn strip_location(e: &serde_norway::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(Path::new("/p/config.yaml"), text)
    }

    #[test]
    fn empty_and_comment_only_files_give_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse(TEMPLATE).unwrap(), Config::default());
        assert_eq!(Config::default().tcp_port(true), Some(7423));
        assert_eq!(Config::default().tcp_port(false), None);
    }

    #[test]
    fn reads_known_keys() {
        let c = parse(
            "model: openai/gpt-4o-mini\nbudget: {daily_usd: 2}\nnetwork: {host: 100.64.0.2}\nalp: {tcp_port: 7500}\n",
        )
        .unwrap();
        assert_eq!(c.model, "openai/gpt-4o-mini");
        assert_eq!(c.budget.daily_usd, Some(2.0));
        assert_eq!(c.network.host, "100.64.0.2");
        assert_eq!(c.tcp_port(false), Some(7500));
        assert!(c.unknown_keys().is_empty());
    }

    #[test]
    fn unknown_keys_are_kept_and_listed() {
        let c = parse("model: x\ntheme: dark\nbudget: {daily_usd: 1, weekly: 3}\nproviders: {ollama: []}\n")
            .unwrap();
        assert_eq!(c.unknown_keys(), ["theme", "budget.weekly"]);
        let raw = c.raw.unwrap();
        assert_eq!(raw.get("theme").and_then(Value::as_str), Some("dark"));
    }

    #[test]
    fn malformed_file_names_file_line_and_column() {
        let err = parse("model: x\nbudget:\n  daily_usd: [1\n").unwrap_err().to_string();
        assert!(err.starts_with("/p/config.yaml:"), "{err}");
        assert!(!err.contains(" at line "), "{err}");
        let wrong_type = parse("model: x\nalp:\n  tcp_port: lots\n").unwrap_err().to_string();
        assert!(wrong_type.starts_with("/p/config.yaml:3:"), "{wrong_type}");
    }
}
