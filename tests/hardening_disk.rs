//! Disk full: the profile lives on a 2 MiB tmpfs that is then filled to the last
//! byte. Every write fails with one clear line naming the file, no state file is
//! truncated or left half-written, the daemon keeps answering a pinned peer's pings,
//! and once space is freed writes work again.
//!
//! Needs root (to mount the tmpfs); skipped with a message otherwise. CI runs as root.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Sandbox;

/// A tmpfs mounted over `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Every regular file under `dir` (temps included) with its bytes.
fn snapshot(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            snapshot(&entry.path(), out);
        } else if kind.is_file() {
            out.insert(entry.path(), std::fs::read(entry.path()).unwrap());
        }
    }
}

/// Fills the file system holding `dir` until a write fails.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    while file.write_all(&block[..1]).is_ok() {}
    path
}

#[test]
fn a_full_disk_fails_writes_cleanly_and_pings_still_answer() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs this as root)");
        return;
    }
    let (home, laptop) = (Sandbox::new(), Sandbox::new());
    let Some(_tmpfs) = Tmpfs::mount(&home.root(), "2m") else {
        eprintln!("skipped: mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?)");
        return;
    };
    let home_key = home.ok(&["peers", "key"]).stdout.trim().to_owned();
    let laptop_key = laptop.ok(&["peers", "key"]).stdout.trim().to_owned();
    home.ok(&["peers", "add", "laptop", &laptop_key, "--allow", "link.ping,link.put_blob"]);
    common::lift_rate_limit(&home.root().join("alp"), "laptop");
    home.ok(&["schedule", "add", "--cron", "0 9 * * *", "--prompt", "morning"]);
    let daemon = home.daemon_with(&[], &["--bind", "127.0.0.1:0"]);
    let address = daemon.ready_line.rsplit(" on ").next().unwrap().trim().to_owned();
    laptop.ok(&["peers", "add", "home", &home_key, "--address", &address, "--allow", "link.ping"]);
    laptop.ok(&["peers", "ping", "home"]);

    let filler = fill(&home.root());
    let mut before = BTreeMap::new();
    snapshot(&home.root(), &mut before);

    let stranger = Sandbox::new();
    let stranger_key = stranger.ok(&["peers", "key"]).stdout.trim().to_owned();
    let failures = [
        home.run(&["peers", "add", "desk", &stranger_key]),
        home.run(&["schedule", "add", "--cron", "0 10 * * *", "--prompt", "later"]),
        home.run(&["profile", "create", "work"]),
    ];
    for run in &failures {
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(run.stderr.contains("No space left on device"), "{}", run.stderr);
        assert!(run.stderr.contains(&home.root().display().to_string()), "names the file: {}", run.stderr);
    }
    let blob = laptop.home().join("blob.bin");
    std::fs::write(&blob, vec![7u8; 300_000]).unwrap();
    let put = laptop.run(&["peers", "blob-put", "home", blob.to_str().unwrap()]);
    assert_eq!(put.code, 1, "{}", put.stdout);
    // More than a page of replay-journal records: the journal must not need new blocks.
    for _ in 0..60 {
        let ping = laptop.run(&["peers", "ping", "home"]);
        assert_eq!(ping.code, 0, "the daemon still answers: {}", ping.stderr);
    }

    let mut after = BTreeMap::new();
    snapshot(&home.root(), &mut after);
    for (path, bytes) in &before {
        let name = path.file_name().unwrap().to_string_lossy();
        if name.ends_with(".log") || name.ends_with(".jsonl") || path == &filler {
            continue; // appended to, never rewritten
        }
        assert_eq!(after.get(path), Some(bytes), "{} changed on a full disk", path.display());
    }
    let blobs = home.root().join("alp/blobs");
    let whole = std::fs::read_dir(&blobs).into_iter().flatten().flatten().all(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with('.') || name.len() != 64
    });
    assert!(whole, "no blob under its final name");

    std::fs::remove_file(&filler).unwrap();
    home.ok(&["peers", "add", "desk", &stranger_key]);
    home.ok(&["schedule", "add", "--cron", "0 10 * * *", "--prompt", "later"]);
    laptop.ok(&["peers", "blob-put", "home", blob.to_str().unwrap()]);
    laptop.ok(&["peers", "ping", "home"]);
    drop(daemon);
}
