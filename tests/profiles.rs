//! Profiles as a user drives them: selection, layout and modes, names, listing, removal.

mod common;

use common::{Sandbox, mode};

const LAYOUT: [&str; 9] =
    ["memories", "sessions", "mentions", "schedule", "gateway", "outputs", "logs", "alp", "alp/secrets"];

#[test]
fn version_names_the_target() {
    let run = Sandbox::new().ok(&["--version"]);
    let line = run.stdout.trim();
    assert!(line.starts_with("alpi 0.1.0 ("), "{line}");
    assert!(line.ends_with("-linux-gnu)") || line.ends_with("-linux-musl)"), "{line}");
}

#[test]
fn create_makes_the_layout_with_private_modes() {
    let sb = Sandbox::new();
    let run = sb.ok(&["profile", "create", "researcher"]);
    assert!(run.stdout.contains("created profile researcher"), "{}", run.stdout);
    let dir = sb.profile("researcher");
    assert_eq!(mode(&dir), 0o700);
    for sub in LAYOUT {
        assert_eq!(mode(&dir.join(sub)), 0o700, "{sub}");
    }
    assert_eq!(mode(&dir.join(".env")), 0o600);
    assert_eq!(mode(&dir.join("config.yaml")), 0o600);
    assert_eq!(mode(&dir.join("alp/secrets/alp_key.pem")), 0o600);
    assert_eq!(mode(&dir.join("alp/secrets/alp_key.pub")), 0o644);
    // Directories alpi had to create on the way are private too.
    assert_eq!(mode(&sb.root()), 0o700);
    assert_eq!(mode(&sb.root().join("profiles")), 0o700);
    // Creating it again is refused and changes nothing.
    let again = sb.run(&["profile", "create", "researcher"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn invalid_names_are_clear_errors() {
    let sb = Sandbox::new();
    for bad in ["Research", "_x", "a.b", "../../etc", "x".repeat(33).as_str(), ""] {
        let run = sb.run(&["profile", "create", bad]);
        assert_eq!(run.code, 1, "{bad:?} accepted");
        assert!(run.stderr.contains("invalid profile name"), "{bad:?}: {}", run.stderr);
        let run = sb.run(&["-p", bad, "peers", "key"]);
        assert!(run.stderr.contains("invalid profile name"), "{bad:?}: {}", run.stderr);
    }
    assert!(
        !sb.root().join("profiles").exists()
            || std::fs::read_dir(sb.root().join("profiles")).unwrap().count() == 0
    );
    let run = sb.run(&["profile", "create", "default"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("default profile cannot be created"), "{}", run.stderr);
}

#[test]
fn resolution_order_alpi_home_then_flag_then_env_then_default() {
    let sb = Sandbox::new();
    let exact = sb.home().join("elsewhere");
    let key = |args: &[&str], envs: &[(&str, &std::path::Path)]| {
        let mut cmd = sb.cmd(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let envp = std::path::Path::new("fromenv");
    // ALPI_HOME beats -p and ALPI_PROFILE.
    let a = key(&["-p", "flag", "peers", "key"], &[("ALPI_HOME", &exact), ("ALPI_PROFILE", envp)]);
    assert!(exact.join("alp/secrets/alp_key.pem").exists());
    assert!(!sb.profile("flag").exists() && !sb.profile("fromenv").exists());
    // -p beats ALPI_PROFILE.
    let b = key(&["-p", "flag", "peers", "key"], &[("ALPI_PROFILE", envp)]);
    assert!(sb.profile("flag").join("alp/secrets/alp_key.pem").exists());
    assert!(!sb.profile("fromenv").exists());
    // ALPI_PROFILE beats the default.
    let c = key(&["peers", "key"], &[("ALPI_PROFILE", envp)]);
    assert!(sb.profile("fromenv").join("alp/secrets/alp_key.pem").exists());
    assert!(!sb.root().join("alp/secrets/alp_key.pem").exists());
    // Nothing set: ~/.alpi.
    let d = key(&["peers", "key"], &[]);
    assert!(sb.root().join("alp/secrets/alp_key.pem").exists());
    let all = [&a, &b, &c, &d];
    for (i, x) in all.iter().enumerate() {
        assert_eq!(x.len(), 44);
        assert!(all[i + 1..].iter().all(|y| y != x), "profiles share a key");
    }
    // `-p default` is the root profile.
    assert_eq!(key(&["-p", "default", "peers", "key"], &[]), d);
}

#[test]
fn alpi_home_inside_profiles_knows_its_name_and_root() {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "cron"]);
    let out = sb.cmd(&["profile", "list"]).env("ALPI_HOME", sb.profile("cron")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with("* cron")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("  default")), "{text}");
}

#[test]
fn list_shows_default_and_named_profiles_with_identity_and_size() {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "researcher"]);
    let id = sb.ok(&["-p", "researcher", "peers", "key"]).stdout.trim().to_owned();
    let text = sb.ok(&["profile", "list"]).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("* default"), "{text}");
    let short = format!("{}…{}", &id[..8], &id[40..]);
    assert!(lines[1].starts_with("  researcher") && lines[1].contains(&short), "{text}");
    assert!(lines[1].contains("KB") || lines[1].contains('B'), "{text}");
    assert!(lines[1].ends_with("~/.alpi/profiles/researcher"), "{text}");
    let active = sb.ok(&["-p", "researcher", "profile", "list"]).stdout;
    assert!(active.lines().nth(1).unwrap().starts_with("* researcher"), "{active}");
}

