//! Anthropic's Messages API (`POST /messages`): the request body with content blocks and
//! merged turns, the typed SSE stream and the whole-body response.

use super::sse::{SseDecoder, SseEvent};
use super::{
    ChatRequest, Event, Message, Role, Route, State, StreamDecoder, ToolCall, ToolSpec, WireError,
    WireRequest, count, error_text, header, str_at,
};
use crate::json::{self, Object, Value};

/// The same line for every API: both put their words in `error.message`.
pub use super::error_message;

pub const PATH: &str = "/messages";
pub const VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; this is sent when the request leaves it open.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

pub fn request(req: &ChatRequest, _route: &Route, key: Option<&str>) -> WireRequest {
    let mut headers = vec![header("content-type", "application/json"), header("anthropic-version", VERSION)];
    if let Some(key) = key {
        headers.push(header("x-api-key", key));
    }
    (PATH.into(), headers, body(req).wire())
}

fn body(req: &ChatRequest) -> Value {
    let mut body = Object::new().with("model", req.model.as_str());
    let system = system_prompt(req);
    if !system.is_empty() {
        body.insert("system", system);
    }
    body.insert("messages", turns(&req.messages));
    if !req.tools.is_empty() {
        body.insert("tools", req.tools.iter().map(tool).collect::<Vec<_>>());
    }
    body.insert("max_tokens", req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
    if let Some(t) = req.temperature.filter(|t| t.is_finite()) {
        body.insert("temperature", t);
    }
    body.insert("stream", req.stream);
    body.into()
}

/// The API has no system turns: `System` messages join the system prompt, in order.
fn system_prompt(req: &ChatRequest) -> String {
    let extra = req.messages.iter().filter(|m| m.role == Role::System).map(|m| m.text.as_str());
    let parts: Vec<&str> =
        std::iter::once(req.system.as_str()).chain(extra).filter(|t| !t.is_empty()).collect();
    parts.join("\n\n")
}

/// Messages as alternating turns: tool results travel in user turns, and consecutive
/// turns of one role are merged, since the API wants them alternating.
fn turns(messages: &[Message]) -> Vec<Value> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => ("user", text_block(&m.text)),
            Role::Assistant => ("assistant", assistant_blocks(m)),
            Role::Tool => ("user", vec![tool_result(m)]),
        };
        match turns.last_mut() {
            // Empty turns are refused by the API.
            _ if blocks.is_empty() => {}
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let turn =
        |(role, content): (&str, Vec<Value>)| Object::new().with("role", role).with("content", content);
    turns.into_iter().map(|t| turn(t).into()).collect()
}

/// The API refuses empty text blocks.
fn text_block(text: &str) -> Vec<Value> {
    let block = || Object::new().with("type", "text").with("text", text).into();
    if text.is_empty() { Vec::new() } else { vec![block()] }
}

fn assistant_blocks(m: &Message) -> Vec<Value> {
    let mut blocks = text_block(&m.text);
    blocks.extend(m.tool_calls.iter().map(|call| {
        Object::new()
            .with("type", "tool_use")
            .with("id", call.id.as_str())
            .with("name", call.name.as_str())
            .with("input", tool_input(&call.arguments))
            .into()
    }));
    blocks
}

/// `input` must be an object: arguments that are not one (or not JSON) become `{}`.
fn tool_input(arguments: &str) -> Value {
    match json::parse(arguments.as_bytes()) {
        Ok(value @ Value::Object(_)) => value,
        _ => Object::new().into(),
    }
}

fn tool_result(m: &Message) -> Value {
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    let mut block = Object::new().with("type", "tool_result").with("tool_use_id", id);
    if !m.text.is_empty() {
        block.insert("content", m.text.as_str());
    }
    block.into()
}

fn tool(spec: &ToolSpec) -> Value {
    Object::new()
        .with("name", spec.name.as_str())
        .with("description", spec.description.as_str())
        .with("input_schema", super::openai::schema(&spec.parameters))
        .into()
}

/// A whole (non-streamed) response body: text, tool calls, usage, done — or the error.
pub fn decode_full(body: &[u8]) -> Result<Vec<Event>, WireError> {
    let response = json::parse(body)?;
    if let Some(error) = response.get("error").filter(|_| type_of(&response) == Some("error")) {
        return Ok(vec![Event::Error { message: error_text(error) }]);
    }
    let blocks = response.get("content").and_then(Value::as_array).ok_or(WireError::Shape("content"))?;
    let mut events: Vec<Event> = blocks.iter().filter_map(block_event).collect();
    let usage = response.get("usage");
    let (input_tokens, output_tokens) = (input_tokens(usage), count(usage, "output_tokens"));
    events.push(Event::Usage { input_tokens, output_tokens });
    events.push(Event::Done { stop_reason: str_at(Some(&response), "stop_reason").into() });
    Ok(events)
}

fn block_event(block: &Value) -> Option<Event> {
    let text = |key| str_at(Some(block), key);
    match type_of(block)? {
        "text" if !text("text").is_empty() => Some(Event::TextDelta(text("text").into())),
        "tool_use" => {
            let input = block.get("input").map_or_else(|| b"{}".to_vec(), Value::wire);
            let arguments = String::from_utf8_lossy(&input).into_owned();
            Some(Event::ToolCall(ToolCall { id: text("id").into(), name: text("name").into(), arguments }))
        }
        _ => None,
    }
}

fn type_of(value: &Value) -> Option<&str> {
    value.get("type")?.as_str()
}

