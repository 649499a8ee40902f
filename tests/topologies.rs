//! The six deployment shapes of `deploy/`, each built on this one machine by its own
//! `demo` script against the fake model (`examples/fake_llm.rs`): exit 0 within 60 s
//! means the shape works, refusals included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_alpi")).parent().unwrap().to_path_buf()
}

/// `port_base`: each demo counts its loopback ports up from its own base, so demos
/// running side by side never race for one.
fn demo(shape: &str, port_base: u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(shape).join("demo");
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .env("ALPI_DEMO_PORT_BASE", port_base.to_string())
        .env("ALPI_FAKE_LLM", bin_dir().join("examples").join("fake_llm"))
        .env_remove("ALPI_HOME")
        .env_remove("ALPI_PROFILE")
        .output()
        .expect("run the demo");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "deploy/{shape}/demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("demo passed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(took < LIMIT, "deploy/{shape}/demo took {took:?}, over {LIMIT:?}");
}

#[test]
fn shape_1_laptop_only() {
    demo("1-laptop", 21500);
}

#[test]
fn shape_2_laptop_and_home_server() {
    demo("2-laptop-home-server", 22000);
}

#[test]
fn shape_3_one_machine_many_profiles() {
    demo("3-one-machine-many-profiles", 22500);
}

#[test]
fn shape_4_every_device_of_one_person() {
    demo("4-multi-device", 23000);
}

#[test]
fn shape_5_family_room() {
    demo("5-family-room", 23500);
}

#[test]
fn shape_6_enterprise_mesh() {
    demo("6-enterprise-mesh", 24000);
}
