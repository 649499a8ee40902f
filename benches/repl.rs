//! The REPL for ci/bench, as `name value unit` lines: from Enter to the first streamed
//! byte of the reply, and how much of that is alpi's own (the total minus the local
//! fake server's share, from request arrival to its first response byte); then the
//! REPL's resident memory while it sits at the prompt. The real binary, piped stdin.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/fake_openai.rs"]
mod fake_openai;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_openai::{Canned, fake_provider, final_stream};

const TURNS: usize = 30;

fn main() {
    if common::listing() {
        return;
    }
    let fake = fake_provider((0..TURNS).map(|_| Canned::ok(final_stream("ok"))).collect());
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join(".alpi");
    std::fs::create_dir_all(&root).unwrap();
    let config = format!(
        "model: fake/bench\nproviders:\n  custom:\n    - name: fake\n      base_url: http://127.0.0.1:{}/v1\n      api_key_env: FAKE_KEY\n",
        fake.port
    );
    std::fs::write(root.join("config.yaml"), config).unwrap();
    std::fs::write(root.join(".env"), "FAKE_KEY=k\n").unwrap();
    let bin = common::bench_bin();
    let label = common::bench_label();
    let mut repl = Command::new(bin)
        .env("HOME", home.path())
        .env_remove("ALPI_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = repl.stdin.take().unwrap();
    let mut output = BufReader::new(repl.stdout.take().unwrap());
    let (mut totals, mut overheads) = (Vec::new(), Vec::new());
    for turn in 0..TURNS {
        let enter = Instant::now();
        input.write_all(b"hi\n").unwrap();
        input.flush().unwrap();
        let mut first = [0u8; 1];
        output.read_exact(&mut first).unwrap();
        let first_byte = Instant::now();
        let mut rest = String::new();
        output.read_line(&mut rest).unwrap();
        assert_eq!(format!("{}{rest}", first[0] as char), "ok\n");
        let (arrived, answered) = fake.times.lock().unwrap()[turn];
        let total = first_byte - enter;
        totals.push(total);
        overheads.push(total.saturating_sub(answered - arrived));
    }
    let idle_kib = common::vm_kib(repl.id(), "VmRSS:");
    let peak_kib = common::vm_kib(repl.id(), "VmHWM:");
    drop(input);
    assert!(repl.wait().unwrap().success());
    println!("repl.enter_to_first_byte{label}.median {:.3} ms", ms(median(&mut totals)));
    println!("repl.first_byte_overhead{label}.median {:.3} ms", ms(median(&mut overheads)));
    println!("rss.repl{label}.idle {idle_kib} KiB");
    println!("rss.repl{label}.max {peak_kib} KiB");
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
