//! A local server speaking the OpenAI chat-completions wire format (SSE over chunked
//! HTTP/1.1, in tiny chunks), answering canned responses in order and recording each
//! request body. Shared by the chat tests and the turn benchmark.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alpi::json::{self, Value};

/// One canned HTTP response.
pub struct Canned {
    pub status: u16,
    pub body: String,
    /// Close the connection after this many body bytes (a mid-stream drop).
    pub cut_at: Option<usize>,
    /// Instead of closing, go silent (until the client gives up): a stalled provider.
    pub hang: bool,
}

impl Canned {
    pub fn ok(body: impl Into<String>) -> Self {
        Self { status: 200, body: body.into(), cut_at: None, hang: false }
    }
}

/// Serves the canned responses in order and records each request body.
pub struct FakeProvider {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Value>>>,
    /// The request line and headers of each request.
    pub heads: Arc<Mutex<Vec<String>>>,
    /// Per request: when it had fully arrived, and when the response's first body
    /// bytes were written (the server's own share of a round trip).
    pub times: Arc<Mutex<Vec<(Instant, Instant)>>>,
}

pub fn sse(chunks: &[&str]) -> String {
    chunks.iter().map(|c| format!("data: {c}\n\n")).collect::<String>() + "data: [DONE]\n\n"
}

/// A streamed final answer: `text`, then usage (200 in, 10 out).
pub fn final_stream(text: &str) -> String {
    sse(&[
        &format!(r#"{{"choices":[{{"index":0,"delta":{{"content":{text:?}}}}}]}}"#),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":200,"completion_tokens":10}}"#,
    ])
}

pub fn fake_provider(responses: Vec<Canned>) -> FakeProvider {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let seen_heads = heads.clone();
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen_times = times.clone();
    std::thread::spawn(move || {
        for (canned, stream) in responses.into_iter().zip(listener.incoming()) {
            let mut stream = stream.unwrap();
            let (head, body) = read_request(&mut stream).expect("a whole request");
            seen.lock().unwrap().push(json::parse(&body).unwrap());
            seen_heads.lock().unwrap().push(head);
            let arrived = Instant::now();
            write_head(&mut stream, canned.status).unwrap();
            let bytes = canned.body.as_bytes();
            let end = canned.cut_at.unwrap_or(bytes.len());
            seen_times.lock().unwrap().push((arrived, Instant::now()));
            let _ = write_chunks(&mut stream, &bytes[..end]);
            if canned.hang {
                let _ = stream.read(&mut [0u8; 1]); // until the client hangs up
            } else if canned.cut_at.is_none() {
                let _ = stream.write_all(b"0\r\n\r\n");
            }
        }
    });
    FakeProvider { port, requests, heads, times }
}

/// The request line and headers, then the body (by `content-length`); `None` when the
/// client hung up first.
pub fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        head.push_str(&line);
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn write_head(stream: &mut TcpStream, status: u16) -> std::io::Result<()> {
    let kind = if status == 200 { "text/event-stream" } else { "application/json" };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())
}

/// Tiny chunks: the client must reassemble SSE lines across them.
fn write_chunks(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    for piece in bytes.chunks(7) {
        stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
        stream.write_all(piece)?;
        stream.write_all(b"\r\n")?;
    }
    Ok(())
}

/// A streamed call of tool `name` with `args` (a JSON text), id `id`.
pub fn tool_call_stream(id: &str, name: &str, args: &str) -> String {
    let args = String::from_utf8(Value::from(args).wire()).unwrap();
    sse(&[
        &format!(
            r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"{id}","type":"function","function":{{"name":"{name}","arguments":{args}}}}}]}}}}]}}"#
        ),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ])
}

impl Canned {
    /// The model calls tool `name` with `args` (a JSON text).
    pub fn tool_call(name: &str, args: &str) -> Self {
        Self::ok(tool_call_stream("c1", name, args))
    }
}

/// What the scripted model says to one request: a line `TOOL <name> <json args>` in the
/// last user message calls that tool; a tool result comes back quoted; anything else is
/// echoed (`heard: …`). For the `deploy/` demos, through `examples/fake_llm.rs`.
pub fn scripted_reply(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array).unwrap_or_default();
    let Some(last) = messages.last() else { return final_stream("heard nothing") };
    let content = last.get("content").and_then(Value::as_str).unwrap_or_default();
    if last.get("role").and_then(Value::as_str) == Some("tool") {
        return final_stream(&format!("tool said: {}", first_chars(content, 200)));
    }
    let script = content.lines().find_map(|l| l.trim().strip_prefix("TOOL "));
    if let Some((name, args)) = script.and_then(|s| s.split_once(' ')) {
        return tool_call_stream("c1", name, args.trim());
    }
    let said = content.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    final_stream(&format!("heard: {}", first_chars(said.trim(), 200)))
}

fn first_chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Answers every request on `listener` with [`scripted_reply`], one thread per
/// connection, until the process ends.
pub fn serve_scripted(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let Some((_, body)) = read_request(&mut stream) else { return };
            let Ok(request) = json::parse(&body) else { return };
            let reply = scripted_reply(&request);
            let _ = write_head(&mut stream, 200)
                .and_then(|()| write_chunks(&mut stream, reply.as_bytes()))
                .and_then(|()| stream.write_all(b"0\r\n\r\n"));
        });
    }
}

/// The tool names offered in the `n`th request.
pub fn tool_names(fake: &FakeProvider, n: usize) -> Vec<String> {
    let requests = fake.requests.lock().unwrap();
    let tools = requests[n].get("tools").and_then(Value::as_array).unwrap_or_default();
    tools.iter().filter_map(|t| t.get("function")?.get("name")?.as_str().map(str::to_owned)).collect()
}
