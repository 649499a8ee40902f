//! `alpi setup`: a line-based wizard for model, key, workspace and budget, and each step
//! on its own for scripts (`alpi setup model|key|workspace|budget|check`).
//!
//! `config.yaml` is rewritten as YAML with every key kept (comments are not); the key
//! goes to `.env` (0600) and is never printed.

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use super::{CliError, CliResult, open_profile, tilde};
use crate::agent::model::HttpModel;
use crate::agent::provider::{self, ChatRequest, DEFAULT_OLLAMA_URL, Event, Message};
use crate::agent::turn::Model;
use crate::fsio;
use crate::json::{Object, Value};
use crate::net::http::Timeouts;
use crate::profile::ProfileHome;
use crate::profile::config::Config;
use crate::profile::dotenv::{self, DotEnv};

#[derive(FromArgs, Debug, Default)]
#[argh(subcommand, name = "setup")]
/// set up model, key, workspace and budget (asks on a terminal; or one step at a time)
pub struct SetupCmd {
    /// model (with --provider, --model), key NAME (the key on stdin), workspace PATH,
    /// budget USD|off, or check (a 1-token request to the model)
    #[argh(positional)]
    step: Vec<String>,
    /// openai, anthropic, openrouter, groq, gemini, ollama or custom
    #[argh(option)]
    provider: Option<String>,
    /// the provider's model id, e.g. gpt-4o-mini
    #[argh(option)]
    model: Option<String>,
    /// ollama/custom: the server's URL
    #[argh(option)]
    base_url: Option<String>,
    /// ollama/custom: the server's name, the model string's prefix (default: the provider)
    #[argh(option)]
    name: Option<String>,
    /// custom: the .env variable holding its key (default NAME_API_KEY, '' for none)
    #[argh(option)]
    key_env: Option<String>,
}

/// Providers offered, with the model suggested for each.
const PROVIDERS: [(&str, &str); 7] = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("openrouter", "openai/gpt-4o-mini"),
    ("groq", "llama-3.3-70b-versatile"),
    ("gemini", "gemini-2.5-flash"),
    ("ollama", "qwen3:4b"),
    ("custom", ""),
];

const SCRIPTED: &str = "  alpi setup model --provider openai --model gpt-4o-mini
  alpi setup key OPENAI_API_KEY < key.txt
  alpi setup workspace ~/work
  alpi setup budget 1.00
  alpi setup check";

