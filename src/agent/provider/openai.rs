//! The OpenAI-compatible chat completions API (`POST /chat/completions`), as spoken by
//! OpenAI, OpenRouter, Groq, Gemini's OpenAI endpoint, llama.cpp, vLLM, LM Studio and
//! Ollama's `/v1`: the request body, the SSE stream and the whole-body response.

use super::sse::SseDecoder;
use super::{
    ChatRequest, Event, Message, Role, Route, State, StreamDecoder, ToolCall, ToolSpec, WireError,
    WireRequest, count, error_text, header, str_at,
};
use crate::json::{self, Object, Value};

/// The same line for every API: both put their words in `error.message`.
pub use super::error_message;

pub const PATH: &str = "/chat/completions";

pub fn request(req: &ChatRequest, route: &Route, key: Option<&str>) -> WireRequest {
    let mut headers = vec![header("content-type", "application/json")];
    if let Some(key) = key {
        headers.push(header("authorization", format!("Bearer {key}")));
    }
    (PATH.into(), headers, body(req, route).wire())
}

fn body(req: &ChatRequest, route: &Route) -> Value {
    let system = (!req.system.is_empty()).then(|| role_message("system", &req.system));
    let messages: Vec<Value> = system.into_iter().chain(req.messages.iter().map(message)).collect();
    let mut body = Object::new().with("model", req.model.as_str()).with("messages", messages);
    if !req.tools.is_empty() {
        body.insert("tools", req.tools.iter().map(tool).collect::<Vec<_>>());
    }
    body.insert("stream", req.stream);
    if req.stream {
        body.insert("stream_options", Object::new().with("include_usage", true));
    }
    if let Some(max) = req.max_tokens {
        // OpenAI's reasoning models refuse `max_tokens`; other servers may not know the new name.
        let name = if route.provider == "openai" { "max_completion_tokens" } else { "max_tokens" };
        body.insert(name, max);
    }
    if let Some(t) = req.temperature.filter(|t| t.is_finite()) {
        body.insert("temperature", t);
    }
    body.into()
}

fn role_message(role: &str, text: &str) -> Value {
    Object::new().with("role", role).with("content", text).into()
}

fn message(m: &Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut o = Object::new().with("role", role);
    if m.role == Role::Assistant && !m.tool_calls.is_empty() {
        o.insert("content", (!m.text.is_empty()).then_some(m.text.as_str()));
        o.insert("tool_calls", m.tool_calls.iter().map(tool_call).collect::<Vec<_>>());
    } else {
        o.insert("content", m.text.as_str());
    }
    if m.role == Role::Tool {
        o.insert("tool_call_id", m.tool_call_id.as_deref().unwrap_or_default());
    }
    o.into()
}

fn tool_call(call: &ToolCall) -> Value {
    let function = Object::new().with("name", call.name.as_str()).with("arguments", call.arguments.as_str());
    Object::new().with("id", call.id.as_str()).with("type", "function").with("function", function).into()
}

fn tool(spec: &ToolSpec) -> Value {
    let function = Object::new()
        .with("name", spec.name.as_str())
        .with("description", spec.description.as_str())
        .with("parameters", schema(&spec.parameters));
    Object::new().with("type", "function").with("function", function).into()
}

/// A tool's schema; no schema is an object schema with no properties.
pub(super) fn schema(parameters: &Value) -> Value {
    match parameters {
        Value::Null => Object::new().with("type", "object").with("properties", Object::new()).into(),
        other => other.clone(),
    }
}

/// A whole (non-streamed) response body: text, tool calls, usage, done — or the error.
pub fn decode_full(body: &[u8]) -> Result<Vec<Event>, WireError> {
    let response = json::parse(body)?;
    if let Some(error) = response.get("error").filter(|e| !e.is_null()) {
        return Ok(vec![Event::Error { message: error_text(error) }]);
    }
    let choice = first_choice(&response).ok_or(WireError::Shape("choices"))?;
    let message = choice.get("message").ok_or(WireError::Shape("message"))?;
    let mut events = Vec::new();
    if let Some(text) = message.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        events.push(Event::TextDelta(text.into()));
    }
    let calls = message.get("tool_calls").and_then(Value::as_array).unwrap_or_default();
    for (n, call) in calls.iter().enumerate() {
        let function = call.get("function");
        let (id, name) = (str_at(Some(call), "id").into(), str_at(function, "name").into());
        let call = ToolCall { id, name, arguments: str_at(function, "arguments").into() };
        events.push(Event::ToolCall(complete(call, n)));
    }
    if let Some((input_tokens, output_tokens)) = usage(&response) {
        events.push(Event::Usage { input_tokens, output_tokens });
    }
    events.push(Event::Done { stop_reason: str_at(Some(choice), "finish_reason").into() });
    Ok(events)
}

