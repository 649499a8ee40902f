//! Service shims: what `alpi daemon install` renders for each supervisor (checked by
//! the supervisors' own tools where the machine has them), the exact commands install
//! and uninstall run (recorded by stand-in `systemctl`, `launchctl`, … on PATH), and a
//! real runit supervisor restarting a killed daemon.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, eventually};

const PLATFORMS: [&str; 5] = ["systemd", "systemd-system", "launchd", "termux", "openrc"];

fn print(sb: &Sandbox, platform: &str) -> (String, String) {
    let run = sb.run(&["daemon", "install", "--print", "--platform", platform]);
    assert_eq!(run.code, 0, "{platform}: {}", run.stderr);
    (run.stdout, run.stderr)
}

#[test]
fn print_shows_each_platforms_main_file_and_changes_nothing() {
    let sb = Sandbox::new();
    let bin = env!("CARGO_BIN_EXE_alpi");
    for platform in PLATFORMS {
        let (main, notes) = print(&sb, platform);
        assert!(main.contains(bin), "{platform}: the binary's absolute path is rendered\n{main}");
        assert!(!main.contains("{{"), "{platform}: unfilled placeholder\n{main}");
        assert!(notes.contains("would write"), "{platform}: {notes}");
    }
    let entries: Vec<_> = std::fs::read_dir(sb.home()).unwrap().collect();
    assert!(entries.is_empty(), "--print wrote something: {entries:?}");
    let bad = sb.run(&["daemon", "install", "--print", "--platform", "upstart"]);
    assert!(bad.stderr.contains("unknown platform \"upstart\""), "{}", bad.stderr);
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    assert!(have("systemd-analyze"), "systemd-analyze is needed (.ci/run installs systemd)");
    let sb = Sandbox::new();
    let dir = sb.home().join("units");
    std::fs::create_dir(&dir).unwrap();
    let (user, _) = print(&sb, "systemd");
    std::fs::write(dir.join("alpi-daemon.service"), user).unwrap();
    let (system, _) = print(&sb, "systemd-system");
    std::fs::write(dir.join("alpi@root.service"), system).unwrap();
    for unit in ["alpi-daemon.service", "alpi@root.service"] {
        let out = Command::new("systemd-analyze").arg("verify").arg(dir.join(unit)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{unit}: {stderr}");
        assert!(!stderr.contains("alpi"), "{unit} has warnings: {stderr}");
    }
}

#[test]
fn launchd_plist_parses_with_the_required_keys() {
    let sb = Sandbox::new();
    let (plist, _) = print(&sb, "launchd");
    let path = sb.home().join("p.plist");
    std::fs::write(&path, plist).unwrap();
    let script = "import plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); \
                  print(d['Label'], d['ProgramArguments'][1:], d['RunAtLoad'], d['KeepAlive'], \
                  d['SoftResourceLimits']['NumberOfFiles'], d['HardResourceLimits']['NumberOfFiles'], \
                  d['StandardOutPath']==d['StandardErrorPath'], '/opt/homebrew/bin' in d['EnvironmentVariables']['PATH'])";
    let out = Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "com.alpi.daemon ['daemon', 'run'] True True 8192 8192 True True"
    );
}

#[test]
fn shell_shims_are_valid_sh() {
    let sb = Sandbox::new();
    for platform in ["openrc", "termux"] {
        let (script, _) = print(&sb, platform);
        let path = sb.home().join(format!("{platform}.sh"));
        std::fs::write(&path, script).unwrap();
        assert!(Command::new("sh").arg("-n").arg(&path).status().unwrap().success(), "{platform}");
    }
}

/// A directory of stand-ins for the supervisors' commands, each appending its name and
/// arguments to `calls`. `failing` ones exit 1.
struct FakeTools {
    dir: PathBuf,
    calls: PathBuf,
}

impl FakeTools {
    fn new(sb: &Sandbox, failing: &[&str]) -> Self {
        let dir = sb.home().join("fakebin");
        std::fs::create_dir_all(&dir).unwrap();
        let calls = sb.home().join("calls.log");
        for tool in
            ["systemctl", "loginctl", "launchctl", "sv-enable", "sv-disable", "sv", "rc-update", "rc-service"]
        {
            let exit = if failing.contains(&tool) { "echo 'no' >&2; exit 1" } else { "exit 0" };
            let script = format!("#!/bin/sh\necho \"{tool} $*\" >> '{}'\n{exit}\n", calls.display());
            let path = dir.join(tool);
            std::fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir, calls }
    }

    fn path_env(&self) -> String {
        format!("{}:{}", self.dir.display(), std::env::var("PATH").unwrap_or_default())
    }

    fn take_calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.calls).unwrap_or_default();
        let _ = std::fs::remove_file(&self.calls);
        text.lines().map(String::from).collect()
    }
}

