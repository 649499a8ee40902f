//! The line REPL: `alpi` / `alpi chat`. Plain reads from stdin (the terminal's own line
//! editing, no TUI), the reply streamed to stdout, tool lines and the status line on
//! stderr. Ctrl-C stops the running turn (twice within 2 s quits), Ctrl-D quits.
//! `@peer …` goes to a pinned peer over ALP, `/…` are commands, anything else is a turn.
//! With stdin not a terminal: no prompt, no colour, caution-level commands denied.

mod commands;
mod render;

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::agent::approval::Verdict;
use crate::agent::run::{Conversation, RunError, Surface};
use crate::agent::session::{self, Session};
use crate::agent::tools::{Answer, Approver, NoApprover};
use crate::alp::ask;
use crate::profile::ProfileHome;
use render::Render;

/// Two Ctrl-C within this long quit.
const DOUBLE_INTERRUPT: Duration = Duration::from_secs(2);

/// What the Ctrl-C watcher and the loop share.
struct Interrupts {
    cancel: Arc<AtomicBool>,
    busy: AtomicBool,
    last: Mutex<Option<Instant>>,
    prompt: String,
}

impl Interrupts {
    /// One Ctrl-C: stop the turn, or say how to quit; the second within 2 s quits.
    fn on_interrupt(&self) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now.duration_since(t) < DOUBLE_INTERRUPT) {
            eprintln!();
            crate::agent::mcp::stop_all();
            std::process::exit(130);
        }
        *last = Some(now);
        if self.busy.load(Ordering::SeqCst) {
            self.cancel.store(true, Ordering::SeqCst);
            eprint!("\n^C stopping the turn (again to quit)\n");
        } else {
            eprint!("\n(Ctrl-C again to quit, or Ctrl-D)\n{}", self.prompt);
            let _ = io::stderr().flush();
        }
    }
}

/// The REPL's state across lines.
pub struct Repl {
    home: ProfileHome,
    conversation: Conversation,
    interactive: bool,
    render: Render,
    interrupts: Arc<Interrupts>,
    started: Instant,
}

/// Runs the REPL on `home` until Ctrl-D, `/quit` or the end of piped input;
/// `resume` continues the newest saved session.
pub fn run(home: &ProfileHome, resume: bool) -> Result<(), String> {
    let conversation = Conversation::open(home).map_err(|e| e.to_string())?;
    let interactive = io::stdin().is_terminal();
    let render = Render::new(interactive && io::stdout().is_terminal());
    let prompt = if interactive { render.prompt() } else { String::new() };
    let interrupts = Arc::new(Interrupts {
        cancel: Arc::new(AtomicBool::new(false)),
        busy: AtomicBool::new(false),
        last: Mutex::new(None),
        prompt,
    });
    let watcher = interrupts.clone();
    crate::signals::watch(&[libc::SIGINT], move |_| {
        watcher.on_interrupt();
        true
    })
    .map_err(|e| format!("cannot take over Ctrl-C: {e}"))?;
    let mut repl =
        Repl { home: home.clone(), conversation, interactive, render, interrupts, started: Instant::now() };
    if resume {
        repl.resume_latest();
    }
    repl.greet();
    repl.read_loop();
    crate::agent::mcp::stop_all();
    Ok(())
}

impl Repl {
    fn greet(&self) {
        let model = self.conversation.model_name();
        if self.interactive {
            let shown = if model.is_empty() { "no model yet" } else { model };
            self.render.note(&format!("alpi · {} · {shown} · /help, Ctrl-D to quit", self.home.name()));
        }
        if model.is_empty() {
            self.render.error(&self.no_model_hint());
        }
    }

    fn no_model_hint(&self) -> String {
        format!(
            "no model configured — run `alpi setup`, or add `model: openai/gpt-4o-mini` to {} and the key to {} (@peer and /commands work meanwhile)",
            crate::profile::tilde(&self.home.config_path()),
            crate::profile::tilde(&self.home.env_path()),
        )
    }

    fn read_loop(&mut self) {
        let stdin = io::stdin();
        loop {
            if self.interactive {
                print!("{}", self.interrupts.prompt);
                let _ = io::stdout().flush();
            }
            let Some(line) = read_message(&mut stdin.lock()) else { break };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(command) = line.strip_prefix('/') {
                if commands::run(self, command) == commands::Flow::Quit {
                    break;
                }
            } else if let Some((peer, prompt)) = self.mention(line) {
                self.ask_peer(&peer, &prompt);
            } else {
                self.turn(line);
            }
        }
        if self.interactive {
            println!();
        }
    }

