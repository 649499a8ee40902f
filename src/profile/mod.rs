//! Profiles: which directory a command works on, its layout, and the files in it
//! (`config.yaml`, `.env`). One profile = one agent with its own keys and state.
//!
//! The root `~/.alpi` is the `default` profile; named profiles live under
//! `<root>/profiles/<name>/`.

pub mod config;
pub mod dotenv;
pub mod health;
pub mod outputs;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::alp::identity::KeyFiles;
use crate::fsio;

/// The profile every machine has: the root directory itself.
pub const DEFAULT: &str = "default";

/// Subdirectories every profile has, created 0700 on first use.
pub const LAYOUT_DIRS: [&str; 9] =
    ["memories", "sessions", "mentions", "schedule", "gateway", "outputs", "logs", "alp", "alp/secrets"];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid profile name {0:?}: use 1–32 of a-z, 0-9, '_' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("cannot find your home directory: set HOME (or ALPI_HOME to a profile directory)")]
    NoHome,
    #[error("profile {name:?} does not exist at {} — create it with `alpi profile create {name}`", dir.display())]
    NotFound { name: String, dir: PathBuf },
    #[error("profile {name:?} already exists at {}", dir.display())]
    Exists { name: String, dir: PathBuf },
    #[error("the default profile cannot be {0}: it is the root of every other profile")]
    DefaultIsRoot(&'static str),
    #[error("{} is a symbolic link, not a profile directory; refusing to touch it", .0.display())]
    Symlink(PathBuf),
    #[error(transparent)]
    Io(#[from] fsio::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A validated profile name: `[a-z0-9][a-z0-9_-]{0,31}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProfileName(String);

impl ProfileName {
    pub fn parse(name: &str) -> Result<Self> {
        let bytes = name.as_bytes();
        let head_ok = bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let tail_ok = bytes[1.min(bytes.len())..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
        if head_ok && tail_ok && bytes.len() <= 32 {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::BadName(name.to_owned()))
        }
    }

    pub fn default_profile() -> Self {
        Self(DEFAULT.to_owned())
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The directory holding the default profile and, under `profiles/`, every other one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: PathBuf) -> Self {
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn profiles_dir(&self) -> PathBuf {
        self.0.join("profiles")
    }

    pub fn home(&self, name: &ProfileName) -> ProfileHome {
        let dir = if name.is_default() { self.0.clone() } else { self.profiles_dir().join(name.as_str()) };
        ProfileHome { name: name.clone(), dir, root: self.clone() }
    }

    /// `default` first, then every validly named directory under `profiles/`, sorted.
    pub fn list(&self) -> Vec<ProfileHome> {
        let mut names: Vec<ProfileName> = fs::read_dir(self.profiles_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| ProfileName::parse(&e.file_name().to_string_lossy()).ok())
            .filter(|n| !n.is_default())
            .collect();
        names.sort();
        std::iter::once(ProfileName::default_profile()).chain(names).map(|n| self.home(&n)).collect()
    }

    /// The profile on this machine whose identity is `identity`, if any.
    pub fn find_by_identity(&self, identity: &crate::alp::identity::Identity) -> Option<ProfileHome> {
        self.list().into_iter().find(|home| home.keys().read_identity().ok().as_ref() == Some(identity))
    }

    /// Creates a named profile with its layout; refuses `default` and existing ones.
    /// The default profile, being the directory it lives in, gets its layout too.
    pub fn create(&self, name: &ProfileName) -> Result<ProfileHome> {
        if name.is_default() {
            return Err(Error::DefaultIsRoot("created"));
        }
        let home = self.home(name);
        if fs::symlink_metadata(&home.dir).is_ok() {
            return Err(Error::Exists { name: name.to_string(), dir: home.dir });
        }
        self.home(&ProfileName::default_profile()).ensure_layout()?;
        home.ensure_layout()?;
        Ok(home)
    }

    /// Removes a named profile's directory and nothing else.
    pub fn remove(&self, name: &ProfileName) -> Result<PathBuf> {
        if name.is_default() {
            return Err(Error::DefaultIsRoot("removed"));
        }
        let home = self.home(name);
        match fs::symlink_metadata(&home.dir) {
            Err(_) => {
                return Err(Error::NotFound { name: name.to_string(), dir: home.dir });
            }
            Ok(meta) if meta.file_type().is_symlink() => return Err(Error::Symlink(home.dir)),
            Ok(_) => {}
        }
        fs::remove_dir_all(&home.dir).map_err(|e| fsio::Error::new("remove", &home.dir, e))?;
        fsio::sync_parent(&home.dir)?;
        Ok(home.dir)
    }
}

/// One profile's directory, with the root it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileHome {
    name: ProfileName,
    dir: PathBuf,
    root: Root,
}

impl ProfileHome {
    pub fn name(&self) -> &ProfileName {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    pub fn env_path(&self) -> PathBuf {
        self.dir.join(".env")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn service_log(&self) -> PathBuf {
        self.logs_dir().join("service.log")
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.dir.join("alp").join("secrets")
    }

    pub fn keys(&self) -> KeyFiles {
        KeyFiles::new(&self.secrets_dir())
    }

    /// Creates whatever is missing of the layout: directories 0700, an empty
    /// `config.yaml` template and an empty `.env` (0600). Existing files are untouched.
    pub fn ensure_layout(&self) -> Result<()> {
        let dangling = fs::symlink_metadata(&self.dir).is_ok_and(|m| m.file_type().is_symlink());
        if dangling && !self.dir.is_dir() {
            return Err(Error::Symlink(self.dir.clone()));
        }
        fsio::ensure_private_dir(&self.dir)?;
        for sub in LAYOUT_DIRS {
            fsio::ensure_private_dir(&self.dir.join(sub))?;
        }
        create_if_missing(&self.config_path(), fsio::SECRET_FILE, config::TEMPLATE.as_bytes())?;
        create_if_missing(&self.env_path(), fsio::SECRET_FILE, dotenv::TEMPLATE.as_bytes())?;
        Ok(())
    }

    /// Bytes in this profile's files (the default profile excludes the others under it).
    pub fn disk_usage(&self) -> u64 {
        let skip = if self.name.is_default() { Some(self.root.profiles_dir()) } else { None };
        dir_size(&self.dir, skip.as_deref())
    }
}

fn create_if_missing(path: &Path, mode: u32, contents: &[u8]) -> fsio::Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    fsio::write_atomic(path, mode, contents)
}

fn dir_size(dir: &Path, skip: Option<&Path>) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() && Some(path.as_path()) != skip => dir_size(&path, skip),
                Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => 0,
            }
        })
        .sum()
}

