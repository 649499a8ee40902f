//! Health checks of one profile for `alpi doctor`: each returns a verdict and a detail
//! line; nothing here prints or repairs.

use std::fmt;
use std::path::Path;

use super::config::Config;
use super::{LAYOUT_DIRS, ProfileHome, dir_size, format_bytes};
use crate::alp::identity::{self, KeyFiles};
use crate::fsio::{self, PRIVATE_DIR, PUBLIC_FILE, SECRET_FILE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        })
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub verdict: Verdict,
    pub name: &'static str,
    pub detail: String,
}

impl Check {
    pub fn new(verdict: Verdict, name: &'static str, detail: impl Into<String>) -> Self {
        Self { verdict, name, detail: detail.into() }
    }
}

/// Every check, in the order a user would fix them.
pub fn check_profile(home: &ProfileHome) -> Vec<Check> {
    if !home.exists() {
        return vec![Check::new(
            Verdict::Fail,
            "profile",
            format!(
                "{} does not exist — `alpi -p {} peers key` creates it",
                home.dir().display(),
                home.name()
            ),
        )];
    }
    let mut checks = vec![
        check_mode("profile", home.dir(), PRIVATE_DIR),
        check_layout(home),
        match home.secrets_dir().exists() {
            true => check_mode("secrets dir", &home.secrets_dir(), PRIVATE_DIR),
            false => Check::new(Verdict::Warn, "secrets dir", "missing — `alpi peers key` creates it"),
        },
    ];
    checks.extend(check_keys(&home.keys()));
    checks.extend(check_config(&home.config_path()));
    checks.push(check_dotenv(&home.env_path()));
    checks.push(check_sessions(&home.dir().join("sessions")));
    checks.push(check_all_modes(home));
    checks
}

fn check_sessions(dir: &Path) -> Check {
    let count = std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "json")).count())
        .unwrap_or(0);
    Check::new(Verdict::Ok, "sessions", format!("{count} saved, {}", format_bytes(dir_size(dir, None))))
}

fn check_mode(name: &'static str, path: &Path, want: u32) -> Check {
    match fsio::mode_of(path) {
        None => Check::new(Verdict::Fail, name, format!("{} is missing", path.display())),
        Some(mode) if mode == want => {
            Check::new(Verdict::Ok, name, format!("{} ({mode:04o})", path.display()))
        }
        Some(mode) => Check::new(
            Verdict::Fail,
            name,
            format!("{} is {mode:04o}, want {want:04o} — chmod {want:o} {0}", path.display()),
        ),
    }
}

fn check_layout(home: &ProfileHome) -> Check {
    let missing: Vec<&str> = LAYOUT_DIRS.iter().copied().filter(|d| !home.dir().join(d).is_dir()).collect();
    if missing.is_empty() {
        Check::new(Verdict::Ok, "layout", format!("{} directories present", LAYOUT_DIRS.len()))
    } else {
        Check::new(
            Verdict::Warn,
            "layout",
            format!("missing {} — any alpi command on this profile recreates them", missing.join(", ")),
        )
    }
}

fn check_keys(keys: &KeyFiles) -> Vec<Check> {
    let private = keys.private_path();
    let pair = match keys.load() {
        Ok(pair) => pair,
        Err(identity::Error::Missing { .. }) => {
            return vec![Check::new(
                Verdict::Warn,
                "identity",
                "no key yet — `alpi peers key` creates one".to_string(),
            )];
        }
        Err(e) => return vec![Check::new(Verdict::Fail, "identity", e.to_string())],
    };
    let mut checks = vec![
        Check::new(Verdict::Ok, "identity", pair.identity().to_string()),
        check_mode("private key", &private, SECRET_FILE),
    ];
    checks.push(match keys.read_identity() {
        Ok(public) if &public == pair.identity() => {
            check_mode("public key", &keys.public_path(), PUBLIC_FILE)
        }
        Ok(_) | Err(identity::Error::BadKeyFile { .. }) | Err(identity::Error::Missing { .. }) => Check::new(
            Verdict::Warn,
            "public key",
            format!(
                "{} does not match the private key — `alpi peers key` rewrites it",
                keys.public_path().display()
            ),
        ),
        Err(e) => Check::new(Verdict::Fail, "public key", e.to_string()),
    });
    checks
}

fn check_config(path: &Path) -> Vec<Check> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => return vec![Check::new(Verdict::Fail, "config", e.to_string())],
    };
    let mut checks = vec![match config.raw.is_some() {
        true => Check::new(Verdict::Ok, "config", format!("{} parses", path.display())),
        false => Check::new(Verdict::Ok, "config", "defaults (no settings in config.yaml)"),
    }];
    let unknown = config.unknown_keys();
    if !unknown.is_empty() {
        checks.push(Check::new(
            Verdict::Warn,
            "config keys",
            format!("not used by this build (kept): {}", unknown.join(", ")),
        ));
    }
    checks.push(if config.model.is_empty() {
        Check::new(
            Verdict::Warn,
            "model",
            format!("none set — `alpi setup`, or add `model: openai/gpt-4o-mini` to {}", path.display()),
        )
    } else {
        Check::new(Verdict::Ok, "model", config.model)
    });
    checks
}

fn check_dotenv(path: &Path) -> Check {
    match fsio::mode_of(path) {
        None => Check::new(Verdict::Ok, ".env", "absent (no secrets stored)"),
        Some(_) => check_mode(".env", path, SECRET_FILE),
    }
}

/// A file or directory of the profile whose mode lets more than its owner in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseMode {
    pub path: std::path::PathBuf,
    pub mode: u32,
    pub want: u32,
}

impl LooseMode {
    /// The command that fixes it.
    pub fn fix(&self) -> String {
        format!("chmod {:o} '{}'", self.want, self.path.display())
    }
}

/// Every entry under the profile (the other profiles excluded, symlinks not followed)
/// whose mode grants more than it should: directories 0700, files and sockets 0600,
/// the public key 0644. Stricter modes pass.
pub fn loose_modes(home: &ProfileHome) -> Vec<LooseMode> {
    let skip = home.name().is_default().then(|| home.root().profiles_dir());
    let mut found = Vec::new();
    walk_modes(home.dir(), skip.as_deref(), &home.keys().public_path(), &mut found);
    found
}

fn walk_modes(path: &Path, skip: Option<&Path>, public: &Path, found: &mut Vec<LooseMode>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    let kind = meta.file_type();
    let want = match () {
        _ if kind.is_symlink() => return,
        _ if kind.is_dir() => PRIVATE_DIR,
        _ if path == public => PUBLIC_FILE,
        _ => SECRET_FILE,
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & !want != 0 {
        found.push(LooseMode { path: path.to_owned(), mode, want });
    }
    if kind.is_dir() && Some(path) != skip {
        let mut entries: Vec<_> = std::fs::read_dir(path).into_iter().flatten().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            walk_modes(&entry.path(), skip, public, found);
        }
    }
}

/// One check over [`loose_modes`], for `alpi doctor`: a warning (the keys, `.env` and
/// the secrets directory have their own failing checks); `alpi audit` fails on it.
pub fn check_all_modes(home: &ProfileHome) -> Check {
    let loose = loose_modes(home);
    match loose.first() {
        None => Check::new(Verdict::Ok, "file modes", "every file 0600, every directory 0700"),
        Some(first) => Check::new(
            Verdict::Warn,
            "file modes",
            format!(
                "{} entries too open, first {} ({:04o}) — `alpi audit` lists them with the fix",
                loose.len(),
                first.path.display(),
                first.mode
            ),
        ),
    }
}
