//! MCP servers' tools next to the built-in ones: offered as `mcp__<server>__<tool>`,
//! gated as `<server>.<tool>` or `mcp:<server>`, their arguments held to the rules the
//! file tools and `web_fetch` follow (no secret files, no local or private addresses
//! unless allowed), their results capped like any tool's by the caller.

use super::{Gate, Outcome, ToolEnv, files};
use crate::agent::mcp::Toolbox;
use crate::agent::mcp::protocol::PREFIX;
use crate::agent::provider::ToolSpec;
use crate::json::{Object, Value};

/// Argument names whose string values are taken as paths whatever they look like.
const PATH_KEYS: &[&str] = &["path", "file", "dir", "folder", "root", "source", "destination", "target"];
/// Longer strings are content, not paths.
const MAX_PATH_CHARS: usize = 4096;

/// Whether `name` is an MCP tool's name as the model sees it.
pub fn is_mcp(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// The specs of the toolbox's tools the gate lets the model see.
pub fn specs(toolbox: &Toolbox, gate: &Gate) -> Vec<ToolSpec> {
    toolbox
        .tools()
        .iter()
        .filter(|t| gate.offers(&t.gate_name()))
        .map(|t| ToolSpec {
            name: t.exposed.clone(),
            description: format!("[MCP server {}] {}", t.server, t.description),
            parameters: t.schema.clone(),
        })
        .collect()
}

/// Runs the MCP tool the model called `name`.
pub fn run(name: &str, args: Object, env: &ToolEnv<'_>) -> Outcome {
    let Some((toolbox, tool)) = env.mcp.as_ref().and_then(|t| Some((t, t.find(name)?))) else {
        return Outcome::fail(format!("there is no tool called {name}"));
    };
    if let Err(refusal) = env.gate.check(&tool.gate_name(), "") {
        return Outcome::fail(refusal);
    }
    let allow_local = toolbox.allows_local(&tool.server) || env.fetch_filter.is_none();
    if let Err(refusal) = screen(&Value::Object(args.clone()), "", env, allow_local, &tool.server) {
        return Outcome::fail(refusal);
    }
    match toolbox.call(tool, args, env.cancel.as_deref()) {
        Ok(result) if result.is_error => Outcome::fail(result.text),
        Ok(result) => Outcome::ok(result.text),
        Err(e) => Outcome::fail(format!("MCP server {}: {e}", tool.server)),
    }
}

/// Refuses what the built-in tools would: a path-like string naming a secret file, a
/// URL leading to a local or private address. `key` is the argument holding `value`.
fn screen(
    value: &Value,
    key: &str,
    env: &ToolEnv<'_>,
    allow_local: bool,
    server: &str,
) -> Result<(), String> {
    match value {
        Value::Object(fields) => fields.iter().try_for_each(|(k, v)| screen(v, k, env, allow_local, server)),
        Value::Array(items) => items.iter().try_for_each(|v| screen(v, key, env, allow_local, server)),
        Value::String(text) if is_url(text) => match allow_local {
            true => Ok(()),
            false => local_address(text, env).map_or(Ok(()), |ip| {
                Err(format!(
                    "refused: {text} leads to a local or private address ({ip}); set \
                     mcp.servers.{server}.allow_local to allow it"
                ))
            }),
        },
        Value::String(text) if path_like(key, text) => {
            let path = text.strip_prefix("file://").unwrap_or(text);
            files::resolve(env, path).map(drop).map_err(|refusal| refusal.text)
        }
        _ => Ok(()),
    }
}

fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn path_like(key: &str, text: &str) -> bool {
    if text.is_empty() || text.contains('\n') || text.chars().count() > MAX_PATH_CHARS {
        return false;
    }
    let key = key.to_ascii_lowercase();
    ["/", "~/", "./", "../", "file://"].iter().any(|p| text.starts_with(p))
        || PATH_KEYS.iter().any(|k| key.contains(k))
}

/// The first address `url`'s host resolves to that the fetch filter refuses.
fn local_address(url: &str, env: &ToolEnv<'_>) -> Option<std::net::IpAddr> {
    let filter = env.fetch_filter?;
    let (host, port) = host_and_port(url)?;
    let addresses = crate::net::dns::resolve(host, port).ok()?;
    addresses.into_iter().map(|a| a.ip()).find(|ip| !filter(*ip))
}

/// The host and port of an `http(s)://` URL (userinfo dropped, IPv6 unbracketed).
fn host_and_port(url: &str) -> Option<(&str, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let default = if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_port() {
        assert_eq!(host_and_port("http://127.0.0.1:8080/x"), Some(("127.0.0.1", 8080)));
        assert_eq!(host_and_port("https://user:pw@example.org?q"), Some(("example.org", 443)));
        assert_eq!(host_and_port("http://[::1]/"), Some(("::1", 80)));
        assert_eq!(host_and_port("http:///nohost"), None);
    }

    #[test]
    fn paths_by_shape_or_by_argument_name() {
        assert!(path_like("anything", "/etc/passwd") && path_like("x", "~/.ssh/id_ed25519"));
        assert!(path_like("filePath", "notes.md") && path_like("paths", ".env"));
        assert!(!path_like("message", "see .env") && !path_like("content", "/a\n/b"));
    }
}
