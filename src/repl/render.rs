//! What the REPL prints and where: the reply on stdout as it streams, everything else
//! (tool lines, notes, errors, the status line) on stderr, colour only on a terminal
//! with `NO_COLOR` unset, lines cut to the terminal's width.

use std::io::{self, Write};
use std::time::Duration;

use crate::agent::turn::Progress;

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

pub struct Render {
    color: bool,
}

impl Render {
    pub fn new(terminal: bool) -> Self {
        let color = terminal
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Self { color }
    }

    fn paint(&self, style: &str, text: &str) -> String {
        match self.color {
            true => format!("{style}{text}{RESET}"),
            false => text.to_owned(),
        }
    }

    pub fn prompt(&self) -> String {
        self.paint(BOLD, "› ")
    }

    /// A quiet line on stderr.
    pub fn note(&self, text: &str) {
        eprintln!("{}", self.paint(DIM, &fit(text, width())));
    }

    pub fn warn(&self, text: &str) {
        eprintln!("{}", self.paint(YELLOW, &format!("⚠ {text}")));
    }

    pub fn error(&self, text: &str) {
        eprintln!("{}", self.paint(RED, &format!("alpi: {text}")));
    }

    /// Plain output on stdout (command results).
    pub fn out(&self, text: &str) {
        println!("{text}");
    }

    pub fn clear_screen(&self) {
        if self.color {
            print!("\x1b[2J\x1b[H");
            let _ = io::stdout().flush();
        }
    }

    pub fn stream(&self) -> Stream<'_> {
        Stream { render: self, at_line_start: true, shown: false, tool_args: String::new() }
    }
}

/// One streamed reply: text on stdout, a compact line per tool step on stderr.
pub struct Stream<'a> {
    render: &'a Render,
    at_line_start: bool,
    shown: bool,
    tool_args: String,
}

impl Stream<'_> {
    pub fn progress(&mut self, p: Progress<'_>) {
        match p {
            Progress::Text(piece) => self.text(piece),
            Progress::ToolStarted { arguments, .. } => self.tool_args = arguments.to_owned(),
            Progress::ToolFinished { name, ok, seconds } => {
                self.break_line();
                let mark = if ok { "·" } else { "✗" };
                let what = summary(&self.tool_args);
                let line = fit(&format!("{mark} {name}  {what}"), width().saturating_sub(9));
                eprintln!("{}", self.render.paint(DIM, &format!("{line}  ({seconds:.1} s)")));
            }
        }
    }

    /// `id: ` before a peer's reply.
    pub fn label(&mut self, id: &str) {
        print!("{}", self.render.paint(BOLD, &format!("{id}: ")));
        self.at_line_start = false;
    }

    pub fn text(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        let mut out = io::stdout().lock();
        let _ = out.write_all(piece.as_bytes());
        let _ = out.flush();
        self.shown = true;
        self.at_line_start = piece.ends_with('\n');
    }

    pub fn shown(&self) -> bool {
        self.shown
    }

    fn break_line(&mut self) {
        if !self.at_line_start {
            println!();
            self.at_line_start = true;
        }
    }

    /// Ends the reply on a line of its own.
    pub fn end(&mut self) {
        self.break_line();
    }
}

/// The argument worth showing of a tool call: its command, path, URL or pattern.
fn summary(arguments: &str) -> String {
    let args = crate::json::parse(arguments.as_bytes()).ok();
    let pick = ["command", "path", "url", "pattern", "glob", "peer", "target"]
        .iter()
        .find_map(|k| args.as_ref()?.get(k)?.as_str().map(str::to_owned));
    pick.unwrap_or_default().replace('\n', " ")
}

/// The terminal's width (stderr), or 80.
pub fn width() -> usize {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col >= 20 { size.ws_col as usize } else { 80 }
}

/// `text` cut to `max` characters with an ellipsis.
fn fit(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if text.chars().count() > max => format!("{}…", &text[..i]),
        _ => text.to_owned(),
    }
}

/// `42 s`, `3 m 05 s`, `1 h 02 m`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} m {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_narrow_terminals() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("ééééé", 3), "éé…");
    }

    #[test]
    fn tool_lines_show_the_argument_that_matters() {
        assert_eq!(summary(r#"{"command":"ls -la","timeout":5}"#), "ls -la");
        assert_eq!(summary(r#"{"path":"src/main.rs"}"#), "src/main.rs");
        assert_eq!(summary("not json"), "");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_secs(42)), "42 s");
        assert_eq!(duration(Duration::from_secs(185)), "3 m 05 s");
        assert_eq!(duration(Duration::from_secs(3720)), "1 h 02 m");
    }
}
