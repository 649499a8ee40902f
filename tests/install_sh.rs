//! install.sh, run the way a user would (`sh install.sh DIST`) against a fake release:
//! one tarball per shipped target whose `alpi` is a shell script naming its target, and
//! a fake `uname` first on PATH to play each machine. Checks the tarball it picks, where
//! it installs, that a checksum mismatch is refused, and what it says on macOS. Runs
//! under `sh` (dash on Debian, like Pi OS) and, when installed, busybox ash (like iSH).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const VERSION: &str = "9.8.7";
const TARGETS: [&str; 4] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "i686-unknown-linux-musl",
    "armv7-unknown-linux-gnueabihf",
];

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A release directory as ci/release writes it, plus a bin/ holding the fake `uname`.
struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("dist");
        let stage = dir.path().join("stage");
        fs::create_dir_all(&dist).unwrap();
        let mut sums = String::new();
        for target in TARGETS {
            let name = format!("alpi-{VERSION}-{target}");
            fs::create_dir_all(stage.join(&name)).unwrap();
            write_exec(
                &stage.join(&name).join("alpi"),
                &format!("#!/bin/sh\necho 'alpi {VERSION} ({target})'\n"),
            );
            fs::write(stage.join(&name).join("LICENSE"), "Apache-2.0\n").unwrap();
            let tarball = dist.join(format!("{name}.tar.gz"));
            let status =
                Command::new("tar").arg("-czf").arg(&tarball).arg("-C").arg(&stage).arg(&name).status();
            assert!(status.unwrap().success(), "tar");
            let hash: String =
                Sha256::digest(fs::read(&tarball).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
            sums.push_str(&format!("{hash}  {name}.tar.gz\n"));
        }
        fs::write(dist.join("SHA256SUMS"), sums).unwrap();
        fs::copy(script(), dist.join("install.sh")).unwrap();

        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        write_exec(
            &bin.join("uname"),
            "#!/bin/sh\ncase \"$1\" in -m) echo \"$FAKE_UNAME_M\" ;; *) echo \"$FAKE_UNAME_S\" ;; esac\n",
        );
        fs::create_dir_all(dir.path().join("home")).unwrap();
        Release { dir }
    }

    fn dist(&self) -> PathBuf {
        self.dir.path().join("dist")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `shell install.sh args…` as `uname -s`/`-m` = `os`/`arch`, with a clean
    /// environment apart from `extra`.
    fn run(&self, shell: &[&str], os: &str, arch: &str, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let path = format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap());
        let mut cmd = Command::new(shell[0]);
        cmd.args(&shell[1..]).arg(script()).args(args);
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.home())
            .env("FAKE_UNAME_S", os)
            .env("FAKE_UNAME_M", arch);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Run::from(cmd.output().unwrap())
    }
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh")
}

/// POSIX shells to run the script under: `sh`, and busybox's ash when it is installed.
fn shells() -> Vec<Vec<&'static str>> {
    let mut shells = vec![vec!["sh"]];
    if Command::new("busybox").arg("true").output().is_ok_and(|o| o.status.success()) {
        shells.push(vec!["busybox", "sh"]);
    }
    shells
}

