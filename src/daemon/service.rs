//! Service shims: the files and commands that make a platform's supervisor keep
//! `alpi daemon run` alive — systemd (user or system), launchd, runit (Termux-services)
//! and OpenRC (iSH). Rendering is pure; `install`/`uninstall` write the files, run the
//! supervisor's commands, and keep a manifest so uninstall removes exactly what install
//! wrote.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fsio;
use crate::profile::Root;

const SYSTEMD_USER: &str = include_str!("../../platform/systemd-user.service");
const SYSTEMD_SYSTEM: &str = include_str!("../../platform/systemd-system.service");
const LAUNCHD: &str = include_str!("../../platform/launchd.plist");
const RUNIT_RUN: &str = include_str!("../../platform/runit-run");
const RUNIT_LOG_RUN: &str = include_str!("../../platform/runit-log-run");
const OPENRC: &str = include_str!("../../platform/openrc-init");
/// Termux's `$PREFIX` when it is not in the environment (rendering for another machine).
const TERMUX_PREFIX: &str = "/data/data/com.termux/files/usr";

/// A supervisor alpi can install itself under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Systemd,
    SystemdSystem,
    Launchd,
    Termux,
    OpenRc,
}

impl Platform {
    pub const ALL: [Platform; 5] =
        [Platform::Systemd, Platform::SystemdSystem, Platform::Launchd, Platform::Termux, Platform::OpenRc];

    pub fn name(self) -> &'static str {
        match self {
            Platform::Systemd => "systemd",
            Platform::SystemdSystem => "systemd-system",
            Platform::Launchd => "launchd",
            Platform::Termux => "termux",
            Platform::OpenRc => "openrc",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The supervisor of the machine described by `host`, if it has one alpi knows.
    pub fn detect(host: &Host) -> Option<Self> {
        if host.termux_prefix.is_some() {
            Some(Platform::Termux)
        } else if host.is_ish {
            Some(Platform::OpenRc)
        } else if host.is_macos {
            Some(Platform::Launchd)
        } else if host.has_systemd {
            Some(Platform::Systemd)
        } else {
            None
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Facts about this machine and user that decide where and what to write.
#[derive(Debug, Clone)]
pub struct Host {
    pub bin: PathBuf,
    pub home: PathBuf,
    pub user: String,
    pub uid: u32,
    /// Termux's `$PREFIX` when running in Termux.
    pub termux_prefix: Option<PathBuf>,
    pub is_ish: bool,
    pub is_macos: bool,
    pub has_systemd: bool,
    pub xdg_config_home: Option<PathBuf>,
    /// Staging root for system-wide paths (`/etc/...`), `/` normally (`ALPI_DESTDIR`).
    pub destdir: PathBuf,
}

impl Host {
    /// This process's machine.
    pub fn current(home: &Path) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        // Termux sets TERMUX_VERSION; an older one is known by where $PREFIX points.
        let prefix = var("PREFIX");
        let termux = std::env::var_os("TERMUX_VERSION").is_some()
            || prefix.as_ref().is_some_and(|p| p.starts_with("/data/data/com.termux"));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        Self {
            bin: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("alpi")),
            home: home.to_owned(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| uid.to_string()),
            uid,
            termux_prefix: termux.then(|| prefix.unwrap_or_else(|| PathBuf::from(TERMUX_PREFIX))),
            is_ish: Path::new("/proc/ish").exists() || kernel.contains("ish"),
            is_macos: cfg!(target_os = "macos"),
            has_systemd: Path::new("/run/systemd/system").is_dir(),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            destdir: var("ALPI_DESTDIR").unwrap_or_else(|| PathBuf::from("/")),
        }
    }

    fn system_path(&self, absolute: &str) -> PathBuf {
        self.destdir.join(absolute.trim_start_matches('/'))
    }
}

/// One file a shim consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimFile {
    pub path: PathBuf,
    pub contents: String,
    pub mode: u32,
}

/// Everything installing on one platform means: files, directories, and the
/// supervisor's commands for each lifecycle step.
#[derive(Debug, Clone)]
pub struct Plan {
    pub platform: Platform,
    /// The first file is the main one (what `--print` shows).
    pub files: Vec<ShimFile>,
    /// Directories to create (0700) beside the files, e.g. svlogd's.
    pub dirs: Vec<PathBuf>,
    pub install: Vec<Step>,
    pub uninstall: Vec<Step>,
    pub start: Vec<Step>,
    pub restart: Vec<Step>,
    pub notes: Vec<String>,
}

/// A supervisor command, and whether its failure stops the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub argv: Vec<String>,
    pub required: bool,
    /// Said when an optional step fails.
    pub if_it_fails: &'static str,
}

fn step(argv: &[&str]) -> Step {
    Step { argv: argv.iter().map(|s| s.to_string()).collect(), required: true, if_it_fails: "" }
}

fn optional(argv: &[&str], if_it_fails: &'static str) -> Step {
    Step { required: false, if_it_fails, ..step(argv) }
}

