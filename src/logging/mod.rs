//! Log sinks: `log` records through `simple-logging` into a size-rotated file of ours,
//! each line stamped with UTC wall-clock time, and echoed to stderr when it is a TTY.
//!
//! `simple-logging` stamps lines with time since start; logs from many runs must merge
//! by wall-clock time, so [`LineSink`] prefixes each completed line with it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use log::{Level, LevelFilter};

use crate::clock::UtcTime;
use crate::fsio;

/// Rotate once a log reaches this size.
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;
/// Rotated generations kept (`x.log.1` … `x.log.3`).
pub const KEEP_BACKUPS: u32 = 3;

/// Starts logging to `path`, echoing records at `echo` or above to stderr when it is a
/// terminal (a one-shot command wants warnings there, a foreground daemon everything).
///
/// Level from `ALPI_LOG` (`error|warn|info|debug|trace`), default `info`. Failing to
/// open the log file is not fatal: records then go to stderr only.
pub fn init(path: &Path, echo: LevelFilter) {
    let level = std::env::var("ALPI_LOG").ok().and_then(|v| v.parse().ok()).unwrap_or(LevelFilter::Info);
    let file = RotatingFile::open(path, MAX_LOG_BYTES, KEEP_BACKUPS).ok();
    let echo = match (&file, io::stderr().is_terminal()) {
        (None, _) => LevelFilter::Trace,
        (Some(_), true) => echo,
        (Some(_), false) => LevelFilter::Off,
    };
    simple_logging::log_to(LineSink::new(file, echo), level);
}

/// An append-only log file that rotates itself at `max_bytes`.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> fsio::Result<Self> {
        let file = open_append(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self { path: path.to_owned(), file, size, max_bytes, keep })
    }

    /// Appends one whole line in a single `write`, so concurrent writers do not interleave.
    pub fn append_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        if self.size + len > self.max_bytes {
            self.rotate_if_still_full(len)?;
        }
        self.file.write_all(line)?;
        self.size += len;
        Ok(())
    }

    /// Another process may have rotated already: judge by what is at the path now.
    fn rotate_if_still_full(&mut self, incoming: u64) -> io::Result<()> {
        let on_disk = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if on_disk > 0 && on_disk + incoming > self.max_bytes {
            self.shift_backups()?;
        }
        self.file = open_append(&self.path).map_err(|e| e.source)?;
        self.size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(())
    }

    fn shift_backups(&self) -> io::Result<()> {
        for n in (1..self.keep).rev() {
            let from = backup_path(&self.path, n);
            if from.exists() {
                fs::rename(&from, backup_path(&self.path, n + 1))?;
            }
        }
        if self.keep == 0 {
            return fs::remove_file(&self.path);
        }
        fs::rename(&self.path, backup_path(&self.path, 1))
    }
}

/// `service.log` → `service.log.<n>`.
pub fn backup_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{n}"));
    path.with_file_name(name)
}

fn open_append(path: &Path) -> fsio::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(fsio::SECRET_FILE)
        .open(path)
        .map_err(|e| fsio::Error::new("open log", path, e))
}

/// A profile's `logs/service.log`: one stamped line per event (ALP hits, job fires,
/// gateway accepts), written directly so a daemon serving many profiles keeps each
/// profile's events in its own file.
pub struct ServiceLog {
    file: std::sync::Mutex<Option<RotatingFile>>,
}

impl ServiceLog {
    /// Opens `path`; if it cannot be opened, events are dropped (and said so once).
    pub fn open(path: &Path) -> Self {
        let file = RotatingFile::open(path, MAX_LOG_BYTES, KEEP_BACKUPS)
            .map_err(|e| log::warn!("service log unavailable: {e}"))
            .ok();
        Self { file: std::sync::Mutex::new(file) }
    }

    /// `<UTC time> <LEVEL> <target> <message>`.
    pub fn event(&self, level: Level, target: &str, message: std::fmt::Arguments<'_>) {
        let line = format!("{} {level} {target} {message}\n", UtcTime::now().iso_millis());
        if let Some(file) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = file.append_line(line.as_bytes());
        }
    }
}

/// Collects the pieces `simple-logging` writes and emits each finished line, stamped.
pub struct LineSink {
    file: Option<RotatingFile>,
    echo: LevelFilter,
    line: Vec<u8>,
}

impl LineSink {
    pub fn new(file: Option<RotatingFile>, echo: LevelFilter) -> Self {
        Self { file, echo, line: Vec::with_capacity(256) }
    }

    /// The level `simple-logging` wrote after its `[elapsed] (thread) ` prefix.
    fn line_level(&self) -> Option<Level> {
        let text = std::str::from_utf8(&self.line).ok()?;
        let (_, rest) = text.split_once(") ")?;
        rest.split_whitespace().next()?.parse().ok()
    }

    fn emit(&mut self) {
        let mut stamped = UtcTime::now().iso_millis().into_bytes();
        stamped.push(b' ');
        stamped.extend_from_slice(&self.line);
        if let Some(file) = self.file.as_mut() {
            // A log that cannot be written must not take the program down with it.
            let _ = file.append_line(&stamped);
        }
        if self.line_level().is_some_and(|level| level <= self.echo) {
            let _ = io::stderr().write_all(&stamped);
        }
        self.line.clear();
    }
}

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..=end]);
            self.emit();
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_limit_and_keeps_three_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.log");
        let mut log = RotatingFile::open(&path, 100, 3).unwrap();
        let line = [b'x'; 39];
        for _ in 0..20 {
            log.append_line(&[&line[..], b"\n"].concat()).unwrap();
        }
        for n in 1..=3 {
            assert_eq!(fs::metadata(backup_path(&path, n)).unwrap().len(), 80);
        }
        assert!(!backup_path(&path, 4).exists());
        assert!(fs::metadata(&path).unwrap().len() <= 100);
    }

    #[test]
    fn sink_stamps_each_completed_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.log");
        let file = RotatingFile::open(&path, MAX_LOG_BYTES, 3).unwrap();
        let mut sink = LineSink::new(Some(file), LevelFilter::Off);
        sink.write_all(b"[00:00:00.001] (1) WARN   w\n").unwrap();
        let word = "first";
        writeln!(sink, "[00:00:00.000] (1) INFO   {word}").unwrap();
        sink.write_all(b"second part").unwrap();
        sink.write_all(b" done\n").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].ends_with("INFO   first"), "{text}");
        assert!(lines[2].ends_with(" second part done"), "{text}");
        assert!(lines[2].starts_with("20") && lines[2].as_bytes()[23] == b'Z', "{text}");
    }

    #[test]
    fn reads_the_level_simple_logging_wrote() {
        let mut sink = LineSink::new(None, LevelFilter::Warn);
        sink.line = b"[00:00:00.000] (7f3a) WARN   disk (nearly) full\n".to_vec();
        assert_eq!(sink.line_level(), Some(Level::Warn));
        sink.line = b"no prefix\n".to_vec();
        assert_eq!(sink.line_level(), None);
    }
}
