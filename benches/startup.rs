//! Start-up time and peak memory of the `alpi` binary. Prints `name value unit` lines
//! for ci/bench: the median wall time of 50 cold runs of `alpi --version`, and the
//! peak RSS of `alpi peers key` on a fresh profile (it creates the key).
//!
//! By default it measures the binary this cargo profile built. `ALPI_BENCH_BIN` names
//! another one and `ALPI_BENCH_RUNNER` a wrapper (e.g. `qemu-i386`, the iSH proxy);
//! `ALPI_BENCH_LABEL` is added to the row names. Under a runner, RSS is the runner's
//! and is not printed.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Target {
    bin: String,
    runner: Option<String>,
    label: String,
}

impl Target {
    fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self { bin: common::bench_bin(), runner: var("ALPI_BENCH_RUNNER"), label: common::bench_label() }
    }

    /// The command's own peak memory in KiB (natively only: under qemu it would be
    /// the emulator's).
    fn peak(&self, args: &[&str], home: &Path) -> u64 {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).env("ALPI_HOME", home).stdout(Stdio::null());
        let measured = common::run_with_peak(&mut cmd, b"");
        assert_eq!(measured.code, 0, "alpi {args:?} failed");
        measured.kib
    }

    fn run(&self, args: &[&str], home: &Path) -> Duration {
        let mut cmd = match &self.runner {
            Some(runner) => {
                let mut c = Command::new(runner);
                c.arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let start = Instant::now();
        let status = cmd.args(args).env("ALPI_HOME", home).stdout(Stdio::null()).status().expect("run alpi");
        let took = start.elapsed();
        assert!(status.success(), "alpi {args:?} failed");
        took
    }
}

fn main() {
    if common::listing() {
        return;
    }
    let target = Target::from_env();
    let dir = tempfile::tempdir().unwrap();
    let rss = match target.runner {
        None => target.peak(&["peers", "key"], &dir.path().join("fresh")),
        Some(_) => 0,
    };
    let mut runs: Vec<Duration> = (0..50).map(|_| target.run(&["--version"], dir.path())).collect();
    runs.sort();
    let label = &target.label;
    println!("startup.version{label}.median {:.2} ms", runs[25].as_secs_f64() * 1e3);
    if target.runner.is_none() {
        println!("rss.peers_key{label}.max {rss} KiB");
    }
}
