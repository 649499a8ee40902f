//! MCP's messages over newline-delimited JSON-RPC 2.0, sans-I/O: what alpi sends as
//! lines, what a line from a server means, tool lists and tool results, and the names
//! the model sees for a server's tools.

use sha2::{Digest, Sha256};

use super::McpError;
use crate::json::{self, Object, Value};

/// What alpi offers in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// What alpi accepts back: the versions whose tool messages are the ones used here.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Prefix of every MCP tool name the model sees.
pub const PREFIX: &str = "mcp__";
/// Longest tool name the providers accept.
pub const MAX_NAME: usize = 64;
/// Longest tool description passed on; some servers write manuals there.
const MAX_DESCRIPTION: usize = 2000;

/// JSON-RPC's "method not found", for requests from a server alpi does not serve.
pub const METHOD_NOT_FOUND: i64 = -32601;

/// One message from a server.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to one of alpi's requests; `id` is `None` when the server could not
    /// tell which (a parse error on its side).
    Response {
        id: Option<u64>,
        outcome: Result<Value, (i64, String)>,
    },
    /// The server asks alpi something (`ping`, `roots/list`, `sampling/createMessage`…).
    Request {
        id: Value,
        method: String,
    },
    Notification {
        method: String,
        params: Value,
    },
}

/// What `initialize` told about the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerInfo {
    pub protocol_version: String,
    /// `serverInfo.name` and `.version`, as the server says.
    pub name: String,
    pub version: String,
}

/// One tool of a server, as `tools/list` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments.
    pub input_schema: Value,
}

/// A `tools/call` result as the model will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResult {
    /// The server's `isError`: the tool ran and failed.
    pub is_error: bool,
    pub text: String,
}

/// A request as one line.
pub fn request(id: u64, method: &str, params: Option<Value>) -> Vec<u8> {
    let mut message = Object::new().with("jsonrpc", "2.0").with("id", id).with("method", method);
    if let Some(params) = params {
        message.insert("params", params);
    }
    line(message)
}

/// A notification as one line.
pub fn notification(method: &str, params: Option<Value>) -> Vec<u8> {
    let mut message = Object::new().with("jsonrpc", "2.0").with("method", method);
    if let Some(params) = params {
        message.insert("params", params);
    }
    line(message)
}

/// The answer to a server's request `id`.
pub fn reply(id: &Value, outcome: Result<Value, (i64, &str)>) -> Vec<u8> {
    let message = Object::new().with("jsonrpc", "2.0").with("id", id.clone());
    line(match outcome {
        Ok(result) => message.with("result", result),
        Err((code, text)) => message.with("error", Object::new().with("code", code).with("message", text)),
    })
}

fn line(message: Object) -> Vec<u8> {
    let mut out = Value::Object(message).wire();
    out.push(b'\n');
    out
}

/// The messages on one line (a JSON-RPC batch holds several), or why it is not JSON-RPC.
pub fn decode(line: &[u8]) -> Result<Vec<Incoming>, String> {
    let value = json::parse(line).map_err(|e| e.to_string())?;
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(message).collect(),
        Value::Object(_) => Ok(vec![message(&value)?]),
        _ => Err("neither a JSON-RPC message nor a batch".into()),
    }
}

fn message(value: &Value) -> Result<Incoming, String> {
    let object = value.as_object().ok_or("a batch item is not an object")?;
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("no \"jsonrpc\": \"2.0\"".into());
    }
    let id = object.get("id").filter(|id| !id.is_null());
    match (object.get("method").and_then(Value::as_str), id) {
        (Some(method), Some(id)) => Ok(Incoming::Request { id: id.clone(), method: method.to_owned() }),
        (Some(method), None) => Ok(Incoming::Notification {
            method: method.to_owned(),
            params: object.get("params").cloned().unwrap_or(Value::Null),
        }),
        (None, _) => response(object, id),
    }
}

fn response(object: &Object, id: Option<&Value>) -> Result<Incoming, String> {
    let id = id.and_then(Value::as_u64);
    let outcome = match (object.get("result"), object.get("error")) {
        (Some(result), None) => Ok(result.clone()),
        (None, Some(error)) => Err((
            error.get("code").and_then(Value::as_i64).unwrap_or(0),
            error.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_owned(),
        )),
        _ => return Err("a response needs exactly one of result and error".into()),
    };
    Ok(Incoming::Response { id, outcome })
}

/// `initialize`'s parameters: no client capabilities (no roots, sampling or elicitation).
pub fn initialize_params() -> Value {
    let client = Object::new().with("name", "alpi").with("version", env!("CARGO_PKG_VERSION"));
    Value::Object(
        Object::new()
            .with("protocolVersion", PROTOCOL_VERSION)
            .with("capabilities", Object::new())
            .with("clientInfo", client),
    )
}

