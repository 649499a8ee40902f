//! Response bodies as a stream: `Content-Length`, `Transfer-Encoding: chunked` (chunk
//! extensions and trailers dropped), or everything until the server closes.

use std::fmt;
use std::io::{self, BufRead, Read};

use super::HttpError;
use super::conn::Conn;

/// A chunk-size line with its extensions.
const CHUNK_LINE_CAP: usize = 4096;
/// All trailer lines together.
const TRAILER_CAP: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    Close,
}

/// How the body of a response to `method` with `status` ends (RFC 9112 §6.3).
pub(crate) fn framing(method: &str, status: u16, headers: &[(String, String)]) -> Result<Framing, String> {
    if method.eq_ignore_ascii_case("HEAD") || matches!(status, 100..=199 | 204 | 304) {
        return Ok(Framing::Empty);
    }
    let values = |name: &str| -> Vec<String> {
        let all = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        all.flat_map(|(_, v)| v.split(',')).map(|v| v.trim().to_ascii_lowercase()).collect()
    };
    let codings = values("transfer-encoding");
    if !codings.is_empty() {
        return match codings == ["chunked"] {
            true => Ok(Framing::Chunked),
            false => Err(format!("unsupported Transfer-Encoding {:?}", codings.join(", "))),
        };
    }
    let lengths = values("content-length");
    let Some(first) = lengths.first() else { return Ok(Framing::Close) };
    let length = first.parse().ok().filter(|_| first.bytes().all(|b| b.is_ascii_digit()));
    match length {
        Some(n) if lengths.iter().all(|l| l == first) => Ok(Framing::Length(n)),
        _ => Err(format!("bad Content-Length {:?}", lengths.join(", "))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    ChunkSize,
    /// Bytes left of the current chunk.
    ChunkData(u64),
    ChunkEnd,
    Close,
    Done,
}

/// A response body, read incrementally: implements [`Read`] and [`BufRead`] (so an SSE
/// stream can be read line by line as it arrives). Each socket read waits at most the
/// idle timeout and never past the total deadline. Errors are `io::Error`s wrapping an
/// [`HttpError`]; `HttpError::from` unwraps them again.
pub struct BodyReader {
    conn: Option<Conn>,
    state: State,
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.conn.as_ref().map(|c| c.clock.host());
        f.debug_struct("BodyReader").field("host", &host).field("state", &self.state).finish()
    }
}

impl BodyReader {
    pub(crate) fn new(conn: Conn, framing: Framing) -> BodyReader {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        BodyReader { conn: Some(conn), state }.closed_if_done()
    }

    /// The connection goes as soon as the body is complete.
    fn closed_if_done(mut self) -> Self {
        if self.state == State::Done {
            self.conn = None;
        }
        self
    }

    /// Moves through chunk framing until body bytes are buffered (their count is
    /// returned) or the body has ended (0).
    fn ready(&mut self) -> Result<usize, HttpError> {
        loop {
            let Some(conn) = self.conn.as_mut() else { return Ok(0) };
            match self.state {
                State::Done => {
                    self.conn = None;
                    return Ok(0);
                }
                State::Length(left) | State::ChunkData(left) => {
                    let have = conn.fill_some()?.len();
                    if have == 0 {
                        return Err(conn.clock.protocol(format_args!(
                            "connection closed {left} bytes short of the body's end"
                        )));
                    }
                    return Ok(have.min(usize::try_from(left).unwrap_or(usize::MAX)));
                }
                State::Close => {
                    let have = conn.fill_some()?.len();
                    if have == 0 {
                        self.state = State::Done;
                    }
                    return Ok(have);
                }
                State::ChunkSize => self.state = chunk_size(conn)?,
                State::ChunkEnd => match conn.read_line(1, "no line break after a chunk")? {
                    Some(line) if line.is_empty() => self.state = State::ChunkSize,
                    Some(_) => return Err(conn.clock.protocol("no line break after a chunk")),
                    None => return Err(conn.clock.protocol("connection closed inside a chunked body")),
                },
            }
        }
    }

    fn io_error(e: HttpError) -> io::Error {
        let kind = match &e {
            HttpError::Timeout { .. } => io::ErrorKind::TimedOut,
            HttpError::Io(inner) => inner.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Reads a chunk-size line (`1a;ext=1`); at the last chunk, reads and drops the trailers.
fn chunk_size(conn: &mut Conn) -> Result<State, HttpError> {
    let line = conn
        .read_line(CHUNK_LINE_CAP, "a chunk-size line over 4 KiB")?
        .ok_or_else(|| conn.clock.protocol("connection closed inside a chunked body"))?;
    let digits = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
    let size = std::str::from_utf8(digits)
        .ok()
        .filter(|d| !d.is_empty() && d.len() <= 16 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .ok_or_else(|| conn.clock.protocol("malformed chunk size"))?;
    if size > 0 {
        return Ok(State::ChunkData(size));
    }
    let mut left = TRAILER_CAP;
    loop {
        match conn.read_line(left, "trailers over 64 KiB")? {
            Some(line) if line.is_empty() => return Ok(State::Done),
            Some(line) => left = left.saturating_sub(line.len() + 2),
            // A server that closes instead of ending the trailers has still sent all data.
            None => return Ok(State::Done),
        }
    }
}

impl BufRead for BodyReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let n = self.ready().map_err(Self::io_error)?;
        Ok(self.conn.as_ref().map_or(&[][..], |c| &c.buffered()[..n]))
    }

    fn consume(&mut self, amt: usize) {
        let Some(conn) = self.conn.as_mut() else { return };
        conn.consume(amt);
        let amt = amt as u64;
        self.state = match self.state {
            State::Length(left) if left <= amt => State::Done,
            State::Length(left) => State::Length(left - amt),
            State::ChunkData(left) if left <= amt => State::ChunkEnd,
            State::ChunkData(left) => State::ChunkData(left - amt),
            other => other,
        };
        if self.state == State::Done {
            self.conn = None;
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let data = self.fill_buf()?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let f = |method, status, list: &[(&str, &str)]| framing(method, status, &headers(list));
        assert_eq!(f("GET", 200, &[("Content-Length", "12")]), Ok(Framing::Length(12)));
        assert_eq!(
            f("GET", 200, &[("content-length", "5"), ("Content-Length", "5, 5")]),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            f("GET", 200, &[("Transfer-Encoding", "Chunked"), ("Content-Length", "3")]),
            Ok(Framing::Chunked)
        );
        assert_eq!(f("GET", 200, &[]), Ok(Framing::Close));
        assert_eq!(f("HEAD", 200, &[("Content-Length", "12")]), Ok(Framing::Empty));
        assert_eq!(f("GET", 204, &[]), Ok(Framing::Empty));
        assert_eq!(f("GET", 304, &[("Content-Length", "9")]), Ok(Framing::Empty));
        for bad in [
            &[("Content-Length", "5"), ("Content-Length", "6")][..],
            &[("Content-Length", "-1")],
            &[("Content-Length", "+5")],
            &[("Content-Length", "")],
            &[("Content-Length", "99999999999999999999999")],
            &[("Transfer-Encoding", "gzip, chunked")],
            &[("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
        ] {
            assert!(f("GET", 200, bad).is_err(), "{bad:?}");
        }
    }
}
