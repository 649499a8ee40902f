//! The hub side of `audit.push`: agent and approval log records other profiles
//! forward, stored per sender in `<home>/audit/<peer-id>/<log>.jsonl` (appended and
//! fsynced) and deduplicated by record id, so an at-least-once sender lands each
//! record exactly once. Also the record id format both sides share.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::alp::methods::{bad_params, internal_error};
use crate::alp::wire::envelope::RpcError;
use crate::clock::UtcTime;
use crate::fsio;
use crate::json::{self, Object, Value};

/// The logs a profile forwards, by their name in a record's `log` field.
pub const LOGS: [&str; 2] = ["agent", "approval"];
/// Records in one `audit.push`.
pub const MAX_RECORDS: usize = 100;
/// A log line longer than this is refused (the original's lines are a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// `<epoch>-<log>-<seq>`: `epoch` is 8 hex chars drawn when the sender's cursor was
/// created, `seq` counts that log's records from 1. A sender re-reading from its saved
/// cursor re-sends the same ids, and per (sender, log) they only grow — so the hub
/// needs just the last one it stored to recognise a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordId {
    pub epoch: String,
    pub log: &'static str,
    pub seq: u64,
}

impl RecordId {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '-');
        let epoch = parts.next()?;
        let log = log_name(parts.next()?)?;
        let seq = parts.next()?.parse().ok()?;
        let hex = epoch.len() == 8 && epoch.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        hex.then(|| Self { epoch: epoch.to_owned(), log, seq })
    }

    /// Already stored if it is from the same epoch and not past the last stored one.
    fn is_covered_by(&self, last: Option<&RecordId>) -> bool {
        last.is_some_and(|l| l.epoch == self.epoch && self.seq <= l.seq)
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.epoch, self.log, self.seq)
    }
}

/// `agent` / `approval` as the static name, or `None` for any other log.
pub fn log_name(text: &str) -> Option<&'static str> {
    LOGS.into_iter().find(|l| *l == text)
}

/// One forwarded record, as sent and as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub log: &'static str,
    /// The line's own time (its first word), else when it was read.
    pub ts: String,
    pub line: String,
}

impl Record {
    pub fn to_object(&self) -> Object {
        Object::new()
            .with("id", self.id.as_str())
            .with("log", self.log)
            .with("ts", self.ts.as_str())
            .with("line", self.line.as_str())
    }

    fn from_value(v: &Value) -> Result<(Self, RecordId), String> {
        let text = |k: &str| {
            v.get(k).and_then(Value::as_str).ok_or_else(|| format!("record without a string `{k}`"))
        };
        let id_text = text("id")?;
        let id = RecordId::parse(id_text)
            .ok_or_else(|| format!("record id {id_text:?} is not <epoch>-<log>-<seq>"))?;
        if text("log")? != id.log {
            return Err(format!("record {id_text}: `log` does not match its id"));
        }
        let (ts, line) = (text("ts")?, text("line")?);
        if ts.len() > 64 || line.len() > MAX_LINE_BYTES {
            return Err(format!("record {id_text}: ts or line too long"));
        }
        let record = Self { id: id_text.to_owned(), log: id.log, ts: ts.to_owned(), line: line.to_owned() };
        Ok((record, id))
    }
}

/// The time a log line starts with, if it starts with one.
pub fn line_time(line: &str) -> Option<&str> {
    let first = line.split_whitespace().next()?;
    crate::clock::parse_iso8601(first).map(|_| first)
}

/// A hub's store of forwarded records.
pub struct HubStore {
    dir: PathBuf,
    /// Per (sender, log): the last id stored, read from the file's last line once.
    last: Mutex<HashMap<(String, &'static str), Option<RecordId>>>,
}

impl HubStore {
    /// The store under `<home>/audit`.
    pub fn new(home_dir: &Path) -> Self {
        Self { dir: home_dir.join("audit"), last: Mutex::new(HashMap::new()) }
    }

