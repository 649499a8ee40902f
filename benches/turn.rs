//! A three-step tool-using turn for ci/bench, as `name value unit` lines: wall time and
//! peak RSS of `alpi chat --once` (the real binary) against a local server speaking the
//! OpenAI wire format — two tool calls, then the answer. No network beyond loopback.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/fake_openai.rs"]
mod fake_openai;

use std::process::{Command, Stdio};
use std::time::Instant;

use fake_openai::{Canned, fake_provider, sse};

const BIN: &str = env!("CARGO_BIN_EXE_alpi");
const RUNS: usize = 10;

fn tool_step(id: &str, name: &str, args: &str) -> String {
    let args = serde_json::to_string(args).unwrap();
    sse(&[
        &format!(
            r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"{id}","type":"function","function":{{"name":"{name}","arguments":{args}}}}}]}}}}]}}"#
        ),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":50}}"#,
    ])
}

fn main() {
    if common::listing() {
        return;
    }
    let mut times = Vec::new();
    let mut peak_kib = 0;
    // The last run, not timed, reads the command's own peak memory.
    for run in 0..=RUNS {
        let fake = fake_provider(vec![
            Canned::ok(tool_step("c1", "write_file", r#"{"path":"a.txt","content":"hello"}"#)),
            Canned::ok(tool_step("c2", "terminal", r#"{"command":"wc -c a.txt"}"#)),
            Canned::ok(sse(&[
                r#"{"choices":[{"index":0,"delta":{"content":"a.txt has 5 bytes."}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            ])),
        ]);
        let home = tempfile::tempdir().unwrap();
        let root = home.path().join(".alpi");
        std::fs::create_dir_all(home.path().join("ws")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        let config = format!(
            "model: fake/bench\nworkspace: {}\nproviders:\n  custom:\n    - name: fake\n      base_url: http://127.0.0.1:{}/v1\n      api_key_env: FAKE_KEY\n",
            home.path().join("ws").display(),
            fake.port
        );
        std::fs::write(root.join("config.yaml"), config).unwrap();
        std::fs::write(root.join(".env"), "FAKE_KEY=k\n").unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["chat", "--once", "count the bytes"])
            .env("HOME", home.path())
            .env_remove("ALPI_HOME")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if run == RUNS {
            let measured = common::run_with_peak(&mut cmd, b"");
            assert!(measured.code == 0 && measured.stdout.contains("5 bytes"));
            peak_kib = measured.kib;
            break;
        }
        let started = Instant::now();
        let out = cmd.output().unwrap();
        times.push(started.elapsed());
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("5 bytes"));
    }
    times.sort();
    println!("turn.3_steps.median {:.2} ms", times[RUNS / 2].as_secs_f64() * 1e3);
    println!("rss.turn.3_steps.max {peak_kib} KiB");
}
