//! The HTTP client on loopback: loading the system's CA bundle, a plain GET, a fresh
//! HTTPS GET (TCP + TLS 1.3 handshake, both ends in this process), and HTTPS download
//! speed. Prints `name value unit` lines for ci/bench; `cargo bench --bench http`.

#[path = "common/mod.rs"]
mod common;

fn ms(rounds: usize, op: impl FnMut()) -> f64 {
    common::median(rounds, op).as_secs_f64() * 1e3
}

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use alpi::net::http::{Client, Request, Timeouts};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

const CA: &[u8] = include_bytes!("../tests/vectors/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../tests/vectors/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../tests/vectors/tls/server.key");
const DOWNLOAD: usize = 16 << 20;

/// Reads a request head, then answers with `size` bytes (`/big`) or "ok".
fn answer(stream: &mut (impl Read + Write)) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let body = if head.starts_with(b"GET /big ") { vec![b'x'; DOWNLOAD] } else { b"ok".to_vec() };
    let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let _ = stream.write_all(&body);
}

fn serve(tls: Option<Arc<ServerConfig>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let tls = tls.clone();
            thread::spawn(move || serve_one(tcp, tls));
        }
    });
    port
}

fn serve_one(mut tcp: TcpStream, tls: Option<Arc<ServerConfig>>) {
    tcp.set_nodelay(true).unwrap();
    let Some(config) = tls else { return answer(&mut tcp) };
    let mut stream = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    answer(&mut stream);
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

fn server_config() -> Arc<ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(SERVER_CERT).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(rustls_rustcrypto::provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

fn main() {
    if common::listing() {
        return;
    }
    let roots = ms(20, || drop(Client::new().unwrap()));
    let client = Client::with_roots(CA).unwrap();
    let timeouts = Timeouts::default();
    let get = |url: &str| {
        let res = client.send(&Request::get(url), &timeouts).unwrap();
        assert_eq!(res.bytes(DOWNLOAD).unwrap().len(), if url.ends_with("/big") { DOWNLOAD } else { 2 });
    };
    let plain = format!("http://127.0.0.1:{}/", serve(None));
    let tls_port = serve(Some(server_config()));
    let secure = format!("https://localhost:{tls_port}/");
    let http = ms(200, || get(&plain));
    let https = ms(50, || get(&secure));
    let big = format!("https://localhost:{tls_port}/big");
    let start = Instant::now();
    get(&big);
    let speed = 16.0 / start.elapsed().as_secs_f64();
    println!("http.client_new.system_roots {roots:.2} ms");
    println!("http.get.loopback.median {http:.3} ms");
    println!("https.get.fresh_handshake.median {https:.3} ms");
    println!("https.download.16mib {speed:.1} MiB/s");
}
