//! `alpi setup` and the model checks of `alpi doctor`, driving the built binary; the
//! 1-token request goes to a local server speaking the OpenAI wire format.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;
#[path = "common/pty.rs"]
mod pty;

use std::fs;

use alpi::json::Value;
use alpi::profile::config::Config;
use common::{Sandbox, mode};
use fake_openai::{Canned, FakeProvider, fake_provider, sse};

fn config(sb: &Sandbox) -> Config {
    let path = sb.root().join("config.yaml");
    Config::parse(&path, &fs::read_to_string(&path).unwrap()).unwrap()
}

fn raw<'a>(config: &'a Config, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(config.raw.as_ref()?, |node, key| node.get(key))
}

/// A profile whose model is `fake/test-model` on the fake server, keyed by FAKE_KEY.
fn fake_profile(sb: &Sandbox, fake: &FakeProvider) {
    let url = format!("http://127.0.0.1:{}/v1", fake.port);
    let args = ["setup", "model", "--provider", "custom", "--name", "fake", "--model", "test-model"];
    let run = sb.ok(&[&args[..], &["--base-url", &url, "--key-env", "FAKE_KEY"]].concat());
    assert!(run.stdout.contains("next: alpi setup key FAKE_KEY"), "{}", run.stdout);
}

fn answer() -> Canned {
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"H"},"finish_reason":"length"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":1}}"#,
    ]);
    Canned::ok(body)
}

fn refused() -> Canned {
    let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
    Canned { status: 401, ..Canned::ok(body) }
}

fn line<'a>(out: &'a str, check: &str) -> Option<&'a str> {
    out.lines().find(|l| l.get(6..).and_then(|r| r.strip_prefix(check)).is_some_and(|r| r.starts_with("  ")))
}

