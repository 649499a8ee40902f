//! Slash commands. A unique prefix is enough (`/mo` is `/model`); an ambiguous or
//! unknown one gets a line saying what exists.

use super::{Repl, render, sessions};
use crate::agent::ledger::Ledger;
use crate::agent::memory::{MemoryFile, MemoryStore};
use crate::alp::client::Route;
use crate::alp::peers::PeerFiles;
use crate::clock::{UtcTime, now_micros};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

const COMMANDS: &[(&str, &str)] = &[
    ("help", "this list"),
    ("status", "profile, model, session, today's spend"),
    ("model", "[provider/model] show or switch the model for this session"),
    ("new", "start a new session"),
    ("clear", "clear the screen"),
    ("sessions", "[id] list saved sessions, or continue one"),
    ("memory", "what the agent remembers (USER.md, MEMORY.md, AGENT.md)"),
    ("tools", "the tools the model may use"),
    ("peers", "pinned peers — address one with @id"),
    ("cost", "this session's and today's spend"),
    ("quit", "leave (Ctrl-D does too)"),
];

/// Runs `/name [arg]` (without the slash).
pub fn run(repl: &mut Repl, line: &str) -> Flow {
    let (word, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let word = word.to_ascii_lowercase();
    let word = if word == "exit" { "quit".to_owned() } else { word };
    let matches: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).filter(|n| n.starts_with(&word)).collect();
    let name = match matches.as_slice() {
        [one] => *one,
        _ if word.is_empty() => return unknown(repl, "/"),
        [] => return unknown(repl, &format!("/{word}")),
        many if many.contains(&word.as_str()) => {
            many.iter().find(|n| **n == word).copied().unwrap_or(many[0])
        }
        many => {
            let list: Vec<String> = many.iter().map(|n| format!("/{n}")).collect();
            repl.render.error(&format!("/{word} could be {} — type more of it", list.join(" ")));
            return Flow::Continue;
        }
    };
    let arg = arg.trim();
    match name {
        "help" => help(repl),
        "status" => status(repl),
        "model" => model(repl, arg),
        "new" => {
            repl.conversation.reset();
            repl.render.note(&format!("new session {}", repl.conversation.session().id));
        }
        "clear" => repl.render.clear_screen(),
        "sessions" => list_or_resume(repl, arg),
        "memory" => memory(repl),
        "tools" => tools(repl),
        "peers" => peers(repl),
        "cost" => cost(repl),
        _ => return Flow::Quit,
    }
    Flow::Continue
}

fn unknown(repl: &Repl, what: &str) -> Flow {
    repl.render.error(&format!("unknown command {what} — /help lists them"));
    Flow::Continue
}

fn help(repl: &Repl) {
    for (name, what) in COMMANDS {
        repl.render.out(&format!("/{name:<9} {what}"));
    }
    repl.render.out("@id text   ask a pinned peer directly (no model call)");
    repl.render.out("line\\      end a line with \\ to continue on the next");
}

fn status(repl: &Repl) {
    let s = repl.conversation.session();
    let model = match repl.conversation.model_name() {
        "" => "none — run `alpi setup`",
        m => m,
    };
    repl.render.out(&format!("profile   {}", repl.home.name()));
    repl.render.out(&format!("model     {model}"));
    repl.render.out(&format!(
        "session   {} · {} turns · {}",
        s.id,
        s.turns.len(),
        render::duration(repl.started.elapsed())
    ));
    repl.render
        .out(&format!("tokens    {} in / {} out · ${:.4}", s.input_tokens, s.output_tokens, s.cost_usd));
    today(repl);
}

fn today(repl: &Repl) {
    let spent = Ledger::new(&repl.home.logs_dir()).today(now_micros());
    let cap =
        repl.conversation.config().budget.daily_usd.map_or("no cap".to_owned(), |c| format!("cap ${c:.2}"));
    repl.render.out(&format!("today     ${:.4} · {} tokens · {cap}", spent.usd, spent.tokens));
}

