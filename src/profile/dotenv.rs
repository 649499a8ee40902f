//! The profile's `.env` (0600): `KEY=VALUE` secrets such as provider API keys.
//! The process environment wins over the file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fsio;

/// Written into a new profile.
pub const TEMPLATE: &str = "# Secrets for this profile, one KEY=VALUE per line (mode 0600).\n";

/// Values read from a `.env` file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DotEnv {
    vars: BTreeMap<String, String>,
}

impl DotEnv {
    /// Reads `path`; a missing file is empty.
    pub fn load(path: &Path) -> fsio::Result<Self> {
        Ok(fsio::read_optional(path)?
            .map(|bytes| Self::parse(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default())
    }

    /// Same rules as the original: blank lines and `#` comments skipped, an optional
    /// `export ` prefix, values trimmed and stripped of one pair of matching quotes.
    pub fn parse(text: &str) -> Self {
        let vars = text.lines().filter_map(assignment).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Self { vars }
    }

    /// `key` from the process environment, else from the file.
    pub fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty()).or_else(|| self.vars.get(key).cloned())
    }

    /// The keys the file defines (values are secrets and are not exposed here).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// `key` and its unquoted value when `line` assigns one; `None` for comments and blanks.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let (k, v) = line.split_once('=').filter(|_| !line.starts_with('#'))?;
    let k = k.trim().trim_start_matches("export ").trim();
    (!k.is_empty()).then(|| (k, unquote(v.trim())))
}

/// Sets `key=value` in the file at `path` (made from [`TEMPLATE`] if absent): the first
/// assignment of `key` is replaced and later ones dropped; every other line, comments
/// included, is kept. Written atomically, mode 0600.
pub fn set(path: &Path, key: &str, value: &str) -> fsio::Result<()> {
    let old = fsio::read_optional(path)?.map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut out = String::new();
    let mut pending = true;
    for line in old.as_deref().unwrap_or(TEMPLATE).lines() {
        if assignment(line).is_some_and(|(k, _)| k == key) {
            if std::mem::take(&mut pending) {
                out += &format!("{key}={value}\n");
            }
        } else {
            out += line;
            out.push('\n');
        }
    }
    if pending {
        out += &format!("{key}={value}\n");
    }
    fsio::write_atomic(path, fsio::SECRET_FILE, out.as_bytes())
}

fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_original() {
        let env = DotEnv::parse(
            "# c\n\nALPI_TEST_A=1\nexport ALPI_TEST_B = \"two words\"\nALPI_TEST_C='x=y'\nnot a pair\n=v\n",
        );
        assert_eq!(env.vars.get("ALPI_TEST_A").map(String::as_str), Some("1"));
        assert_eq!(env.vars.get("ALPI_TEST_B").map(String::as_str), Some("two words"));
        assert_eq!(env.vars.get("ALPI_TEST_C").map(String::as_str), Some("x=y"));
        assert_eq!(env.keys().count(), 3);
    }

    #[test]
    fn set_replaces_the_first_drops_repeats_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        set(&path, "A", "1").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{TEMPLATE}A=1\n"));
        std::fs::write(&path, "# keep\nB=2\nexport A = old\nC=3\nA=older").unwrap();
        set(&path, "A", "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# keep\nB=2\nA=new\nC=3\n");
        assert_eq!(fsio::mode_of(&path), Some(fsio::SECRET_FILE));
    }

    #[test]
    fn process_environment_wins() {
        let env = DotEnv::parse("PATH=/from/file\nALPI_DOTENV_ONLY=f\n");
        assert_ne!(env.get("PATH").as_deref(), Some("/from/file"));
        assert_eq!(env.get("ALPI_DOTENV_ONLY").as_deref(), Some("f"));
    }
}
