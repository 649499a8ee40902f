//! The HTTP client against servers of our own on 127.0.0.1: framing (length, chunks,
//! close), timeouts, hostile heads, HTTPS with a test CA (tests/vectors/tls), and a
//! CONNECT proxy taken from the environment (in a child process).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use alpi::net::http::{Client, HttpError, Request, Timeouts};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

const CA: &[u8] = include_bytes!("vectors/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("vectors/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("vectors/tls/server.key");
const CA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tls/ca.pem");

fn client() -> Client {
    Client::with_roots(CA).unwrap()
}

fn timeouts(first_byte_ms: u64, idle_ms: u64, total_ms: Option<u64>) -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        first_byte: Duration::from_millis(first_byte_ms),
        idle: Duration::from_millis(idle_ms),
        total: total_ms.map(Duration::from_millis),
        cancel: None,
    }
}

fn quick() -> Timeouts {
    timeouts(5000, 5000, None)
}

fn get(url: &str) -> Result<alpi::net::http::Response, HttpError> {
    client().send(&Request::get(url), &quick())
}

fn protocol_error(result: Result<impl std::fmt::Debug, HttpError>) -> String {
    match result {
        Err(HttpError::Protocol(message)) => message,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

// --- a plain HTTP/1.1 server ---------------------------------------------------------

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads a request head and its `Content-Length` body; `None` if the peer gave up.
fn read_request(stream: &mut impl Read) -> Option<Seen> {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        data.push(byte[0]);
    }
    let text = String::from_utf8(data).unwrap();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?.to_string(), request_line.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let mut seen = Seen { method, target, headers, body: Vec::new() };
    let length = seen.header("content-length").map_or(0, |l| l.parse().unwrap());
    seen.body = vec![0; length];
    stream.read_exact(&mut seen.body).ok()?;
    Some(seen)
}

struct Server {
    addr: SocketAddr,
    seen: Receiver<Seen>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Answers every connection's request with `respond`, which writes raw bytes.
fn server(respond: impl Fn(&Seen, &mut TcpStream) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, seen) = mpsc::channel();
    let respond = Arc::new(respond);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (respond, tx) = (respond.clone(), tx.clone());
            thread::spawn(move || {
                let Some(request) = read_request(&mut stream) else { return };
                let _ = tx.send(request.clone());
                respond(&request, &mut stream);
            });
        }
    });
    Server { addr, seen }
}

/// A server that writes `raw` (then closes) whatever is asked.
fn canned(raw: &'static [u8]) -> Server {
    server(move |_, out| {
        let _ = out.write_all(raw);
    })
}

fn write_slowly(out: &mut TcpStream, pieces: &[&[u8]]) {
    for piece in pieces {
        out.write_all(piece).unwrap();
        out.flush().unwrap();
        thread::sleep(Duration::from_millis(2));
    }
}

// --- requests --------------------------------------------------------------------------

