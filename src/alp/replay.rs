//! The replay guard (ALP spec §2 step 5): `(from, nonce)` pairs seen in the last five
//! minutes, journalled to `alp/secrets/replay.jsonl` so a restart does not reopen the
//! window.
//!
//! Entries are appended with a plain write (they survive a killed process; only a power
//! loss can drop the last few) and the journal is compacted by an atomic rewrite of the
//! live entries once it has grown to twice their number.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::alp::identity::Identity;
use crate::fsio;
use crate::json::{self, Object, Value};

pub const WINDOW_MICROS: i64 = 5 * 60 * 1_000_000;
/// Nonces are 32 hex characters; anything over this is refused before it is stored.
pub const MAX_NONCE_LEN: usize = 64;
/// Live pairs held at most. Only pinned senders are recorded, so this is reached only
/// by a pinned peer with an absurd rate limit; past it, new envelopes are refused.
pub const MAX_ENTRIES: usize = 1 << 16;
const COMPACT_AT: usize = 2048;
/// Bytes kept allocated past the journal's end (about 500 records), renewed every
/// [`RESERVE_EVERY`] appends, so a full disk does not make us refuse pinned peers.
#[cfg(any(target_os = "linux", target_os = "android"))]
const RESERVE_BYTES: i64 = 64 * 1024;
const RESERVE_EVERY: usize = 100;

type Nonce = heapless::String<MAX_NONCE_LEN>;

/// What the guard says of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Fresh,
    Replayed,
    /// The nonce is unusable or the guard is full: refuse, fail-closed.
    Refused,
}

/// The replay guard of one profile.
pub struct ReplayGuard {
    seen: HashMap<(Identity, Nonce), i64>,
    order: VecDeque<(i64, Identity, Nonce)>,
    journal: Option<Journal>,
}

struct Journal {
    path: PathBuf,
    file: File,
    records: usize,
}

impl ReplayGuard {
    /// A guard that remembers only while the process lives (clients checking replies).
    pub fn in_memory() -> Self {
        Self { seen: HashMap::new(), order: VecDeque::new(), journal: None }
    }

    /// Loads the journal's live entries (bad lines skipped) and opens it for appending.
    pub fn open(path: &Path, now_micros: i64) -> fsio::Result<Self> {
        let mut guard = Self::in_memory();
        let mut records = 0;
        if let Some(bytes) = fsio::read_optional(path)? {
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                records += 1;
                if let Some((at, from, nonce)) = parse_record(line)
                    && now_micros - at < WINDOW_MICROS
                {
                    guard.remember(at, from, nonce);
                }
            }
        }
        let file = open_journal(path)?;
        reserve_ahead(&file);
        guard.journal = Some(Journal { path: path.to_owned(), file, records });
        guard.expire(now_micros);
        Ok(guard)
    }

    /// Records `(from, nonce)` if it is new. Call only after the signature checked out.
    pub fn check_and_record(&mut self, from: &Identity, nonce: &str, now_micros: i64) -> Verdict {
        self.expire(now_micros);
        let Ok(nonce) = Nonce::try_from(nonce) else { return Verdict::Refused };
        let key = (from.clone(), nonce);
        if self.seen.contains_key(&key) {
            return Verdict::Replayed;
        }
        if self.seen.len() >= MAX_ENTRIES {
            log::warn!("replay guard full ({MAX_ENTRIES} live nonces): refusing new envelopes");
            return Verdict::Refused;
        }
        if let Some(journal) = self.journal.as_mut() {
            let line = record_line(now_micros, &key.0, &key.1);
            if let Err(e) = journal.file.write_all(&line) {
                log::error!(
                    "replay journal {}: {e}; refusing envelopes until it can be written",
                    journal.path.display()
                );
                return Verdict::Refused;
            }
            journal.records += 1;
            if journal.records % RESERVE_EVERY == 0 {
                reserve_ahead(&journal.file);
            }
        }
        let (from, nonce) = key;
        self.remember(now_micros, from, nonce);
        self.compact_if_bloated();
        Verdict::Fresh
    }

    /// Live pairs held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn remember(&mut self, at: i64, from: Identity, nonce: Nonce) {
        if self.seen.insert((from.clone(), nonce.clone()), at).is_none() {
            self.order.push_back((at, from, nonce));
        }
    }

    fn expire(&mut self, now_micros: i64) {
        while let Some((at, _, _)) = self.order.front() {
            if now_micros - at < WINDOW_MICROS {
                break;
            }
            let (_, from, nonce) = self.order.pop_front().expect("front exists");
            self.seen.remove(&(from, nonce));
        }
    }

    fn compact_if_bloated(&mut self) {
        let live = self.seen.len();
        let Some(journal) = self.journal.as_mut() else { return };
        if journal.records < COMPACT_AT || journal.records < live * 2 {
            return;
        }
        let mut text = Vec::with_capacity(live * 100);
        for (at, from, nonce) in &self.order {
            text.extend_from_slice(&record_line(*at, from, nonce));
        }
        let rewritten = fsio::write_atomic(&journal.path, fsio::SECRET_FILE, &text)
            .and_then(|()| open_journal(&journal.path));
        match rewritten {
            Ok(file) => {
                reserve_ahead(&file);
                journal.file = file;
                journal.records = live;
            }
            Err(e) => log::warn!("could not compact the replay journal: {e}"),
        }
    }
}

