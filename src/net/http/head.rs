//! HTTP/1.1 message heads: the request we write, and the response head we read from a
//! possibly hostile server (64 KiB for all header lines, 16 KiB for one, strict
//! status line, interim 1xx responses skipped).

use std::fmt::Write as _;

use super::conn::Conn;
use super::proxy::Proxy;
use super::url::Url;
use super::{HttpError, Request};

const HEAD_CAP: usize = 64 * 1024;
const LINE_CAP: usize = 16 * 1024;

/// Headers we always write ourselves, whatever the caller passes.
const OURS: [&str; 4] = ["content-length", "transfer-encoding", "connection", "proxy-authorization"];

/// The request line and headers. `forward` is set when a plain-HTTP proxy gets the
/// request: the target is then absolute and the proxy's credentials go along.
pub(crate) fn request(req: &Request, url: &Url, forward: Option<&Proxy>) -> Result<Vec<u8>, HttpError> {
    let invalid = |what: String| HttpError::Protocol(format!("{}: {what}", url.host));
    if req.method.is_empty() || !req.method.bytes().all(is_tchar) {
        return Err(invalid(format!("invalid method {:?}", req.method)));
    }
    let target = match forward {
        Some(_) => url.absolute(),
        None => url.target.clone(),
    };
    let mut head = format!("{} {target} HTTP/1.1\r\n", req.method);
    let has = |name: &str| req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        let _ = write!(head, "Host: {}\r\n", url.authority(true));
    }
    if !has("user-agent") {
        let _ = write!(head, "User-Agent: alpi/{}\r\n", env!("CARGO_PKG_VERSION"));
    }
    for (name, value) in &req.headers {
        if name.is_empty()
            || !name.bytes().all(is_tchar)
            || value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
        {
            return Err(invalid(format!("invalid request header {name:?}")));
        }
        if !OURS.iter().any(|ours| name.eq_ignore_ascii_case(ours)) {
            let _ = write!(head, "{name}: {value}\r\n");
        }
    }
    if let Some(auth) = forward.and_then(|p| p.auth.as_deref()) {
        let _ = write!(head, "Proxy-Authorization: {auth}\r\n");
    }
    if !req.body.is_empty() || matches!(req.method, "POST" | "PUT" | "PATCH") {
        let _ = write!(head, "Content-Length: {}\r\n", req.body.len());
    }
    head.push_str("Connection: close\r\n\r\n");
    Ok(head.into_bytes())
}