/// Where a command's profile comes from, highest priority first:
/// `ALPI_HOME` (an exact directory) > `-p NAME` > `ALPI_PROFILE` > `default`.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub alpi_home: Option<PathBuf>,
    pub flag: Option<String>,
    pub env_profile: Option<String>,
    pub user_home: Option<PathBuf>,
}

impl Selection {
    /// The selection this process was started with.
    pub fn from_env(flag: Option<String>) -> Self {
        let non_empty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
        Self {
            alpi_home: non_empty("ALPI_HOME").map(PathBuf::from),
            flag,
            env_profile: non_empty("ALPI_PROFILE").map(|v| v.to_string_lossy().into_owned()),
            user_home: std::env::home_dir(),
        }
    }

    /// Whether a profile was named at all (`ALPI_HOME`, `-p` or `ALPI_PROFILE`).
    pub fn is_explicit(&self) -> bool {
        self.alpi_home.is_some() || self.flag.is_some() || self.env_profile.is_some()
    }

    pub fn resolve(&self) -> Result<ProfileHome> {
        if let Some(dir) = &self.alpi_home {
            return Ok(home_from_exact_dir(dir));
        }
        let root = Root::new(self.user_home.as_ref().ok_or(Error::NoHome)?.join(".alpi"));
        let name = match self.flag.as_deref().or(self.env_profile.as_deref()) {
            Some(name) => ProfileName::parse(name)?,
            None => ProfileName::default_profile(),
        };
        Ok(root.home(&name))
    }
}