/// The files and commands for `platform` on `host`, logging to `root`'s logs.
pub fn plan(platform: Platform, host: &Host, root: &Root) -> Plan {
    let logs = root.path().join("logs");
    let out_log = logs.join("daemon.out");
    let prefix = host.termux_prefix.clone().unwrap_or_else(|| PathBuf::from(TERMUX_PREFIX));
    let render = |template: &str, log: &Path| {
        template
            .replace("{{BIN}}", &host.bin.display().to_string())
            .replace("{{HOME}}", &host.home.display().to_string())
            .replace("{{LOG}}", &log.display().to_string())
            .replace("{{USER}}", &host.user)
            .replace("{{PREFIX}}", &prefix.display().to_string())
    };
    let file = |path: PathBuf, template: &str, log: &Path, mode: u32| ShimFile {
        path,
        contents: render(template, log),
        mode,
    };
    match platform {
        Platform::Systemd => {
            let config = host.xdg_config_home.clone().unwrap_or_else(|| host.home.join(".config"));
            let unit = config.join("systemd/user/alpi-daemon.service");
            Plan {
                platform,
                files: vec![file(unit, SYSTEMD_USER, &out_log, 0o644)],
                dirs: vec![],
                install: vec![
                    step(&["systemctl", "--user", "daemon-reload"]),
                    step(&["systemctl", "--user", "enable", "--now", "alpi-daemon.service"]),
                    optional(
                        &["loginctl", "enable-linger", &host.user],
                        "without lingering, systemd stops the daemon when you log out (run `sudo loginctl enable-linger <user>`)",
                    ),
                ],
                uninstall: vec![
                    optional(
                        &["systemctl", "--user", "disable", "--now", "alpi-daemon.service"],
                        "it may not have been running",
                    ),
                    optional(
                        &["systemctl", "--user", "daemon-reload"],
                        "systemd will forget the unit at the next reload",
                    ),
                ],
                start: vec![step(&["systemctl", "--user", "start", "alpi-daemon.service"])],
                restart: vec![step(&["systemctl", "--user", "restart", "alpi-daemon.service"])],
                notes: vec![format!("logs: {} and `journalctl --user -u alpi-daemon`", out_log.display())],
            }
        }
        Platform::SystemdSystem => {
            let unit = host.system_path("/etc/systemd/system/alpi@.service");
            let instance = format!("alpi@{}.service", host.user);
            Plan {
                platform,
                files: vec![file(unit, SYSTEMD_SYSTEM, &out_log, 0o644)],
                dirs: vec![],
                install: vec![
                    step(&["systemctl", "daemon-reload"]),
                    step(&["systemctl", "enable", "--now", &instance]),
                ],
                uninstall: vec![
                    optional(&["systemctl", "disable", "--now", &instance], "it may not have been running"),
                    optional(
                        &["systemctl", "daemon-reload"],
                        "systemd will forget the unit at the next reload",
                    ),
                ],
                start: vec![step(&["systemctl", "start", &instance])],
                restart: vec![step(&["systemctl", "restart", &instance])],
                notes: vec![
                    format!("runs as {} (User=%i); needs root to install", host.user),
                    format!("logs: {}", out_log.display()),
                ],
            }
        }
        Platform::Launchd => {
            let plist = host.home.join("Library/LaunchAgents/com.alpi.daemon.plist");
            let domain = format!("gui/{}", host.uid);
            let service = format!("{domain}/com.alpi.daemon");
            let plist_arg = plist.display().to_string();
            Plan {
                platform,
                files: vec![file(plist, LAUNCHD, &out_log, 0o644)],
                dirs: vec![],
                install: vec![
                    optional(&["launchctl", "bootout", &service], "it was not loaded before"),
                    step(&["launchctl", "bootstrap", &domain, &plist_arg]),
                ],
                uninstall: vec![optional(&["launchctl", "bootout", &service], "it was not loaded")],
                start: vec![step(&["launchctl", "kickstart", &service])],
                restart: vec![step(&["launchctl", "kickstart", "-k", &service])],
                notes: vec![format!("logs: {}", out_log.display())],
            }
        }
        Platform::Termux => {
            let service = prefix.join("var/service/alpi");
            let sv_logs = logs.join("sv");
            Plan {
                platform,
                files: vec![
                    file(service.join("run"), RUNIT_RUN, &out_log, 0o755),
                    file(service.join("log/run"), RUNIT_LOG_RUN, &sv_logs, 0o755),
                ],
                dirs: vec![sv_logs.clone()],
                install: vec![step(&["sv-enable", "alpi"])],
                uninstall: vec![
                    optional(&["sv", "down", "alpi"], "it may not have been running"),
                    optional(&["sv-disable", "alpi"], "it may not have been enabled"),
                ],
                start: vec![step(&["sv", "up", "alpi"])],
                restart: vec![step(&["sv", "restart", "alpi"])],
                notes: vec![
                    format!("logs: {} (svlogd)", sv_logs.display()),
                    "needs `pkg install termux-services` (then restart Termux once)".into(),
                    "keep the CPU awake with `termux-wake-lock`; to start at boot, install Termux:Boot and put \
                     `termux-wake-lock; sv-enable alpi` in ~/.termux/boot/alpi"
                        .into(),
                ],
            }
        }
        Platform::OpenRc => {
            let script = host.system_path("/etc/init.d/alpi");
            Plan {
                platform,
                files: vec![file(script, OPENRC, &out_log, 0o755)],
                dirs: vec![],
                install: vec![
                    step(&["rc-update", "add", "alpi", "default"]),
                    step(&["rc-service", "alpi", "start"]),
                ],
                uninstall: vec![
                    optional(&["rc-service", "alpi", "stop"], "it may not have been running"),
                    optional(&["rc-update", "del", "alpi", "default"], "it may not have been enabled"),
                ],
                start: vec![step(&["rc-service", "alpi", "start"])],
                restart: vec![step(&["rc-service", "alpi", "restart"])],
                notes: vec![
                    format!("logs: {}", out_log.display()),
                    "on iSH, `apk add openrc` first; iOS suspends iSH in the background unless its location \
                     trick is on (Settings → iSH → Location: Always, then `cat /dev/location > /dev/null &`)"
                        .into(),
                ],
            }
        }
    }
}