fn first_choice(response: &Value) -> Option<&Value> {
    response.get("choices")?.as_array()?.first()
}

/// Prompt and completion tokens: `usage`, or Groq's `x_groq.usage`.
fn usage(chunk: &Value) -> Option<(u64, u64)> {
    let usage = chunk.get("usage").filter(|u| u.as_object().is_some());
    let usage = usage.or_else(|| chunk.get("x_groq")?.get("usage").filter(|u| u.as_object().is_some()))?;
    Some((count(Some(usage), "prompt_tokens"), count(Some(usage), "completion_tokens")))
}

/// A call as handed on: some local servers send no id, and a call without arguments
/// may arrive as an empty string.
fn complete(mut call: ToolCall, n: usize) -> ToolCall {
    if call.id.is_empty() {
        call.id = format!("call_{n}");
    }
    if call.arguments.trim().is_empty() {
        call.arguments = "{}".into();
    }
    call
}

/// A tool call still receiving argument pieces.
#[derive(Debug)]
struct Pending {
    index: Option<u64>,
    call: ToolCall,
}

/// The SSE stream of `"stream": true`: `data: {chunk}` lines ending with `data: [DONE]`.
#[derive(Debug)]
pub struct Decoder {
    sse: SseDecoder,
    calls: Vec<Pending>,
    /// Calls already handed on, to number id-less ones uniquely.
    emitted: usize,
    stop_reason: Option<String>,
    usage: Option<(u64, u64)>,
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        let sse = SseDecoder::new();
        Self { sse, calls: Vec::new(), emitted: 0, stop_reason: None, usage: None, state: State::Streaming }
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn on_data(&mut self, data: &str, out: &mut Vec<Event>) -> Result<(), WireError> {
        if self.state != State::Streaming {
            return Ok(());
        }
        if data.trim() == "[DONE]" {
            self.end(out);
            return Ok(());
        }
        let chunk = json::parse(data.as_bytes())?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            out.push(Event::Error { message: error_text(error) });
            self.state = State::Failed;
            return Ok(());
        }
        // The last usage seen wins: Groq may send it twice, once per place.
        self.usage = usage(&chunk).or(self.usage);
        let Some(choice) = first_choice(&chunk) else { return Ok(()) };
        if let Some(delta) = choice.get("delta") {
            self.on_delta(delta, out);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop_reason = Some(reason.into());
            self.flush_calls(out);
        }
        Ok(())
    }

    fn on_delta(&mut self, delta: &Value, out: &mut Vec<Event>) {
        if let Some(text) = delta.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            out.push(Event::TextDelta(text.into()));
        }
        for piece in delta.get("tool_calls").and_then(Value::as_array).unwrap_or_default() {
            let slot = self.slot(piece);
            let call = &mut self.calls[slot].call;
            let function = piece.get("function");
            if call.id.is_empty() {
                str_at(Some(piece), "id").clone_into(&mut call.id);
            }
            // Names come whole (some servers repeat them); arguments come in pieces.
            if call.name.is_empty() {
                str_at(function, "name").clone_into(&mut call.name);
            }
            call.arguments.push_str(str_at(function, "arguments"));
        }
    }

    /// The pending call a `delta.tool_calls` piece continues, or a new one. A known id
    /// continues its call and a new id starts one (unless the call with its index has no
    /// id yet); without an id, the latest call with the piece's index continues, or with
    /// no index either (Gemini) the latest call.
    fn slot(&mut self, piece: &Value) -> usize {
        let index = piece.get("index").and_then(Value::as_u64);
        let by_index = |id_less: bool| {
            let same =
                |p: &Pending| index.is_some() && p.index == index && (!id_less || p.call.id.is_empty());
            self.calls.iter().rposition(same)
        };
        let found = match str_at(Some(piece), "id") {
            "" if index.is_some() => by_index(false),
            "" => self.calls.len().checked_sub(1),
            id => self.calls.iter().position(|p| p.call.id == id).or_else(|| by_index(true)),
        };
        found.unwrap_or_else(|| {
            self.calls.push(Pending { index, call: ToolCall::default() });
            self.calls.len() - 1
        })
    }

    fn flush_calls(&mut self, out: &mut Vec<Event>) {
        for pending in std::mem::take(&mut self.calls) {
            out.push(Event::ToolCall(complete(pending.call, self.emitted)));
            self.emitted += 1;
        }
    }

    fn end(&mut self, out: &mut Vec<Event>) {
        self.flush_calls(out);
        if let Some((input_tokens, output_tokens)) = self.usage {
            out.push(Event::Usage { input_tokens, output_tokens });
        }
        out.push(Event::Done { stop_reason: self.stop_reason.take().unwrap_or_default() });
        self.state = State::Done;
    }

    fn on_events(&mut self, events: Vec<super::sse::SseEvent>) -> Result<Vec<Event>, WireError> {
        let mut out = Vec::new();
        for event in events {
            self.on_data(&event.data, &mut out)?;
        }
        Ok(out)
    }
}

