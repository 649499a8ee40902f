//! The approval policy over the rules: `tools.terminal.approval.deny` refuses any command
//! with a part it matches; `allow` and this session's answers turn Caution into Run, never
//! Dangerous. Also the `logs/approval.log` line for each decision that was not plain.

use super::walk::{self, Analysis};
use super::{Severity, Verdict};

pub const DENIED: &str = "denied by tools.terminal.approval.deny";
/// Commands longer than this are cut in the log, with `…`.
const LOGGED_COMMAND_CHARS: usize = 157;

/// Allow- and deny-list entries are exact command strings or globs (`*` any run of
/// characters, `?` one; `\*` and `\?` are literal). Session entries are always exact.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `tools.terminal.approval.allowlist`, plus the "always" answers.
    pub allow: Vec<String>,
    /// `tools.terminal.approval.deny`.
    pub deny: Vec<String>,
    /// The "for this session" answers.
    pub session: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run,
    /// Caution: ask the approver, or refuse when there is none.
    Ask(Verdict),
    Refuse(Verdict),
}

impl Policy {
    pub fn decide(&self, command: &str) -> Decision {
        let command = command.trim();
        let Analysis { verdict, compound, parts } = walk::analyze(command);
        if let Some(part) = self.denied_part(command, &parts) {
            let severity = verdict.severity.max(Severity::Caution);
            return Decision::Refuse(Verdict {
                severity,
                reason: DENIED.to_string(),
                part: part.to_string(),
            });
        }
        match verdict.severity {
            Severity::Safe => Decision::Run,
            Severity::Caution if self.allows(command, compound) => Decision::Run,
            Severity::Caution => Decision::Ask(verdict),
            Severity::Dangerous => Decision::Refuse(verdict),
        }
    }

    fn denied_part<'a>(&self, command: &'a str, parts: &'a [String]) -> Option<&'a str> {
        let patterns: Vec<Pattern> = entries(&self.deny).map(Pattern::parse).collect();
        std::iter::once(command)
            .chain(parts.iter().map(String::as_str))
            .find(|part| patterns.iter().any(|p| p.matches(part)))
    }

    /// Exact entries match the whole command; globs only a command that is one simple
    /// command with no substitution, so `rm -rf build/*` cannot carry `&& curl … | sh` along.
    fn allows(&self, command: &str, compound: bool) -> bool {
        entries(&self.session).any(|s| s == command)
            || entries(&self.allow).map(Pattern::parse).any(|p| match &p {
                Pattern::Exact(exact) => exact == command,
                Pattern::Glob(_) => !compound && p.matches(command),
            })
    }
}

fn entries(list: &[String]) -> impl Iterator<Item = &str> {
    list.iter().map(|e| e.trim()).filter(|e| !e.is_empty())
}

/// The allow-list entry that matches exactly `command` and nothing else (its `*` and `?`
/// escaped): what an "always" answer should store.
pub fn literal_pattern(command: &str) -> String {
    let mut out = String::with_capacity(command.len());
    for c in command.trim().chars() {
        if c == '*' || c == '?' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `logs/approval.log` line for a non-safe terminal decision, in the original's format:
/// `<time> INFO alpi.approval ALLOW|DENY severity=<caution|dangerous> pattern='<reason>'
/// reason='<why>' cmd='<first 157 chars>…'` (the `…` only when cut). Line breaks in the
/// values are written as `\n` so one decision stays one line.
pub fn log_line(time: &str, allowed: bool, verdict: &Verdict, why: &str, command: &str) -> String {
    let action = if allowed { "ALLOW" } else { "DENY" };
    format!(
        "{time} INFO alpi.approval {action} severity={} pattern='{}' reason='{}' cmd='{}'",
        verdict.severity,
        one_line(&verdict.reason),
        one_line(why),
        one_line(&clipped(command)),
    )
}

fn clipped(command: &str) -> String {
    match command.char_indices().nth(LOGGED_COMMAND_CHARS) {
        Some((cut, _)) => format!("{}…", &command[..cut]),
        None => command.to_string(),
    }
}

fn one_line(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`
    One,
    /// `*`
    Run,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Glob(Vec<Token>),
}

impl Pattern {
    fn parse(entry: &str) -> Self {
        let mut tokens = Vec::new();
        let mut chars = entry.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '\\' => match chars.next_if(|n| matches!(n, '*' | '?')) {
                    Some(escaped) => Token::Char(escaped),
                    None => Token::Char('\\'),
                },
                '*' => Token::Run,
                '?' => Token::One,
                c => Token::Char(c),
            });
        }
        let literal: Option<String> =
            tokens.iter().map(|t| if let Token::Char(c) = t { Some(*c) } else { None }).collect();
        match literal {
            Some(exact) => Pattern::Exact(exact),
            None => Pattern::Glob(tokens),
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Exact(exact) => exact == text,
            Pattern::Glob(tokens) => glob_matches(tokens, &text.chars().collect::<Vec<_>>()),
        }
    }
}

/// `pattern` (`*` any run, `?` one character, `\*` `\?` literal) matches all of `text`.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    Pattern::parse(pattern).matches(text)
}

/// Wildcard matching with a single backtrack point: linear in practice, never exponential.
fn glob_matches(pattern: &[Token], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::Run) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Token::One) => (p, t) = (p + 1, t + 1),
            Some(Token::Char(c)) if *c == text[t] => (p, t) = (p + 1, t + 1),
            _ => match star {
                Some((sp, st)) => {
                    (p, t) = (sp + 1, st + 1);
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| *t == Token::Run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern).matches(text)
    }

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob("rm -rf build*", "rm -rf build/"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYbc"));
        assert!(glob("ls ?", "ls x"));
        assert!(!glob("ls ?", "ls xy"));
        assert!(!glob("rm *.o", "rm a.c"));
        assert!(glob(r"rm \*", "rm *"));
        assert!(!glob(r"rm \*", "rm x"));
        assert!(glob(&"*a".repeat(30), &"a".repeat(100)));
        assert!(!glob(&"*a".repeat(30), &"b".repeat(100)));
    }

    #[test]
    fn literal_patterns_match_only_themselves() {
        let entry = literal_pattern("find . -name \\*.o -delete");
        assert_eq!(Pattern::parse(&entry), Pattern::Exact("find . -name \\*.o -delete".to_string()));
        assert_eq!(
            Pattern::parse(&literal_pattern("rm -rf build/*")),
            Pattern::Exact("rm -rf build/*".into())
        );
    }
}
