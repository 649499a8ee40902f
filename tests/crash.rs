//! A process killed half way through a state-file write: the old file survives intact,
//! the temp it left is ignored by readers and cleaned by the next write.
//!
//! The test re-runs this test binary as a child that aborts mid-write (no destructors,
//! no unwinding — as close to `kill -9` as a process can do to itself).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use alpi::fsio::{self, SECRET_FILE};
use alpi::profile::config::Config;

const CHILD_ENV: &str = "ALPI_TEST_CRASH_TARGET";

/// In the child: start replacing the file, write half, die.
#[test]
fn crash_child() {
    let Some(target) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let _ = fsio::write_atomic_with(Path::new(&target), SECRET_FILE, |f| {
        f.write_all(b"model: half-written\nbudget: {daily_us")?;
        f.flush()?;
        std::process::abort();
    });
    unreachable!("the child must have aborted");
}

#[test]
fn killed_writer_leaves_the_old_file_and_a_temp_that_is_ignored_then_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    fsio::write_atomic(&config, SECRET_FILE, b"model: openai/gpt-4o-mini\n").unwrap();

    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &config)
        .status()
        .unwrap();
    assert!(!status.success(), "the child was meant to crash");

    let temp = fsio::temp_path(&config);
    assert!(temp.exists(), "the crash should leave its temp behind for this test to mean anything");
    assert_eq!(Config::load(&config).unwrap().model, "openai/gpt-4o-mini");

    fsio::write_atomic(&config, SECRET_FILE, b"model: groq/llama\n").unwrap();
    assert!(!temp.exists(), "next write reuses and removes the stale temp");
    assert_eq!(fs::read_to_string(&config).unwrap(), "model: groq/llama\n");
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, ["config.yaml"]);
}
