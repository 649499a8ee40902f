//! Start-up time and peak memory of the `alpi` binary built by this cargo profile.
//! Prints `name value unit` lines for ci/bench: median wall time of 50 cold runs of
//! `alpi --version`, and the peak RSS of `alpi peers key` on a fresh profile.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_alpi");

fn run(args: &[&str], home: &std::path::Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(BIN)
        .args(args)
        .env("ALPI_HOME", home)
        .stdout(Stdio::null())
        .status()
        .expect("run alpi");
    let took = start.elapsed();
    assert!(status.success(), "alpi {args:?} failed");
    took
}

/// Largest resident set of any waited-for child so far, in KiB.
fn children_max_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Key creation first, so RUSAGE_CHILDREN's maximum is this command's alone.
    run(&["peers", "key"], &dir.path().join("fresh"));
    let rss = children_max_rss_kib();
    let mut runs: Vec<Duration> = (0..50).map(|_| run(&["--version"], dir.path())).collect();
    runs.sort();
    println!(
        "startup.version.median {:.2} ms",
        runs[25].as_secs_f64() * 1e3
    );
    println!("rss.peers_key.max {rss} KiB");
}