/// `ALPI_HOME` names one profile directory; its root is the grandparent when the
/// parent is called `profiles`, else the directory itself.
fn home_from_exact_dir(dir: &Path) -> ProfileHome {
    let parent = dir.parent();
    let under_profiles = parent.and_then(Path::file_name).is_some_and(|n| n == "profiles");
    let name = dir.file_name().and_then(|n| ProfileName::parse(&n.to_string_lossy()).ok());
    match (under_profiles, name, parent.and_then(Path::parent)) {
        (true, Some(name), Some(root)) => {
            ProfileHome { name, dir: dir.to_owned(), root: Root::new(root.to_owned()) }
        }
        _ => ProfileHome {
            name: ProfileName::default_profile(),
            dir: dir.to_owned(),
            root: Root::new(dir.to_owned()),
        },
    }
}

/// `1.2MB`-style sizes, as the original prints them.
pub fn format_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    match n {
        0..1024 => format!("{n}B"),
        1024..1_048_576 => format!("{:.0}KB", f / K),
        1_048_576..1_073_741_824 => format!("{:.1}MB", f / (K * K)),
        _ => format!("{:.2}GB", f / (K * K * K)),
    }
}

/// Shows `path` with the user's home directory as `~`.
pub fn tilde(path: &Path) -> String {
    match std::env::home_dir().and_then(|h| path.strip_prefix(h).ok().map(|p| p.to_owned())) {
        Some(rest) if rest.as_os_str().is_empty() => "~".into(),
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        for good in ["a", "researcher", "0", "a_b-c", &"x".repeat(32)] {
            assert!(ProfileName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "_a", "A", "a.b", "a/b", "..", "é", &"x".repeat(33), "a b"] {
            assert!(ProfileName::parse(bad).is_err(), "{bad}");
        }
    }

    fn sel(alpi_home: Option<&str>, flag: Option<&str>, env: Option<&str>) -> Selection {
        Selection {
            alpi_home: alpi_home.map(PathBuf::from),
            flag: flag.map(str::to_owned),
            env_profile: env.map(str::to_owned),
            user_home: Some(PathBuf::from("/u")),
        }
    }

    #[test]
    fn resolution_order() {
        let dir = |s: Selection| s.resolve().unwrap().dir().to_owned();
        assert_eq!(dir(sel(None, None, None)), Path::new("/u/.alpi"));
        assert_eq!(dir(sel(None, None, Some("e"))), Path::new("/u/.alpi/profiles/e"));
        assert_eq!(dir(sel(None, Some("f"), Some("e"))), Path::new("/u/.alpi/profiles/f"));
        assert_eq!(dir(sel(None, Some("default"), Some("e"))), Path::new("/u/.alpi"));
        assert_eq!(dir(sel(Some("/x/h"), Some("f"), Some("e"))), Path::new("/x/h"));
    }

    #[test]
    fn alpi_home_under_profiles_keeps_its_root_and_name() {
        let home = sel(Some("/r/profiles/cron"), None, None).resolve().unwrap();
        assert_eq!(home.name().as_str(), "cron");
        assert_eq!(home.root().path(), Path::new("/r"));
        let plain = sel(Some("/r/elsewhere"), None, None).resolve().unwrap();
        assert!(plain.name().is_default());
        assert_eq!(plain.root().path(), Path::new("/r/elsewhere"));
    }

    #[test]
    fn bad_names_from_flag_or_env_are_errors() {
        assert!(matches!(sel(None, Some("../x"), None).resolve(), Err(Error::BadName(_))));
        assert!(matches!(sel(None, None, Some("Bad")).resolve(), Err(Error::BadName(_))));
    }

    #[test]
    fn byte_labels() {
        assert_eq!(format_bytes(512), "512B");
        assert_eq!(format_bytes(12 * 1024), "12KB");
        assert_eq!(format_bytes(3 * 1024 * 1024 / 2), "1.5MB");
    }
}