/// `<root>/run/service.installed`: the platform, then every file install wrote.
pub fn manifest_path(root: &Root) -> PathBuf {
    root.path().join("run").join("service.installed")
}

/// What `install` left on this machine, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub platform: Platform,
    pub files: Vec<PathBuf>,
}

impl Installed {
    pub fn read(root: &Root) -> Option<Self> {
        let text = std::fs::read_to_string(manifest_path(root)).ok()?;
        let mut lines = text.lines();
        let platform = Platform::parse(lines.next()?.trim())?;
        Some(Self { platform, files: lines.filter(|l| !l.is_empty()).map(PathBuf::from).collect() })
    }

    fn write(&self, root: &Root) -> fsio::Result<()> {
        let mut text = format!("{}\n", self.platform);
        for f in &self.files {
            text.push_str(&format!("{}\n", f.display()));
        }
        fsio::ensure_private_dir(&root.path().join("run"))?;
        fsio::write_atomic(&manifest_path(root), fsio::SECRET_FILE, text.as_bytes())
    }

    /// Whether every file on disk still says what this binary would write.
    pub fn is_current(&self, plan: &Plan) -> bool {
        plan.files
            .iter()
            .all(|f| std::fs::read_to_string(&f.path).ok().as_deref() == Some(f.contents.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] fsio::Error),
    #[error("`{command}` failed: {detail}")]
    Step { command: String, detail: String },
    #[error("no service is installed — `alpi daemon install` installs one")]
    NotInstalled,
}

/// What an operation did, line by line, for the user.
pub type Report = Vec<String>;

/// Writes the plan's files and runs its install steps; records what it wrote.
pub fn install(plan: &Plan, root: &Root) -> Result<Report, Error> {
    let mut report = Vec::new();
    for dir in &plan.dirs {
        fsio::ensure_private_dir(dir)?;
    }
    for f in &plan.files {
        if let Some(parent) = f.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fsio::Error::new("create directory", parent, e))?;
        }
        fsio::write_atomic(&f.path, f.mode, f.contents.as_bytes())?;
        report.push(format!("wrote {}", f.path.display()));
    }
    Installed { platform: plan.platform, files: plan.files.iter().map(|f| f.path.clone()).collect() }
        .write(root)?;
    report.extend(run_steps(&plan.install)?);
    Ok(report)
}

/// Runs the uninstall steps and removes exactly the files install recorded.
pub fn uninstall(plan: &Plan, root: &Root) -> Result<Report, Error> {
    let installed = Installed::read(root).ok_or(Error::NotInstalled)?;
    let mut report = run_steps(&plan.uninstall)?;
    for path in &installed.files {
        match std::fs::remove_file(path) {
            Ok(()) => report.push(format!("removed {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fsio::Error::new("remove", path, e).into()),
        }
        remove_empty_parents(path, plan);
    }
    let _ = std::fs::remove_file(manifest_path(root));
    Ok(report)
}

/// The runit service directory (and its `log/`) go too once empty.
fn remove_empty_parents(file: &Path, plan: &Plan) {
    if plan.platform != Platform::Termux {
        return;
    }
    let mut dir = file.parent();
    for _ in 0..2 {
        let Some(d) = dir else { return };
        if std::fs::remove_dir(d).is_err() {
            return;
        }
        dir = d.parent();
    }
}

/// Runs steps in order; a required step that fails stops with its error.
pub fn run_steps(steps: &[Step]) -> Result<Report, Error> {
    let mut report = Vec::new();
    for s in steps {
        let command = s.argv.join(" ");
        let outcome = Command::new(&s.argv[0]).args(&s.argv[1..]).output();
        let failure = match outcome {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned())
                .filter(|e| !e.is_empty())
                .or_else(|| Some(out.status.to_string())),
            Err(e) => Some(e.to_string()),
        };
        match failure {
            None => report.push(format!("ran {command}")),
            Some(detail) if s.required => return Err(Error::Step { command, detail }),
            Some(detail) => report.push(format!("warning: `{command}` failed ({detail}); {}", s.if_it_fails)),
        }
    }
    Ok(report)
}