pub fn run(cmd: SetupCmd, home: &ProfileHome) -> CliResult {
    if cmd.step.is_empty() && !io::stdin().is_terminal() {
        eprintln!(
            "alpi: `alpi setup` asks questions, but stdin is not a terminal; script the steps:\n{SCRIPTED}"
        );
        return Ok(ExitCode::FAILURE);
    }
    open_profile(home)?;
    let step: Vec<&str> = cmd.step.iter().map(String::as_str).collect();
    match step[..] {
        [] => return wizard(home),
        ["model"] => {
            println!("model: {} in {}", set_model(home, &cmd)?, tilde(&home.config_path()));
            if let Some(var) =
                key_env(home)?.filter(|v| DotEnv::load(&home.env_path()).is_ok_and(|e| e.get(v).is_none()))
            {
                println!("next: alpi setup key {var}   (reads it from stdin)");
            }
        }
        ["key", name] => {
            let secret = read_secret(valid_var(name)?)?;
            if secret.is_empty() {
                return Err("no key on stdin — e.g. alpi setup key OPENAI_API_KEY < key.txt".into());
            }
            save_key(home, name, &secret)?;
            if key_env(home)?.as_deref() == Some(name) {
                check(home)?;
            }
        }
        ["workspace", path] => set_workspace(home, path)?,
        ["budget", usd] => set_budget(home, usd)?,
        ["check"] => check(home)?,
        _ => return Err(format!("unknown step — one of:\n{SCRIPTED}").into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// One 1-token request to the configured model: `Ok`, or the provider's error line.
pub fn probe(config: &Config, env: &DotEnv) -> Result<(), String> {
    let secs = Duration::from_secs;
    let timeouts =
        Timeouts { first_byte: secs(30), idle: secs(30), total: Some(secs(60)), ..Timeouts::default() };
    let model = HttpModel::new(&config.model, config.providers.as_ref(), None, env)?.with_timeouts(timeouts);
    let req = ChatRequest {
        messages: vec![Message::user("hi")],
        max_tokens: Some(1),
        stream: true,
        ..Default::default()
    };
    let mut failed = None;
    model
        .complete(&req, &Default::default(), &mut |e| {
            if let Event::Error { message } = e {
                failed = Some(format!("{}: {message}", config.model));
            }
            true
        })
        .map_err(|e| e.message)?;
    failed.map_or(Ok(()), Err)
}

fn check(home: &ProfileHome) -> Result<(), CliError> {
    let config = Config::load(&home.config_path())?;
    if config.model.is_empty() {
        return Err("no model configured — alpi setup model --provider … --model …".into());
    }
    print!("checking {} with a 1-token request… ", config.model);
    io::stdout().flush()?;
    let result = probe(&config, &DotEnv::load(&home.env_path())?);
    println!("{}", if result.is_ok() { "ok" } else { "failed" });
    Ok(result?)
}

/// The variable the configured model's key lives in, if it needs one.
fn key_env(home: &ProfileHome) -> Result<Option<String>, CliError> {
    let config = Config::load(&home.config_path())?;
    Ok(provider::route(&config.model, config.providers.as_ref()).ok().and_then(|r| r.key_env))
}

/// Reads config.yaml as a mapping (a malformed file is an error and left alone),
/// applies `edit` and writes it back atomically, mode 0600. Comments are not kept.
fn edit_config(
    home: &ProfileHome,
    edit: &mut dyn FnMut(&mut Object) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let path = home.config_path();
    let mut map = match Config::load(&path)?.raw {
        Some(Value::Object(map)) => map,
        _ => Object::new(),
    };
    edit(&mut map)?;
    let text =
        format!("# alpi profile settings — docs/config.md\n{}", crate::yaml::dump(&Value::Object(map)));
    Ok(fsio::write_atomic(&path, fsio::SECRET_FILE, text.as_bytes())?)
}

/// The mapping under `key`, made (or replacing a non-mapping) if need be.
fn section<'a>(map: &'a mut Object, key: &str) -> &'a mut Object {
    if !matches!(map.get(key), Some(Value::Object(_))) {
        map.insert(key, Object::new());
    }
    map.get_mut(key).and_then(Value::as_object_mut).expect("made a mapping above")
}

/// Writes `model:` (and, for ollama or custom, the server's entry); returns the model.
fn set_model(home: &ProfileHome, cmd: &SetupCmd) -> Result<String, CliError> {
    let (Some(provider), Some(id)) = (cmd.provider.as_deref(), cmd.model.as_deref()) else {
        return Err(
            "setup model needs --provider and --model, e.g. --provider openai --model gpt-4o-mini".into()
        );
    };
    let (provider, id) = (provider.trim(), id.trim());
    let Some(at) = PROVIDERS.iter().position(|(p, _)| *p == provider) else {
        return Err(format!("unknown provider '{provider}' — use openai, anthropic, openrouter, groq, gemini, ollama or custom").into());
    };
    if id.is_empty() {
        return Err("--model is empty: give the provider's model id, e.g. gpt-4o-mini".into());
    }
    let server = at >= 5;
    let prefix = cmd.name.as_deref().filter(|_| server).unwrap_or(provider).trim();
    if prefix.is_empty()
        || prefix.contains(['/', ' '])
        || (server && PROVIDERS[..5].iter().any(|(p, _)| *p == prefix))
    {
        return Err(
            format!("'{prefix}' cannot name a server: no '/', spaces or built-in provider names").into()
        );
    }
    let model = format!("{prefix}/{id}");
    edit_config(home, &mut |map| {
        if server {
            let mut entry = Object::new().with("name", prefix);
            let url = cmd.base_url.as_deref().map(str::trim);
            if provider == "ollama" {
                url.map(|u| entry.insert("url", u));
            } else {
                let url = url.ok_or("a custom server needs --base-url, e.g. http://127.0.0.1:8080/v1")?;
                entry.insert("base_url", url);
                let var = match cmd.key_env.as_deref().map(str::trim) {
                    Some(var) => var.to_owned(),
                    None => format!("{}_API_KEY", prefix.to_ascii_uppercase().replace('-', "_")),
                };
                if !var.is_empty() {
                    entry.insert("api_key_env", valid_var(&var)?);
                }
            }
            let providers = section(map, "providers");
            if !matches!(providers.get(provider), Some(Value::Array(_))) {
                providers.insert(provider, Vec::new());
            }
            let Some(Value::Array(list)) = providers.get_mut(provider) else {
                unreachable!("made a list above")
            };
            list.retain(|e| e.get("name").and_then(Value::as_str) != Some(prefix));
            list.push(entry.into());
        }
        provider::route(&model, map.get("providers")).map_err(|e| e.to_string())?;
        map.insert("model", model.as_str());
        Ok(())
    })?;
    Ok(model)
}

fn valid_var(name: &str) -> Result<&str, CliError> {
    let ok = name
        .bytes()
        .enumerate()
        .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
    match ok && !name.is_empty() {
        true => Ok(name),
        false => Err(format!("'{name}' is not a variable name: use letters, digits and '_'").into()),
    }
}

/// Reads the secret for `name` from the first line of stdin, hidden on a terminal.
/// Empty when nothing was given.
fn read_secret(name: &str) -> Result<String, CliError> {
    let tty = io::stdin().is_terminal();
    // Echo goes off before the prompt shows, so a key typed (or pasted) the moment the
    // prompt appears is never echoed.
    let _echo = tty.then(EchoOff::new);
    if tty {
        eprint!("{name} (typing is hidden; Enter skips): ");
    }
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    let secret = line.trim();
    if secret.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("the key must have no spaces; nothing was saved".into());
    }
    Ok(secret.to_owned())
}

