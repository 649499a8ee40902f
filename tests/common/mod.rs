//! Runs the built `alpi` binary against a throw-away home directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Sandbox {
    dir: tempfile::TempDir,
    /// Extra environment for every command (tuning knobs such as `ALPI_AUDIT_POLL_MS`).
    env: std::sync::Mutex<Vec<(String, String)>>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Sandbox {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), env: Default::default() }
    }

    /// Sets `key=value` for every command started from now on.
    pub fn set_env(&self, key: &str, value: &str) {
        self.env.lock().unwrap().push((key.to_owned(), value.to_owned()));
    }

    /// The fake `$HOME`.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `~/.alpi`, the default profile.
    pub fn root(&self) -> PathBuf {
        self.home().join(".alpi")
    }

    pub fn profile(&self, name: &str) -> PathBuf {
        self.root().join("profiles").join(name)
    }

    /// A command with `HOME` pointed here and no profile selection inherited.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alpi"));
        cmd.args(args)
            .env("HOME", self.home())
            .env_remove("ALPI_HOME")
            .env_remove("ALPI_PROFILE")
            .env_remove("ALPI_LOG")
            .stdin(Stdio::null());
        cmd.envs(self.env.lock().unwrap().iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("run alpi"))
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn alpi");
        // A command may exit without reading its input (a refused argument): not an error.
        match child.stdin.take().unwrap().write_all(input.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing alpi's stdin: {e}"),
            _ => {}
        }
        Run::from(child.wait_with_output().unwrap())
    }

    /// The default profile with a key pair, a workspace `~/ws`, and model
    /// `fake/test-model` served at `127.0.0.1:port` (key `FAKE_KEY`); `extra` is
    /// appended to config.yaml.
    pub fn configure_fake_model(&self, port: u16, extra: &str) {
        self.ok(&["peers", "key"]);
        let ws = self.home().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let config = format!(
            "model: fake/test-model\nworkspace: {}\nproviders:\n  custom:\n    - name: fake\n      base_url: http://127.0.0.1:{port}/v1\n      api_key_env: FAKE_KEY\n{extra}",
            ws.display()
        );
        std::fs::write(self.root().join("config.yaml"), config).unwrap();
        std::fs::write(self.root().join(".env"), "FAKE_KEY=test-key\n").unwrap();
    }

    /// Runs and asserts exit 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "alpi {args:?} failed: {}{}", run.stdout, run.stderr);
        run
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode()
        & 0o7777
}

/// A running `alpi daemon run`, stopped (SIGKILL) when dropped if still alive.
pub struct Daemon {
    pub child: std::process::Child,
    pub ready_line: String,
}

impl Sandbox {
    /// Starts `alpi [args] daemon run` and waits for its readiness line on stdout.
    pub fn daemon(&self, args: &[&str]) -> Daemon {
        self.daemon_with(args, &[])
    }

    /// Starts `alpi [args] daemon run [run_args]` and waits for its readiness line.
    pub fn daemon_with(&self, args: &[&str], run_args: &[&str]) -> Daemon {
        self.try_daemon_with(args, run_args)
            .unwrap_or_else(|(code, err)| panic!("daemon did not start ({code:?}): {err}"))
    }

    /// Like [`Sandbox::daemon`], but a daemon that exits instead returns its code and stderr.
    pub fn try_daemon(&self, args: &[&str]) -> Result<Daemon, (Option<i32>, String)> {
        self.try_daemon_with(args, &[])
    }

    fn try_daemon_with(&self, args: &[&str], run_args: &[&str]) -> Result<Daemon, (Option<i32>, String)> {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["daemon", "run"]);
        full.extend(run_args);
        Self::start_daemon(&mut self.cmd(&full))
    }

    /// Spawns `cmd` (an `alpi … daemon run` from [`Sandbox::cmd`], its environment set
    /// by the caller) and waits for its readiness line.
    pub fn start_daemon(cmd: &mut Command) -> Result<Daemon, (Option<i32>, String)> {
        use std::io::{BufRead, Read};
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn daemon");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.is_empty() {
            let status = child.wait().unwrap();
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return Err((status.code(), err));
        }
        Ok(Daemon { child, ready_line: line })
    }
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        unsafe_kill(self.child.id(), 15);
        self.child.wait().unwrap().code()
    }

    /// SIGKILL, then waits: the daemon gets no chance to clean up.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

/// Polls `done` every 20 ms until it holds or `secs` pass; for conditions with no event
/// to wait on (another process's rescan).
pub fn eventually(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done()
}

/// A raw TCP connection that has done the Noise_XK handshake as `me` towards `peer`.
pub fn noise_handshake(
    address: &str,
    me: &alpi::alp::identity::Keypair,
    peer: &alpi::alp::identity::Identity,
) -> (std::net::TcpStream, alpi::alp::transport::noise::Session) {
    use alpi::alp::transport::noise::{self, Handshake};
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut hs = Handshake::initiator(me, peer).unwrap();
    stream.write_all(&noise::handshake_frame(&hs.write().unwrap())).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut msg).unwrap();
    hs.read(&msg).unwrap();
    stream.write_all(&noise::handshake_frame(&hs.write().unwrap())).unwrap();
    (stream, hs.finish().unwrap())
}

/// Lifts pinned peer `id`'s rate limit, for tests whose peer calls far more than 60
/// times a minute.
pub fn lift_rate_limit(alp_dir: &Path, id: &str) {
    let files = alpi::alp::peers::PeerFiles::new(alp_dir);
    let limit = alpi::yaml::parse(b"per_minute: 100000").unwrap();
    let lift = |peers: &mut Vec<alpi::alp::peers::Peer>| {
        peers.iter_mut().filter(|p| p.id == id).for_each(|p| p.rate_limit = Some(limit.clone()));
        Ok(())
    };
    files.update(lift).unwrap();
}

/// One ALP.1 request line on a Unix socket and whatever comes back before the server
/// closes (nothing, for a silent drop).
pub fn unix_request(sock: &Path, line: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut answer = Vec::new();
    if let Ok(mut s) = std::os::unix::net::UnixStream::connect(sock) {
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let _ = s.write_all(line);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = s.read_to_end(&mut answer);
    }
    answer
}