    /// `<home>/audit/<peer-id>/<log>.jsonl`.
    pub fn file(&self, peer: &str, log: &str) -> PathBuf {
        self.dir.join(peer).join(format!("{log}.jsonl"))
    }

    /// `audit.push {records}` from the pinned peer `peer` → `{accepted, duplicates}`.
    /// The batch is checked whole before anything is written.
    pub fn push(&self, peer: &str, params: &Object) -> Result<Object, RpcError> {
        let records = params
            .get("records")
            .and_then(Value::as_array)
            .ok_or_else(|| bad_params("records must be a list"))?;
        if records.len() > MAX_RECORDS {
            return Err(bad_params(&format!("at most {MAX_RECORDS} records per push")));
        }
        let parsed: Vec<(Record, RecordId)> =
            records.iter().map(Record::from_value).collect::<Result<_, _>>().map_err(|e| bad_params(&e))?;
        crate::alp::peers::validate_id(peer).map_err(|e| internal_error(&e.to_string()))?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let received = UtcTime::now().iso_millis();
        let mut duplicates = 0u64;
        let mut accepted = 0u64;
        for log in LOGS {
            let key = (peer.to_owned(), log);
            let path = self.file(peer, log);
            let mut mark = match last.get(&key) {
                Some(mark) => mark.clone(),
                None => last_stored(&path).map_err(|e| internal_error(&e.to_string()))?,
            };
            let mut lines = Vec::new();
            for (record, id) in parsed.iter().filter(|(r, _)| r.log == log) {
                if id.is_covered_by(mark.as_ref()) {
                    duplicates += 1;
                    continue;
                }
                Value::Object(record.to_object().with("received", received.as_str())).write_wire(&mut lines);
                lines.push(b'\n');
                accepted += 1;
                mark = Some(id.clone());
            }
            if !lines.is_empty()
                && let Err(e) = append_synced(&path, &lines)
            {
                // What reached the disk is unknown: read it back on the next push.
                last.remove(&key);
                return Err(internal_error(&e.to_string()));
            }
            last.insert(key, mark);
        }
        Ok(Object::new().with("accepted", accepted).with("duplicates", duplicates))
    }
}

/// Appends `bytes` and fsyncs, creating the sender's directory (0700) and file (0600).
fn append_synced(path: &Path, bytes: &[u8]) -> fsio::Result<()> {
    if let Some(dir) = path.parent() {
        fsio::ensure_private_dir(dir)?;
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(fsio::SECRET_FILE)
        .open(path)
        .map_err(|e| fsio::Error::new("open", path, e))?;
    file.write_all(bytes).and_then(|()| file.sync_data()).map_err(|e| fsio::Error::new("append", path, e))
}

/// The id on the last complete line of `path`. A torn last line (the hub died while
/// appending) is cut off first, so the next append starts on a line of its own.
fn last_stored(path: &Path) -> fsio::Result<Option<RecordId>> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fsio::Error::new("open", path, e)),
    };
    let io = |e| fsio::Error::new("read", path, e);
    let len = file.metadata().map_err(io)?.len();
    let window = (4 * MAX_LINE_BYTES as u64 + 512).min(len);
    file.seek(SeekFrom::Start(len - window)).map_err(io)?;
    let mut tail = Vec::with_capacity(window as usize);
    file.read_to_end(&mut tail).map_err(io)?;
    let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < tail.len() {
        truncate(&file, len - (tail.len() - complete) as u64)
            .map_err(|e| fsio::Error::new("repair", path, e))?;
    }
    let body = &tail[..complete.saturating_sub(1)];
    let last_line = body.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    Ok(json::parse(last_line).ok().and_then(|v| v.get("id")?.as_str().and_then(RecordId::parse)))
}

fn truncate(file: &File, len: u64) -> std::io::Result<()> {
    file.set_len(len)?;
    file.sync_data()
}