#[test]
fn a_request_carries_method_target_host_agent_length_and_body() {
    let s = server(|seen, out| {
        let reply = format!("HTTP/1.1 201 Created\r\nContent-Length: {}\r\n\r\n", seen.body.len());
        out.write_all(&[reply.as_bytes(), &seen.body].concat()).unwrap();
    });
    let url = s.url("/v1/chat/completions?stream=true");
    let body = br#"{"model":"m","messages":[]}"#.to_vec();
    let req = Request::post(&url, body.clone()).header("Authorization", "Bearer sk-test");
    let res = client().send(&req, &quick()).unwrap();
    assert_eq!(res.status, 201);
    assert_eq!(res.text(1024).unwrap().as_bytes(), body);

    let seen = s.seen.recv().unwrap();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/chat/completions?stream=true"));
    assert_eq!(seen.header("host"), Some(s.addr.to_string().as_str()));
    assert_eq!(seen.header("user-agent"), Some(concat!("alpi/", env!("CARGO_PKG_VERSION"))));
    assert_eq!(seen.header("content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(seen.header("connection"), Some("close"));
    assert_eq!(seen.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(seen.header("accept-encoding"), None, "we cannot decompress, so we must not ask");
    assert_eq!(seen.body, body);
}

#[test]
fn a_get_sends_no_body_and_no_length() {
    let s = canned(b"HTTP/1.1 204 No Content\r\n\r\n");
    let res = get(&s.url("/")).unwrap();
    assert_eq!((res.status, res.text(10).unwrap().as_str()), (204, ""));
    let seen = s.seen.recv().unwrap();
    assert_eq!((seen.method.as_str(), seen.header("content-length")), ("GET", None));
}

// --- framing ---------------------------------------------------------------------------

#[test]
fn content_length_bodies_stop_at_the_length() {
    let s = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: a\r\n\r\nhelloIGNORED");
    let res = get(&s.url("/")).unwrap();
    assert_eq!(res.header("x-TEST"), Some("a"));
    assert_eq!(res.text(100).unwrap(), "hello");
}

#[test]
fn chunked_bodies_split_across_writes_lose_extensions_and_trailers() {
    let s = server(|_, out| {
        write_slowly(
            out,
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"5;name=value\r\nhel",
                b"lo\r",
                b"\n1",
                b"A ; quoted=\"a;b\"\r\n",
                &[b'x'; 0x1a],
                b"\r\n",
                b"1\n!\n",
                b"0\r\nTrailer-One: 1\r\n",
                b"Trailer-Two: 2\r\n\r\n",
            ],
        );
    });
    let body = get(&s.url("/")).unwrap().text(1000).unwrap();
    assert_eq!(body, format!("hello{}!", "x".repeat(26)));
}

#[test]
fn a_body_without_length_reads_until_close() {
    let s = server(|_, out| {
        write_slowly(out, &[b"HTTP/1.0 200 OK\r\n\r\n", b"until ", b"the end"]);
        out.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(get(&s.url("/")).unwrap().text(100).unwrap(), "until the end");
}

#[test]
fn interim_responses_are_skipped_and_head_has_no_body() {
    let s = canned(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
    );
    let res = client().send(&Request { method: "HEAD", ..Request::get(&s.url("/")) }, &quick()).unwrap();
    assert_eq!((res.status, res.header("link")), (200, None));
    assert_eq!(res.text(100).unwrap(), "");
}

#[test]
fn a_body_can_be_read_line_by_line_as_it_arrives() {
    let (go_on, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let s = server(move |_, out| {
        out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        out.write_all(b"f\r\ndata: {\"a\":1}\n\n\r\n").unwrap();
        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(5));
        out.write_all(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n").unwrap();
    });
    let mut lines = BufReader::new(get(&s.url("/events")).unwrap().into_reader()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "data: {\"a\":1}",
        "the first event comes before the rest is sent"
    );
    go_on.send(()).unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest, ["", "data: [DONE]", ""]);
}

#[test]
fn the_reader_is_also_bufread_itself() {
    let s = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\none\ntwo\nthree");
    let mut reader = get(&s.url("/")).unwrap().into_reader();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "one\n");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "two\nthree");
}

#[test]
fn a_body_cut_short_is_an_error() {
    let s = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
    let message = protocol_error(get(&s.url("/")).unwrap().text(100));
    assert!(message.ends_with("connection closed 5 bytes short of the body's end"), "{message}");
    let s = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    assert!(protocol_error(get(&s.url("/")).unwrap().text(100)).contains("short"));
}

#[test]
fn text_refuses_bodies_over_its_limit() {
    let s = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
    let err = get(&s.url("/")).unwrap().text(9).unwrap_err();
    assert!(matches!(&err, HttpError::TooLarge { limit: 9, .. }), "{err:?}");
    assert_eq!(err.to_string(), "127.0.0.1: response body over 9 bytes");
    assert_eq!(get(&s.url("/")).unwrap().text(10).unwrap(), "0123456789");
    let s = canned(b"HTTP/1.1 200 OK\r\n\r\n\xff\xfe");
    assert!(protocol_error(get(&s.url("/")).unwrap().text(10)).ends_with("not UTF-8"));
}

// --- statuses are surfaced, not acted on -----------------------------------------------

#[test]
fn a_429_is_a_response_with_its_retry_after() {
    let s = canned(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nslow");
    let res = get(&s.url("/")).unwrap();
    assert_eq!((res.status, res.header("Retry-After")), (429, Some("7")));
    assert_eq!(res.text(100).unwrap(), "slow");
}

#[test]
fn redirects_are_surfaced_not_followed() {
    let s = canned(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
    let res = get(&s.url("/start")).unwrap();
    assert_eq!((res.status, res.header("location")), (302, Some("/elsewhere")));
    assert_eq!(s.seen.recv().unwrap().target, "/start");
    assert!(s.seen.recv_timeout(Duration::from_millis(200)).is_err(), "no second request");
}

// --- timeouts --------------------------------------------------------------------------

fn timeout_phase(result: Result<impl std::fmt::Debug, HttpError>) -> &'static str {
    match result {
        Err(HttpError::Timeout { host, phase }) => {
            assert_eq!(host, "127.0.0.1");
            phase
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn a_server_slow_to_answer_hits_the_first_byte_timeout() {
    let s = server(|_, out| {
        thread::sleep(Duration::from_millis(1500));
        let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let started = Instant::now();
    let result = client().send(&Request::get(&s.url("/")), &timeouts(200, 5000, None));
    assert_eq!(timeout_phase(result), "first byte");
    assert!(started.elapsed() < Duration::from_millis(1200));
}

#[test]
fn a_cancel_flag_ends_a_silent_wait_at_once_and_keeps_the_timeouts() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = server(|_, out| {
        out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome").unwrap();
        thread::sleep(Duration::from_millis(3000));
    });
    let cancel = Arc::new(AtomicBool::new(false));
    let t = Timeouts { cancel: Some(cancel.clone()), ..timeouts(5000, 5000, None) };
    let mut body_reader = client().send(&Request::get(&s.url("/")), &t).unwrap().into_reader();
    let flag = cancel.clone();
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::SeqCst);
    });
    let started = Instant::now();
    let mut body = Vec::new();
    let err = std::io::Read::read_to_end(&mut body_reader, &mut body).unwrap_err();
    setter.join().unwrap();
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert!(matches!(HttpError::from(err), HttpError::Cancelled(_)));

    // Sliced waits still end at the configured timeout when nobody cancels.
    let s = server(|_, out| {
        thread::sleep(Duration::from_millis(1500));
        let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let t = Timeouts { cancel: Some(Arc::new(AtomicBool::new(false))), ..timeouts(350, 5000, None) };
    let started = Instant::now();
    assert_eq!(timeout_phase(client().send(&Request::get(&s.url("/")), &t)), "first byte");
    assert!(
        started.elapsed() >= Duration::from_millis(340) && started.elapsed() < Duration::from_millis(1200)
    );
}

#[test]
fn a_server_that_stalls_mid_body_hits_the_idle_timeout() {
    let s = server(|_, out| {
        out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome but not all").unwrap();
        thread::sleep(Duration::from_millis(1500));
    });
    let res = client().send(&Request::get(&s.url("/")), &timeouts(5000, 200, None)).unwrap();
    let started = Instant::now();
    let err = res.text(1000);
    assert_eq!(timeout_phase(err), "idle");
    assert!(started.elapsed() < Duration::from_millis(1200));
}

#[test]
fn a_trickling_server_hits_the_total_deadline() {
    let s = server(|_, out| {
        let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        for _ in 0..100 {
            thread::sleep(Duration::from_millis(20));
            if out.write_all(b".").is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let res = client().send(&Request::get(&s.url("/")), &timeouts(1000, 1000, Some(400))).unwrap();
    assert_eq!(timeout_phase(res.text(1000)), "total");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn an_idle_reader_error_unwraps_to_the_timeout() {
    let s = server(|_, out| {
        out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n").unwrap();
        thread::sleep(Duration::from_millis(1000));
    });
    let res = client().send(&Request::get(&s.url("/")), &timeouts(5000, 100, None)).unwrap();
    let err = res.into_reader().read(&mut [0; 10]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(HttpError::from(err).to_string(), "127.0.0.1: timed out (idle timeout)");
}

// --- hostile servers -------------------------------------------------------------------

#[test]
fn headers_over_64_kib_are_refused() {
    let s = server(|_, out| {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..70 {
            head.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
        }
        let _ = out.write_all(&head);
    });
    assert!(protocol_error(get(&s.url("/"))).ends_with("response headers over 64 KiB"));
}

#[test]
fn a_header_line_over_16_kib_is_refused() {
    let s = server(|_, out| {
        let _ = out.write_all(format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000)).as_bytes());
    });
    assert!(protocol_error(get(&s.url("/"))).ends_with("a response header line over 16 KiB"));
}

#[test]
fn a_malformed_status_line_is_refused() {
    let s = canned(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n");
    let message = protocol_error(get(&s.url("/")));
    assert_eq!(message, "127.0.0.1: malformed status line \"HTTP/1.1 2OO OK\"");
    for raw in [&b"SSH-2.0-OpenSSH_9.2\r\n"[..], b"\r\n\r\n", b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n"] {
        let s = canned(raw);
        protocol_error(get(&s.url("/")));
    }
}

#[test]
fn a_server_that_closes_at_once_is_an_error() {
    let s = canned(b"");
    assert_eq!(protocol_error(get(&s.url("/"))), "127.0.0.1: connection closed before a response");
}

#[test]
fn chunk_sizes_must_be_hex_and_short() {
    for raw in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
    ] {
        let s = canned(raw);
        protocol_error(get(&s.url("/")).unwrap().text(100));
    }
    let s = server(|_, out| {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;";
        let _ = out.write_all(&[&head[..], &[b'x'; 5000]].concat());
    });
    assert!(protocol_error(get(&s.url("/")).unwrap().text(100)).ends_with("a chunk-size line over 4 KiB"));
}

#[test]
fn conflicting_lengths_and_unknown_codings_are_refused() {
    let s = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    assert!(protocol_error(get(&s.url("/"))).contains("bad Content-Length"));
    let s = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert!(protocol_error(get(&s.url("/"))).contains("unsupported Transfer-Encoding"));
}

// --- connecting ------------------------------------------------------------------------

#[test]
fn connection_refused_names_the_address() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = get(&format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("127.0.0.1:{port}: cannot connect: ")), "{err}");
}

#[test]
fn bad_urls_are_refused_before_connecting() {
    for url in ["ftp://x/", "localhost:80/", "http://[::1/"] {
        assert!(matches!(get(url), Err(HttpError::BadUrl(_))), "{url}");
    }
    // Under .localhost, so no proxy in the environment can take it.
    let err = get("http://bad_name!.localhost/").unwrap_err();
    assert!(matches!(err, HttpError::Dns(_)), "{err:?}");
}

// --- HTTPS -----------------------------------------------------------------------------

/// What the TLS server learnt from a client.
#[derive(Debug)]
struct TlsSeen {
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
    target: String,
}

fn server_config() -> Arc<ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(SERVER_CERT).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls_rustcrypto::provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// An HTTPS server on 127.0.0.1 answering "ok" to every request it can read.
fn tls_server() -> (u16, Receiver<TlsSeen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = server_config();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (config, tx) = (config.clone(), tx.clone());
            thread::spawn(move || serve_tls(tcp, config, &tx));
        }
    });
    (port, rx)
}

fn serve_tls(tcp: TcpStream, config: Arc<ServerConfig>, seen: &Sender<TlsSeen>) {
    let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    let Some(request) = read_request(&mut tls) else { return };
    let _ = seen.send(TlsSeen {
        sni: tls.conn.server_name().map(str::to_string),
        alpn: tls.conn.alpn_protocol().map(<[u8]>::to_vec),
        target: request.target,
    });
    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn tls_error(result: Result<impl std::fmt::Debug, HttpError>) -> String {
    match result {
        Err(HttpError::Tls(message)) => message,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn https_to_localhost_with_the_test_ca_works() {
    let (port, seen) = tls_server();
    let res = get(&format!("https://localhost:{port}/secure?q=1")).unwrap();
    assert_eq!((res.status, res.text(100).unwrap().as_str()), (200, "ok"));
    let seen = seen.recv().unwrap();
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(seen.target, "/secure?q=1");
}

#[test]
fn https_to_an_ip_address_sends_no_sni() {
    let (port, seen) = tls_server();
    assert_eq!(get(&format!("https://127.0.0.1:{port}/")).unwrap().text(100).unwrap(), "ok");
    assert_eq!(seen.recv().unwrap().sni, None);
}

#[test]
fn a_certificate_from_an_unknown_ca_is_not_trusted() {
    let (port, _seen) = tls_server();
    let system = Client::new().unwrap();
    let message = tls_error(system.send(&Request::get(&format!("https://localhost:{port}/")), &quick()));
    assert_eq!(
        message,
        "localhost: TLS handshake failed: certificate not trusted — set SSL_CERT_FILE or install ca-certificates"
    );
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let (port, _seen) = tls_server();
    let message = tls_error(get(&format!("https://foo.localhost:{port}/")));
    assert!(
        message
            .starts_with("foo.localhost: TLS handshake failed: certificate is not valid for foo.localhost"),
        "{message}"
    );
}

#[test]
fn https_to_a_plain_server_fails_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut plain, _) = listener.accept().unwrap();
        let _ = plain.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let err = get(&format!("https://{addr}/")).unwrap_err();
    assert!(matches!(err, HttpError::Tls(_)), "{err:?}");
    assert!(err.to_string().starts_with("127.0.0.1: TLS handshake failed: "), "{err}");
}

#[test]
fn roots_must_hold_a_certificate() {
    assert!(matches!(Client::with_roots(b"not a pem"), Err(HttpError::Tls(_))));
    assert!(client().roots_source().contains("1 CA certificates"));
}

// --- proxies (in a child process: the environment is read at Client::new) --------------

/// A tiny HTTP proxy: CONNECT tunnels to 127.0.0.1 (whatever the name asked), 407 for
/// `denied.test`, and answers forwarded plain requests itself. Records each request.
fn proxy() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let record = log.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let record = record.clone();
            thread::spawn(move || {
                let Some(request) = read_request(&mut client) else { return };
                record.lock().unwrap().push(request.clone());
                proxy_one(&request, client);
            });
        }
    });
    (port, log)
}

fn proxy_one(request: &Seen, mut client: TcpStream) {
    if request.method != "CONNECT" {
        let body = format!("proxied {}", request.target);
        let _ = write!(client, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        return;
    }
    let (host, port) = request.target.rsplit_once(':').unwrap();
    if host == "denied.test" {
        let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let upstream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
    let (mut up_read, mut client_write) = (upstream.try_clone().unwrap(), client.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Write);
    });
    let mut upstream = upstream;
    let _ = std::io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
}

#[test]
fn proxies_from_the_environment_tunnel_and_forward() {
    let (tls_port, seen) = tls_server();
    let (proxy_port, log) = proxy();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "proxy_child", "--nocapture", "--test-threads=1"])
        .env("ALPI_HTTP_TEST_CHILD", tls_port.to_string())
        .env("HTTPS_PROXY", format!("http://alice:s%3Acret@127.0.0.1:{proxy_port}"))
        .env("HTTP_PROXY", format!("127.0.0.1:{proxy_port}"))
        .env("NO_PROXY", "example.org")
        .env("SSL_CERT_FILE", CA_PATH)
        .env_remove("https_proxy")
        .env_remove("http_proxy")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && output.contains("1 passed"), "{output}");

    let log = log.lock().unwrap();
    let lines: Vec<String> = log.iter().map(|r| format!("{} {}", r.method, r.target)).collect();
    assert_eq!(
        lines,
        [
            format!("CONNECT alpi.test:{tls_port}"),
            "GET http://plain.test/x?y=1".to_string(),
            "CONNECT denied.test:443".to_string(),
        ]
    );
    assert_eq!(log[0].header("host"), Some(format!("alpi.test:{tls_port}").as_str()));
    assert_eq!(log[0].header("proxy-authorization"), Some("Basic YWxpY2U6czpjcmV0"), "alice:s:cret");
    assert_eq!(log[1].header("host"), Some("plain.test"));
    let sni: Vec<Option<String>> = seen.try_iter().map(|s| s.sni).collect();
    assert_eq!(sni, [Some("alpi.test".to_string()), Some("localhost".to_string())], "tunnelled, then direct");
}

#[test]
fn proxy_child() {
    let Ok(tls_port) = std::env::var("ALPI_HTTP_TEST_CHILD") else { return };
    let client = Client::new().unwrap();
    assert!(client.roots_source().contains("ca.pem"), "{}", client.roots_source());

    // The name is resolved by the proxy, never here: alpi.test has no address.
    let res = client.send(&Request::get(&format!("https://alpi.test:{tls_port}/")), &quick()).unwrap();
    assert_eq!(res.text(100).unwrap(), "ok");
    let res = client.send(&Request::get("http://plain.test/x?y=1"), &quick()).unwrap();
    assert_eq!(res.text(100).unwrap(), "proxied http://plain.test/x?y=1");
    let err = client.send(&Request::get("https://denied.test/"), &quick()).unwrap_err();
    assert!(err.to_string().contains("refused the tunnel: 407 Proxy Authentication Required"), "{err}");
    // Loopback never goes through a proxy.
    let res = client.send(&Request::get(&format!("https://localhost:{tls_port}/")), &quick()).unwrap();
    assert_eq!(res.text(100).unwrap(), "ok");
}
