//! The `search` tool: lines matching a regex, or files matching a glob, under the
//! workspace. Symlinks are not followed, noise directories (`.git`, `node_modules`,
//! `target`…) are skipped, and so is every file the file tools would refuse (SSH keys,
//! `.env`…); content search also skips binary and very large files.

mod glob;
mod regex;

use super::{Outcome, ToolEnv, schema};
use crate::agent::approval::sensitive_path;
use crate::agent::provider::ToolSpec;
use crate::json::{Object, Value};
use regex::Regex;

/// Directories not descended into (unless `path` names one).
const NOISE: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "dist",
    "build",
    ".next",
    ".cache",
];
const MAX_FILE_BYTES: u64 = 4 << 20;
/// A NUL byte in this much of the head marks a file as binary.
const BINARY_PROBE: usize = 8192;
const LINE_CHARS: usize = 300;
const DEFAULT_LIMIT: u64 = 200;
const MAX_LIMIT: u64 = 2000;
/// Files looked at before giving up (a workspace may be a whole home directory).
const MAX_FILES: usize = 100_000;

pub fn spec() -> ToolSpec {
    super::spec(
        "search",
        "Search the workspace; use it instead of grep/find/ls in the terminal. `pattern` is a regex matched \
         against each line of text files, output `path:line: text`; `glob` keeps only files whose name \
         (`*.py`) or path (`src/**/*.{rs,toml}`) matches; with only `glob`, matching files are listed. \
         Lowercase patterns ignore case. Skips .git, node_modules, target, build and similar (name one in \
         `path` to search it), binary files and secret files.",
        schema(
            &[
                (
                    "pattern",
                    "string",
                    "regex: . [a-z] [^…] \\d \\w \\s \\b ^ $ ( ) (?: ) | * + ? {m,n}, (?i) prefix; escape \
                     literal ( ) [ . * + ? | with \\",
                ),
                ("glob", "string", "file filter: * ? ** [abc] {a,b}"),
                ("path", "string", "directory or file inside the workspace (default: all of it)"),
                ("case_sensitive", "boolean", "override smart case"),
                ("limit", "integer", "most results (default 200)"),
            ],
            &[],
        ),
    )
}

pub fn run(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    search(args, env).unwrap_or_else(|e| e)
}

fn search(args: &Object, env: &ToolEnv<'_>) -> Result<Outcome, Outcome> {
    let text = |k: &str| args.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (mut pattern, mut glob) = (text("pattern"), text("glob").or(text("file_glob")));
    // The original's `target: files` took the glob in `pattern`.
    if glob.is_none() && matches!(text("target"), Some("files" | "find" | "glob" | "ls")) {
        glob = pattern.take();
    }
    if pattern.is_none() && glob.is_none() {
        return Err(Outcome::fail("give a `pattern` (regex over file contents) or a `glob` (file names)"));
    }
    let case = args.get("case_sensitive").and_then(Value::as_bool);
    let icase = |p: &str| !case.unwrap_or_else(|| has_upper(p));
    let regex = match pattern {
        Some(p) => {
            Some(Regex::new(p, icase(p)).map_err(|e| Outcome::fail(format!("bad pattern {p:?}: {e}")))?)
        }
        None => None,
    };
    let glob = match glob {
        Some(g) => {
            let g = g.strip_prefix("./").unwrap_or(g);
            let re = glob::compile(g, icase(g)).map_err(|e| Outcome::fail(format!("bad glob {g:?}: {e}")))?;
            Some((g.contains('/'), re))
        }
        None => None,
    };
    let limit =
        args.get("limit").and_then(Value::as_u64).unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;

    let raw = text("path").unwrap_or(".");
    let workspace = std::fs::canonicalize(&env.workspace)
        .map_err(|e| Outcome::fail(format!("workspace {}: {e}", env.workspace.display())))?;
    let root =
        std::fs::canonicalize(workspace.join(raw)).map_err(|e| Outcome::fail(format!("{raw}: {e}")))?;
    if !root.starts_with(&workspace) {
        return Err(Outcome::fail(format!("refused: {raw} is outside the workspace")));
    }
    if let Some(why) = sensitive_path(&root.to_string_lossy()) {
        return Err(Outcome::fail(format!("refused: {raw} {why}")));
    }

    let mut found: Vec<String> = Vec::new();
    let mut files = 0;
    let mut todo = vec![root.clone()];
    'walk: while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if meta.is_dir() {
            if path == root || !NOISE.contains(&&*name) {
                let mut names: Vec<String> = std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                names.sort();
                todo.extend(names.iter().rev().map(|n| path.join(n))); // popped in ascending order
            }
            continue;
        }
        if !meta.is_file() || sensitive_path(&path.to_string_lossy()).is_some() {
            continue;
        }
        if regex.is_some() && meta.len() > MAX_FILE_BYTES {
            continue;
        }
        files += 1;
        if files > MAX_FILES {
            found.push(format!("[stopped after {MAX_FILES} files; narrow `path`]"));
            break;
        }
        if let Some((whole, re)) = &glob {
            let under_root = path.strip_prefix(&root).ok().filter(|p| *whole && !p.as_os_str().is_empty());
            if !re.is_match(&under_root.map_or(name.clone(), |p| p.to_string_lossy())) {
                continue;
            }
        }
        let shown = path.strip_prefix(&workspace).unwrap_or(&path).display().to_string();
        let Some(re) = &regex else {
            found.push(shown);
            if found.len() >= limit {
                break;
            }
            continue;
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) if !b[..b.len().min(BINARY_PROBE)].contains(&0) => b,
            _ => continue,
        };
        for (n, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            if re.is_match(line) {
                found.push(format!("{shown}:{}: {}", n + 1, clip(line)));
                if found.len() >= limit {
                    break 'walk;
                }
            } else if re.exhausted() {
                found.push(
                    "[stopped: the pattern is too costly for this much text; narrow it or the path]".into(),
                );
                break 'walk;
            }
        }
    }
    if found.len() >= limit {
        found.push(format!("[stopped at {limit} results; narrow the pattern, glob or path]"));
    }
    Ok(Outcome::ok(if found.is_empty() { "(no matches)".to_owned() } else { found.join("\n") }))
}

/// Smart case: an upper-case letter (not one escaped, as in `\D`) makes a pattern case-sensitive.
fn has_upper(pattern: &str) -> bool {
    let mut escaped = false;
    pattern.chars().any(|c| {
        let upper = !escaped && c.is_ascii_uppercase();
        escaped = !escaped && c == '\\';
        upper
    })
}

fn clip(line: &str) -> String {
    match line.char_indices().nth(LINE_CHARS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn smart_case_ignores_escapes() {
        assert!(super::has_upper("Foo"));
        assert!(!super::has_upper(r"\d+\W\S"));
        assert!(super::has_upper(r"\\Q"));
    }
}
