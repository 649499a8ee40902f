//! A local server speaking the Telegram Bot API wire format: `getUpdates` long polls
//! (held until an update with `update_id >= offset` arrives or the poll's timeout, cut
//! to 2 s here), `sendMessage` and `sendChatAction` recorded, and scripted failures
//! (HTTP 500s) for the breaker. Its includer also includes `fake_openai` (the request
//! reader).

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use alpi::json::{self, Object, Value};

#[derive(Default)]
pub struct Inner {
    updates: Vec<Value>,
    next_id: i64,
    pub sent: Vec<Value>,
    pub actions: usize,
    pub polls: usize,
    /// Answer this many next requests with HTTP 500.
    pub fail_next: usize,
    /// The `offset` of each getUpdates call.
    pub offsets: Vec<Option<i64>>,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub port: u16,
    pub token: String,
    pub state: Arc<(Mutex<Inner>, Condvar)>,
}

impl FakeTelegram {
    pub fn start() -> FakeTelegram {
        Self::start_with_token("123456:TEST-token")
    }

    /// A server that answers only requests naming `token`.
    pub fn start_with_token(token: &str) -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new((Mutex::new(Inner { next_id: 100, ..Inner::default() }), Condvar::new()));
        let fake = FakeTelegram { port, token: token.into(), state };
        let server = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        fake
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A text message from `chat`, sent now (or `age_s` seconds ago).
    pub fn message(&self, chat: i64, text: &str, age_s: i64) {
        let (inner, ready) = &*self.state;
        let mut inner = inner.lock().unwrap();
        let id = inner.next_id;
        inner.next_id += 1;
        let date =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let message = Object::new()
            .with("message_id", id)
            .with("date", date - age_s)
            .with("chat", Object::new().with("id", chat).with("type", "private"))
            .with("from", Object::new().with("id", chat).with("first_name", "Jane"))
            .with("text", text);
        inner.updates.push(Value::Object(Object::new().with("update_id", id).with("message", message)));
        ready.notify_all();
    }

    pub fn sent_texts(&self) -> Vec<(i64, String)> {
        let inner = self.state.0.lock().unwrap();
        inner
            .sent
            .iter()
            .map(|m| {
                let chat = m.get("chat_id").and_then(Value::as_i64).unwrap();
                (chat, m.get("text").and_then(Value::as_str).unwrap().to_owned())
            })
            .collect()
    }

    /// Waits until `done` holds over the state, or 20 s.
    pub fn wait_for(&self, mut done: impl FnMut(&Inner) -> bool) -> bool {
        let (inner, ready) = &*self.state;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut guard = inner.lock().unwrap();
        while !done(&guard) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = ready.wait_timeout(guard, left).unwrap().0;
        }
        true
    }

    fn serve(&self, mut stream: std::net::TcpStream) {
        let Some((head, body)) = super::fake_openai::read_request(&mut stream) else { return };
        let body = json::parse(&body).unwrap_or(Value::Null);
        let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let (status, answer) = self.answer(&path, &body);
        let bytes = answer.wire();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            bytes.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&bytes);
    }

    fn answer(&self, path: &str, body: &Value) -> (u16, Value) {
        let (inner, ready) = &*self.state;
        let mut guard = inner.lock().unwrap();
        let ok = |result: Value| Value::Object(Object::new().with("ok", true).with("result", result));
        let Some(method) = path.strip_prefix(&format!("/bot{}/", self.token)) else {
            return (404, Value::Object(Object::new().with("ok", false).with("description", "Not Found")));
        };
        if guard.fail_next > 0 {
            guard.fail_next -= 1;
            ready.notify_all();
            return (500, Value::Object(Object::new().with("ok", false).with("description", "Internal")));
        }
        match method {
            "getUpdates" => {
                let offset = body.get("offset").and_then(Value::as_i64);
                guard.polls += 1;
                guard.offsets.push(offset);
                ready.notify_all();
                let wanted =
                    |u: &Value| u.get("update_id").and_then(Value::as_i64).unwrap() >= offset.unwrap_or(0);
                let deadline = Instant::now() + Duration::from_secs(2);
                while !guard.updates.iter().any(wanted) && Instant::now() < deadline {
                    guard = ready.wait_timeout(guard, deadline - Instant::now()).unwrap().0;
                }
                let due: Vec<Value> = guard.updates.iter().filter(|u| wanted(u)).cloned().collect();
                (200, ok(Value::Array(due)))
            }
            "sendMessage" => {
                guard.sent.push(body.clone());
                ready.notify_all();
                (200, ok(Value::Object(Object::new().with("message_id", 1))))
            }
            "sendChatAction" => {
                guard.actions += 1;
                (200, ok(Value::from(true)))
            }
            _ => (404, Value::Object(Object::new().with("ok", false).with("description", "unknown method"))),
        }
    }
}