#[test]
fn model_is_written_and_other_keys_are_kept() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let path = sb.root().join("config.yaml");
    fs::write(&path, "# mine\ntheme: dark\nbudget: {daily_usd: 2, weekly: 9}\nnetwork: {host: 10.0.0.2}\n")
        .unwrap();
    let run = sb.ok(&["setup", "model", "--provider", "openai", "--model", "gpt-4o-mini"]);
    assert!(run.stdout.contains("model: openai/gpt-4o-mini"), "{}", run.stdout);
    let c = config(&sb);
    assert_eq!(c.model, "openai/gpt-4o-mini");
    assert_eq!((c.budget.daily_usd, c.network.host.as_str()), (Some(2.0), "10.0.0.2"));
    assert_eq!(c.unknown_keys(), ["theme", "budget.weekly"]);
    assert_eq!(mode(&path), 0o600);

    // Ollama and custom servers get their providers entry, updated in place on a re-run.
    let ollama = ["setup", "model", "--provider", "ollama", "--name", "box", "--base-url", "http://pi:11434"];
    sb.ok(&[&ollama[..], &["--model", "qwen3:4b"]].concat());
    sb.ok(&[&ollama[..], &["--model", "llama3.2:3b"]].concat());
    let c = config(&sb);
    assert_eq!(c.model, "box/llama3.2:3b");
    let list = raw(&c, &["providers", "ollama"]).and_then(|l| l.as_array()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].get("url").and_then(|u| u.as_str()), Some("http://pi:11434"));
    assert_eq!(c.budget.daily_usd, Some(2.0));

    // Refusals leave the file as it was.
    let before = fs::read_to_string(&path).unwrap();
    for (args, says) in [
        (&["--provider", "acme", "--model", "x"][..], "unknown provider 'acme'"),
        (&["--provider", "custom", "--name", "lab", "--model", "m"][..], "--base-url"),
        (&["--provider", "openai", "--model", ""][..], "--model is empty"),
    ] {
        let run = sb.run(&[&["setup", "model"][..], args].concat());
        assert_eq!(run.code, 1, "{args:?}");
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn key_from_stdin_goes_to_dotenv_and_is_never_shown() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let env = sb.root().join(".env");
    fs::write(&env, "# my keys\nOTHER=1\nALPI_TEST_SETUP_KEY=old\n# end\n").unwrap();
    let secret = "sk-test-7f3a9c1e5b";
    let run = sb.run_with_stdin(&["setup", "key", "ALPI_TEST_SETUP_KEY"], &format!("{secret}\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("saved ALPI_TEST_SETUP_KEY"), "{}", run.stdout);
    assert_eq!(
        fs::read_to_string(&env).unwrap(),
        format!("# my keys\nOTHER=1\nALPI_TEST_SETUP_KEY={secret}\n# end\n")
    );
    assert_eq!(mode(&env), 0o600);
    let log = fs::read_to_string(sb.root().join("logs/service.log")).unwrap_or_default();
    for text in [&run.stdout, &run.stderr, &log] {
        assert!(!text.contains(secret), "secret shown: {text}");
    }

    for (args, input, says) in [
        (["setup", "key", "ALPI_TEST_SETUP_KEY"], "", "no key on stdin"),
        (["setup", "key", "ALPI_TEST_SETUP_KEY"], "two words\n", "no spaces"),
        (["setup", "key", "NOT-A-NAME"], "k\n", "not a variable name"),
    ] {
        let run = sb.run_with_stdin(&args, input);
        assert_eq!(run.code, 1, "{args:?}");
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
    assert!(fs::read_to_string(&env).unwrap().contains(secret));
}

#[test]
fn budget_and_workspace() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    fs::write(sb.root().join("config.yaml"), "model: openai/gpt-4o-mini\nbudget: {weekly: 9}\n").unwrap();
    let run = sb.ok(&["setup", "budget", "2.5"]);
    assert!(run.stdout.contains("budget.daily_usd: 2.50"), "{}", run.stdout);
    let c = config(&sb);
    assert_eq!((c.budget.daily_usd, c.model.as_str()), (Some(2.5), "openai/gpt-4o-mini"));
    assert_eq!(c.unknown_keys(), ["budget.weekly"]);
    sb.ok(&["setup", "budget", "off"]);
    assert_eq!(config(&sb).budget.daily_usd, None);
    let run = sb.run(&["setup", "budget", "lots"]);
    assert!(run.code == 1 && run.stderr.contains("not an amount"), "{}", run.stderr);

    sb.ok(&["setup", "workspace", "~/work/agent"]);
    assert_eq!(config(&sb).workspace, "~/work/agent");
    assert!(sb.home().join("work/agent").is_dir());
}

#[test]
fn check_sends_one_token_and_reports_a_refused_key() {
    let fake = fake_provider(vec![answer(), refused()]);
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    fake_profile(&sb, &fake);
    // The key matches the model's: saving it runs the check.
    let run = sb.run_with_stdin(&["setup", "key", "FAKE_KEY"], "good-key\n");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("checking fake/test-model with a 1-token request… ok"), "{}", run.stdout);
    let body = fake.requests.lock().unwrap()[0].clone();
    assert_eq!(body.get("max_tokens").and_then(Value::as_u64), Some(1));
    assert_eq!(body.get("model").and_then(Value::as_str), Some("test-model"));

    let run = sb.run(&["setup", "check"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("failed"), "{}", run.stdout);
    let err = run.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    for part in ["HTTP 401", "Incorrect API key provided", "FAKE_KEY"] {
        assert!(err.contains(part), "{err}");
    }
}

#[test]
fn check_without_a_model_or_key_says_what_to_run() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let run = sb.run(&["setup", "check"]);
    assert!(run.code == 1 && run.stderr.contains("alpi setup model"), "{}", run.stderr);
    sb.ok(&[
        "setup",
        "model",
        "--provider",
        "custom",
        "--name",
        "lab",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
    ]);
    let run = sb.run(&["setup", "check"]);
    assert!(run.code == 1 && run.stderr.contains("needs LAB_API_KEY"), "{}", run.stderr);
}

#[test]
fn doctor_checks_model_key_sessions_and_reachability() {
    let fake = fake_provider(vec![answer(), refused()]);
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    fake_profile(&sb, &fake);

    let run = sb.ok(&["doctor", "--offline"]);
    assert!(line(&run.stdout, "key").unwrap().starts_with("warn"), "{}", run.stdout);
    assert!(line(&run.stdout, "key").unwrap().contains("alpi setup key FAKE_KEY"), "{}", run.stdout);
    assert!(line(&run.stdout, "sessions").unwrap().contains("0 saved"), "{}", run.stdout);

    fs::write(sb.root().join(".env"), "FAKE_KEY=k\n").unwrap();
    fs::write(sb.root().join("sessions/abc.json"), "{}").unwrap();
    let run = sb.ok(&["doctor", "--offline"]);
    assert!(line(&run.stdout, "model").unwrap().contains("fake/test-model"), "{}", run.stdout);
    assert!(line(&run.stdout, "key").unwrap().starts_with("ok"), "{}", run.stdout);
    assert!(line(&run.stdout, "sessions").unwrap().contains("1 saved"), "{}", run.stdout);
    assert!(line(&run.stdout, "model reachable").is_none(), "{}", run.stdout);
    assert!(fake.requests.lock().unwrap().is_empty(), "--offline sent a request");

    let run = sb.ok(&["doctor"]);
    assert!(line(&run.stdout, "model reachable").unwrap().starts_with("ok"), "{}", run.stdout);
    let run = sb.run(&["doctor"]);
    assert_eq!(run.code, 1);
    let l = line(&run.stdout, "model reachable").unwrap();
    assert!(l.starts_with("fail") && l.contains("HTTP 401"), "{l}");
    assert_eq!(fake.requests.lock().unwrap().len(), 2);
}

#[test]
fn wizard_refuses_a_non_terminal_stdin() {
    let sb = Sandbox::new();
    let run = sb.run(&["setup"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not a terminal"), "{}", run.stderr);
    for form in ["alpi setup model --provider", "alpi setup key", "alpi setup check"] {
        assert!(run.stderr.contains(form), "{}", run.stderr);
    }
    assert!(!sb.root().exists(), "refused before creating the profile");
}

#[test]
fn wizard_on_a_terminal_walks_every_step_and_hides_the_key() {
    let fake = fake_provider(vec![answer()]);
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    fs::write(sb.root().join("config.yaml"), "theme: dark\n").unwrap();
    let secret = "sk-wizard-5e1d";
    let mut t = pty::Pty::spawn(sb.cmd(&["setup"]));
    t.expect("7) custom");
    t.expect("Provider [openai]: ");
    t.line("7");
    t.expect("Model []: ");
    t.line("test-model");
    t.expect("Server URL (OpenAI-compatible) [http://127.0.0.1:8080/v1]: ");
    t.line(&format!("http://127.0.0.1:{}/v1", fake.port));
    t.expect("[CUSTOM_API_KEY]: ");
    t.line("FAKE_KEY");
    t.expect("FAKE_KEY (typing is hidden; Enter skips): ");
    t.line(secret);
    t.expect("checking custom/test-model with a 1-token request… ok");
    t.expect("Workspace (where the agent's file tools work) [~/work]: ");
    t.line("~/ws");
    t.expect("Daily budget in USD (off for none) [off]: ");
    t.line("1.5");
    t.expect("alpi daemon install");
    let screen = t.screen();
    assert_eq!(t.wait(), Some(0), "{screen}");
    assert!(!screen.contains(secret), "the key was echoed:\n{screen}");

    let c = config(&sb);
    assert_eq!(
        (c.model.as_str(), c.workspace.as_str(), c.budget.daily_usd),
        ("custom/test-model", "~/ws", Some(1.5))
    );
    assert_eq!(c.unknown_keys(), ["theme"]);
    assert!(fs::read_to_string(sb.root().join(".env")).unwrap().contains(&format!("FAKE_KEY={secret}\n")));
    assert!(sb.home().join("ws").is_dir());
}