/// `CONNECT host:port` for a tunnel through `proxy`.
pub(crate) fn connect(url: &Url, proxy: &Proxy) -> Vec<u8> {
    let target = url.authority(false);
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    let _ = write!(head, "User-Agent: alpi/{}\r\n", env!("CARGO_PKG_VERSION"));
    if let Some(auth) = &proxy.auth {
        let _ = write!(head, "Proxy-Authorization: {auth}\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[derive(Debug)]
pub(crate) struct Head {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

/// The final response head; 1xx interim responses before it are read and dropped.
pub(crate) fn read(conn: &mut Conn) -> Result<Head, HttpError> {
    let mut left = HEAD_CAP;
    loop {
        let head = read_one(conn, &mut left)?;
        match head.status {
            101 => return Err(conn.clock.protocol("unexpected 101 Switching Protocols")),
            100..=199 => continue,
            _ => return Ok(head),
        }
    }
}

fn read_one(conn: &mut Conn, left: &mut usize) -> Result<Head, HttpError> {
    let line =
        next_line(conn, left)?.ok_or_else(|| conn.clock.protocol("connection closed before a response"))?;
    let (status, reason) = parse_status(&line).ok_or_else(|| {
        let shown: String = String::from_utf8_lossy(&line).chars().take(60).collect();
        conn.clock.protocol(format_args!("malformed status line {shown:?}"))
    })?;
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let line = next_line(conn, left)?
            .ok_or_else(|| conn.clock.protocol("connection closed in the middle of the response headers"))?;
        match line.first() {
            None => return Ok(Head { status, reason, headers }),
            // obs-fold: a user agent must unfold it into a space (RFC 9112 §5.2).
            Some(b' ' | b'\t') => {
                let (_, value) =
                    headers.last_mut().ok_or_else(|| conn.clock.protocol("malformed header line"))?;
                let more = field_value(&line).ok_or_else(|| conn.clock.protocol("malformed header line"))?;
                value.push(' ');
                value.push_str(&more);
            }
            Some(_) => headers.push(parse_field(&line).ok_or_else(|| {
                let shown: String = String::from_utf8_lossy(&line).chars().take(60).collect();
                conn.clock.protocol(format_args!("malformed header line {shown:?}"))
            })?),
        }
    }
}

fn next_line(conn: &mut Conn, left: &mut usize) -> Result<Option<Vec<u8>>, HttpError> {
    let (cap, too_long) = match *left < LINE_CAP {
        true => (*left, "response headers over 64 KiB"),
        false => (LINE_CAP, "a response header line over 16 KiB"),
    };
    let line = conn.read_line(cap, too_long)?;
    *left -= line.as_ref().map_or(0, |l| (l.len() + 2).min(*left));
    Ok(line)
}

/// `HTTP/1.x 200 Reason`: the version, a space, three digits (100–599), and an
/// optional reason without control characters.
fn parse_status(line: &[u8]) -> Option<(u16, String)> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (minor, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(b" ").filter(|_| matches!(minor, b'0' | b'1'))?;
    let (code, reason) = rest.split_at_checked(3)?;
    let reason = match reason {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return None,
    };
    if !code.iter().all(u8::is_ascii_digit) || reason.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return None;
    }
    let status = std::str::from_utf8(code).ok()?.parse().ok().filter(|s| (100..=599).contains(s))?;
    Some((status, String::from_utf8_lossy(reason).into_owned()))
}

/// `Name: value`; no space before the colon (RFC 9112 §5.1), value trimmed.
fn parse_field(line: &[u8]) -> Option<(String, String)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().copied().all(is_tchar) {
        return None;
    }
    Some((String::from_utf8_lossy(name).into_owned(), field_value(&line[colon + 1..])?))
}

/// A value with surrounding spaces and tabs removed; NUL and bare CR are refused.
fn field_value(raw: &[u8]) -> Option<String> {
    if raw.iter().any(|&b| b == 0 || b == b'\r') {
        return None;
    }
    Some(String::from_utf8_lossy(raw.trim_ascii()).into_owned())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, url: &'a str, headers: &[(&str, &str)], body: &[u8]) -> Request<'a> {
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        Request { method, url, headers, body: body.to_vec() }
    }

    fn text(r: &Request, forward: Option<&Proxy>) -> String {
        String::from_utf8(request(r, &Url::parse(r.url).unwrap(), forward).unwrap()).unwrap()
    }

    #[test]
    fn writes_a_closing_request_with_our_framing() {
        let ua = format!("User-Agent: alpi/{}\r\n", env!("CARGO_PKG_VERSION"));
        let r = req(
            "POST",
            "https://h:8443/v1?a=b",
            &[("Authorization", "Bearer k"), ("content-length", "1")],
            b"{}",
        );
        assert_eq!(
            text(&r, None),
            format!(
                "POST /v1?a=b HTTP/1.1\r\nHost: h:8443\r\n{ua}Authorization: Bearer k\r\n\
                 Content-Length: 2\r\nConnection: close\r\n\r\n"
            )
        );
        let r = req("GET", "http://[::1]/", &[("user-agent", "x"), ("Host", "alias")], b"");
        assert_eq!(
            text(&r, None),
            "GET / HTTP/1.1\r\nuser-agent: x\r\nHost: alias\r\nConnection: close\r\n\r\n"
        );
        let proxy = Proxy { host: "p".into(), port: 1, auth: Some("Basic eDp5".into()) };
        let r = req("GET", "http://h:81/x", &[], b"");
        assert!(text(&r, Some(&proxy)).starts_with("GET http://h:81/x HTTP/1.1\r\nHost: h:81\r\n"));
        assert!(text(&r, Some(&proxy)).contains("\r\nProxy-Authorization: Basic eDp5\r\n"));
    }

    #[test]
    fn refuses_header_injection() {
        for (name, value) in [("X", "a\r\nEvil: 1"), ("Bad Name", "v"), ("", "v"), ("X", "nul\0")] {
            let r = req("GET", "http://h/", &[(name, value)], b"");
            assert!(request(&r, &Url::parse(r.url).unwrap(), None).is_err(), "{name:?}");
        }
        let r = req("GE T", "http://h/", &[], b"");
        assert!(request(&r, &Url::parse(r.url).unwrap(), None).is_err());
    }

    #[test]
    fn connect_names_the_port() {
        let proxy = Proxy { host: "p".into(), port: 1, auth: None };
        let head = connect(&Url::parse("https://api.example.com/x").unwrap(), &proxy);
        assert!(head.starts_with(b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n"));
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK"), Some((200, "OK".into())));
        assert_eq!(parse_status(b"HTTP/1.0 404"), Some((404, String::new())));
        assert_eq!(
            parse_status(b"HTTP/1.1 429 Too Many\tRequests"),
            Some((429, "Too Many\tRequests".into()))
        );
        for bad in [
            &b"HTTP/1.1 2OO OK"[..],
            b"HTTP/2 200 OK",
            b"HTTP/1.1 200OK",
            b"HTTP/1.1  200 OK",
            b"HTTP/1.1 099 x",
            b"HTTP/1.1 600 x",
            b"HTTP/1.1 200 O\x00K",
            b"ICY 200 OK",
            b"",
        ] {
            assert_eq!(parse_status(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn header_fields() {
        assert_eq!(parse_field(b"Retry-After:  7 \t"), Some(("Retry-After".into(), "7".into())));
        assert_eq!(parse_field(b"X-Empty:"), Some(("X-Empty".into(), String::new())));
        for bad in [&b"Name : v"[..], b"no colon", b": v", b"X: a\rb", b"X\x01: v"] {
            assert_eq!(parse_field(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
