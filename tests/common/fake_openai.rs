//! A local server speaking the OpenAI chat-completions wire format (SSE over chunked
//! HTTP/1.1, in tiny chunks), answering canned responses in order and recording each
//! request body. Shared by the chat tests and the turn benchmark.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alpi::alp::wire::json::{self, Value};

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
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            seen.lock().unwrap().push(json::parse(&body).unwrap());
            seen_heads.lock().unwrap().push(head);
            let arrived = Instant::now();
            let kind = if canned.status == 200 { "text/event-stream" } else { "application/json" };
            let head = format!(
                "HTTP/1.1 {} X\r\ncontent-type: {kind}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                canned.status
            );
            stream.write_all(head.as_bytes()).unwrap();
            let bytes = canned.body.as_bytes();
            let end = canned.cut_at.unwrap_or(bytes.len());
            seen_times.lock().unwrap().push((arrived, Instant::now()));
            for piece in bytes[..end].chunks(7) {
                // Tiny chunks: the client must reassemble SSE lines across them.
                let _ = stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes());
                let _ = stream.write_all(piece);
                let _ = stream.write_all(b"\r\n");
            }
            if canned.hang {
                let _ = stream.read(&mut [0u8; 1]); // until the client hangs up
            } else if canned.cut_at.is_none() {
                let _ = stream.write_all(b"0\r\n\r\n");
            }
        }
    });
    FakeProvider { port, requests, heads, times }
}

/// A streamed answer that calls tool `name` with `args` (a JSON text).
pub fn tool_call(name: &str, args: &str) -> Canned {
    let args = String::from_utf8(Value::from(args).wire()).unwrap();
    Canned::ok(sse(&[
        &format!(
            r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"c1","type":"function","function":{{"name":"{name}","arguments":{args}}}}}]}}}}]}}"#
        ),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ]))
}

/// The tool names offered in the `n`th request.
pub fn tool_names(fake: &FakeProvider, n: usize) -> Vec<String> {
    let requests = fake.requests.lock().unwrap();
    let tools = requests[n].get("tools").and_then(Value::as_array).unwrap_or_default();
    tools.iter().filter_map(|t| t.get("function")?.get("name")?.as_str().map(str::to_owned)).collect()
}