fn model(repl: &mut Repl, name: &str) {
    if name.is_empty() {
        let current = repl.conversation.model_name();
        let shown = if current.is_empty() { "none configured" } else { current };
        repl.render.out(&format!("model: {shown} (switch with /model provider/model)"));
        return;
    }
    match repl.conversation.set_model(name) {
        Ok(()) => {
            repl.render.note(&format!("model for this session: {name} (`alpi setup model` makes it stick)"))
        }
        Err(e) => repl.render.error(&e.to_string()),
    }
}

fn list_or_resume(repl: &mut Repl, id: &str) {
    let all = sessions(&repl.home);
    if !id.is_empty() {
        match all.iter().find(|s| s.id.starts_with(id)).map(|s| s.load()) {
            Some(Ok(session)) => repl.resume(session),
            Some(Err(e)) => repl.render.error(&format!("cannot read that session: {e}")),
            None => repl.render.error(&format!("no session {id:?} — /sessions lists them")),
        }
        return;
    }
    if all.is_empty() {
        repl.render.out("no saved sessions yet");
    }
    for saved in all.iter().take(10) {
        let s = match saved.load() {
            Ok(s) => s,
            Err(e) => {
                repl.render.out(&format!("{}  (unreadable: {e})", saved.id));
                continue;
            }
        };
        let when = UtcTime::from_micros((s.started_at * 1e6) as i64).iso_seconds();
        let first = s.turns.first().map_or("", |t| t.user.as_str()).replace('\n', " ");
        let head: String = first.chars().take(40).collect();
        repl.render.out(&format!("{}  {}  {:>3} turns  {head}", s.id, &when[..16], s.turns.len()));
    }
}

fn memory(repl: &Repl) {
    let store = MemoryStore::new(&repl.home.dir().join("memories"));
    for file in MemoryFile::ALL {
        let text = store.read(file).unwrap_or_default();
        match text.trim() {
            "" => repl.render.out(&format!("{file}: (empty)")),
            body => repl.render.out(&format!("{file}:\n{body}")),
        }
    }
}

fn tools(repl: &Repl) {
    let gate = crate::agent::tools::Gate::deny(repl.conversation.denied_tools());
    for spec in crate::agent::tools::specs(&gate, true) {
        let first = spec.description.split(". ").next().unwrap_or_default();
        repl.render.out(&format!("{:<11} {first}", spec.name));
    }
    mcp_tools(repl, &gate);
}

/// The MCP servers' tools, under their server; a server that failed says why.
fn mcp_tools(repl: &Repl, gate: &crate::agent::tools::Gate) {
    let toolbox = crate::agent::mcp::Toolbox::load(&repl.home, repl.conversation.config());
    for report in toolbox.reports() {
        let tools: Vec<_> = toolbox.tools().iter().filter(|t| t.server == report.name).collect();
        match &report.outcome {
            Ok(_) => repl.render.out(&format!("MCP server {} · {} tools", report.name, tools.len())),
            Err(e) => repl.render.error(&format!("MCP server {}: {e}", report.name)),
        }
        for tool in tools.into_iter().filter(|t| gate.offers(&t.gate_name())) {
            let first = tool.description.split(". ").next().unwrap_or_default();
            repl.render.out(&format!("  {} ({}) {first}", tool.exposed, tool.gate_name()));
        }
    }
}

fn peers(repl: &Repl) {
    let files = PeerFiles::new(&repl.home.dir().join("alp"));
    match files.load() {
        Ok(list) if list.is_empty() => {
            repl.render.out("no peers pinned — `alpi peers add <id> <pubkey>` pins one")
        }
        Ok(list) => {
            for p in list {
                let route = Route::for_peer(&p, repl.home.root()).describe();
                repl.render.out(&format!("@{:<12} {} · {route}", p.id, p.pubkey.short()));
            }
        }
        Err(e) => repl.render.error(&e.to_string()),
    }
}

fn cost(repl: &Repl) {
    let s = repl.conversation.session();
    repl.render
        .out(&format!("session   ${:.4} · {} in / {} out", s.cost_usd, s.input_tokens, s.output_tokens));
    today(repl);
}
