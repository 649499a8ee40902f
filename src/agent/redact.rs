//! Secret-shaped strings out of anything alpi writes down (sessions, logs): API keys
//! with well-known prefixes, bearer tokens, Telegram bot tokens and private-key blocks
//! become `[REDACTED]`.

use std::borrow::Cow;

pub const MARK: &str = "[REDACTED]";

/// Prefixes of provider and platform keys, each followed by at least 16 key characters.
const KEY_PREFIXES: [&str; 13] = [
    "sk-ant-",
    "sk-or-",
    "sk-proj-",
    "sk-",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "AKIA",
    "AIza",
];
const MIN_KEY_CHARS: usize = 16;

/// `text` with every secret-shaped run replaced by [`MARK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if let Some(end) = secret_at(text, i) {
            out.push_str(&text[copied..i]);
            out.push_str(MARK);
            copied = end;
            i = end;
        } else {
            i += 1;
            while i < bytes.len() && !text.is_char_boundary(i) {
                i += 1;
            }
        }
    }
    if copied == 0 && out.is_empty() {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `text` redacted, with every occurrence of the `known` secret values (of 8 characters
/// or more: shorter ones would hide ordinary words) replaced too; for messages that may
/// quote a key whatever its shape, such as a provider echoing a refused one.
pub fn redact_known(text: &str, known: &[&str]) -> String {
    let mut out = redact(text).into_owned();
    for secret in known.iter().filter(|s| s.len() >= 8) {
        out = out.replace(secret, MARK);
    }
    out
}

/// The end of a secret starting at byte `i`, if one does.
fn secret_at(text: &str, i: usize) -> Option<usize> {
    let rest = &text[i..];
    let starts_word = i == 0 || !is_key_char(text.as_bytes()[i - 1]);
    if !starts_word {
        return None;
    }
    if rest.starts_with("-----BEGIN ")
        && rest[..rest.find('\n').unwrap_or(rest.len())].contains("PRIVATE KEY")
    {
        let end = rest
            .find("-----END ")
            .and_then(|e| rest[e..].find("-----\n").map(|t| e + t + 6).or(Some(rest.len())));
        return end.map(|e| i + e.min(rest.len()));
    }
    if let Some(after) = rest.strip_prefix("Bearer ").or_else(|| rest.strip_prefix("bearer ")) {
        let n = key_run(after);
        return (n >= MIN_KEY_CHARS).then_some(i + 7 + n);
    }
    for prefix in KEY_PREFIXES {
        if let Some(after) = rest.strip_prefix(prefix) {
            let n = key_run(after);
            if n >= MIN_KEY_CHARS {
                return Some(i + prefix.len() + n);
            }
        }
    }
    telegram_token(rest).map(|n| i + n)
}

/// `123456789:AA…` (8–10 digits, a colon, 35 key characters).
fn telegram_token(rest: &str) -> Option<usize> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(8..=10).contains(&digits) || rest.as_bytes().get(digits) != Some(&b':') {
        return None;
    }
    let n = key_run(&rest[digits + 1..]);
    (n >= 35).then_some(digits + 1 + n)
}

fn key_run(s: &str) -> usize {
    s.bytes().take_while(|b| is_key_char(*b)).count()
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_tokens_and_private_keys() {
        let cases = [
            ("key sk-proj-abcdefghijklmnop1234 ok", "key [REDACTED] ok"),
            ("ANTHROPIC_API_KEY=sk-ant-api03-AAAAAAAAAAAAAAAAAAAA", "ANTHROPIC_API_KEY=[REDACTED]"),
            ("Authorization: Bearer abcdefghijklmnopqrstuvwx", "Authorization: [REDACTED]"),
            ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1 end", "bot [REDACTED] end"),
            ("aws AKIAIOSFODNN7EXAMPLE1", "aws [REDACTED]"),
            ("-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----\nafter", "[REDACTED]after"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input}");
        }
    }

    #[test]
    fn known_values_are_hidden_whatever_their_shape() {
        let echoed = "Incorrect API key provided: q7Zp-unshaped-3e9f; also sk-proj-abcdefghijklmnop1234";
        assert_eq!(
            redact_known(echoed, &["q7Zp-unshaped-3e9f", "short", ""]),
            "Incorrect API key provided: [REDACTED]; also [REDACTED]"
        );
        assert_eq!(redact_known("a short word", &["short"]), "a short word", "under 8 characters: kept");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "ask-me later",
            "sk-short",
            "task-1234567890123456789 is a word",
            "a Bearer token",
            "héllo wörld",
            "",
        ] {
            assert_eq!(redact(text), text);
            assert!(matches!(redact(text), Cow::Borrowed(_)));
        }
    }
}