fn run_with(sb: &Sandbox, tools: &FakeTools, envs: &[(&str, &Path)], args: &[&str]) -> common::Run {
    let mut cmd = sb.cmd(args);
    cmd.env("PATH", tools.path_env())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("TERMUX_VERSION")
        .env_remove("PREFIX");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    common::Run::from(cmd.output().unwrap())
}

fn user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| {
        // SAFETY: getuid cannot fail.
        unsafe { libc::getuid() }.to_string()
    })
}

#[test]
fn install_and_uninstall_run_exactly_the_supervisors_commands() {
    let uid = unsafe { libc::getuid() };
    let user = user();
    let cases: Vec<(&str, Vec<String>, Vec<String>, &str)> = vec![
        (
            "systemd",
            vec![
                "systemctl --user daemon-reload".into(),
                "systemctl --user enable --now alpi-daemon.service".into(),
                format!("loginctl enable-linger {user}"),
            ],
            vec![
                "systemctl --user disable --now alpi-daemon.service".into(),
                "systemctl --user daemon-reload".into(),
            ],
            ".config/systemd/user/alpi-daemon.service",
        ),
        (
            "systemd-system",
            vec!["systemctl daemon-reload".into(), format!("systemctl enable --now alpi@{user}.service")],
            vec![format!("systemctl disable --now alpi@{user}.service"), "systemctl daemon-reload".into()],
            "dest/etc/systemd/system/alpi@.service",
        ),
        (
            "launchd",
            vec![
                format!("launchctl bootout gui/{uid}/com.alpi.daemon"),
                format!("launchctl bootstrap gui/{uid} HOME/Library/LaunchAgents/com.alpi.daemon.plist"),
            ],
            vec![format!("launchctl bootout gui/{uid}/com.alpi.daemon")],
            "Library/LaunchAgents/com.alpi.daemon.plist",
        ),
        (
            "termux",
            vec!["sv-enable alpi".into()],
            vec!["sv down alpi".into(), "sv-disable alpi".into()],
            "usr/var/service/alpi/run",
        ),
        (
            "openrc",
            vec!["rc-update add alpi default".into(), "rc-service alpi start".into()],
            vec!["rc-service alpi stop".into(), "rc-update del alpi default".into()],
            "dest/etc/init.d/alpi",
        ),
    ];
    for (platform, install, uninstall, main_file) in cases {
        let sb = Sandbox::new();
        let tools = FakeTools::new(&sb, &["loginctl"]);
        let (dest, prefix) = (sb.home().join("dest"), sb.home().join("usr"));
        let termux_version = Path::new("0.118.0");
        let mut envs: Vec<(&str, &Path)> = vec![("ALPI_DESTDIR", &dest)];
        if platform == "termux" {
            envs.extend([("PREFIX", prefix.as_path()), ("TERMUX_VERSION", termux_version)]);
        }
        let home_text = sb.home().display().to_string();
        let expand = |lines: Vec<String>| -> Vec<String> {
            lines.into_iter().map(|l| l.replace("HOME", &home_text)).collect()
        };

        let run = run_with(&sb, &tools, &envs, &["daemon", "install", "--platform", platform]);
        assert_eq!(run.code, 0, "{platform}: {}", run.stderr);
        assert_eq!(tools.take_calls(), expand(install), "{platform} install");
        let main = sb.home().join(main_file);
        assert!(main.exists(), "{platform}: {} not written", main.display());
        if platform == "systemd" {
            assert!(run.stdout.contains("warning: `loginctl enable-linger"), "{}", run.stdout);
            assert!(run.stdout.contains("stops the daemon when you log out"), "{}", run.stdout);
        }
        let status = run_with(&sb, &tools, &envs, &["daemon", "status"]);
        assert!(
            status.stdout.contains(&format!("service: {platform} (")) && status.stdout.contains("up to date"),
            "{}",
            status.stdout
        );
        std::fs::write(&main, "edited by an older alpi\n").unwrap();
        let status = run_with(&sb, &tools, &envs, &["daemon", "status"]);
        assert!(status.stdout.contains("stale"), "{}", status.stdout);

        let run = run_with(&sb, &tools, &envs, &["daemon", "uninstall"]);
        assert_eq!(run.code, 0, "{platform}: {}", run.stderr);
        assert_eq!(tools.take_calls(), expand(uninstall), "{platform} uninstall");
        assert!(!main.exists(), "{platform}: main file left behind");
        if platform == "termux" {
            assert!(!prefix.join("var/service/alpi").exists(), "service dir removed once empty");
        }
        let again = run_with(&sb, &tools, &envs, &["daemon", "uninstall"]);
        assert!(again.stderr.contains("no service is installed"), "{}", again.stderr);
    }
}

