//! Model providers on the wire, sans-I/O: chat requests built as bytes, responses decoded
//! from bytes into [`Event`]s, and `provider/model` strings routed to an API, base URL and
//! key. The HTTP client carries the bytes; nothing here touches the network.

pub mod anthropic;
pub mod ollama;
pub mod openai;
pub mod pricing;
pub mod sse;

use crate::json::{self, ParseError, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool the model asked to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Raw JSON text as the model wrote it; `{}` when it wrote nothing.
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub text: String,
    /// Calls an assistant message made.
    pub tool_calls: Vec<ToolCall>,
    /// The call a `Role::Tool` message answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(text: impl Into<String>) -> Self {
        Self { role: Role::System, text: text.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    pub fn user(text: impl Into<String>) -> Self {
        Self { role: Role::User, ..Self::system(text) }
    }

    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self { role: Role::Assistant, tool_calls, ..Self::system(text) }
    }

    pub fn tool_result(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self { role: Role::Tool, tool_call_id: Some(call_id.into()), ..Self::system(text) }
    }
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments; `Null` means "no arguments".
    pub parameters: Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The provider's model id, e.g. "gpt-4o-mini" ([`Route::model`]).
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub stream: bool,
}

/// What a response says, in order. A stream ends with `Done` or `Error`, nothing after.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    TextDelta(String),
    /// Emitted once, when its arguments are complete.
    ToolCall(ToolCall),
    Usage {
        input_tokens: u64,
        output_tokens: u64,
    },
    /// The provider's own word: "stop", "tool_calls", "length", "end_turn", "tool_use"…;
    /// empty when it sent none. Gemini says "stop" after tool calls: act on `ToolCall`s.
    Done {
        stop_reason: String,
    },
    /// The provider reported a failure inside a successful HTTP response.
    Error {
        message: String,
    },
}

/// Where a stream decoder is: still reading, ended cleanly, or ended by an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Streaming,
    Done,
    Failed,
}

/// Turns a streamed response body into events, whatever the byte splits.
pub trait StreamDecoder {
    /// Events completed by these bytes.
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, WireError>;
    /// The body ended: what was pending, or `Truncated` if the response was cut short.
    fn finish(&mut self) -> Result<Vec<Event>, WireError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("provider stream has a line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("provider stream has an event longer than {0} bytes")]
    EventTooLong(usize),
    #[error("provider sent invalid JSON: {0}")]
    Json(#[from] ParseError),
    #[error("provider response has no {0}")]
    Shape(&'static str),
    #[error("provider stream ended before the response was complete")]
    Truncated,
    #[error("model '{0}' is not provider/model — e.g. openai/gpt-4o-mini")]
    BadModel(String),
    #[error(
        "unknown provider '{provider}' in model '{model}' — use anthropic/, openai/, openrouter/, \
         groq/, gemini/ or a name from providers.ollama / providers.custom"
    )]
    UnknownProvider { provider: String, model: String },
    #[error("providers.{section} entry '{name}' has no {field} — add it in config.yaml")]
    MissingField { section: &'static str, name: String, field: &'static str },
}

/// The two request/response dialects every supported provider speaks one of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OpenAi,
    Anthropic,
}

/// Where a model string leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub api: Api,
    /// No trailing slash; request paths are appended to it.
    pub base_url: String,
    /// The provider's model id: "gpt-4o-mini", "anthropic/claude-sonnet-4" on OpenRouter.
    pub model: String,
    /// The environment variable holding the key; `None` for keyless (local) servers.
    pub key_env: Option<String>,
    /// The part before the first `/`: "openai", or a name from the config.
    pub provider: String,
}

/// An HTTP request to send: path under [`Route::base_url`], headers, body.
pub type WireRequest = (String, Vec<(String, String)>, Vec<u8>);

impl Api {
    pub fn request(self, req: &ChatRequest, route: &Route, key: Option<&str>) -> WireRequest {
        match self {
            Api::OpenAi => openai::request(req, route, key),
            Api::Anthropic => anthropic::request(req, route, key),
        }
    }

    pub fn stream_decoder(self) -> Box<dyn StreamDecoder + Send> {
        match self {
            Api::OpenAi => Box::new(openai::Decoder::new()),
            Api::Anthropic => Box::new(anthropic::Decoder::new()),
        }
    }

    pub fn decode_full(self, body: &[u8]) -> Result<Vec<Event>, WireError> {
        match self {
            Api::OpenAi => openai::decode_full(body),
            Api::Anthropic => anthropic::decode_full(body),
        }
    }
}

