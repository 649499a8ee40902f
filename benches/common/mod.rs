//! Measuring helpers shared by the benches (each bench includes this file by path).

#![allow(dead_code)]

use std::time::{Duration, Instant};

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