/// The server's `initialize` result, if it speaks a version alpi does.
pub fn negotiated(result: &Value) -> Result<ServerInfo, McpError> {
    let shape = |what| McpError::Shape { method: "initialize".into(), what };
    let version = result.get("protocolVersion").and_then(Value::as_str).ok_or(shape("no protocolVersion"))?;
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(McpError::ProtocolVersion(version.to_owned()));
    }
    let info = result.get("serverInfo");
    let field = |key| info.and_then(|i| i.get(key)).and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(ServerInfo { protocol_version: version.to_owned(), name: field("name"), version: field("version") })
}

/// `tools/list` parameters for the page after `cursor`.
pub fn list_params(cursor: Option<&str>) -> Option<Value> {
    cursor.map(|c| Value::Object(Object::new().with("cursor", c)))
}

/// One page of `tools/list`: its tools and the cursor of the next page.
pub fn tools_page(result: &Value) -> Result<(Vec<ToolInfo>, Option<String>), McpError> {
    let shape = |what| McpError::Shape { method: "tools/list".into(), what };
    let items = result.get("tools").and_then(Value::as_array).ok_or(shape("no tools array"))?;
    let tools = items
        .iter()
        .map(|tool| {
            let name = tool.get("name").and_then(Value::as_str).filter(|n| !n.is_empty());
            Ok(ToolInfo {
                name: name.ok_or(shape("a tool without a name"))?.to_owned(),
                description: description(tool),
                input_schema: input_schema(tool),
            })
        })
        .collect::<Result<_, McpError>>()?;
    let next = result.get("nextCursor").and_then(Value::as_str).filter(|c| !c.is_empty());
    Ok((tools, next.map(str::to_owned)))
}

fn description(tool: &Value) -> String {
    let text = ["description", "title"]
        .iter()
        .find_map(|key| tool.get(key).and_then(Value::as_str).filter(|t| !t.trim().is_empty()))
        .unwrap_or_default()
        .trim();
    match text.char_indices().nth(MAX_DESCRIPTION) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The tool's schema without `$schema`, which some providers refuse.
fn input_schema(tool: &Value) -> Value {
    match tool.get("inputSchema") {
        Some(Value::Object(schema)) => {
            let mut schema = schema.clone();
            schema.remove("$schema");
            if !schema.contains_key("type") {
                schema.insert("type", "object");
            }
            Value::Object(schema)
        }
        _ => Value::Object(Object::new().with("type", "object").with("properties", Object::new())),
    }
}

/// `tools/call` parameters.
pub fn call_params(tool: &str, arguments: Object) -> Value {
    Value::Object(Object::new().with("name", tool).with("arguments", arguments))
}

/// A `tools/call` result as text: text blocks as they are, images, audio and binary
/// resources described in a line (the model cannot see them yet).
pub fn call_result(result: &Value) -> CallResult {
    let is_error = result.get("isError").and_then(Value::as_bool).unwrap_or(false);
    let blocks = result.get("content").and_then(Value::as_array).unwrap_or_default();
    let mut parts: Vec<String> = blocks.iter().map(block_text).collect();
    if parts.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        parts.push(String::from_utf8_lossy(&structured.wire()).into_owned());
    }
    let text = if parts.is_empty() { "(no output)".to_owned() } else { parts.join("\n") };
    CallResult { is_error, text }
}

fn block_text(block: &Value) -> String {
    let field = |key| block.get(key).and_then(Value::as_str).unwrap_or_default();
    match field("type") {
        "text" => field("text").to_owned(),
        kind @ ("image" | "audio") => {
            format!("[{kind} {}, {} bytes — not shown]", field("mimeType"), base64_len(field("data")))
        }
        "resource" => resource_text(block.get("resource").unwrap_or(&Value::Null)),
        "resource_link" => format!("[resource link {}: {}]", field("name"), field("uri")),
        other => format!("[{other} content — not shown]"),
    }
}

fn resource_text(resource: &Value) -> String {
    let field = |key| resource.get(key).and_then(Value::as_str);
    let uri = field("uri").unwrap_or_default();
    match (field("text"), field("blob")) {
        (Some(text), _) => format!("[resource {uri}]\n{text}"),
        (None, blob) => format!(
            "[resource {uri} ({}), {} bytes — not shown]",
            field("mimeType").unwrap_or("binary"),
            base64_len(blob.unwrap_or_default())
        ),
    }
}

/// Decoded size of base64 `data`.
fn base64_len(data: &str) -> usize {
    let padding = data.bytes().rev().take_while(|b| *b == b'=').count();
    (data.len() / 4 * 3).saturating_sub(padding)
}

/// The name the model sees: `mcp__<server>__<tool>`, only `[A-Za-z0-9_-]`, at most 64
/// characters — longer ones keep their start and end in a hash of the real names.
pub fn exposed_name(server: &str, tool: &str) -> String {
    let name: String = format!("{PREFIX}{server}__{tool}").chars().map(safe_char).collect();
    if name.len() <= MAX_NAME { name } else { hashed_name(server, tool) }
}