struct Builtin {
    name: &'static str,
    label: &'static str,
    api: Api,
    base_url: &'static str,
    key_env: &'static str,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "anthropic",
        label: "Anthropic",
        api: Api::Anthropic,
        base_url: "https://api.anthropic.com/v1",
        key_env: "ANTHROPIC_API_KEY",
    },
    Builtin {
        name: "openai",
        label: "OpenAI",
        api: Api::OpenAi,
        base_url: "https://api.openai.com/v1",
        key_env: "OPENAI_API_KEY",
    },
    Builtin {
        name: "openrouter",
        label: "OpenRouter",
        api: Api::OpenAi,
        base_url: "https://openrouter.ai/api/v1",
        key_env: "OPENROUTER_API_KEY",
    },
    Builtin {
        name: "groq",
        label: "Groq",
        api: Api::OpenAi,
        base_url: "https://api.groq.com/openai/v1",
        key_env: "GROQ_API_KEY",
    },
    Builtin {
        name: "gemini",
        label: "Gemini",
        api: Api::OpenAi,
        base_url: "https://generativelanguage.googleapis.com/v1beta/openai",
        key_env: "GOOGLE_API_KEY",
    },
];

/// Where Ollama listens unless its `providers.ollama` entry gives a `url`.
pub const DEFAULT_OLLAMA_URL: &str = "http://localhost:11434";

/// Routes `model` ("provider/id"): the built-in providers first, then the config's
/// `providers.ollama: [{name, url}]` (keyless, OpenAI API under `/v1`) and
/// `providers.custom: [{name, base_url, api_key_env}]` (OpenAI API).
pub fn route(model: &str, providers: Option<&Value>) -> Result<Route, WireError> {
    let (provider, id) = model
        .split_once('/')
        .filter(|(p, id)| !p.is_empty() && !id.is_empty())
        .ok_or_else(|| WireError::BadModel(model.into()))?;
    let route = |api, base_url: String, key_env: Option<String>| Route {
        api,
        base_url,
        model: id.into(),
        key_env,
        provider: provider.into(),
    };
    if let Some(b) = BUILTINS.iter().find(|b| b.name == provider) {
        return Ok(route(b.api, b.base_url.into(), Some(b.key_env.into())));
    }
    if let Some(entry) = config_entry(providers, "ollama", provider) {
        let url = entry.get("url").and_then(Value::as_str).unwrap_or(DEFAULT_OLLAMA_URL);
        let url = url.trim_end_matches('/');
        let base = if url.ends_with("/v1") { url.to_owned() } else { format!("{url}/v1") };
        return Ok(route(Api::OpenAi, base, None));
    }
    if let Some(entry) = config_entry(providers, "custom", provider) {
        let missing =
            || WireError::MissingField { section: "custom", name: provider.into(), field: "base_url" };
        let base = entry.get("base_url").and_then(Value::as_str).ok_or_else(missing)?;
        let key_env = entry.get("api_key_env").and_then(Value::as_str).filter(|k| !k.is_empty());
        return Ok(route(Api::OpenAi, base.trim_end_matches('/').into(), key_env.map(Into::into)));
    }
    Err(WireError::UnknownProvider { provider: provider.into(), model: model.into() })
}

/// `ANTHROPIC_BASE_URL`, `OPENAI_BASE_URL`…: the variable that moves a built-in
/// provider's endpoint (as the vendors' own SDKs honour it); `None` for config entries.
pub fn builtin_base_url_var(route: &Route) -> Option<String> {
    BUILTINS
        .iter()
        .any(|b| b.name == route.provider)
        .then(|| format!("{}_BASE_URL", route.provider.to_ascii_uppercase()))
}

/// Whether `provider` names a `providers.ollama` entry.
pub fn is_ollama(providers: Option<&Value>, provider: &str) -> bool {
    config_entry(providers, "ollama", provider).is_some()
}

/// The context window of a hosted model, by family; 128k when unknown.
pub fn context_window(model_id: &str) -> usize {
    let id = model_id.to_ascii_lowercase();
    let families: [(&str, usize); 7] = [
        ("gpt-4.1", 1_047_576),
        ("gemini", 1_048_576),
        ("gpt-5", 400_000),
        ("claude", 200_000),
        ("o3", 200_000),
        ("o4", 200_000),
        ("gpt-3.5", 16_385),
    ];
    families.iter().find(|(family, _)| id.contains(family)).map_or(128_000, |&(_, n)| n)
}

/// The entry named `name` in the list `providers.<section>`.
fn config_entry<'a>(providers: Option<&'a Value>, section: &str, name: &str) -> Option<&'a Value> {
    let entries = providers?.get(section)?.as_array()?;
    entries.iter().find(|e| e.get("name").and_then(Value::as_str) == Some(name))
}

