//! Secrets stay secret: after a run that used every one of them at debug log level —
//! the model key (in a request, and echoed back by a provider's 401), the Telegram bot
//! token, both ends' ALP private keys (a ping over Noise) — no file under either home
//! and no line the binary printed holds any of them; and `alpi audit` finds every file
//! the run created private.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::path::Path;

use common::{Run, Sandbox};
use fake_openai::{Canned, fake_provider, final_stream};
use fake_telegram::FakeTelegram;

/// Not shaped like any well-known key: only knowing the value can hide it.
const MODEL_KEY: &str = "q7Zp-unshaped-model-key-3e9f1c";
const BOT_TOKEN: &str = "8123456789:AAH-test_hardening-Token-0123456789abcdef";

/// The secret part of a private key file: its base64 line and the raw seed.
fn key_secrets(root: &Path) -> Vec<String> {
    use base64ct::Encoding;
    let pem = std::fs::read_to_string(root.join("alp/secrets/alp_key.pem")).unwrap();
    let seed = alpi::alp::identity::pem::decode_private(&pem).unwrap();
    let body = pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>();
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    vec![body, base64ct::Base64::encode_string(&seed), hex]
}

/// Every file under `dir` except where a secret is meant to live, with its contents.
fn written_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            written_files(&path, out);
        } else if kind.is_file() && name != ".env" && name != "alp_key.pem" {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

fn debug(mut cmd: std::process::Command) -> Run {
    Run::from(cmd.env("ALPI_LOG", "debug").output().unwrap())
}

#[test]
fn no_secret_reaches_a_log_session_output_or_error_message() {
    let echo_401 = Canned {
        status: 401,
        body: format!(r#"{{"error":{{"message":"Incorrect API key provided: {MODEL_KEY}"}}}}"#),
        cut_at: None,
        hang: false,
    };
    let fake = fake_provider(vec![
        Canned::ok(final_stream("Hi from the CLI.")),
        Canned::ok(final_stream("Hi Jane.")),
        echo_401,
    ]);
    let telegram = FakeTelegram::start_with_token(BOT_TOKEN);
    let (home, laptop) = (Sandbox::new(), Sandbox::new());
    home.configure_fake_model(fake.port, "");
    let env = format!(
        "FAKE_KEY={MODEL_KEY}\nTELEGRAM_BOT_TOKEN={BOT_TOKEN}\nTELEGRAM_ALLOWED_CHAT_IDS=42\nTELEGRAM_API_BASE={}\n",
        telegram.base()
    );
    std::fs::write(home.root().join(".env"), env).unwrap();
    let home_key = home.ok(&["peers", "key"]).stdout.trim().to_owned();
    let laptop_key = laptop.ok(&["peers", "key"]).stdout.trim().to_owned();
    home.ok(&["peers", "add", "laptop", &laptop_key, "--allow", "link.ping"]);

    let mut printed = Vec::new();
    let once = debug(home.cmd(&["chat", "--once", "hello"]));
    assert_eq!(once.code, 0, "{}", once.stderr);
    printed.push(once);

    let mut daemon =
        Sandbox::start_daemon(home.cmd(&["daemon", "run", "--bind", "127.0.0.1:0"]).env("ALPI_LOG", "debug"))
            .unwrap();
    let address = daemon.ready_line.rsplit(" on ").next().unwrap().trim().to_owned();
    laptop.ok(&["peers", "add", "home", &home_key, "--address", &address, "--allow", "link.ping"]);
    let ping = debug(laptop.cmd(&["peers", "ping", "home"]));
    assert_eq!(ping.code, 0, "{}", ping.stderr);
    printed.push(ping);
    telegram.message(42, "hello bot", 0);
    assert!(telegram.wait_for(|s| !s.sent.is_empty()), "the bot answered");
    let mut daemon_err = daemon.child.stderr.take().unwrap();
    daemon.terminate();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon_err, &mut stderr).unwrap();
    printed.push(Run { code: 0, stdout: String::new(), stderr });

    let refused = debug(home.cmd(&["chat", "--once", "again"]));
    assert_eq!(refused.code, 1, "the 401 is an error");
    assert!(refused.stderr.contains("HTTP 401"), "{}", refused.stderr);
    printed.push(refused);
    printed.push(debug(home.cmd(&["doctor", "--offline"])));

    let mut secrets = vec![MODEL_KEY.to_owned(), BOT_TOKEN.to_owned()];
    secrets.extend(key_secrets(&home.root()));
    secrets.extend(key_secrets(&laptop.root()));
    let mut files = Vec::new();
    written_files(home.home(), &mut files);
    written_files(laptop.home(), &mut files);
    assert!(files.iter().any(|(p, _)| p.ends_with("service.log")), "the run logged");
    assert!(files.iter().any(|(p, _)| p.contains("gateway/sessions/")), "the run kept sessions");
    for (i, run) in printed.iter().enumerate() {
        files.push((format!("output #{i}"), format!("{}{}", run.stdout, run.stderr).into_bytes()));
    }
    for secret in &secrets {
        for (name, bytes) in &files {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains(secret.as_str()), "{name} holds the secret {secret}:\n{text}");
        }
    }

    for sb in [&home, &laptop] {
        let audit = sb.run(&["audit"]);
        assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    }
}

#[test]
fn audit_lists_each_loose_mode_with_its_fix_and_fails() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let clean = sb.ok(&["audit"]);
    assert!(clean.stdout.starts_with("ok:"), "{}", clean.stdout);
    let chmod = |rel: &str, mode| {
        std::fs::set_permissions(sb.root().join(rel), std::fs::Permissions::from_mode(mode)).unwrap()
    };
    chmod(".env", 0o644);
    chmod("alp/secrets", 0o755);
    chmod("alp/secrets/alp_key.pem", 0o640);
    chmod("alp/secrets/alp_key.pub", 0o644);
    std::fs::write(sb.root().join("sessions/x.json"), "{}").unwrap();
    chmod("sessions/x.json", 0o666);
    let run = sb.run(&["audit"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    for (rel, want) in
        [(".env", 600), ("alp/secrets", 700), ("alp/secrets/alp_key.pem", 600), ("sessions/x.json", 600)]
    {
        let fix = format!("fix: chmod {want} '{}'", sb.root().join(rel).display());
        assert!(lines.iter().any(|l| l.ends_with(&fix)), "{rel}: {}", run.stdout);
    }
    let doctor = sb.run(&["doctor", "--offline"]);
    assert_eq!(doctor.code, 1);
    assert!(doctor.stdout.contains("4 entries too open"), "{}", doctor.stdout);
    for line in lines {
        let fix = line.split("fix: ").nth(1).unwrap();
        assert!(std::process::Command::new("sh").arg("-c").arg(fix).status().unwrap().success());
    }
    sb.ok(&["audit"]);
}
