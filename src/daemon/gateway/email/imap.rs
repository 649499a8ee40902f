//! A minimal IMAP4rev1 client for watching one INBOX: STARTTLS, AUTHENTICATE PLAIN (or
//! LOGIN), SELECT, UID SEARCH, UID FETCH of whole messages without marking them read,
//! and IDLE. Responses are read with their `{n}` literals; every command waits for its
//! tagged completion.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};

use super::{Endpoint, Login, Security};
use crate::net::http::HttpError;
use crate::net::stream::{Stream, TlsSettings};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of a message is fetched: enough for any text a person writes.
const FETCH_LIMIT: usize = 2 << 20;
/// A larger literal is refused rather than read into memory.
const LITERAL_LIMIT: usize = FETCH_LIMIT + 4096;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error(transparent)]
    Net(#[from] HttpError),
    /// `command` is the command's name alone: a LOGIN line carries the password.
    #[error("{host}: {command} refused: {answer}")]
    Refused { host: String, command: &'static str, answer: String },
    #[error("{host}: {what}")]
    Protocol { host: String, what: String },
}

/// One server response, with any literals it carried (the line keeps their `{n}`).
struct Response {
    line: String,
    literals: Vec<Vec<u8>>,
}

pub struct Imap {
    stream: Stream,
    next_tag: u32,
    capabilities: Vec<String>,
}

impl Imap {
    /// Connects, reads the greeting and, as `endpoint` says, secures the connection.
    pub fn connect(endpoint: &Endpoint, tls: &TlsSettings, stop: Arc<AtomicBool>) -> Result<Self, ImapError> {
        let mut stream = Stream::connect(&endpoint.host, endpoint.port, CONNECT_TIMEOUT, stop)?;
        stream.set_timeout(COMMAND_TIMEOUT);
        if endpoint.security == Security::Tls {
            stream = stream.start_tls(tls)?;
        }
        let mut imap = Self { stream, next_tag: 1, capabilities: Vec::new() };
        let greeting = imap.read_response()?.line;
        if !greeting.starts_with("* OK") && !greeting.starts_with("* PREAUTH") {
            return Err(imap.protocol(format!("unexpected greeting: {greeting}")));
        }
        imap.load_capabilities()?;
        if endpoint.security == Security::StartTls {
            if !imap.has("STARTTLS") {
                return Err(imap.protocol("the server does not offer STARTTLS".into()));
            }
            imap.run("STARTTLS", "STARTTLS", None)?;
            imap.stream = imap.stream.start_tls(tls)?;
            imap.load_capabilities()?;
        }
        Ok(imap)
    }

    /// AUTHENTICATE PLAIN when offered (any password works), else LOGIN.
    pub fn login(&mut self, login: &Login) -> Result<(), ImapError> {
        if self.has("AUTH=PLAIN") {
            let token = Base64::encode_string(format!("\0{}\0{}", login.user, login.password).as_bytes());
            match self.has("SASL-IR") {
                true => self.run("AUTHENTICATE", &format!("AUTHENTICATE PLAIN {token}"), None)?,
                false => self.run("AUTHENTICATE", "AUTHENTICATE PLAIN", Some(&token))?,
            };
        } else if self.has("LOGINDISABLED") {
            return Err(
                self.protocol("the server allows no login on this connection (use tls or starttls)".into())
            );
        } else {
            let (user, password) = (quoted(&login.user), quoted(&login.password));
            let (Some(user), Some(password)) = (user, password) else {
                return Err(self.protocol("the user name or password has a line break".into()));
            };
            self.run("LOGIN", &format!("LOGIN {user} {password}"), None)?;
        }
        self.load_capabilities()
    }

    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c.eq_ignore_ascii_case(capability))
    }

    /// Selects INBOX; its `UIDNEXT`, when the server says.
    pub fn select_inbox(&mut self) -> Result<Option<u32>, ImapError> {
        let responses = self.run("SELECT", "SELECT INBOX", None)?;
        Ok(responses.iter().find_map(|r| bracketed_number(&r.line, "UIDNEXT")))
    }

    /// The highest UID in the mailbox (0 when it is empty).
    pub fn highest_uid(&mut self) -> Result<u32, ImapError> {
        let responses = self.run("UID SEARCH", "UID SEARCH ALL", None)?;
        Ok(search_results(&responses).max().unwrap_or(0))
    }

    /// The UIDs above `last`, in order.
    pub fn uids_after(&mut self, last: u32) -> Result<Vec<u32>, ImapError> {
        let command = format!("UID SEARCH UID {}:*", last.saturating_add(1));
        let responses = self.run("UID SEARCH", &command, None)?;
        // `n:*` always matches the last message, even when its UID is below n.
        let mut uids: Vec<u32> = search_results(&responses).filter(|&uid| uid > last).collect();
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// The message (its first 2 MiB), left unread; `None` if it is gone.
    pub fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        let command = format!("UID FETCH {uid} (BODY.PEEK[]<0.{FETCH_LIMIT}>)");
        let responses = self.run("UID FETCH", &command, None)?;
        let ours = responses.into_iter().filter(|r| fetched_uid(&r.line) == Some(uid));
        Ok(ours.flat_map(|r| r.literals).next())
    }

    pub fn noop(&mut self) -> Result<(), ImapError> {
        self.run("NOOP", "NOOP", None).map(drop)
    }

    /// Waits in IDLE until the mailbox grows or `limit` passes; true if it grew.
    pub fn idle(&mut self, limit: Duration) -> Result<bool, ImapError> {
        let deadline = Instant::now() + limit;
        let tag = self.send("IDLE")?;
        let mut grew = false;
        loop {
            let response = self.read_response()?;
            if response.line.starts_with('+') {
                break;
            }
            if response.line.starts_with(&format!("{tag} ")) {
                return Err(self.refused("IDLE", &response.line[tag.len()..]));
            }
            grew |= announces_growth(&response.line);
        }
        while !grew {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_timeout(left);
            match self.read_response() {
                Ok(response) => grew = announces_growth(&response.line),
                Err(ImapError::Net(HttpError::Timeout { .. })) => break,
                Err(e) => return Err(e),
            }
        }
        self.stream.set_timeout(COMMAND_TIMEOUT);
        self.stream.write_all(b"DONE\r\n")?;
        self.finish(&tag, "IDLE", None)?;
        Ok(grew)
    }

    /// Says goodbye; the connection is dropped either way.
    pub fn logout(mut self) {
        let _ = self.run("LOGOUT", "LOGOUT", None);
    }

    fn load_capabilities(&mut self) -> Result<(), ImapError> {
        let responses = self.run("CAPABILITY", "CAPABILITY", None)?;
        let words = responses.iter().filter_map(|r| r.line.strip_prefix("* CAPABILITY "));
        self.capabilities = words.flat_map(str::split_whitespace).map(str::to_ascii_uppercase).collect();
        Ok(())
    }

    /// Sends `command`, answering a continuation request with `continuation`, and
    /// returns the untagged responses before the tagged `OK`.
    fn run(
        &mut self,
        name: &'static str,
        command: &str,
        continuation: Option<&str>,
    ) -> Result<Vec<Response>, ImapError> {
        let tag = self.send(command)?;
        self.finish(&tag, name, continuation)
    }

    fn send(&mut self, command: &str) -> Result<String, ImapError> {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        self.stream.write_all(format!("{tag} {command}\r\n").as_bytes())?;
        Ok(tag)
    }

    fn finish(
        &mut self,
        tag: &str,
        name: &'static str,
        mut continuation: Option<&str>,
    ) -> Result<Vec<Response>, ImapError> {
        let mut untagged = Vec::new();
        loop {
            let response = self.read_response()?;
            if let Some(status) = response.line.strip_prefix(tag).and_then(|s| s.strip_prefix(' ')) {
                return match status.get(..2) {
                    Some(ok) if ok.eq_ignore_ascii_case("OK") => Ok(untagged),
                    _ => Err(self.refused(name, status)),
                };
            }
            if response.line.starts_with('+') {
                let Some(data) = continuation.take() else {
                    return Err(self.protocol(format!("{name}: unexpected continuation request")));
                };
                self.stream.write_all(format!("{data}\r\n").as_bytes())?;
                continue;
            }
            untagged.push(response);
        }
    }

    fn read_response(&mut self) -> Result<Response, ImapError> {
        let mut response = Response { line: String::new(), literals: Vec::new() };
        loop {
            let part = String::from_utf8_lossy(&self.stream.read_line()?).into_owned();
            let literal = literal_length(&part);
            response.line.push_str(&part);
            match literal {
                None => return Ok(response),
                Some(n) if n > LITERAL_LIMIT => {
                    return Err(self.protocol(format!("a literal of {n} bytes is too large")));
                }
                Some(n) => response.literals.push(self.stream.read_exact(n)?),
            }
        }
    }

    fn refused(&self, command: &'static str, answer: &str) -> ImapError {
        ImapError::Refused { host: self.stream.host().into(), command, answer: answer.trim().into() }
    }

    fn protocol(&self, what: String) -> ImapError {
        ImapError::Protocol { host: self.stream.host().into(), what }
    }
}

