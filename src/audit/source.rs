//! Reading a log from a saved position: whole lines only, across rotation (a rotated
//! `.3`…`.1` is finished before the live file), each record numbered so that reading
//! again from the same saved position gives every record the same id.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::alp::audit::{LOGS, MAX_LINE_BYTES, Record, RecordId, line_time};
use crate::clock::UtcTime;
use crate::fsio;
use crate::json::{self, Object, Value};
use crate::logging::{KEEP_BACKUPS, backup_path};

/// Bytes read from a log per step.
const CHUNK: u64 = 1 << 20;

/// Where one log was read up to: the file (by inode, which survives the rename of a
/// rotation), the byte after the last line taken, and the number of records so far.
/// Inode 0 means nothing was read yet: start at the oldest file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub ino: u64,
    pub offset: u64,
    pub seq: u64,
}

/// A sink's saved progress, `<home>/audit/<name>.json`:
/// `{"epoch": "<8 hex>", "agent": {ino, offset, seq}, "approval": {…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    path: PathBuf,
    pub epoch: String,
    pub positions: [Position; LOGS.len()],
}

impl Cursor {
    /// Reads `path`; a missing file starts a new epoch at the beginning of every log.
    /// A damaged one is an error: guessing would lose or repeat records.
    pub fn load(path: &Path) -> Result<Self, String> {
        let Some(bytes) = fsio::read_optional(path).map_err(|e| e.to_string())? else {
            let mut epoch = [0u8; 4];
            getrandom::fill(&mut epoch).map_err(|e| e.to_string())?;
            let epoch = crate::alp::wire::hex(&epoch);
            return Ok(Self { path: path.to_owned(), epoch, positions: Default::default() });
        };
        let damaged =
            || format!("{} is damaged — move it aside to resend every log from the start", path.display());
        let doc = json::parse(&bytes).map_err(|_| damaged())?;
        let epoch = doc.get("epoch").and_then(Value::as_str).ok_or_else(damaged)?.to_owned();
        let mut positions = [Position::default(); LOGS.len()];
        for (log, position) in LOGS.iter().zip(positions.iter_mut()) {
            if let Some(p) = doc.get(log) {
                let n = |k: &str| p.get(k).and_then(Value::as_u64).ok_or_else(damaged);
                *position = Position { ino: n("ino")?, offset: n("offset")?, seq: n("seq")? };
            }
        }
        Ok(Self { path: path.to_owned(), epoch, positions })
    }

    pub fn save(&self) -> Result<(), String> {
        let mut doc = Object::new().with("epoch", self.epoch.as_str());
        for (log, p) in LOGS.iter().zip(&self.positions) {
            doc.insert(*log, Object::new().with("ino", p.ino).with("offset", p.offset).with("seq", p.seq));
        }
        if let Some(dir) = self.path.parent() {
            fsio::ensure_private_dir(dir).map_err(|e| e.to_string())?;
        }
        let bytes = Value::Object(doc).wire();
        fsio::write_atomic(&self.path, fsio::SECRET_FILE, &bytes).map_err(|e| e.to_string())
    }
}

/// One file of a log as opened now.
struct Opened {
    file: File,
    ino: u64,
    len: u64,
}

/// `<log>.log.3` … `.1`, then `<log>.log`: the ones that exist, oldest first.
fn open_generations(base: &Path) -> Vec<Opened> {
    let paths = (1..=KEEP_BACKUPS).rev().map(|n| backup_path(base, n)).chain([base.to_owned()]);
    paths
        .filter_map(|p| {
            let file = File::open(p).ok()?;
            let meta = file.metadata().ok()?;
            Some(Opened { file, ino: meta.ino(), len: meta.len() })
        })
        .collect()
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub end: Position,
    /// The saved file was rotated away before it was finished: records were lost.
    pub skipped: bool,
}

/// Up to `max` records of `log` (`<logs_dir>/<log>.log`) after `from`.
pub fn read(
    logs_dir: &Path,
    log: &'static str,
    epoch: &str,
    from: Position,
    max: usize,
) -> std::io::Result<Batch> {
    let mut files = open_generations(&logs_dir.join(format!("{log}.log")));
    let mut out = Batch { end: from, ..Batch::default() };
    let Some(mut index) = files.iter().position(|f| f.ino == from.ino).or_else(|| {
        out.skipped = from.ino != 0 && !files.is_empty();
        out.end.offset = 0;
        (!files.is_empty()).then_some(0)
    }) else {
        return Ok(out);
    };
    out.end.ino = files[index].ino;
    while out.records.len() < max {
        let last = index + 1 == files.len();
        let f = &mut files[index];
        if out.end.offset > f.len {
            out.end.offset = 0; // truncated in place: start it over
        }
        let mut chunk = Vec::new();
        f.file.seek(SeekFrom::Start(out.end.offset))?;
        (&f.file).take(CHUNK.min(f.len - out.end.offset)).read_to_end(&mut chunk)?;
        let taken = take_lines(&chunk, log, epoch, max, &mut out);
        if taken == 0 {
            if out.end.offset + (chunk.len() as u64) < f.len {
                out.end.offset += chunk.len() as u64; // one line longer than a chunk: junk
            } else if last {
                break;
            } else {
                index += 1;
                out.end = Position { ino: files[index].ino, offset: 0, seq: out.end.seq };
            }
        }
    }
    Ok(out)
}

