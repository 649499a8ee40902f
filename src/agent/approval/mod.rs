//! Terminal command approval: every command the agent's `terminal` tool would run is
//! classified Safe, Caution (ask the human) or Dangerous (always refused), then laid over
//! the allow-list, the deny-list and this session's answers. Pure: no I/O.
//!
//! The rules judge what a shell would run, not the text: `tokenize` parses the line,
//! `walk` visits every simple command (through `sudo`, `sh -c`, `$(…)`…), `rules` and
//! `paths` judge each one, and the worst finding wins.

mod paths;
mod policy;
mod rules;
mod tokenize;
mod walk;

use std::fmt;

pub use policy::{Decision, Policy, literal_pattern, log_line, wildcard};

/// Why the file tools must not touch `path` (SSH private keys, the profile's secret
/// keys, `.env` files, credential files), if they must not.
pub fn sensitive_path(path: &str) -> Option<String> {
    paths::secret_finding(path).filter(|f| f.severity == Severity::Dangerous).map(|f| f.reason.to_string())
}

/// How risky a command is; ordered, so the worst of several parts is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Runs without asking.
    Safe,
    /// Asks the approver; refused when there is none. The allow-list may let it run.
    Caution,
    /// Always refused: no flag, config or allow-list entry lets it run.
    Dangerous,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Safe => "safe",
            Severity::Caution => "caution",
            Severity::Dangerous => "dangerous",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the rules made of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub severity: Severity,
    /// The rule that decided, for humans: "recursive rm", "pipes a download into a shell".
    pub reason: String,
    /// The part of the command that triggered the rule (the whole command when safe).
    pub part: String,
}

/// Classifies `command` by the rules alone (no allow- or deny-list).
pub fn classify(command: &str) -> Verdict {
    walk::analyze(command).verdict
}

/// One rule's judgement of one part, before it is tied to that part's text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    severity: Severity,
    reason: String,
}

impl Finding {
    fn caution(reason: impl Into<String>) -> Self {
        Self { severity: Severity::Caution, reason: reason.into() }
    }

    fn dangerous(reason: impl Into<String>) -> Self {
        Self { severity: Severity::Dangerous, reason: reason.into() }
    }
}