/// Every line parser of this module over the lines of `text` (for the fuzz target).
#[doc(hidden)]
pub fn parse_lines(text: &str) -> usize {
    let responses: Vec<Response> =
        text.lines().map(|line| Response { line: line.to_owned(), literals: Vec::new() }).collect();
    let mut seen = search_results(&responses).count();
    for line in text.lines() {
        seen += literal_length(line).unwrap_or(0).min(1) + quoted(line).map_or(0, |q| q.len());
        seen += bracketed_number(line, "UIDNEXT").is_some() as usize + fetched_uid(line).is_some() as usize;
        seen += announces_growth(line) as usize;
    }
    seen
}

/// `n` when `line` ends with a literal's announcement, `{n}` or `{n+}`.
fn literal_length(line: &str) -> Option<usize> {
    let inner = line.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches('+').parse().ok()
}

/// A string as an IMAP quoted string; `None` for one with a line break or NUL.
fn quoted(text: &str) -> Option<String> {
    if text.contains(['\r', '\n', '\0']) {
        return None;
    }
    Some(format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// The number in a response code such as `[UIDNEXT 42]`.
fn bracketed_number(line: &str, code: &str) -> Option<u32> {
    let start = line.find(&format!("[{code} "))? + code.len() + 2;
    line[start..].split(']').next()?.trim().parse().ok()
}

fn search_results(responses: &[Response]) -> impl Iterator<Item = u32> + '_ {
    let lists = responses.iter().filter_map(|r| r.line.strip_prefix("* SEARCH"));
    lists.flat_map(str::split_whitespace).filter_map(|n| n.parse().ok())
}

/// The UID in a `* n FETCH (… UID u …)` response.
fn fetched_uid(line: &str) -> Option<u32> {
    let mut words = line.split_whitespace();
    let fetch = (words.next()? == "*") && words.nth(1)?.eq_ignore_ascii_case("FETCH");
    let attributes = line.split_once('(')?.1;
    let mut words = attributes.split(|c: char| c.is_whitespace() || c == '(' || c == ')');
    let uid = words.position(|w| w.eq_ignore_ascii_case("UID")).and_then(|_| words.next()?.parse().ok());
    uid.filter(|_| fetch)
}

/// Whether `line` is `* n EXISTS`, which IDLE reports when mail arrives.
fn announces_growth(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    matches!(words.as_slice(), ["*", n, exists] if n.parse::<u32>().is_ok() && exists.eq_ignore_ascii_case("EXISTS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_understood() {
        assert_eq!(literal_length("* 3 FETCH (UID 7 BODY[]<0> {342}"), Some(342));
        assert_eq!(literal_length("a1 APPEND INBOX {12+}"), Some(12));
        assert_eq!(literal_length("* OK {not}"), None);
        assert_eq!(bracketed_number("* OK [UIDNEXT 42] Predicted next UID", "UIDNEXT"), Some(42));
        assert_eq!(fetched_uid("* 3 FETCH (UID 7 BODY[]<0> {342}"), Some(7));
        assert_eq!(fetched_uid("* 3 FETCH (FLAGS (\\Seen) UID 9)"), Some(9));
        assert_eq!(fetched_uid("* 3 EXPUNGE"), None);
        assert!(announces_growth("* 12 EXISTS") && !announces_growth("* 12 RECENT"));
        assert_eq!(quoted(r#"pa"ss\"#).unwrap(), r#""pa\"ss\\""#);
        assert_eq!(quoted("a\r\nb"), None);
    }
}
