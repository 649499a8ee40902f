//! The real MCP servers the tests and the MCP bench run: pinned npm packages installed
//! once into `<target>/mcp-servers` (needs `npm` and the registry), and the
//! misbehaving script in `tests/fixtures`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub const EVERYTHING: (&str, &str) = ("@modelcontextprotocol/server-everything", "2026.1.26");
pub const FILESYSTEM: (&str, &str) = ("@modelcontextprotocol/server-filesystem", "2026.1.14");

/// Where the servers' entry scripts are, to run with `node`.
pub struct Installed {
    pub everything: PathBuf,
    pub filesystem: PathBuf,
}

static INSTALL: Mutex<()> = Mutex::new(());

/// The pinned servers, installed if needed; `None` (said on stderr) without npm.
pub fn installed() -> Option<Installed> {
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_BIN_EXE_alpi")).parent()?.parent()?.join("mcp-servers");
    let modules = dir.join("node_modules");
    if ![EVERYTHING, FILESYSTEM].iter().all(|(name, version)| has_version(&modules.join(name), version)) {
        if Command::new("npm").arg("--version").output().is_err() {
            eprintln!("skipping: npm is not installed, so the real MCP servers cannot be");
            return None;
        }
        let packages = [EVERYTHING, FILESYSTEM].map(|(name, version)| format!("{name}@{version}"));
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&dir)
            .args(&packages)
            .output()
            .expect("run npm");
        assert!(out.status.success(), "npm install failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Some(Installed {
        everything: modules.join(EVERYTHING.0).join("dist/index.js"),
        filesystem: modules.join(FILESYSTEM.0).join("dist/index.js"),
    })
}

fn has_version(package: &Path, version: &str) -> bool {
    std::fs::read_to_string(package.join("package.json"))
        .is_ok_and(|text| text.contains(&format!("\"version\": \"{version}\"")))
}

/// `tests/fixtures/mcp_misbehave.sh`.
pub fn misbehave_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp_misbehave.sh")
}

/// Pids of the servers a profile's `logs/mcp-<name>.log` says were started.
pub fn started_pids(log: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter_map(|l| l.split("(pid ").nth(1)?.strip_suffix(')')?.parse().ok()).collect()
}

/// Whether `pid` is gone (or only a zombie no one has reaped yet).
pub fn gone(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
        if state.is_none_or(|s| s == 'Z' || s == 'X') {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