/// Takes the complete lines of `chunk` into `out` until it holds `max` records;
/// returns the bytes consumed.
fn take_lines(chunk: &[u8], log: &'static str, epoch: &str, max: usize, out: &mut Batch) -> usize {
    let mut used = 0;
    while out.records.len() < max {
        let Some(end) = chunk[used..].iter().position(|&b| b == b'\n') else { break };
        let line = String::from_utf8_lossy(&chunk[used..used + end]);
        used += end + 1;
        out.end.offset += end as u64 + 1;
        let line = clip(line.trim_end());
        if line.is_empty() {
            continue;
        }
        out.end.seq += 1;
        let id = RecordId { epoch: epoch.to_owned(), log, seq: out.end.seq }.to_string();
        let ts = line_time(line).map_or_else(|| UtcTime::now().iso_millis(), str::to_owned);
        out.records.push(Record { id, log, ts, line: line.to_owned() });
    }
    used
}

fn clip(line: &str) -> &str {
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    let mut cut = MAX_LINE_BYTES;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    &line[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::RotatingFile;

    fn drain(dir: &Path, from: Position, max: usize) -> (Vec<String>, Position) {
        let read = read(dir, "agent", "0a0b0c0d", from, max).unwrap();
        (read.records.iter().map(|r| format!("{} {}", r.id, r.line)).collect(), read.end)
    }

    #[test]
    fn reads_whole_lines_in_batches_and_resumes_with_the_same_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.log");
        std::fs::write(&path, "2026-01-01T00:00:00.000Z INFO a\n\nb\npartial").unwrap();
        let (first, at) = drain(dir.path(), Position::default(), 1);
        assert_eq!(first, ["0a0b0c0d-agent-1 2026-01-01T00:00:00.000Z INFO a"]);
        let (rest, end) = drain(dir.path(), at, 10);
        assert_eq!(rest, ["0a0b0c0d-agent-2 b"]);
        assert_eq!(drain(dir.path(), at, 10).0, rest, "same position, same ids");
        assert_eq!(end.offset, 35, "stops before the unfinished line");
        assert!(drain(dir.path(), end, 10).0.is_empty());
    }

    #[test]
    fn finishes_a_rotated_file_before_the_new_one_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.log");
        let mut log = RotatingFile::open(&path, 100, 3).unwrap();
        let line = |n: usize| format!("line {n:02} {}\n", "x".repeat(30));
        let mut seen = Vec::new();
        let mut at = Position::default();
        for n in 0..20 {
            log.append_line(line(n).as_bytes()).unwrap();
            if n % 3 == 0 {
                let (got, end) = drain(dir.path(), at, 100);
                seen.extend(got);
                at = end;
            }
        }
        let (got, _) = drain(dir.path(), at, 100);
        seen.extend(got);
        let want: Vec<String> =
            (0..20).map(|n| format!("0a0b0c0d-agent-{} {}", n + 1, line(n).trim_end())).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_file_rotated_away_unread_is_reported_and_reading_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agent.log"), "a\n").unwrap();
        let read =
            read(dir.path(), "agent", "0a0b0c0d", Position { ino: 1, offset: 50, seq: 9 }, 10).unwrap();
        assert!(read.skipped);
        assert_eq!(read.records[0].id, "0a0b0c0d-agent-10");
    }

    #[test]
    fn the_cursor_round_trips_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit/cursor.json");
        let mut cursor = Cursor::load(&path).unwrap();
        assert_eq!(cursor.epoch.len(), 8);
        cursor.positions[1] = Position { ino: 7, offset: 8, seq: 9 };
        cursor.save().unwrap();
        assert_eq!(Cursor::load(&path).unwrap(), cursor);
        std::fs::write(&path, "{").unwrap();
        assert!(Cursor::load(&path).unwrap_err().contains("move it aside"));
    }
}