/// A stored record with the sender it came from, for `alpi audit-log tail`.
#[derive(Debug, Clone)]
pub struct Stored {
    pub peer: String,
    pub record: Record,
}

/// Records stored in `path` from byte `from` on, for `peer`; returns where it stopped
/// (the end of the last complete line).
pub fn read_stored(path: &Path, peer: &str, from: u64) -> (Vec<Stored>, u64) {
    let Ok(mut file) = File::open(path) else { return (Vec::new(), from) };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).and_then(|_| file.read_to_end(&mut bytes)).is_err() {
        return (Vec::new(), from);
    }
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let records = bytes[..complete]
        .split(|&b| b == b'\n')
        .filter_map(|line| Record::from_value(&json::parse(line).ok()?).ok())
        .map(|(record, _)| Stored { peer: peer.to_owned(), record })
        .collect();
    (records, from + complete as u64)
}

/// The senders with a store under `<home>/audit`, sorted.
pub fn senders(home_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home_dir.join("audit")) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, log: &'static str) -> Value {
        let id = RecordId { epoch: "0a0b0c0d".into(), log, seq };
        let line = format!("2026-01-01T00:00:0{seq}.000Z INFO alpi.{log} n={seq}");
        Value::Object(
            Record { id: id.to_string(), log, ts: line_time(&line).unwrap().into(), line }.to_object(),
        )
    }

    fn push(store: &HubStore, records: Vec<Value>) -> (u64, u64) {
        let out = store.push("laptop", &Object::new().with("records", records)).unwrap();
        let n = |k: &str| out.get(k).and_then(Value::as_u64).unwrap();
        (n("accepted"), n("duplicates"))
    }

    #[test]
    fn ids_round_trip_and_reject_other_shapes() {
        let id = RecordId::parse("0a0b0c0d-approval-42").unwrap();
        assert_eq!((id.log, id.seq, id.to_string().as_str()), ("approval", 42, "0a0b0c0d-approval-42"));
        for bad in ["0a0b0c0d-service-1", "0A0B0C0D-agent-1", "0a0b-agent-1", "0a0b0c0d-agent-x", ""] {
            assert!(RecordId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_resent_batch_is_stored_once_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::new(dir.path());
        assert_eq!(push(&store, vec![record(1, "agent"), record(2, "agent"), record(1, "approval")]), (3, 0));
        assert_eq!(push(&store, vec![record(2, "agent"), record(3, "agent")]), (1, 1));
        let restarted = HubStore::new(dir.path());
        assert_eq!(
            push(&restarted, vec![record(3, "agent"), record(1, "approval"), record(2, "approval")]),
            (1, 2)
        );
        let (agent, _) = read_stored(&restarted.file("laptop", "agent"), "laptop", 0);
        let seqs: Vec<String> = agent.iter().map(|s| s.record.id.clone()).collect();
        assert_eq!(seqs, ["0a0b0c0d-agent-1", "0a0b0c0d-agent-2", "0a0b0c0d-agent-3"]);
        assert_eq!(senders(dir.path()), ["laptop"]);
    }

    #[test]
    fn a_torn_last_line_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::new(dir.path());
        push(&store, vec![record(1, "agent")]);
        let path = store.file("laptop", "agent");
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"id\":\"0a0b0c0d-ag").unwrap();
        let restarted = HubStore::new(dir.path());
        assert_eq!(push(&restarted, vec![record(1, "agent"), record(2, "agent")]), (1, 1));
        let (stored, end) = read_stored(&path, "laptop", 0);
        assert_eq!(stored.len(), 2);
        assert_eq!(end, std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn a_bad_record_refuses_the_whole_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::new(dir.path());
        let bad = Value::Object(Object::new().with("id", "nope").with("log", "agent"));
        let err =
            store.push("laptop", &Object::new().with("records", vec![record(1, "agent"), bad])).unwrap_err();
        assert_eq!(err.code, -32602);
        assert!(!store.file("laptop", "agent").exists());
    }
}
