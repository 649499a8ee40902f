//! The outputs inbox, `outputs/outputs.jsonl`: what scheduled runs and the agent's
//! `notify` leave for the owner, one JSON object per line, appended; rewritten
//! atomically to the newest [`KEEP`] rows once it grows 20 % past that. Also the
//! run journal `logs/runs.jsonl` (the newest ~1,000 runs), kept the same way.

use std::io::Write;
use std::path::Path;

use crate::fsio;
use crate::json::{Object, Value};

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

/// Inbox rows waiting to be pushed through `channel` (`"telegram"`): those marked
/// `push: true` that name no other channel in `to` and have not gone out through it.
/// They are marked delivered before they are returned, so a crash while sending loses
/// a push rather than repeating it.
pub fn take_undelivered(profile_dir: &Path, channel: &str) -> fsio::Result<Vec<Object>> {
    let path = profile_dir.join("outputs").join("outputs.jsonl");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let _lock = fsio::lock_exclusive(&path.with_extension("lock"))?;
    let mut rows = read_rows(&path);
    let mut taken = Vec::new();
    for row in rows.iter_mut().filter_map(Value::as_object_mut) {
        let pushed = row.get("push").and_then(Value::as_bool).unwrap_or(false);
        let for_us = row.get("to").and_then(Value::as_object).is_none_or(|to| to.contains_key(channel));
        let sent = row
            .get("delivered_to")
            .and_then(Value::as_array)
            .unwrap_or_default()
            .iter()
            .any(|d| d.as_str() == Some(channel));
        if pushed && for_us && !sent {
            let mut delivered =
                row.get("delivered_to").and_then(Value::as_array).unwrap_or_default().to_vec();
            delivered.push(Value::from(channel));
            row.insert("delivered_to", delivered);
            taken.push(row.clone());
        }
    }
    if !taken.is_empty() {
        let mut out = Vec::new();
        for row in &rows {
            row.write_wire(&mut out);
            out.push(b'\n');
        }
        fsio::write_atomic(&path, fsio::SECRET_FILE, &out)?;
    }
    Ok(taken)
}

/// Rows of a JSON-lines file (unparseable lines skipped), oldest first.
pub fn read_rows(path: &Path) -> Vec<Value> {
    let bytes = fsio::read_optional(path).ok().flatten().unwrap_or_default();
    bytes.split(|b| *b == b'\n').filter_map(|line| crate::json::parse(line).ok()).collect()
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
    fn pushes_are_taken_once_per_channel() {
        let dir = tempfile::tempdir().unwrap();
        append_output(dir.path(), Object::new().with("id", "a").with("push", true)).unwrap();
        append_output(dir.path(), Object::new().with("id", "b")).unwrap();
        let to_mail = Object::new().with("email", "jane@example.org");
        append_output(dir.path(), Object::new().with("id", "c").with("push", true).with("to", to_mail))
            .unwrap();
        let taken = take_undelivered(dir.path(), "telegram").unwrap();
        assert_eq!(
            taken.iter().map(|r| r.get("id").and_then(Value::as_str).unwrap()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(take_undelivered(dir.path(), "telegram").unwrap().is_empty());
        assert_eq!(take_undelivered(dir.path(), "email").unwrap().len(), 2, "a (to the owner) and c");
        assert_eq!(read_rows(&dir.path().join("outputs/outputs.jsonl")).len(), 3);
    }

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
