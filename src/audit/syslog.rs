//! `logging.syslog: tcp://host:port`: records as RFC 5424 messages over TCP with
//! octet-counting framing (RFC 6587) — `<len> <PRI>1 TIMESTAMP HOSTNAME alpi PROCID
//! MSGID - MSG` — for companies that already collect logs centrally.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::alp::audit::Record;
use crate::net::dns::{resolve_address, split_host_port};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Facility `user` (1).
const FACILITY: u8 = 1;

/// `tcp://host:port` (port 514 when omitted) → `host:port`.
pub fn parse_url(url: &str) -> Result<String, String> {
    let rest = url
        .trim()
        .strip_prefix("tcp://")
        .ok_or_else(|| format!("logging.syslog {url:?}: only tcp://host:port is supported"))?;
    let rest = rest.trim_end_matches('/');
    if split_host_port(rest).is_ok() {
        return Ok(rest.to_owned());
    }
    let with_port = format!("{rest}:514");
    match split_host_port(&with_port) {
        Ok(_) => Ok(with_port),
        Err(_) => Err(format!("logging.syslog {url:?}: no host")),
    }
}

/// Who the messages say they come from.
pub struct Origin {
    pub hostname: String,
    pub profile: String,
    pub pid: u32,
}

/// One record as an octet-counted RFC 5424 frame.
pub fn frame(record: &Record, origin: &Origin) -> Vec<u8> {
    let time = if crate::clock::parse_iso8601(&record.ts).is_some() { record.ts.as_str() } else { "-" };
    let message = format!(
        "<{}>1 {time} {} alpi {} {} - profile={} id={} {}",
        FACILITY * 8 + severity(record),
        field(&origin.hostname),
        origin.pid,
        record.log,
        origin.profile,
        record.id,
        record.line
    );
    format!("{} {message}", message.len()).into_bytes()
}

/// Approval refusals are warnings, approvals notices, turns informational.
fn severity(record: &Record) -> u8 {
    match record.log {
        "approval" if record.line.contains(" DENY ") => 4,
        "approval" => 5,
        _ => 6,
    }
}

/// A header field: printable ASCII without spaces, at most 255, `-` when empty.
fn field(text: &str) -> String {
    let clean: String = text.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    if clean.is_empty() { "-".into() } else { clean }
}

/// A connection kept between batches and dropped on the first failure.
#[derive(Default)]
pub struct Sender {
    stream: Option<TcpStream>,
}

impl Sender {
    /// Writes every record to `address`, connecting first if needed. Delivered means
    /// the server's TCP stack took the bytes: syslog has no acknowledgement.
    pub fn send(&mut self, address: &str, origin: &Origin, records: &[Record]) -> Result<(), String> {
        let failed = |e: std::io::Error| format!("syslog {address}: {e}");
        if self.stream.is_none() {
            self.stream = Some(connect(address).map_err(failed)?);
        }
        let bytes: Vec<u8> = records.iter().flat_map(|r| frame(r, origin)).collect();
        let stream = self.stream.as_mut().expect("connected above");
        let written = stream.write_all(&bytes).and_then(|()| stream.flush());
        if let Err(e) = written {
            self.stream = None;
            return Err(failed(e));
        }
        Ok(())
    }
}

fn connect(address: &str) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    // alpi's own resolver: a static binary on Android has no resolv.conf for libc's.
    let addrs = resolve_address(address).map_err(|e| std::io::Error::other(e.to_string()))?;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_tcp_and_default_to_port_514() {
        assert_eq!(parse_url("tcp://logs.corp:6514").unwrap(), "logs.corp:6514");
        assert_eq!(parse_url("tcp://logs.corp").unwrap(), "logs.corp:514");
        assert_eq!(parse_url("tcp://[::1]:514").unwrap(), "[::1]:514");
        assert!(parse_url("udp://logs.corp:514").is_err());
        assert!(parse_url("tcp://").is_err());
    }

    #[test]
    fn frames_are_octet_counted_rfc5424() {
        let record = Record {
            id: "0a0b0c0d-approval-3".into(),
            log: "approval",
            ts: "2026-01-02T03:04:05.678Z".into(),
            line: "2026-01-02T03:04:05.678Z INFO alpi.approval DENY severity=dangerous cmd='rm -rf /'".into(),
        };
        let origin = Origin { hostname: "pi lab".into(), profile: "work".into(), pid: 42 };
        let frame = String::from_utf8(frame(&record, &origin)).unwrap();
        let (len, message) = frame.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), message.len());
        assert_eq!(
            message,
            "<12>1 2026-01-02T03:04:05.678Z pilab alpi 42 approval - profile=work id=0a0b0c0d-approval-3 \
             2026-01-02T03:04:05.678Z INFO alpi.approval DENY severity=dangerous cmd='rm -rf /'"
        );
    }
}