#[test]
fn remove_refuses_default_and_asks_before_deleting() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    sb.ok(&["profile", "create", "a"]);
    sb.ok(&["profile", "create", "b"]);

    let run = sb.run(&["profile", "remove", "default", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot be removed"), "{}", run.stderr);
    assert!(sb.root().join("alp/secrets/alp_key.pem").exists());

    // No confirmation on closed input: nothing removed.
    let run = sb.run(&["profile", "remove", "a"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(sb.profile("a").exists());

    // A wrong answer keeps it.
    let run = sb.run_with_stdin(&["profile", "remove", "a"], "y\n");
    assert_eq!(run.code, 1);
    assert!(sb.profile("a").exists());

    // Typing the name removes exactly that directory.
    let run = sb.run_with_stdin(&["profile", "remove", "a"], "a\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!sb.profile("a").exists());
    assert!(sb.profile("b").join("alp/secrets/alp_key.pem").exists());
    assert!(sb.root().join("alp/secrets/alp_key.pem").exists());

    sb.ok(&["profile", "remove", "b", "--yes"]);
    assert!(!sb.profile("b").exists());
    let run = sb.run(&["profile", "remove", "b", "--yes"]);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[cfg(unix)]
#[test]
fn remove_does_not_follow_a_symlinked_profile() {
    let sb = Sandbox::new();
    sb.ok(&["profile", "create", "real"]);
    let outside = sb.home().join("precious");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "x").unwrap();
    std::os::unix::fs::symlink(&outside, sb.profile("link")).unwrap();
    let run = sb.run(&["profile", "remove", "link", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(outside.join("keep.txt").exists());
}

#[test]
fn unknown_commands_and_flags_print_usage_and_fail() {
    let sb = Sandbox::new();
    for args in [&["bogus"][..], &["--frobnicate"], &["profile", "explode"], &["peers"]] {
        let run = sb.run(args);
        assert_ne!(run.code, 0, "{args:?}");
        assert!(!run.stderr.is_empty() || !run.stdout.is_empty(), "{args:?}");
    }
    assert!(!sb.root().exists(), "a failed parse must not create a profile");
}

#[test]
fn bare_alpi_without_a_model_says_how_to_add_one() {
    let sb = Sandbox::new();
    let run = sb.run(&[]);
    assert_eq!(run.code, 0, "the chat starts and ends with its input");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no model configured") && run.stderr.contains("config.yaml"),
        "{}",
        run.stderr
    );
}

#[test]
fn readme_walkthrough_on_a_fresh_machine() {
    let sb = Sandbox::new();
    sb.ok(&["--version"]);
    sb.ok(&["profile", "create", "researcher"]);
    let list = sb.ok(&["profile", "list"]).stdout;
    assert_eq!(list.lines().count(), 2, "{list}");
    let key = sb.ok(&["-p", "researcher", "peers", "key"]).stdout;
    assert_eq!(key.trim().len(), 44);
    assert!(list.contains(&key.trim()[..8]), "list shows the identity created with the profile: {list}");
    let doctor = sb.run(&["doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.stdout);
    assert!(!doctor.stdout.lines().any(|l| l.starts_with("fail")), "{}", doctor.stdout);
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // like `| head` that has already exited
    let out =
        sb.cmd(&["profile", "list"]).stdout(writer).stderr(std::process::Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{stderr}");
}
