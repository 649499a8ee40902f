//! `mcp.servers` in config.yaml: per server a `command`, its `args`, extra `env`
//! (`env:NAME` values come from the profile's `.env` when the server is started, and
//! are never written down), timeouts, and `allow_local`.

use std::time::Duration;

use crate::json::Value;

use super::McpError;
use crate::profile::config::Config;
use crate::profile::dotenv::DotEnv;

/// How long a server may take to answer `initialize` (`npx -y` may be downloading it).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one tool call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest server name: it is part of tool names of at most 64 characters.
const MAX_SERVER_NAME: usize = 32;
const KEYS: &[&str] = &["command", "args", "env", "timeout_s", "startup_timeout_s", "allow_local"];

/// One server as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    /// Extra environment as written: `env:NAME` is looked up at start.
    pub env: Vec<(String, String)>,
    pub startup_timeout: Duration,
    pub call_timeout: Duration,
    /// URLs in its arguments may name local and private addresses.
    pub allow_local: bool,
}

/// A configured name and what its entry says, or what is wrong with it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub parsed: Result<ServerConfig, McpError>,
}

/// The environment a server gets on top of the safe basics, and the values to mask in
/// its log.
#[derive(Debug, Default)]
pub struct Resolved {
    pub vars: Vec<(String, String)>,
    pub secrets: Vec<String>,
}

/// Every `mcp.servers` entry in file order; none without an `mcp` section.
pub fn entries(config: &Config) -> Result<Vec<Entry>, McpError> {
    let Some(servers) = config.raw.as_ref().and_then(|r| r.get("mcp")).and_then(|m| m.get("servers")) else {
        return Ok(Vec::new());
    };
    let Value::Object(servers) = servers else {
        return Err(problem("mcp.servers", "must be a mapping of server names to settings"));
    };
    Ok(servers
        .iter()
        .map(|(name, body)| Entry { name: name.to_owned(), parsed: parse(name, body) })
        .collect())
}

fn parse(name: &str, body: &Value) -> Result<ServerConfig, McpError> {
    let key = format!("mcp.servers.{name}");
    let valid = !name.is_empty()
        && name.len() <= MAX_SERVER_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(problem(&key, "a server name is 1 to 32 letters, digits, `_` or `-`"));
    }
    let Value::Object(fields) = body else {
        return Err(problem(&key, "must be a mapping with at least `command`"));
    };
    if let Some((unknown, _)) = fields.iter().find(|(k, _)| !KEYS.contains(k)) {
        return Err(problem(&key, &format!("unknown key `{unknown}` (known: {})", KEYS.join(", "))));
    }
    let command = scalar(body.get("command")).filter(|c| !c.trim().is_empty());
    let command = command.ok_or_else(|| problem(&key, "`command` is missing"))?;
    Ok(ServerConfig {
        name: name.to_owned(),
        command: expand_home(&command),
        args: args(&key, body.get("args"))?,
        env: env(&key, body.get("env"))?,
        startup_timeout: seconds(&key, body.get("startup_timeout_s"), STARTUP_TIMEOUT)?,
        call_timeout: seconds(&key, body.get("timeout_s"), CALL_TIMEOUT)?,
        allow_local: body.get("allow_local").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn problem(key: &str, text: &str) -> McpError {
    McpError::Config { key: key.to_owned(), problem: text.to_owned() }
}

/// A string, number or boolean as text.
fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Bool(b) => Some(b.to_string()),
        other => crate::yaml::text_of(other),
    }
}

fn args(key: &str, value: Option<&Value>) -> Result<Vec<String>, McpError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let items = value.as_array().ok_or_else(|| problem(key, "`args` must be a list"))?;
    items
        .iter()
        .map(|item| scalar(Some(item)).map(|a| expand_home(&a)))
        .collect::<Option<_>>()
        .ok_or_else(|| problem(key, "`args` must hold strings"))
}

fn env(key: &str, value: Option<&Value>) -> Result<Vec<(String, String)>, McpError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let map = value.as_object().ok_or_else(|| problem(key, "`env` must be a mapping NAME: value"))?;
    map.iter()
        .map(|(k, v)| match scalar(Some(v)) {
            Some(v) if !k.is_empty() && !k.contains('=') => Ok((k.to_owned(), v)),
            _ => Err(problem(key, "`env` must map names to strings")),
        })
        .collect()
}

