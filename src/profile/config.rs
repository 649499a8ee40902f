//! `config.yaml`: typed settings with defaults. Keys this build does not know are kept
//! in [`Config::raw`] and reported, never fatal; a malformed file is an error that
//! names the file, line and column.

use std::path::{Path, PathBuf};

use crate::fsio;
use crate::json::Value;
use crate::yaml::{self, Mark};

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

#[derive(Debug, Clone, Default, PartialEq)]
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
    pub raw: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budget {
    pub daily_usd: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    pub host: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alp {
    pub tcp_port: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audit {
    /// The pinned peer (its local id) that agent and approval records are pushed to.
    pub hub: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
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
        let malformed = |at: Mark, message: String| Error::Malformed {
            path: path.to_owned(),
            line: at.line,
            column: at.column,
            message,
        };
        let document = yaml::parse_document(text.as_bytes()).map_err(|e| malformed(e.at, e.reason.into()))?;
        let mut config = Settings(&document).read().map_err(|(at, message)| malformed(at, message))?;
        config.raw = Some(document.value).filter(|v| !v.is_null());
        Ok(config)
    }

    /// Dotted paths of the keys present in the file that this build does not use.
    pub fn unknown_keys(&self) -> Vec<String> {
        let Some(Value::Object(top)) = &self.raw else {
            return Vec::new();
        };
        let mut unknown = Vec::new();
        for (key, value) in top.iter() {
            match KNOWN.iter().find(|(k, _)| *k == key) {
                None => unknown.push(key.to_owned()),
                Some((_, children)) if children.contains(&"*") => {}
                Some((_, children)) => {
                    if let Value::Object(section) = value {
                        unknown.extend(
                            section
                                .iter()
                                .filter(|(k, _)| !children.contains(k))
                                .map(|(k, _)| format!("{key}.{k}")),
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

/// The typed settings of a parsed file; a value of the wrong kind is an error that
/// points at it.
struct Settings<'a>(&'a yaml::Document);

type Misfit = (Mark, String);

impl Settings<'_> {
    fn read(&self) -> Result<Config, Misfit> {
        Ok(Config {
            model: self.text(&["model"])?,
            workspace: self.text(&["workspace"])?,
            budget: Budget { daily_usd: self.number(&["budget", "daily_usd"])? },
            network: Network { host: self.text(&["network", "host"])? },
            alp: Alp { tcp_port: self.port(&["alp", "tcp_port"])? },
            audit: Audit { hub: self.text(&["audit", "hub"])? },
            logging: Logging { syslog: self.text(&["logging", "syslog"])? },
            providers: self.get(&["providers"])?.cloned(),
            raw: None,
        })
    }

    /// The value at `path`; `None` when it, or a section above it, is missing or null.
    fn get(&self, path: &[&str]) -> Result<Option<&Value>, Misfit> {
        let mut node = &self.0.value;
        for (depth, key) in path.iter().enumerate() {
            node = match node {
                Value::Object(section) => match section.get(key) {
                    Some(value) => value,
                    None => return Ok(None),
                },
                Value::Null => return Ok(None),
                _ => return Err(self.misfit(&path[..depth], "a mapping")),
            };
        }
        Ok(Some(node).filter(|v| !v.is_null()))
    }

    fn misfit(&self, path: &[&str], expected: &str) -> Misfit {
        let at = self.0.mark(path).unwrap_or(Mark { line: 1, column: 1 });
        let name = if path.is_empty() { "the file".to_owned() } else { path.join(".") };
        (at, format!("{name}: expected {expected}"))
    }

    /// Text, or a number or boolean as written.
    fn text(&self, path: &[&str]) -> Result<String, Misfit> {
        match self.get(path)? {
            None => Ok(String::new()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(value) => yaml::text_of(value).ok_or_else(|| self.misfit(path, "text")),
        }
    }

    fn number(&self, path: &[&str]) -> Result<Option<f64>, Misfit> {
        self.get(path)?.map(|v| v.as_f64().ok_or_else(|| self.misfit(path, "a number"))).transpose()
    }

    fn port(&self, path: &[&str]) -> Result<Option<u16>, Misfit> {
        let port = |v: &Value| v.as_u64().and_then(|n| u16::try_from(n).ok());
        self.get(path)?
            .map(|v| port(v).ok_or_else(|| self.misfit(path, "a port number (0 to 65535)")))
            .transpose()
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

    #[test]
    fn values_of_the_wrong_kind_are_errors_where_they_stand() {
        let message = |text: &str| match parse(text).unwrap_err() {
            Error::Malformed { line, column, message, .. } => format!("{line}:{column}: {message}"),
            other => panic!("{other}"),
        };
        assert_eq!(
            message("model: x\nalp:\n  tcp_port: lots\n"),
            "3:13: alp.tcp_port: expected a port number (0 to 65535)"
        );
        assert_eq!(
            message("alp: {tcp_port: 70000}"),
            "1:17: alp.tcp_port: expected a port number (0 to 65535)"
        );
        assert_eq!(message("budget: 5\n"), "1:9: budget: expected a mapping");
        assert_eq!(message("budget:\n  daily_usd: '2'\n"), "2:14: budget.daily_usd: expected a number");
        assert_eq!(message("model: [a]\n"), "1:8: model: expected text");
        assert_eq!(message("- model: x\n"), "1:1: the file: expected a mapping");
    }

    #[test]
    fn scalars_read_as_text_and_nulls_as_defaults() {
        let c = parse("model: 123\nworkspace: true\nnetwork:\nbudget: {daily_usd: ~}\nalp: {tcp_port: null}\nproviders:\n")
            .unwrap();
        assert_eq!((c.model.as_str(), c.workspace.as_str()), ("123", "true"));
        assert_eq!((c.network.host.as_str(), c.budget.daily_usd, c.alp.tcp_port), ("", None, None));
        assert_eq!(c.providers, None);
    }
}
