//! How little memory a working agent needs, for ci/bench (`name value unit` lines): the
//! daemon serving two profiles while one asks the other's agent a question over ALP.1
//! (`@home …` from a piped chat), the answered turn using a tool and a second model
//! call against the scripted fake model. Prints the daemon's peak resident memory
//! (VmHWM) across the turn and the asking process's own peak.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/fake_openai.rs"]
mod fake_openai;

use std::net::TcpListener;
use std::process::{Command, Stdio};

fn main() {
    if common::listing() {
        return;
    }
    let bin = common::bench_bin();
    let label = common::bench_label();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || fake_openai::serve_scripted(listener));

    let home = tempfile::tempdir().unwrap();
    let alpi = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .env("HOME", home.path())
            .env_remove("ALPI_HOME")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    alpi(&["profile", "create", "home"]);
    alpi(&["profile", "create", "phone"]);
    let base_url = format!("http://127.0.0.1:{port}/v1");
    alpi(&[
        "-p",
        "home",
        "setup",
        "model",
        "--provider",
        "custom",
        "--name",
        "fake",
        "--model",
        "m",
        "--base-url",
        &base_url,
        "--key-env",
        "",
    ]);
    let (home_key, phone_key) =
        (alpi(&["-p", "home", "peers", "key"]), alpi(&["-p", "phone", "peers", "key"]));
    alpi(&["-p", "home", "peers", "add", "phone", &phone_key, "--allow", "link.ask"]);
    alpi(&["-p", "phone", "peers", "add", "home", &home_key]);

    let mut daemon = common::daemon(&bin, home.path());
    let idle = common::vm_kib(daemon.id(), "VmHWM:");

    let mut chat = Command::new(&bin);
    chat.args(["-p", "phone", "chat"])
        .env("HOME", home.path())
        .env_remove("ALPI_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let asked = common::run_with_peak(&mut chat, b"@home TOOL list_dir {\"path\":\".\"}\n");
    assert!(asked.stdout.contains("tool said"), "the turn did not run its tool: {:?}", asked.stdout);
    let peak = common::vm_kib(daemon.id(), "VmHWM:");
    let asker = asked.kib;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    println!("rss.lowmem{label}.daemon_idle.max {idle} KiB");
    println!("rss.lowmem{label}.daemon_with_turn.max {peak} KiB");
    println!("rss.lowmem{label}.asking_chat.max {asker} KiB");
}