/// Allocates [`RESERVE_BYTES`] past the end without changing the file's length (Linux
/// and Android; elsewhere appends on a full disk fail and envelopes are refused).
fn reserve_ahead(file: &File) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(meta) = file.metadata() {
        use std::os::fd::AsRawFd;
        let end = meta.len() as libc::off_t;
        // SAFETY: fallocate on a descriptor we own; KEEP_SIZE leaves the length alone.
        unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, end, RESERVE_BYTES as _) };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = file;
}

fn open_journal(path: &Path) -> fsio::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(fsio::SECRET_FILE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| fsio::Error::new("open replay journal", path, e))
}

/// `{"seen_at":UNIX_FLOAT,"from":B64,"nonce":HEX}\n`, the original's line format.
fn record_line(at_micros: i64, from: &Identity, nonce: &str) -> Vec<u8> {
    let record = Object::new()
        .with("seen_at", at_micros as f64 / 1e6)
        .with("from", from.to_string())
        .with("nonce", nonce);
    let mut line = Value::Object(record).wire();
    line.push(b'\n');
    line
}

fn parse_record(line: &[u8]) -> Option<(i64, Identity, Nonce)> {
    let value = json::parse(line).ok()?;
    let at = (value.get("seen_at")?.as_f64()? * 1e6) as i64;
    let from = value.get("from")?.as_str()?.parse().ok()?;
    let nonce = Nonce::try_from(value.get("nonce")?.as_str()?).ok()?;
    Some((at, from, nonce))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alp::identity::Keypair;

    const T0: i64 = 1_767_225_600_000_000;

    fn who(n: u8) -> Identity {
        Keypair::from_seed([n; 32]).identity().clone()
    }

    #[test]
    fn a_nonce_is_accepted_once_within_five_minutes() {
        let mut g = ReplayGuard::in_memory();
        let a = who(1);
        assert_eq!(g.check_and_record(&a, "n1", T0), Verdict::Fresh);
        assert_eq!(g.check_and_record(&a, "n1", T0 + WINDOW_MICROS - 1), Verdict::Replayed);
        assert_eq!(g.check_and_record(&who(2), "n1", T0), Verdict::Fresh, "nonces are per sender");
        assert_eq!(g.check_and_record(&a, "n1", T0 + WINDOW_MICROS), Verdict::Fresh, "expired");
        assert_eq!(g.check_and_record(&a, &"x".repeat(65), T0), Verdict::Refused);
    }

    #[test]
    fn the_journal_survives_a_restart_and_skips_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.jsonl");
        let a = who(1);
        {
            let mut g = ReplayGuard::open(&path, T0).unwrap();
            assert_eq!(g.check_and_record(&a, "old", T0), Verdict::Fresh);
            assert_eq!(g.check_and_record(&a, "new", T0 + 200_000_000), Verdict::Fresh);
        } // dropped without any shutdown step, as a killed process would be
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{not json\n{\"seen_at\":1}\n\n");
        std::fs::write(&path, text).unwrap();
        let now = T0 + 250_000_000;
        let mut g = ReplayGuard::open(&path, now).unwrap();
        assert_eq!(g.check_and_record(&a, "new", now), Verdict::Replayed);
        assert_eq!(g.check_and_record(&a, "old", T0 + WINDOW_MICROS), Verdict::Fresh, "old one expired");
        assert_eq!(fsio::mode_of(&path), Some(0o600));
        let first = std::fs::read_to_string(&path).unwrap().lines().next().unwrap().to_owned();
        assert!(first.starts_with("{\"seen_at\":1767225600.0,\"from\":\""), "{first}");
    }

    #[test]
    fn compaction_keeps_only_live_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.jsonl");
        let a = who(1);
        let mut g = ReplayGuard::open(&path, T0).unwrap();
        // Each entry outlives the previous ones' window, so few stay live.
        for i in 0..(COMPACT_AT as i64 + 10) {
            let now = T0 + i * 1_000_000;
            assert_eq!(g.check_and_record(&a, &format!("{i:032x}"), now), Verdict::Fresh);
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines < COMPACT_AT, "journal was compacted: {lines} lines");
        assert!(lines >= g.len());
        let now = T0 + (COMPACT_AT as i64 + 9) * 1_000_000;
        let reopened = ReplayGuard::open(&path, now).unwrap();
        assert_eq!(reopened.len(), g.len());
    }
}