/// How the provider is named to humans: "OpenAI", or the config's own name.
pub fn provider_label(route: &Route) -> &str {
    BUILTINS.iter().find(|b| b.name == route.provider).map_or(&route.provider, |b| b.label)
}

/// One line for a failed HTTP response: who, what status, their words, what to do.
pub fn error_message(status: u16, body: &[u8], route: &Route) -> String {
    let detail = error_detail(body).map(|d| format!(": {d}")).unwrap_or_default();
    format!("{} returned HTTP {status}{detail} — {}", provider_label(route), status_hint(status, route))
}

fn status_hint(status: u16, route: &Route) -> String {
    let builtin = BUILTINS.iter().any(|b| b.name == route.provider);
    match (status, &route.key_env) {
        (401 | 403, Some(key)) => format!("set {key} in ~/.alpi/.env or run alpi setup"),
        (401 | 403, None) => format!("the server at {} refused access — check its settings", route.base_url),
        (402, _) => "the account is out of credits — top it up with the provider".into(),
        (404, _) if builtin => format!("check the model id '{}'", route.model),
        (404, _) => format!("check the model id '{}' and the base URL {}", route.model, route.base_url),
        (429, _) => "rate limited — wait a moment and retry, or check the plan's limits".into(),
        (500..=599, _) => "provider error — retry later".into(),
        (400..=499, _) => "the provider refused the request".into(),
        _ => "unexpected response".into(),
    }
}

/// Longest provider message quoted in an error line.
const DETAIL_CHARS: usize = 300;

/// The provider's own explanation: `error.message` (OpenAI, Anthropic, Gemini's list
/// form), `error` (Ollama) or `message`, else short plain text; HTML pages are skipped.
fn error_detail(body: &[u8]) -> Option<String> {
    let text = match json::parse(body) {
        Ok(value) => {
            let value = value.as_array().and_then(<[Value]>::first).cloned().unwrap_or(value);
            let error = value.get("error").filter(|e| !e.is_null());
            let message = error.map(error_text).or_else(|| value.get("message")?.as_str().map(Into::into));
            message?
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() || line.starts_with('<') {
        return None;
    }
    Some(match line.char_indices().nth(DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    })
}

/// An `error` object as one line: its message and, when given, its type.
fn error_text(error: &Value) -> String {
    let Some(message) = error.get("message").and_then(Value::as_str) else {
        return error
            .as_str()
            .map_or_else(|| String::from_utf8_lossy(&error.wire()).into_owned(), Into::into);
    };
    match error.get("type").and_then(Value::as_str) {
        Some(kind) if !kind.is_empty() => format!("{message} ({kind})"),
        _ => message.into(),
    }
}

/// A JSON object's `key` as a count; absent, negative or non-integer counts as 0.
fn count(value: Option<&Value>, key: &str) -> u64 {
    value.and_then(|v| v.get(key)).and_then(Value::as_u64).unwrap_or(0)
}

/// A JSON object's `key` as text; absent or not a string reads as empty.
fn str_at<'a>(value: Option<&'a Value>, key: &str) -> &'a str {
    value.and_then(|v| v.get(key)).and_then(Value::as_str).unwrap_or_default()
}

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.into(), value.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn builtins_route_with_their_key() {
        let r = route("openrouter/meta-llama/llama-3.3-70b-instruct", None).unwrap();
        assert_eq!(
            (r.provider.as_str(), r.model.as_str()),
            ("openrouter", "meta-llama/llama-3.3-70b-instruct")
        );
        assert_eq!(r.key_env.as_deref(), Some("OPENROUTER_API_KEY"));
        assert_eq!(provider_label(&r), "OpenRouter");
    }

    #[test]
    fn ollama_url_defaults_and_keeps_an_existing_v1() {
        let p = yaml("ollama: [{name: box}, {name: pi, url: 'http://pi:11434/v1/'}]");
        assert_eq!(route("box/qwen3:4b", Some(&p)).unwrap().base_url, "http://localhost:11434/v1");
        assert_eq!(route("pi/qwen3:4b", Some(&p)).unwrap().base_url, "http://pi:11434/v1");
    }

    #[test]
    fn error_detail_reads_every_provider_shape() {
        assert_eq!(error_detail(br#"{"error":"model 'x' not found"}"#).unwrap(), "model 'x' not found");
        let gemini =
            br#"[{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(error_detail(gemini).unwrap(), "API key not valid.");
        assert_eq!(error_detail(b"<html><body>502</body></html>"), None);
        assert_eq!(error_detail(b"upstream\n  timed out"), Some("upstream timed out".into()));
        let long = "x".repeat(DETAIL_CHARS + 5);
        assert_eq!(error_detail(long.as_bytes()).unwrap().chars().count(), DETAIL_CHARS + 1);
    }
}