/// The `--version` line of the alpi installed at `path`.
fn installed(path: &Path) -> String {
    let out =
        Command::new(path).arg("--version").output().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn each_linux_machine_gets_its_own_target_in_local_bin() {
    for shell in shells() {
        for (arch, target) in [
            ("aarch64", "aarch64-unknown-linux-musl"),
            ("arm64", "aarch64-unknown-linux-musl"),
            ("armv7l", "armv7-unknown-linux-gnueabihf"),
            ("x86_64", "x86_64-unknown-linux-musl"),
            ("i686", "i686-unknown-linux-musl"),
        ] {
            let release = Release::new();
            let dist = release.dist();
            let run = release.run(&shell, "Linux", arch, &[dist.to_str().unwrap()], &[]);
            assert!(run.ok, "{shell:?} {arch}: {}{}", run.stdout, run.stderr);
            let bin = release.home().join(".local/bin/alpi");
            assert_eq!(installed(&bin), format!("alpi {VERSION} ({target})"), "{shell:?} {arch}");
            assert_eq!(fs::metadata(&bin).unwrap().permissions().mode() & 0o777, 0o755);
            assert!(run.stdout.contains("is not on your PATH"), "{}", run.stdout);
        }
    }
}

#[test]
fn termux_installs_to_prefix_bin_and_knows_it_is_on_path() {
    for shell in shells() {
        let release = Release::new();
        let prefix = release.dir.path().join("usr");
        let prefix_bin = prefix.join("bin");
        fs::create_dir_all(&prefix_bin).unwrap();
        let dist = release.dist();
        let path = format!(
            "{}:{}:{}",
            release.dir.path().join("bin").display(),
            prefix_bin.display(),
            "/usr/bin:/bin"
        );
        let run = release.run(
            &shell,
            "Linux",
            "aarch64",
            &[dist.to_str().unwrap()],
            &[("TERMUX_VERSION", "0.118.0"), ("PREFIX", prefix.to_str().unwrap()), ("PATH", &path)],
        );
        assert!(run.ok, "{shell:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("Termux on aarch64"), "{}", run.stdout);
        assert_eq!(
            installed(&prefix_bin.join("alpi")),
            format!("alpi {VERSION} (aarch64-unknown-linux-musl)")
        );
        assert!(!release.home().join(".local").exists(), "also wrote to ~/.local");
        assert!(run.stdout.contains("next: alpi doctor"), "{}", run.stdout);
    }
}

#[test]
fn the_dist_comes_from_alpi_dist_or_else_the_scripts_own_directory() {
    let release = Release::new();
    let dist = release.dist();
    let run = release.run(&["sh"], "Linux", "x86_64", &[], &[("ALPI_DIST", dist.to_str().unwrap())]);
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    fs::remove_file(release.home().join(".local/bin/alpi")).unwrap();

    // The copy ci/release puts next to the tarballs, run with no argument.
    let out = Command::new("sh")
        .arg(dist.join("install.sh"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", release.dir.path().join("bin").display()))
        .env("HOME", release.home())
        .env("FAKE_UNAME_S", "Linux")
        .env("FAKE_UNAME_M", "i686")
        .output()
        .unwrap();
    let run = Run::from(out);
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        installed(&release.home().join(".local/bin/alpi")),
        format!("alpi {VERSION} (i686-unknown-linux-musl)")
    );
}

#[test]
fn a_tarball_that_does_not_match_sha256sums_is_refused() {
    for shell in shells() {
        let release = Release::new();
        let dist = release.dist();
        // One flipped byte in the tarball the aarch64 machine would pick.
        let tarball = dist.join(format!("alpi-{VERSION}-aarch64-unknown-linux-musl.tar.gz"));
        let mut bytes = fs::read(&tarball).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&tarball, bytes).unwrap();

        let run = release.run(&shell, "Linux", "aarch64", &[dist.to_str().unwrap()], &[]);
        assert!(!run.ok, "{shell:?}: installed a corrupt tarball: {}", run.stdout);
        assert!(run.stderr.contains("does not match SHA256SUMS"), "{}", run.stderr);
        assert!(!release.home().join(".local/bin/alpi").exists(), "{shell:?}: a binary was installed");

        // The other targets' tarballs are intact and still install.
        let run = release.run(&shell, "Linux", "x86_64", &[dist.to_str().unwrap()], &[]);
        assert!(run.ok, "{}{}", run.stdout, run.stderr);
    }
}

#[test]
fn macos_and_unbuilt_cpus_are_told_to_build_from_source() {
    for (os, arch) in [("Darwin", "arm64"), ("Darwin", "x86_64"), ("Linux", "armv6l")] {
        let release = Release::new();
        let dist = release.dist();
        let run = release.run(&["sh"], os, arch, &[dist.to_str().unwrap()], &[]);
        assert!(!run.ok, "{os} {arch}: {}", run.stdout);
        assert!(
            format!("{}{}", run.stdout, run.stderr).contains("cargo install --locked --path ."),
            "{os} {arch}: {}{}",
            run.stdout,
            run.stderr
        );
        assert!(!release.home().join(".local/bin").exists(), "{os} {arch}: installed something");
    }
}

#[test]
fn a_release_without_this_target_says_so() {
    let release = Release::new();
    let dist = release.dist();
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let kept: String = sums.lines().filter(|l| !l.contains("armv7")).map(|l| format!("{l}\n")).collect();
    fs::write(dist.join("SHA256SUMS"), kept).unwrap();
    let run = release.run(&["sh"], "Linux", "armv7l", &[dist.to_str().unwrap()], &[]);
    assert!(!run.ok);
    assert!(run.stderr.contains("no binary for armv7-unknown-linux-gnueabihf"), "{}", run.stderr);
}
