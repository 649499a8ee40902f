//! `alpi` / `alpi chat`: talking to the profile's agent — the line REPL, or with
//! `--once` one turn (answer on stdout as it streams, tool steps on stderr).

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use argh::FromArgs;

use super::{CliResult, open_profile, tilde};
use crate::agent::approval::Verdict;
use crate::agent::run::{Conversation, RunError, Surface};
use crate::agent::tools::{Answer, Approver, NoApprover};
use crate::agent::turn::Progress;
use crate::json::{Object, Value};
use crate::profile::ProfileHome;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "chat")]
/// talk to the profile's agent (one turn with --once)
pub struct ChatCmd {
    /// run one turn on TEXT ("-" reads it from stdin), print the answer and exit
    #[argh(option)]
    once: Option<String>,
    /// with --once: print one JSON object (text, session_id, tokens, cost) instead
    #[argh(switch)]
    json: bool,
    /// with --once: keep no session file
    #[argh(switch)]
    no_save: bool,
    /// continue the newest saved session
    #[argh(switch, short = 'c', long = "continue")]
    resume: bool,
}

pub fn run(cmd: ChatCmd, home: &ProfileHome) -> CliResult {
    match cmd.once {
        Some(text) => once(home, &text, cmd.json, cmd.no_save),
        None => repl(home, cmd.resume),
    }
}

/// The line REPL on `home`; `resume` continues its newest session.
pub fn repl(home: &ProfileHome, resume: bool) -> CliResult {
    open_profile(home)?;
    crate::repl::run(home, resume)?;
    Ok(ExitCode::SUCCESS)
}

fn once(home: &ProfileHome, text: &str, json: bool, no_save: bool) -> CliResult {
    open_profile(home)?;
    let prompt = if text == "-" {
        let mut input = String::new();
        io::stdin().read_to_string(&mut input)?;
        input
    } else {
        text.to_owned()
    };
    if prompt.trim().is_empty() {
        return Err("nothing to ask: the prompt is empty".into());
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let mut tty = TtyApprover::open();
    let mut none = NoApprover;
    let approver: &mut dyn Approver = match tty.as_mut() {
        Some(t) => t,
        None => &mut none,
    };
    let surface = Surface { name: "cli", approver, cancel: &cancel, peer: None };
    let mut stdout = io::stdout().lock();
    let mut streamed = false;
    let mut conversation = Conversation::open(home)?;
    if no_save {
        conversation = conversation.without_saving();
    }
    let outcome = conversation.turn(&prompt, surface, &mut |p| match p {
        Progress::Text(piece) if !json => {
            streamed = true;
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        }
        Progress::Text(_) => {}
        Progress::ToolStarted { name, arguments } => {
            let args: String = arguments.chars().take(120).collect();
            eprintln!("→ {name} {args}");
        }
        Progress::ToolFinished { name, ok, seconds } => {
            eprintln!("{} {name} {seconds:.1}s", if ok { "✓" } else { "✗" });
        }
    });
    crate::agent::mcp::stop_all();
    let answer = match outcome {
        Ok(answer) => answer,
        Err(RunError::NoModel(profile)) => {
            return Err(format!(
                "no model configured for profile '{profile}' — add `model: openai/gpt-4o-mini` to {} and OPENAI_API_KEY=… to {}",
                tilde(&home.config_path()),
                tilde(&home.env_path())
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        let r = &answer.result;
        let doc = Object::new()
            .with("text", r.text.as_str())
            .with("session_id", answer.session_id.as_str())
            .with("tokens_in", r.tokens_in)
            .with("tokens_out", r.tokens_out)
            .with("cost", r.cost)
            .with("interrupted", r.interrupted);
        writeln!(stdout, "{}", String::from_utf8_lossy(&Value::Object(doc).wire()))?;
    } else if streamed && !answer.result.text.ends_with('\n') {
        writeln!(stdout)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the controlling terminal: [o]nce, [s]ession, [a]lways, or no.
struct TtyApprover {
    input: io::BufReader<std::fs::File>,
}

impl TtyApprover {
    fn open() -> Option<Self> {
        if !io::stderr().is_terminal() {
            return None;
        }
        let tty = std::fs::File::open("/dev/tty").ok()?;
        Some(Self { input: io::BufReader::new(tty) })
    }
}

impl Approver for TtyApprover {
    fn ask(&mut self, command: &str, verdict: &Verdict) -> Answer {
        eprint!(
            "\n⚠ {} ({}): {command}\n  run it? [o]nce / [s]ession / [a]lways / [N]o: ",
            verdict.severity, verdict.reason
        );
        let _ = io::stderr().flush();
        let mut line = String::new();
        if self.input.read_line(&mut line).is_err() {
            return Answer::Deny;
        }
        Answer::parse(&line)
    }
}
