//! The tests' fake model as a standalone server for the `deploy/` demos: speaks the
//! OpenAI chat-completions wire format on 127.0.0.1, echoes what it hears, and calls a
//! tool when a message has a line `TOOL <name> <json args>`.
//!
//! `cargo run --example fake_llm [PORT]` prints the port it listens on, then serves
//! until killed.

#[path = "../tests/common/fake_openai.rs"]
mod fake_openai;

use std::io::Write;
use std::net::TcpListener;

fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let listener = match TcpListener::bind(format!("127.0.0.1:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake_llm: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", listener.local_addr().expect("bound").port());
    let _ = std::io::stdout().flush();
    fake_openai::serve_scripted(listener);
}