/// Prompt tokens, counting those written to and read from the prompt cache.
fn input_tokens(usage: Option<&Value>) -> u64 {
    ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
        .iter()
        .map(|key| count(usage, key))
        .sum()
}

/// The typed SSE stream of `"stream": true`, from `message_start` to `message_stop`.
#[derive(Debug)]
pub struct Decoder {
    sse: SseDecoder,
    /// Open `tool_use` blocks by content index, gathering `partial_json`.
    tools: Vec<(u64, ToolCall)>,
    input_tokens: u64,
    output_tokens: u64,
    stop_reason: String,
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        let (sse, tools, stop_reason) = (SseDecoder::new(), Vec::new(), String::new());
        Self { sse, tools, input_tokens: 0, output_tokens: 0, stop_reason, state: State::Streaming }
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Event>) -> Result<(), WireError> {
        if self.state != State::Streaming {
            return Ok(());
        }
        let data = json::parse(event.data.as_bytes())?;
        // The payload's `type` repeats the SSE event name, and survives proxies that drop it.
        match type_of(&data).unwrap_or(&event.event) {
            "message_start" => self.on_usage(data.get("message").and_then(|m| m.get("usage"))),
            "content_block_start" => self.on_block_start(&data),
            "content_block_delta" => self.on_block_delta(&data, out),
            "content_block_stop" => self.on_block_stop(&data, out),
            "message_delta" => {
                let reason = data.get("delta").and_then(|d| d.get("stop_reason")).and_then(Value::as_str);
                reason.unwrap_or_default().clone_into(&mut self.stop_reason);
                self.on_usage(data.get("usage"));
            }
            "message_stop" => {
                let (input_tokens, output_tokens) = (self.input_tokens, self.output_tokens);
                out.push(Event::Usage { input_tokens, output_tokens });
                out.push(Event::Done { stop_reason: std::mem::take(&mut self.stop_reason) });
                self.state = State::Done;
            }
            "error" => {
                let error = data.get("error").unwrap_or(&data);
                out.push(Event::Error { message: error_text(error) });
                self.state = State::Failed;
            }
            // `ping`, and event types added after this was written.
            _ => {}
        }
        Ok(())
    }

    /// Counts in `message_start` and `message_delta`: the latter's are cumulative.
    fn on_usage(&mut self, usage: Option<&Value>) {
        let Some(u) = usage else { return };
        if u.get("input_tokens").is_some() {
            self.input_tokens = input_tokens(usage);
        }
        if u.get("output_tokens").is_some() {
            self.output_tokens = count(usage, "output_tokens");
        }
    }

    fn on_block_start(&mut self, data: &Value) {
        let block = data.get("content_block");
        if block.and_then(type_of) != Some("tool_use") {
            return;
        }
        let text = |key| str_at(block, key);
        let call = ToolCall { id: text("id").into(), name: text("name").into(), arguments: String::new() };
        self.tools.push((index(data), call));
    }

    fn on_block_delta(&mut self, data: &Value, out: &mut Vec<Event>) {
        let Some(delta) = data.get("delta") else { return };
        let text = |key| str_at(Some(delta), key);
        match type_of(delta) {
            Some("text_delta") if !text("text").is_empty() => out.push(Event::TextDelta(text("text").into())),
            Some("input_json_delta") => {
                let at = index(data);
                if let Some((_, call)) = self.tools.iter_mut().find(|(i, _)| *i == at) {
                    call.arguments.push_str(text("partial_json"));
                }
            }
            // `thinking_delta`, `signature_delta`, …: not handed on.
            _ => {}
        }
    }

    fn on_block_stop(&mut self, data: &Value, out: &mut Vec<Event>) {
        let at = index(data);
        let Some(pos) = self.tools.iter().position(|(i, _)| *i == at) else { return };
        let (_, mut call) = self.tools.remove(pos);
        if call.arguments.trim().is_empty() {
            call.arguments = "{}".into();
        }
        out.push(Event::ToolCall(call));
    }

    fn on_events(&mut self, events: Vec<SseEvent>) -> Result<Vec<Event>, WireError> {
        let mut out = Vec::new();
        for event in &events {
            self.on_event(event, &mut out)?;
        }
        Ok(out)
    }
}

fn index(data: &Value) -> u64 {
    count(Some(data), "index")
}

impl StreamDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, WireError> {
        let events = self.sse.feed(bytes)?;
        self.on_events(events)
    }

    fn finish(&mut self) -> Result<Vec<Event>, WireError> {
        let events = self.sse.finish()?;
        let out = self.on_events(events)?;
        match self.state {
            State::Streaming => Err(WireError::Truncated),
            State::Done | State::Failed => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_that_are_not_an_object_become_an_empty_input() {
        assert_eq!(tool_input(r#"{"a":[1]}"#).wire(), br#"{"a":[1]}"#);
        for bad in ["", "[1]", "{\"a\":", "null"] {
            assert_eq!(tool_input(bad), Value::Object(Object::new()), "{bad:?}");
        }
    }

    #[test]
    fn a_tool_use_block_without_deltas_has_empty_arguments() {
        let mut d = Decoder::new();
        let text = concat!(
            "data: {\"type\":\"content_block_start\",\"index\":2,",
            "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"now\",\"input\":{}}}\n\n",
            "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        );
        let call = ToolCall { id: "t".into(), name: "now".into(), arguments: "{}".into() };
        assert_eq!(d.feed(text.as_bytes()).unwrap(), vec![Event::ToolCall(call)]);
        assert_eq!(d.finish(), Err(WireError::Truncated));
    }
}
