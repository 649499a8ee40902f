//! File tools: read_file, write_file, edit_file (one unique match replaced), list_dir.
//! Relative paths are taken from the workspace; secret files (SSH keys, the profile's
//! keys, `.env`) are refused whatever the path says, symlinks resolved.

use std::path::{Path, PathBuf};

use super::{Outcome, ToolEnv, schema, spec, text_arg};
use crate::agent::approval::sensitive_path;
use crate::agent::provider::ToolSpec;
use crate::fsio;
use crate::json::{Object, Value};

/// Files larger than this are not read whole.
const MAX_READ_BYTES: u64 = 4 * 1024 * 1024;

pub fn read_spec() -> ToolSpec {
    spec(
        "read_file",
        "Read a text file. Relative paths are from the workspace. Optional offset (first line, from 1) and limit (lines).",
        schema(
            &[
                ("path", "string", "file to read"),
                ("offset", "integer", "first line"),
                ("limit", "integer", "lines"),
            ],
            &["path"],
        ),
    )
}

pub fn write_spec() -> ToolSpec {
    spec(
        "write_file",
        "Create or overwrite a file with `content` (written atomically).",
        schema(
            &[("path", "string", "file to write"), ("content", "string", "the whole new content")],
            &["path", "content"],
        ),
    )
}

pub fn edit_spec() -> ToolSpec {
    spec(
        "edit_file",
        "Replace `old` with `new` in a file; `old` must occur exactly once (include surrounding lines to make it unique).",
        schema(
            &[
                ("path", "string", "file to edit"),
                ("old", "string", "exact text to replace"),
                ("new", "string", "replacement"),
            ],
            &["path", "old", "new"],
        ),
    )
}

pub fn list_spec() -> ToolSpec {
    spec(
        "list_dir",
        "List a directory (default: the workspace): names, `/` after directories, sizes.",
        schema(&[("path", "string", "directory to list")], &[]),
    )
}

/// The path a tool argument names, or why it may not be used.
pub(super) fn resolve(env: &ToolEnv<'_>, raw: &str) -> Result<PathBuf, Outcome> {
    let expanded = match raw.strip_prefix("~/") {
        Some(rest) => std::env::home_dir().unwrap_or_default().join(rest),
        None => PathBuf::from(raw),
    };
    let path = if expanded.is_absolute() { expanded } else { env.workspace.join(expanded) };
    for candidate in
        [raw.to_owned(), lexical(&path).display().to_string(), real_path(&path).display().to_string()]
    {
        if let Some(why) = sensitive_path(&candidate) {
            return Err(Outcome::fail(format!("refused: {raw} {why}")));
        }
    }
    Ok(path)
}

/// `path` with `.` and `..` folded as written, symlinks not consulted.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Where `path` really leads: its longest existing ancestor with symlinks resolved,
/// then the rest folded lexically (a file about to be created, directories that
/// `write_file` would make on the way).
fn real_path(path: &Path) -> PathBuf {
    let parts: Vec<_> = path.components().collect();
    for keep in (1..=parts.len()).rev() {
        if let Ok(real) = std::fs::canonicalize(parts[..keep].iter().collect::<PathBuf>()) {
            return lexical(&parts[keep..].iter().fold(real, |p, part| p.join(part)));
        }
    }
    lexical(path)
}

pub fn read(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let path = match text_arg(args, "path").and_then(|p| resolve(env, p)) {
        Ok(p) => p,
        Err(e) => return e,
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => {
            return Outcome::fail(format!("{} is a directory; use list_dir", path.display()));
        }
        Ok(m) if m.len() > MAX_READ_BYTES => {
            return Outcome::fail(format!(
                "{} is {} bytes; read it with offset/limit or the terminal",
                path.display(),
                m.len()
            ));
        }
        Ok(_) => {}
        Err(e) => return Outcome::fail(format!("{}: {e}", path.display())),
    }
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return Outcome::fail(format!("{}: {e}", path.display())),
    };
    let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
    let limit = args.get("limit").and_then(Value::as_u64).map(|l| l as usize);
    if offset == 1 && limit.is_none() {
        return Outcome::ok(text);
    }
    let lines: Vec<&str> = text.lines().skip(offset - 1).take(limit.unwrap_or(usize::MAX)).collect();
    Outcome::ok(lines.join("\n"))
}

pub fn write(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let (path, content) =
        match (text_arg(args, "path").and_then(|p| resolve(env, p)), text_arg(args, "content")) {
            (Ok(p), Ok(c)) => (p, c.to_owned()),
            (Err(e), _) | (_, Err(e)) => return e,
        };
    if let Some(parent) = path.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        return Outcome::fail(format!("{}: {e}", parent.display()));
    }
    match fsio::write_atomic(&path, existing_mode(&path), content.as_bytes()) {
        Ok(()) => Outcome::ok(format!("wrote {} ({} bytes)", path.display(), content.len())),
        Err(e) => Outcome::fail(e.to_string()),
    }
}

pub fn edit(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let path = match text_arg(args, "path").and_then(|p| resolve(env, p)) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (old, new) = match (text_arg(args, "old"), text_arg(args, "new")) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return Outcome::fail(format!("{}: {e}", path.display())),
    };
    match text.matches(old).count() {
        1 => {}
        0 => return Outcome::fail(format!("`old` does not occur in {}", path.display())),
        n => {
            return Outcome::fail(format!(
                "`old` occurs {n} times in {}; include more context",
                path.display()
            ));
        }
    }
    let edited = text.replacen(old, new, 1);
    match fsio::write_atomic(&path, existing_mode(&path), edited.as_bytes()) {
        Ok(()) => Outcome::ok(format!("edited {}", path.display())),
        Err(e) => Outcome::fail(e.to_string()),
    }
}

pub fn list(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let raw = args.get("path").and_then(Value::as_str).unwrap_or(".");
    let path = match resolve(env, raw) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let entries = match std::fs::read_dir(&path) {
        Ok(e) => e,
        Err(e) => return Outcome::fail(format!("{}: {e}", path.display())),
    };
    let mut lines: Vec<String> = entries
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.metadata() {
                Ok(m) if m.is_dir() => format!("{name}/"),
                Ok(m) => format!("{name}  {}", m.len()),
                Err(_) => name,
            }
        })
        .collect();
    lines.sort();
    if lines.is_empty() {
        return Outcome::ok(format!("{} is empty", path.display()));
    }
    Outcome::ok(lines.join("\n"))
}

/// Keep a file's mode when rewriting it; new files get 0644.
fn existing_mode(path: &Path) -> u32 {
    fsio::mode_of(path).unwrap_or(0o644)
}