impl StreamDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, WireError> {
        let events = self.sse.feed(bytes)?;
        self.on_events(events)
    }

    /// A stream that gave a finish reason but no `[DONE]` still ends well.
    fn finish(&mut self) -> Result<Vec<Event>, WireError> {
        let events = self.sse.finish()?;
        let mut out = self.on_events(events)?;
        match self.state {
            State::Streaming if self.stop_reason.is_some() => self.end(&mut out),
            State::Streaming => return Err(WireError::Truncated),
            State::Done | State::Failed => {}
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&str]) -> Vec<Event> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(d.feed(format!("data: {chunk}\n\n").as_bytes()).unwrap());
        }
        out.extend(d.finish().unwrap());
        out
    }

    fn call(id: &str, name: &str, arguments: &str) -> Event {
        Event::ToolCall(ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() })
    }

    #[test]
    fn calls_without_index_are_told_apart_by_id_like_gemini_sends_them() {
        let events = decode(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        let done = Event::Done { stop_reason: "stop".into() };
        assert_eq!(events, vec![call("a", "f", r#"{"x":1}"#), call("b", "g", "{}"), done]);
    }

    #[test]
    fn repeated_index_with_a_new_id_is_a_new_call_and_missing_ids_are_made_up() {
        let events = decode(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"y\":2}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"name":"h","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]);
        let done = Event::Done { stop_reason: "tool_calls".into() };
        assert_eq!(
            events,
            vec![call("a", "f", "{}"), call("b", "g", r#"{"y":2}"#), call("call_2", "h", "{}"), done]
        );
    }

    #[test]
    fn an_id_arriving_after_the_first_piece_joins_its_call() {
        let events = decode(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"late","function":{"arguments":"}"}}]}}]}"#,
            "[DONE]",
        ]);
        assert_eq!(events, vec![call("late", "f", "{}"), Event::Done { stop_reason: String::new() }]);
    }

    #[test]
    fn groq_usage_and_a_missing_done_marker() {
        let events = decode(&[
            r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":5,"completion_tokens":1}}}"#,
        ]);
        let usage = Event::Usage { input_tokens: 5, output_tokens: 1 };
        assert_eq!(
            events,
            vec![Event::TextDelta("hi".into()), usage, Event::Done { stop_reason: "stop".into() }]
        );
    }

    #[test]
    fn a_stream_cut_short_is_an_error() {
        let mut d = Decoder::new();
        d.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n").unwrap();
        assert_eq!(d.finish(), Err(WireError::Truncated));
        let mut d = Decoder::new();
        assert!(matches!(d.feed(b"data: {\"choices\":[\n\n"), Err(WireError::Json(_))));
    }
}