/// [`exposed_name`]'s long form: the start of the name, `_`, and 8 hex digits of a
/// hash of the real names — also how two tools that clean up the same are told apart.
pub fn hashed_name(server: &str, tool: &str) -> String {
    let name: String = format!("{PREFIX}{server}__{tool}").chars().map(safe_char).collect();
    let digest = Sha256::digest(format!("{server}\0{tool}").as_bytes());
    let hash = crate::alp::wire::hex(&digest[..4]);
    let keep = name.len().min(MAX_NAME - 1 - hash.len());
    format!("{}_{hash}", &name[..keep])
}

fn safe_char(c: char) -> char {
    if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_compact_json_rpc() {
        let sent = request(7, "tools/list", None);
        assert_eq!(sent, b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}\n");
        let refused = reply(&Value::from("a"), Err((METHOD_NOT_FOUND, "no")));
        assert!(String::from_utf8(refused).unwrap().contains(r#""error":{"code":-32601"#));
    }

    #[test]
    fn decodes_responses_requests_notifications_and_batches() {
        let ok = decode(br#"{"jsonrpc":"2.0","id":3,"result":{"x":1}}"#).unwrap();
        assert!(matches!(&ok[0], Incoming::Response { id: Some(3), outcome: Ok(_) }));
        let err = decode(br#"{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"bad"}}"#).unwrap();
        assert_eq!(err[0], Incoming::Response { id: Some(4), outcome: Err((-32602, "bad".into())) });
        let batch = decode(br#"[{"jsonrpc":"2.0","id":"s1","method":"ping"},{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}]"#).unwrap();
        assert!(matches!(&batch[0], Incoming::Request { method, .. } if method == "ping"));
        assert!(
            matches!(&batch[1], Incoming::Notification { method, .. } if method.ends_with("list_changed"))
        );
        assert!(decode(b"Starting server...").is_err());
        assert!(decode(br#"{"id":1,"result":{}}"#).unwrap_err().contains("jsonrpc"));
        assert!(decode(b"[]").is_err());
    }

    #[test]
    fn negotiates_only_known_versions() {
        let result =
            json::parse(br#"{"protocolVersion":"2025-03-26","serverInfo":{"name":"s","version":"1"}}"#);
        let info = negotiated(&result.unwrap()).unwrap();
        assert_eq!((info.protocol_version.as_str(), info.name.as_str()), ("2025-03-26", "s"));
        let old = json::parse(br#"{"protocolVersion":"2023-01-01"}"#).unwrap();
        assert_eq!(negotiated(&old), Err(McpError::ProtocolVersion("2023-01-01".into())));
        assert!(negotiated(&Value::Object(Object::new())).is_err());
    }

    #[test]
    fn tool_pages_and_results_become_text() {
        let page = json::parse(
            br#"{"tools":[{"name":"echo","description":"Echoes","inputSchema":{"$schema":"x","type":"object"}},{"name":"bare"}],"nextCursor":"2"}"#,
        )
        .unwrap();
        let (tools, next) = tools_page(&page).unwrap();
        assert_eq!((tools.len(), next.as_deref()), (2, Some("2")));
        assert_eq!(tools[0].input_schema.get("$schema"), None);
        assert_eq!(tools[1].input_schema.get("type").and_then(Value::as_str), Some("object"));

        let result = json::parse(
            br#"{"content":[{"type":"text","text":"hi"},{"type":"image","mimeType":"image/png","data":"AAAA"},{"type":"resource","resource":{"uri":"file:///a","text":"body"}},{"type":"resource_link","name":"r","uri":"test://r"}],"isError":true}"#,
        )
        .unwrap();
        let call = call_result(&result);
        assert!(call.is_error);
        assert_eq!(
            call.text,
            "hi\n[image image/png, 3 bytes — not shown]\n[resource file:///a]\nbody\n[resource link r: test://r]"
        );
        let structured = json::parse(br#"{"content":[],"structuredContent":{"n":1}}"#).unwrap();
        assert_eq!(call_result(&structured).text, r#"{"n":1}"#);
    }

    #[test]
    fn exposed_names_are_safe_and_short() {
        assert_eq!(exposed_name("files", "read_file"), "mcp__files__read_file");
        assert_eq!(exposed_name("files", "get.tiny image"), "mcp__files__get_tiny_image");
        let long = exposed_name("notes", &"x".repeat(80));
        assert_eq!(long.len(), MAX_NAME);
        assert!(long.starts_with("mcp__notes__xxx") && long != exposed_name("notes", &"x".repeat(81)));
        assert_ne!(hashed_name("a", "b.c"), hashed_name("a", "b_c"));
        assert!(long.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    }
}
