//! `alpi doctor` and config handling as the user sees them.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::Sandbox;

fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.get(6..).and_then(|rest| rest.strip_prefix(check)).is_some_and(|r| r.starts_with("  ")))
        .unwrap_or_else(|| panic!("no {check} line in:\n{out}"))
}

#[test]
fn healthy_profile_passes_every_check_with_one_line_each() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    fs::write(sb.root().join("config.yaml"), "model: openai/gpt-4o-mini\n").unwrap();
    fs::write(sb.root().join(".env"), "OPENAI_API_KEY=sk-test\n").unwrap();
    let run = sb.ok(&["doctor", "--offline"]);
    for l in run.stdout.lines() {
        let verdict = l.split_whitespace().next().unwrap();
        assert_eq!(verdict, "ok", "{}", run.stdout);
    }
    for check in [
        "profile",
        "layout",
        "secrets dir",
        "identity",
        "private key",
        "public key",
        "config",
        "model",
        ".env",
        "key",
        "sessions",
    ] {
        line(&run.stdout, check);
    }
}

#[test]
fn missing_profile_fails_without_creating_it() {
    let sb = Sandbox::new();
    let run = sb.run(&["-p", "ghost", "doctor"]);
    assert_eq!(run.code, 1);
    assert!(line(&run.stdout, "profile").starts_with("fail"), "{}", run.stdout);
    assert!(!sb.profile("ghost").exists());
}

#[test]
fn loose_modes_fail() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let chmod =
        |rel: &str, mode| fs::set_permissions(sb.root().join(rel), fs::Permissions::from_mode(mode)).unwrap();
    chmod(".env", 0o644);
    chmod("alp/secrets/alp_key.pem", 0o640);
    chmod("", 0o755);
    let run = sb.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    for check in [".env", "private key", "profile"] {
        let l = line(&run.stdout, check);
        assert!(l.starts_with("fail") && l.contains("chmod"), "{l}");
    }
}

#[test]
fn missing_key_warns_and_corrupt_key_fails() {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "x"]);
    let secrets = sb.profile("x").join("alp/secrets");
    fs::remove_file(secrets.join("alp_key.pem")).unwrap();
    let run = sb.ok(&["-p", "x", "doctor"]);
    assert!(line(&run.stdout, "identity").starts_with("warn"), "{}", run.stdout);
    fs::write(secrets.join("alp_key.pem"), "garbage").unwrap();
    let run = sb.run(&["-p", "x", "doctor"]);
    assert_eq!(run.code, 1);
    assert!(line(&run.stdout, "identity").starts_with("fail"), "{}", run.stdout);
}

#[test]
fn unknown_config_keys_warn_but_do_not_fail() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    fs::write(
        sb.root().join("config.yaml"),
        "model: groq/llama\ntheme: dark\nnetwork: {host: '', port: 1}\n",
    )
    .unwrap();
    let run = sb.ok(&["doctor"]);
    let l = line(&run.stdout, "config keys");
    assert!(l.starts_with("warn") && l.contains("theme") && l.contains("network.port"), "{l}");
    // The file is read, never rewritten.
    assert!(fs::read_to_string(sb.root().join("config.yaml")).unwrap().contains("theme: dark"));
}

#[test]
fn malformed_config_is_one_line_naming_file_line_and_column() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let cfg = sb.root().join("config.yaml");
    fs::write(&cfg, "model: x\nbudget:\n  daily_usd: [1\n").unwrap();
    let run = sb.run(&["doctor"]);
    assert_eq!(run.code, 1);
    let l = line(&run.stdout, "config");
    assert!(l.starts_with("fail") && l.contains(&format!("{}:", cfg.display())), "{l}");

    // The REPL entry point refuses with the same one-line error and leaves the file alone.
    let run = sb.run(&[]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let prefix = format!("alpi: {}:", cfg.display());
    assert!(run.stderr.starts_with(&prefix), "{}", run.stderr);
    let location = run.stderr[prefix.len()..].split(':').take(2).collect::<Vec<_>>();
    assert!(location.iter().all(|n| n.trim().parse::<u32>().is_ok()), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&cfg).unwrap(), "model: x\nbudget:\n  daily_usd: [1\n");
}

#[test]
fn service_log_records_key_creation_but_never_the_key() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let log = fs::read_to_string(sb.root().join("logs/service.log")).unwrap();
    assert!(log.contains("created identity"), "{log}");
    let pem = fs::read_to_string(sb.root().join("alp/secrets/alp_key.pem")).unwrap();
    let body = pem.lines().nth(1).unwrap();
    assert!(!log.contains(body));
    assert_eq!(common::mode(&sb.root().join("logs/service.log")), 0o600);
}