    /// `@id rest` naming a pinned peer.
    fn mention(&self, line: &str) -> Option<(String, String)> {
        let is_peer = |id: &str| ask::pinned(&self.home, id).is_ok();
        ask::mention(line, &is_peer).map(|(id, prompt)| (id.to_owned(), prompt))
    }

    fn turn(&mut self, prompt: &str) {
        if self.conversation.model_name().is_empty() {
            return self.render.error(&self.no_model_hint());
        }
        let mut tty_approver = LineApprover { render: &self.render };
        let mut none = NoApprover;
        let approver: &mut dyn Approver = if self.interactive { &mut tty_approver } else { &mut none };
        let interrupts = &self.interrupts;
        interrupts.cancel.store(false, Ordering::SeqCst);
        interrupts.busy.store(true, Ordering::SeqCst);
        let surface = Surface { name: "cli", approver, cancel: &interrupts.cancel, peer: None };
        let mut stream = self.render.stream();
        let outcome = self.conversation.turn(prompt, surface, &mut |p| stream.progress(p));
        stream.end();
        interrupts.busy.store(false, Ordering::SeqCst);
        match outcome {
            Ok(answer) => {
                if answer.result.interrupted {
                    self.render.note("(interrupted)");
                }
                self.status();
            }
            Err(RunError::Turn(e)) => self.render.error(&e.to_string()),
            Err(e) => self.render.error(&e.to_string()),
        }
    }

    /// The line after each turn: model · tokens · cost · session time.
    fn status(&self) {
        let s = self.conversation.session();
        self.render.note(&format!(
            "{} · {} in / {} out · ${:.4} · {}",
            self.conversation.model_name(),
            s.input_tokens,
            s.output_tokens,
            s.cost_usd,
            render::duration(self.started.elapsed())
        ));
    }

    fn ask_peer(&mut self, id: &str, prompt: &str) {
        let peer = match ask::pinned(&self.home, id) {
            Ok(peer) => peer,
            Err(e) => return self.render.error(&e),
        };
        let mut stream = self.render.stream();
        stream.label(id);
        self.interrupts.busy.store(true, Ordering::SeqCst);
        let outcome = ask::ask(&self.home, &peer, prompt, &mut |text| stream.text(text));
        self.interrupts.busy.store(false, Ordering::SeqCst);
        match outcome {
            Ok(asked) => {
                if !stream.shown() {
                    stream.text(&asked.result.text);
                }
                stream.end();
                self.render.note(&format!(
                    "{id} · {} in / {} out · ${:.4}",
                    asked.result.tokens_in, asked.result.tokens_out, asked.result.cost
                ));
            }
            Err(e) => {
                stream.end();
                self.render.error(&e);
            }
        }
    }

    fn resume_latest(&mut self) {
        match latest_session(&self.home) {
            Some(session) => self.resume(session),
            None => self.render.note("no saved session to continue; starting a new one"),
        }
    }

    fn resume(&mut self, session: Session) {
        self.render.note(&format!("continuing session {} ({} turns)", session.id, session.turns.len()));
        self.conversation.resume(session);
    }
}

/// One message: a line, or several joined when each but the last ends in `\`.
/// `None` at the end of input.
fn read_message(input: &mut dyn BufRead) -> Option<String> {
    let mut message = String::new();
    loop {
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) if message.is_empty() => return None,
            Ok(0) | Err(_) => return Some(message),
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\n', '\r']);
        match line.strip_suffix('\\') {
            Some(part) => {
                message.push_str(part);
                message.push('\n');
            }
            None => {
                message.push_str(line);
                return Some(message);
            }
        }
    }
}

/// Saved sessions, newest first, not yet read.
fn sessions(home: &ProfileHome) -> Vec<session::Saved> {
    session::saved(&home.dir().join("sessions"))
}

/// The newest session that reads.
fn latest_session(home: &ProfileHome) -> Option<Session> {
    sessions(home).iter().find_map(|s| s.load().ok())
}

/// Asks on the REPL's own stdin: `[o]nce [s]ession [a]lways [d]eny`.
struct LineApprover<'a> {
    render: &'a Render,
}

impl Approver for LineApprover<'_> {
    fn ask(&mut self, command: &str, verdict: &Verdict) -> Answer {
        self.render.warn(&format!("{} ({}): {command}", verdict.severity, verdict.reason));
        eprint!("  run it? [o]nce [s]ession [a]lways [d]eny: ");
        let _ = io::stderr().flush();
        let mut line = String::new();
        if io::stdin().read_line(&mut line).is_err() {
            return Answer::Deny;
        }
        Answer::parse(&line)
    }
}
