//! Which tools a turn may use: the profile's `tools.deny`, and for an inbound
//! `link.ask` the asking peer's `tools.allow` — tool names, `*` patterns, or
//! `tool:action` to allow one action of a tool (`memory:read`, `terminal:status`).
//! An MCP server's tool is named `<server>.<tool>` here (built-in names have no dot),
//! and `mcp:<server>` (a pattern too) names all of a server's tools.

use crate::agent::approval::wildcard;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// `tools.deny`: never offered, refused if called anyway.
    pub deny: Vec<String>,
    /// A peer's `tools.allow`; `None` is no limit.
    pub allow: Option<Vec<String>>,
}

impl Gate {
    pub fn deny(deny: Vec<String>) -> Self {
        Self { deny, allow: None }
    }

    fn denied(&self, name: &str) -> bool {
        self.deny.iter().any(|d| names_server(d, name).unwrap_or_else(|| wildcard(d, name)))
    }

    /// The actions of `name` an allow-list permits: `None` all of them.
    fn allowed_actions<'a>(allow: &'a [String], name: &str) -> Option<Vec<&'a str>> {
        let mut actions = Vec::new();
        for entry in allow {
            match names_server(entry, name) {
                Some(true) => return None,
                Some(false) => continue,
                None => {}
            }
            let (tool, action) = entry.split_once(':').map_or((entry.as_str(), None), |(t, a)| (t, Some(a)));
            if wildcard(tool, name) {
                match action {
                    None => return None,
                    Some(a) => actions.push(a),
                }
            }
        }
        Some(actions)
    }

    /// Whether the model is offered `name` at all.
    pub fn offers(&self, name: &str) -> bool {
        !self.denied(name)
            && self
                .allow
                .as_deref()
                .is_none_or(|allow| Self::allowed_actions(allow, name).is_none_or(|a| !a.is_empty()))
    }

    /// Whether a call of `name` doing `action` may run; the refusal tells the model why.
    pub fn check(&self, name: &str, action: &str) -> Result<(), String> {
        if self.denied(name) {
            return Err(format!("the {name} tool is turned off here (tools.deny)"));
        }
        let Some(allow) = &self.allow else { return Ok(()) };
        match Self::allowed_actions(allow, name) {
            None => Ok(()),
            Some(actions) if actions.is_empty() => {
                Err(format!("the {name} tool is not among the tools the asking peer may use (tools.allow)"))
            }
            Some(actions) if actions.contains(&action) => Ok(()),
            Some(_) => Err(format!("{name}:{action} is not allowed for the asking peer (tools.allow)")),
        }
    }
}

/// For an `mcp:<server>` entry, whether it covers `name` (an MCP tool of that server);
/// `None` for any other entry.
fn names_server(entry: &str, name: &str) -> Option<bool> {
    let server = entry.strip_prefix("mcp:")?;
    Some(name.split_once('.').is_some_and(|(of, _)| wildcard(server, of)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_and_allow_with_patterns_and_actions() {
        let gate = Gate {
            deny: vec!["web_*".into()],
            allow: Some(vec!["read_*".into(), "memory:read".into(), "web_fetch".into()]),
        };
        assert!(gate.offers("read_file") && gate.offers("memory"));
        assert!(!gate.offers("terminal") && !gate.offers("web_fetch"), "deny wins over allow");
        assert_eq!(gate.check("read_file", ""), Ok(()));
        assert_eq!(gate.check("memory", "read"), Ok(()));
        assert!(gate.check("memory", "add").unwrap_err().contains("memory:add"));
        assert!(gate.check("terminal", "run").unwrap_err().contains("tools.allow"));
        assert!(gate.check("web_fetch", "").unwrap_err().contains("tools.deny"));
        let none = Gate { deny: vec![], allow: Some(vec![]) };
        assert!(!none.offers("read_file") && none.check("read_file", "").is_err());
        assert!(Gate::default().offers("terminal"));
    }

    #[test]
    fn mcp_tools_by_server_dot_tool_or_whole_server() {
        let gate = Gate::deny(vec!["files.write_file".into(), "mcp:not*".into()]);
        assert!(gate.offers("files.read_file") && !gate.offers("files.write_file"));
        assert!(!gate.offers("notes.search") && gate.offers("terminal"));
        assert!(gate.check("notes.search", "").unwrap_err().contains("tools.deny"));
        let peer = Gate {
            deny: vec![],
            allow: Some(vec!["mcp:files".into(), "every.echo".into(), "read_file".into()]),
        };
        assert!(peer.offers("files.anything") && peer.offers("every.echo") && peer.offers("read_file"));
        assert!(!peer.offers("every.add") && !peer.offers("terminal") && !peer.offers("mcp"));
        assert!(peer.check("every.add", "").unwrap_err().contains("tools.allow"));
        let star = Gate { deny: vec![], allow: Some(vec!["*".into()]) };
        assert!(star.offers("files.read_file"), "`*` allows everything, MCP tools too");
    }
}