/// Terminal echo off (the newline still shown) until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: termios is plain data; tcgetattr fills it or fails and we keep nothing.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return Self(None);
        }
        let mut quiet = saved;
        quiet.c_lflag = (quiet.c_lflag & !libc::ECHO) | libc::ECHONL;
        // TCSANOW, not TCSAFLUSH: flushing would throw away a key pasted ahead of the prompt.
        // SAFETY: fd 0 is a terminal (tcgetattr succeeded); `quiet` is a valid termios.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
        Self(Some(saved))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, saved) };
        }
    }
}

fn save_key(home: &ProfileHome, name: &str, secret: &str) -> Result<(), CliError> {
    dotenv::set(&home.env_path(), valid_var(name)?, secret)?;
    println!("saved {name} in {} (0600)", tilde(&home.env_path()));
    Ok(())
}

fn set_workspace(home: &ProfileHome, raw: &str) -> Result<(), CliError> {
    let raw = raw.trim();
    let path = match raw.strip_prefix('~') {
        Some(rest) => std::env::home_dir().ok_or("HOME is not set")?.join(rest.trim_start_matches('/')),
        None => std::env::current_dir()?.join(raw),
    };
    if !path.is_dir() {
        fsio::ensure_private_dir(&path)?;
    }
    let stored = if raw.starts_with("~/") { raw.to_owned() } else { path.display().to_string() };
    edit_config(home, &mut |map| {
        map.insert("workspace", stored.as_str());
        Ok(())
    })?;
    println!("workspace: {stored}");
    Ok(())
}

fn set_budget(home: &ProfileHome, usd: &str) -> Result<(), CliError> {
    let usd = usd.trim().trim_start_matches('$');
    let amount = match usd.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Some(n),
        _ if usd == "off" => None,
        _ => return Err(format!("'{usd}' is not an amount in USD: e.g. 1.50, or off").into()),
    };
    edit_config(home, &mut |map| {
        section(map, "budget").insert("daily_usd", amount);
        Ok(())
    })?;
    println!("budget.daily_usd: {}", amount.map_or("off".into(), |n| format!("{n:.2}")));
    Ok(())
}

/// Asks on stderr; Enter keeps `default`.
fn ask(question: &str, default: &str) -> Result<String, CliError> {
    eprint!("{question} [{default}]: ");
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Err("input closed; the steps already answered are saved".into());
    }
    Ok(Some(line.trim()).filter(|a| !a.is_empty()).unwrap_or(default).to_owned())
}

fn wizard(home: &ProfileHome) -> CliResult {
    let config = Config::load(&home.config_path())?;
    println!("Setting up profile {} in {}. Enter keeps the [default].", home.name(), tilde(home.dir()));
    let (cur_prefix, cur_id) = config.model.split_once('/').unwrap_or_default();
    for (i, (p, _)) in PROVIDERS.iter().enumerate() {
        println!("  {}) {p}", i + 1);
    }
    let known = PROVIDERS.iter().find(|(p, _)| *p == cur_prefix);
    let (provider, suggested) = loop {
        let answer = ask("Provider", known.map_or("openai", |(p, _)| p))?;
        let by_number = answer.parse::<usize>().ok().and_then(|n| PROVIDERS.get(n.wrapping_sub(1)));
        match by_number.or_else(|| PROVIDERS.iter().find(|(p, _)| *p == answer)) {
            Some(&(p, m)) => break (p, if p == cur_prefix { cur_id } else { m }),
            None => eprintln!("  a number from the list, or a provider's name"),
        }
    };
    let mut cmd = SetupCmd {
        provider: Some(provider.into()),
        model: Some(ask("Model", suggested)?),
        ..Default::default()
    };
    if provider == "ollama" {
        cmd.base_url = Some(ask("Server URL", DEFAULT_OLLAMA_URL)?);
    } else if provider == "custom" {
        cmd.base_url = Some(ask("Server URL (OpenAI-compatible)", "http://127.0.0.1:8080/v1")?);
        cmd.key_env =
            Some(ask("Variable holding its key ('-' for none)", "CUSTOM_API_KEY")?.replace('-', ""));
    }
    println!("model: {}", set_model(home, &cmd)?);

    if let Some(var) = key_env(home)? {
        let secret = read_secret(&var)?;
        if !secret.is_empty() {
            save_key(home, &var, &secret)?;
        }
    }
    let healthy = check(home).map_err(|e| println!("  {e}\n  fix it, then run: alpi setup check")).is_ok();

    let workspace = Some(config.workspace.as_str()).filter(|w| !w.is_empty()).unwrap_or("~/work");
    set_workspace(home, &ask("Workspace (where the agent's file tools work)", workspace)?)?;
    let budget = config.budget.daily_usd.map_or("off".into(), |n| n.to_string());
    set_budget(home, &ask("Daily budget in USD (off for none)", &budget)?)?;
    println!(
        "\nDone. Next:\n  alpi peers key         # this profile's identity, to pin on your other devices\n  \
         alpi peers add NAME KEY --allow link.ping\n  \
         alpi daemon install    # keep alpi running under this machine's supervisor"
    );
    Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
