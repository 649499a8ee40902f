//! MCP servers for ci/bench, as `name value unit` lines: the time from first use to a
//! server's tool list (spawn, `initialize`, `tools/list`) for the two pinned npm
//! servers, median of several cold starts; then the resident memory of the REPL
//! process itself (not its servers) idle with both attached, and without any.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/fake_openai.rs"]
mod fake_openai;
#[path = "../tests/common/mcp_servers.rs"]
mod mcp_servers;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use alpi::agent::mcp::{Toolbox, stop_profile};
use alpi::profile::config::Config;
use alpi::profile::{ProfileName, Root};

const COLD_STARTS: usize = 7;

fn main() {
    if common::listing() {
        return;
    }
    let Some(servers) = mcp_servers::installed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let label = common::bench_label();
    let notes_arg = notes.display().to_string();
    let runs = [
        ("everything", &servers.everything, "stdio"),
        ("filesystem", &servers.filesystem, notes_arg.as_str()),
    ];
    // The first-use figures come from the library, not from ALPI_BENCH_BIN: once is enough.
    let runs = if std::env::var_os("ALPI_BENCH_BIN").is_some() { &runs[..0] } else { &runs[..] };
    for (server, entry, arg) in runs {
        let yaml = format!(
            "mcp:\n  servers:\n    {server}:\n      command: node\n      args: [{}, {arg:?}]\n",
            entry.display()
        );
        let median = first_use_to_tools(dir.path(), &yaml);
        println!("mcp.first_use_to_tools.{server}.median {:.1} ms", median.as_secs_f64() * 1e3);
    }
    let both = format!(
        "mcp:\n  servers:\n    every:\n      command: node\n      args: [{}]\n    files:\n      command: node\n      args: [{}, {}]\n",
        servers.everything.display(),
        servers.filesystem.display(),
        notes.display()
    );
    for (count, yaml) in [(2, both.as_str()), (0, "")] {
        let (idle, peak) = repl_rss(yaml);
        println!("rss.repl{label}.mcp{count}.idle {idle} KiB");
        println!("rss.repl{label}.mcp{count}.max {peak} KiB");
    }
}

/// Median over cold starts of loading a fresh profile's toolbox with one server.
fn first_use_to_tools(dir: &Path, yaml: &str) -> Duration {
    let mut samples: Vec<Duration> = (0..COLD_STARTS)
        .map(|round| {
            let home = Root::new(dir.join(format!("p{round}"))).home(&ProfileName::default_profile());
            home.ensure_layout().unwrap();
            let config = Config::parse(&home.config_path(), yaml).unwrap();
            let toolbox = Toolbox::load(&home, &config);
            let report = &toolbox.reports()[0];
            assert!(report.outcome.is_ok(), "{:?}", report.outcome);
            stop_profile(&home);
            report.elapsed
        })
        .collect();
    samples.sort();
    samples[COLD_STARTS / 2]
}

/// VmRSS and VmHWM of a piped REPL after `/tools` (which starts the servers) has answered.
fn repl_rss(mcp_yaml: &str) -> (u64, u64) {
    let fake = fake_openai::fake_provider(Vec::new());
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join(".alpi");
    std::fs::create_dir_all(&root).unwrap();
    let config = format!(
        "model: fake/bench\nproviders:\n  custom:\n    - name: fake\n      base_url: http://127.0.0.1:{}/v1\n      api_key_env: FAKE_KEY\n{mcp_yaml}",
        fake.port
    );
    std::fs::write(root.join("config.yaml"), config).unwrap();
    std::fs::write(root.join(".env"), "FAKE_KEY=k\n").unwrap();
    let bin = common::bench_bin();
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
    input.write_all(b"/tools\n/cost\n").unwrap();
    input.flush().unwrap();
    let mut line = String::new();
    while !line.starts_with("session") {
        line.clear();
        assert!(output.read_line(&mut line).unwrap() > 0, "the REPL ended early");
    }
    let rss = (common::vm_kib(repl.id(), "VmRSS:"), common::vm_kib(repl.id(), "VmHWM:"));
    drop(input);
    assert!(repl.wait().unwrap().success());
    rss
}
