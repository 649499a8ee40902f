//! Measuring helpers shared by the benches (each bench includes this file by path).

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// `cargo bench -- --list` asks a bench for its test names; these have none.
pub fn listing() -> bool {
    std::env::args().any(|a| a == "--list")
}

/// The binary a bench runs: `ALPI_BENCH_BIN` (e.g. the static musl build phones run),
/// else the one this cargo profile built.
pub fn bench_bin() -> String {
    std::env::var("ALPI_BENCH_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or(env!("CARGO_BIN_EXE_alpi").into())
}

/// `.` + `ALPI_BENCH_LABEL`, added to row names when another binary is measured.
pub fn bench_label() -> String {
    std::env::var("ALPI_BENCH_LABEL")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|l| format!(".{l}"))
        .unwrap_or_default()
}

/// Median wall time of `rounds` runs of `op`.
pub fn median(rounds: usize, mut op: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            op();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[rounds / 2]
}

/// A `/proc/<pid>/status` memory field (`VmRSS:`, `VmHWM:`) in KiB.
pub fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// How a measured command ended.
pub struct Peak {
    pub code: i32,
    /// Its own peak resident memory (VmHWM), KiB.
    pub kib: u64,
    /// What it wrote to a piped stdout.
    pub stdout: String,
}

/// Runs `cmd` to the end with `input` on a piped stdin (if piped) and reads its own peak
/// resident memory (VmHWM) at the moment it exits (a ptrace exit stop). `getrusage`'s
/// `ru_maxrss` will not do: a child inherits its parent's peak across fork and exec,
/// so a big bench process would be counted as the command's memory.
pub fn run_with_peak(cmd: &mut std::process::Command, input: &[u8]) -> Peak {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    // SAFETY: ptrace(TRACEME) is async-signal-safe; the child stops at its exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn the measured command");
    let pid = child.id() as libc::pid_t;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).expect("write the command's input");
    }
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let mut peak = 0;
    let mut status = 0;
    let mut first_stop = true;
    loop {
        // SAFETY: waiting for and resuming our own traced child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break;
        }
        let signal = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        let mut pass = 0;
        if first_stop {
            first_stop = false;
            // SAFETY: as above.
            unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, libc::PTRACE_O_TRACEEXIT) };
        } else if event == libc::PTRACE_EVENT_EXIT {
            peak = vm_kib(pid as u32, "VmHWM:");
        } else if signal != libc::SIGTRAP {
            pass = signal;
        }
        // SAFETY: as above.
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, pass) };
    }
    drop(child);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
    let stdout = reader.map(|r| r.join().unwrap_or_default()).unwrap_or_default();
    Peak { code, kib: peak, stdout }
}

/// `alpi daemon run` for the profiles under `home`, once it says it is serving.
pub fn daemon(bin: &str, home: &std::path::Path) -> std::process::Child {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut daemon = Command::new(bin)
        .args(["daemon", "run"])
        .env("HOME", home)
        .env_remove("ALPI_HOME")
        .env_remove("ALPI_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let mut ready = String::new();
    std::io::BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert!(ready.contains("serving"), "daemon did not start: {ready:?}");
    daemon
}

/// `count` cron jobs in the original's `jobs.json` format, spread over the day.
pub fn jobs_json(count: usize) -> String {
    let jobs: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"id": "{i:08x}", "kind": "cron", "prompt": "job {i}", "notify": false, "expression": "{} {} * * *"}}"#,
                i % 60,
                i % 24
            )
        })
        .collect();
    format!("[{}]", jobs.join(",\n"))
}
