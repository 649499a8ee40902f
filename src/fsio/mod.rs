//! Durable file writes and private directories: the one place alpi puts bytes on disk.
//!
//! Every state file goes through [`write_atomic`]: a sibling temp file is written,
//! fsynced and given its final mode, then renamed over the target and the directory
//! fsynced, so a reader sees the old file or the new one, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of secrets and state files.
pub const SECRET_FILE: u32 = 0o600;
/// Mode of files others may read (public keys).
pub const PUBLIC_FILE: u32 = 0o644;
/// Mode of every profile directory.
pub const PRIVATE_DIR: u32 = 0o700;

/// An I/O failure, with the operation and the file it concerned.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct Error {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Error {
    pub fn new(op: &'static str, path: &Path, source: io::Error) -> Self {
        Self { op, path: path.to_owned(), source }
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Replaces `path` with `contents`, durably, with permissions `mode`.
pub fn write_atomic(path: &Path, mode: u32, contents: &[u8]) -> Result<()> {
    write_atomic_with(path, mode, |file| file.write_all(contents))
}

/// Like [`write_atomic`], with the contents streamed by `fill`.
///
/// The temp file is `.<name>.tmp` beside the target and is locked while it is written,
/// so concurrent writers take turns and a temp left by a killed writer is simply
/// reused (and so cleaned) by the next write of the same file. Readers never look at it.
pub fn write_atomic_with<F>(path: &Path, mode: u32, fill: F) -> Result<()>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let tmp = temp_path(path);
    let mut file = open_locked_temp(&tmp)?;
    let written = file
        .set_len(0)
        .and_then(|()| fill(&mut file))
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::new("write", path, e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::new("replace", path, e)
    })?;
    sync_parent(path)
}

/// The sibling temp file [`write_atomic`] stages `path` in.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Opens (creating if needed) and exclusively locks the temp file, retrying until the
/// locked file is still the one at `tmp` — another writer may have renamed it away
/// while we waited for the lock.
fn open_locked_temp(tmp: &Path) -> Result<File> {
    loop {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(SECRET_FILE)
            .open(tmp)
            .map_err(|e| Error::new("create", tmp, e))?;
        file.lock().map_err(|e| Error::new("lock", tmp, e))?;
        let held = file.metadata().map_err(|e| Error::new("stat", tmp, e))?;
        match fs::symlink_metadata(tmp) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(file),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::new("stat", tmp, e)),
        }
    }
}

/// Fsyncs the directory holding `path`, so a rename into it survives a power loss.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::new("sync", dir, e))
}

/// Creates `dir` (and missing parents) and makes sure it is mode 0700.
/// Missing parents are created 0700 as well; existing ones are left as they are.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
        .map_err(|e| Error::new("create directory", dir, e))?;
    set_mode(dir, PRIVATE_DIR)
}

/// Sets `path`'s permission bits to `mode` unless they already are.
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::new("stat", path, e))?;
    if meta.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::new("chmod", path, e))?;
    }
    Ok(())
}

/// Permission bits of `path`, or `None` if it does not exist.
pub fn mode_of(path: &Path) -> Option<u32> {
    fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
}

/// Reads `path`, treating a missing file as `None`.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new("read", path, e)),
    }
}

/// Holds an exclusive `flock` on a lock file until dropped.
pub struct LockGuard {
    _file: File,
}

/// Blocks until this process holds the exclusive lock at `path` (created 0600 if absent).
pub fn lock_exclusive(path: &Path) -> Result<LockGuard> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(SECRET_FILE)
        .open(path)
        .map_err(|e| Error::new("create", path, e))?;
    file.lock().map_err(|e| Error::new("lock", path, e))?;
    Ok(LockGuard { _file: file })
}

/// This alpi binary, for running a part of the work in a child process. On Linux the
/// kernel's link, so it still works after an upgrade replaced the file on disk.
pub fn self_exe() -> PathBuf {
    let proc_link = Path::new("/proc/self/exe");
    if proc_link.exists() {
        return proc_link.to_path_buf();
    }
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("alpi"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, SECRET_FILE, b"one").unwrap();
        write_atomic(&path, PUBLIC_FILE, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(mode_of(&path), Some(PUBLIC_FILE));
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn failed_fill_keeps_the_old_file_and_removes_the_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, SECRET_FILE, b"good").unwrap();
        let err = write_atomic_with(&path, SECRET_FILE, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"good");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn leftover_temp_is_ignored_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.yaml");
        write_atomic(&path, SECRET_FILE, b"kept").unwrap();
        fs::write(temp_path(&path), b"torn garbage from a dead writer, longer than new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"kept");
        write_atomic(&path, SECRET_FILE, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn concurrent_writers_never_tear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        let payloads: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 64 * 1024]).collect();
        let (path, payloads) = (&path, &payloads);
        std::thread::scope(|s| {
            for p in payloads {
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, SECRET_FILE, p).unwrap();
                        let got = fs::read(path).unwrap();
                        assert!(payloads.contains(&got), "torn read");
                    }
                });
            }
        });
    }
}