fn seconds(key: &str, value: Option<&Value>, default: Duration) -> Result<Duration, McpError> {
    let Some(value) = value else { return Ok(default) };
    match value.as_f64() {
        Some(s) if s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(problem(key, "timeouts are seconds, more than 0 and at most 3600")),
    }
}

fn expand_home(text: &str) -> String {
    match text.strip_prefix("~/") {
        Some(rest) => std::env::home_dir().unwrap_or_default().join(rest).display().to_string(),
        None => text.to_owned(),
    }
}

impl ServerConfig {
    /// The configured `env` with each `env:NAME` read from `.env` (the process
    /// environment wins, as for provider keys).
    pub fn resolve_env(&self, dotenv: &DotEnv) -> Result<Resolved, McpError> {
        let mut resolved = Resolved::default();
        for (name, value) in &self.env {
            let value = match value.strip_prefix("env:") {
                Some(var) => {
                    let secret = dotenv.get(var).ok_or_else(|| McpError::MissingSecret(var.to_owned()))?;
                    resolved.secrets.push(secret.clone());
                    secret
                }
                None => value.clone(),
            };
            resolved.vars.push((name.clone(), value));
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn entries_of(yaml: &str) -> Vec<Entry> {
        entries(&Config::parse(Path::new("c.yaml"), yaml).unwrap()).unwrap()
    }

    #[test]
    fn reads_servers_in_order_with_defaults() {
        let list = entries_of(
            "mcp:\n  servers:\n    files:\n      command: npx\n      args: [\"-y\", pkg, 3]\n    notes:\n      command: /bin/notes\n      env: {NOTES_TOKEN: \"env:NOTES_TOKEN\", MODE: fast}\n      timeout_s: 5\n      allow_local: true\n",
        );
        let files = list[0].parsed.as_ref().unwrap();
        assert_eq!((files.name.as_str(), files.command.as_str()), ("files", "npx"));
        assert_eq!(files.args, ["-y", "pkg", "3"]);
        assert_eq!((files.call_timeout, files.allow_local), (CALL_TIMEOUT, false));
        let notes = list[1].parsed.as_ref().unwrap();
        assert_eq!(notes.call_timeout, Duration::from_secs(5));
        assert!(notes.allow_local);
        let dotenv = DotEnv::parse("NOTES_TOKEN=s3cret-value\n");
        let resolved = notes.resolve_env(&dotenv).unwrap();
        assert_eq!(
            resolved.vars,
            [("NOTES_TOKEN".into(), "s3cret-value".into()), ("MODE".into(), "fast".into())]
        );
        assert_eq!(resolved.secrets, ["s3cret-value"]);
        assert_eq!(
            notes.resolve_env(&DotEnv::default()).unwrap_err(),
            McpError::MissingSecret("NOTES_TOKEN".into())
        );
    }

    #[test]
    fn misconfigured_entries_say_what_is_wrong() {
        let list = entries_of(
            "mcp:\n  servers:\n    a: {args: [x]}\n    b.c: {command: x}\n    d: {command: x, argz: []}\n    e: {command: x, timeout_s: 0}\n    f: {command: x, args: [[1]]}\n",
        );
        let errors: Vec<String> = list.iter().map(|e| e.parsed.as_ref().unwrap_err().to_string()).collect();
        assert_eq!(errors[0], "mcp.servers.a: `command` is missing");
        assert!(errors[1].contains("letters, digits"), "{}", errors[1]);
        assert!(errors[2].contains("unknown key `argz`"), "{}", errors[2]);
        assert!(errors[3].contains("timeouts"), "{}", errors[3]);
        assert!(errors[4].contains("`args` must hold strings"), "{}", errors[4]);
        let bad = Config::parse(Path::new("c.yaml"), "mcp: {servers: [x]}\n").unwrap();
        assert!(entries(&bad).is_err());
        assert!(entries_of("model: x\n").is_empty());
    }
}