#[test]
fn a_failing_required_step_stops_install_with_the_command_named() {
    let sb = Sandbox::new();
    let tools = FakeTools::new(&sb, &["systemctl"]);
    let run = run_with(&sb, &tools, &[], &["daemon", "install", "--platform", "systemd"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("`systemctl --user daemon-reload` failed: no"), "{}", run.stderr);
}

#[test]
fn start_without_a_supervisor_detaches_and_restarts_after_a_crash() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let run = sb.ok(&["daemon", "start"]);
    assert!(run.stdout.starts_with("started daemon all (pid "), "{}", run.stdout);
    let pid_file = sb.root().join("run/daemon-all.pid");
    let first = std::fs::read_to_string(&pid_file).unwrap();
    let first_pid: i32 = first.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(sb.ok(&["daemon", "start"]).stdout.trim(), "daemon all is already running");

    // SAFETY: sending SIGKILL to the daemon this test started.
    unsafe { libc::kill(first_pid, libc::SIGKILL) };
    let restarted = eventually(5, || {
        std::fs::read_to_string(&pid_file).is_ok_and(|now| now != first)
            && sb.run(&["daemon", "status"]).code == 0
    });
    assert!(restarted, "the supervisor did not restart the killed daemon");
    sb.ok(&["daemon", "stop"]);
    assert!(!sb.root().join("alp/alp.sock").exists());
}

#[test]
fn a_real_runit_supervisor_restarts_a_killed_daemon() {
    assert!(have("runsvdir") && have("sv") && have("svlogd"), "runit is needed (.ci/run installs it)");
    let sb = Sandbox::new();
    let a = sb.ok(&["peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["profile", "create", "b"]);
    let b = sb.ok(&["-p", "b", "peers", "key"]).stdout.trim().to_owned();
    sb.ok(&["peers", "add", "b", &b, "--allow", "link.ping"]);
    sb.ok(&["-p", "b", "peers", "add", "default", &a, "--allow", "link.ping"]);

    // Render the Termux-services shim with a prefix whose bin/sh exists here (/usr).
    let usr = Path::new("/usr");
    let mut render = sb.cmd(&["daemon", "install", "--print", "--platform", "termux"]);
    render.env("PREFIX", usr).env("TERMUX_VERSION", "0");
    let run_script = String::from_utf8(render.output().unwrap().stdout).unwrap();
    assert!(run_script.starts_with("#!/usr/bin/sh\n"), "{run_script}");
    let services = sb.home().join("service");
    let alpi_service = services.join("alpi");
    std::fs::create_dir_all(alpi_service.join("log")).unwrap();
    let log_dir = sb.root().join("logs/sv");
    std::fs::create_dir_all(&log_dir).unwrap();
    std::fs::write(alpi_service.join("run"), run_script).unwrap();
    let log_run = format!("#!/bin/sh\nexec svlogd -tt '{}'\n", log_dir.display());
    std::fs::write(alpi_service.join("log/run"), log_run).unwrap();
    for f in ["run", "log/run"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(alpi_service.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let mut runsvdir = Command::new("runsvdir")
        .arg(&services)
        .env("HOME", sb.home())
        .env_remove("ALPI_HOME")
        .spawn()
        .unwrap();
    let sv = |args: &[&str]| {
        let out = Command::new("sv").args(args).arg(&alpi_service).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let serving = || sb.run(&["peers", "ping", "b"]).code == 0;
    assert!(
        eventually(10, || sv(&["status"]).starts_with("run: ") && serving()),
        "runit did not start it: {}",
        sv(&["status"])
    );
    let pid_file = sb.root().join("run/daemon-all.pid");
    let first = std::fs::read_to_string(&pid_file).unwrap();
    let pid: i32 = first.split_whitespace().next().unwrap().parse().unwrap();

    // SAFETY: SIGKILL to the daemon runit started for this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let killed_at = Instant::now();
    assert!(
        eventually(5, || std::fs::read_to_string(&pid_file).is_ok_and(|now| now != first) && serving()),
        "not restarted: {}",
        sv(&["status"])
    );
    assert!(killed_at.elapsed() < Duration::from_secs(2), "restart took {:?}", killed_at.elapsed());

    sv(&["down"]);
    assert!(eventually(5, || sv(&["status"]).starts_with("down: ")), "{}", sv(&["status"]));
    assert!(eventually(5, || !sb.root().join("alp/alp.sock").exists()), "a clean stop removes the socket");
    assert!(std::fs::read_dir(&log_dir).unwrap().count() > 0, "svlogd kept the output");
    let _ = Command::new("sv").arg("exit").arg(&alpi_service).output();
    let _ = runsvdir.kill();
    let _ = runsvdir.wait();
}
