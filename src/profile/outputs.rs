//! The outputs inbox, `outputs/outputs.jsonl`: what scheduled runs and the agent's
//! `notify` leave for the owner, one JSON object per line, appended; rewritten
//! atomically to the newest [`KEEP`] rows once it grows 20 % past that. Also the
//! run journal `logs/runs.jsonl` (the newest ~1,000 runs), kept the same way.

use std::io::Write;
use std::path::Path;

use crate::alp::wire::json::{Object, Value};
use crate::fsio;

pub const KEEP: usize = 500;
pub const RUNS_KEEP: usize = 1_000;

/// Appends `row` to `outputs/outputs.jsonl` under `profile_dir`.
pub fn append_output(profile_dir: &Path, row: Object) -> fsio::Result<()> {
    append_capped(&profile_dir.join("outputs").join("outputs.jsonl"), &Value::Object(row), KEEP)
}

/// Appends `row` to `logs/runs.jsonl` under `profile_dir`.
pub fn append_run(profile_dir: &Path, row: Object) -> fsio::Result<()> {
    append_capped(&profile_dir.join("logs").join("runs.jsonl"), &Value::Object(row), RUNS_KEEP)
}

/// Rows of a JSON-lines file (unparseable lines skipped), oldest first.
pub fn read_rows(path: &Path) -> Vec<Value> {
    let bytes = fsio::read_optional(path).ok().flatten().unwrap_or_default();
    bytes.split(|b| *b == b'\n').filter_map(|line| crate::alp::wire::json::parse(line).ok()).collect()
}

/// One line appended (O_APPEND, fsync); past `keep` + 20 % the file is rewritten
/// atomically with the newest `keep` rows.
fn append_capped(path: &Path, row: &Value, keep: usize) -> fsio::Result<()> {
    if let Some(dir) = path.parent() {
        fsio::ensure_private_dir(dir)?;
    }
    let _lock = fsio::lock_exclusive(&path.with_extension("lock"))?;
    let mut line = row.wire();
    line.push(b'\n');
    let io = |e| fsio::Error::new("append to", path, e);
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    file.write_all(&line).and_then(|()| file.sync_all()).map_err(io)?;
    fsio::set_mode(path, fsio::SECRET_FILE)?;
    let rows = read_rows(path);
    if rows.len() > keep + keep / 5 {
        let mut out = Vec::new();
        for row in &rows[rows.len() - keep..] {
            row.write_wire(&mut out);
            out.push(b'\n');
        }
        fsio::write_atomic(path, fsio::SECRET_FILE, &out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_keeps_the_newest_rows() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=(KEEP + KEEP / 5) {
            append_output(dir.path(), Object::new().with("id", i as u64).with("body", "x")).unwrap();
        }
        let rows = read_rows(&dir.path().join("outputs/outputs.jsonl"));
        assert_eq!(rows.len(), KEEP);
        assert_eq!(
            rows.last().and_then(|r| r.get("id")).and_then(Value::as_u64),
            Some((KEEP + KEEP / 5) as u64)
        );
        assert_eq!(fsio::mode_of(&dir.path().join("outputs/outputs.jsonl")), Some(0o600));
    }
}
