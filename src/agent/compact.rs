//! Context compaction: before each model call, a history that nears the model's window
//! is cut down — oversized tool results first, then the middle of the conversation is
//! replaced by a summary the model writes (or, if that call fails, by a marker).

use super::provider::{ChatRequest, Message, Role};
use super::turn::{Model, TurnResult, TurnSettings, book, call_with_retries};

/// The window assumed when nothing better is known.
pub const DEFAULT_WINDOW: usize = 128_000;
/// The usual estimate: one token is about four characters.
const CHARS_PER_TOKEN: usize = 4;
/// Compact when the next prompt would pass this share of the window…
const TRIGGER: f64 = 0.75;
/// …keeping this many of the newest messages and the first user message intact.
const KEEP_TAIL: usize = 8;
/// Tool results at least this long are cut to a head and a tail first.
const TOOL_CUT_FROM: usize = 32_000;
const TOOL_KEEP_HEAD: usize = 8_000;
const TOOL_KEEP_TAIL: usize = 4_000;

const SUMMARY_PROMPT: &str = "You are summarizing the middle of an agent conversation so it fits the \
model's context window. Your summary replaces the messages below; the agent continues from it plus \
the newest turns. Keep, in this order: active tasks and their status; decisions and why; identifiers \
verbatim (paths, IDs, URLs, hashes, names); open questions; the user's latest ask; tool results that \
still matter, quoted literally. Write plain text, no preamble.";

/// Tokens `history` will take, roughly.
pub fn estimate(history: &[Message]) -> usize {
    let chars: usize = history
        .iter()
        .map(|m| {
            m.text.len() + m.tool_calls.iter().map(|c| c.name.len() + c.arguments.len()).sum::<usize>() + 16
        })
        .sum();
    chars / CHARS_PER_TOKEN
}

/// Tokens the system prompt and the tool descriptions take, roughly.
fn overhead(request: &ChatRequest) -> usize {
    let tools: usize =
        request.tools.iter().map(|t| t.name.len() + t.description.len() + t.parameters.wire().len()).sum();
    (request.system.len() + tools) / CHARS_PER_TOKEN
}

/// Makes `history` fit `model`'s window before the next call; a summary call is booked
/// like any other.
pub(crate) fn fit(
    model: &dyn Model,
    request: &ChatRequest,
    history: &mut Vec<Message>,
    settings: &TurnSettings<'_>,
    result: &mut TurnResult,
) {
    let limit = ((model.context_window() as f64 * TRIGGER) as usize).saturating_sub(overhead(request));
    if estimate(history) <= limit {
        return;
    }
    cut_tool_results(history);
    if estimate(history) <= limit {
        return;
    }
    let Some((start, end)) = middle(history) else { return };
    let transcript = clip(&flatten(&history[start..end]), limit / 2 * CHARS_PER_TOKEN);
    let request = ChatRequest {
        model: model.name().to_owned(),
        system: SUMMARY_PROMPT.to_owned(),
        messages: vec![Message::user(transcript)],
        max_tokens: Some(2_000),
        stream: true,
        ..Default::default()
    };
    let summary = match call_with_retries(model, &request, settings, &mut |_| {}) {
        Ok(step) if !step.text.trim().is_empty() => {
            book(model, &step, settings, result);
            step.text
        }
        Ok(_) => "(no summary was written)".to_owned(),
        Err((e, _)) => {
            log::warn!("could not summarise the conversation ({e}); dropping its middle instead");
            "(the summary failed; earlier messages were dropped)".to_owned()
        }
    };
    log::info!("compacted {} messages of history into a summary", end - start);
    let note =
        format!("[Summary of the earlier conversation, compacted to fit the context window]\n{summary}");
    history.splice(start..end, [Message::user(note)]);
}

/// Cuts every long tool result to its head and tail.
fn cut_tool_results(history: &mut [Message]) {
    for m in history.iter_mut().filter(|m| m.role == Role::Tool && m.text.len() >= TOOL_CUT_FROM) {
        let head = floor_char(&m.text, TOOL_KEEP_HEAD);
        let tail = ceil_char(&m.text, m.text.len() - TOOL_KEEP_TAIL);
        let dropped = tail - head;
        m.text = format!(
            "{}\n[… {dropped} bytes cut to fit the context window …]\n{}",
            &m.text[..head],
            &m.text[tail..]
        );
    }
}

/// The messages to summarise: after the first user message, before the newest ones,
/// never splitting a tool call from its results.
fn middle(history: &[Message]) -> Option<(usize, usize)> {
    let start = 1;
    let mut end = history.len().saturating_sub(KEEP_TAIL);
    while end < history.len() && history[end].role == Role::Tool {
        end += 1;
    }
    (end > start + 1).then_some((start, end))
}

fn flatten(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        let who = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool result",
        };
        out.push_str(&format!("[{who}] {}\n", m.text));
        for call in &m.tool_calls {
            out.push_str(&format!("[tool call] {} {}\n", call.name, call.arguments));
        }
    }
    out
}

/// Keeps a quarter of `max` bytes from the head and the rest from the tail.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let head = floor_char(text, max / 4);
    let tail = ceil_char(text, text.len() - (max - max / 4));
    format!("{}\n[… {} bytes elided …]\n{}", &text[..head], tail - head, &text[tail..])
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(n: usize) -> String {
        "é".repeat(n / 2)
    }

    #[test]
    fn long_tool_results_keep_head_and_tail() {
        let mut h = vec![Message::user("q"), Message::tool_result("1", format!("HEAD{}TAIL", long(100_000)))];
        cut_tool_results(&mut h);
        assert!(h[1].text.starts_with("HEAD") && h[1].text.ends_with("TAIL"));
        assert!(h[1].text.len() < 13_000, "{}", h[1].text.len());
    }

    #[test]
    fn the_middle_never_splits_calls_from_results() {
        let call =
            super::super::provider::ToolCall { id: "1".into(), name: "t".into(), arguments: "{}".into() };
        let mut h = vec![Message::user("first")];
        for _ in 0..6 {
            h.push(Message::assistant("", vec![call.clone()]));
            h.push(Message::tool_result("1", "r"));
        }
        let (start, end) = middle(&h).unwrap();
        assert_eq!(start, 1);
        assert_ne!(h[end].role, Role::Tool);
        assert!(middle(&h[..5]).is_none());
    }

    #[test]
    fn clipping_keeps_both_ends_on_char_boundaries() {
        let text = format!("A{}Z", long(10_000));
        let clipped = clip(&text, 1_001);
        assert!(clipped.starts_with('A') && clipped.ends_with('Z'));
    }
}
