//! Sends one message over SMTP: EHLO, implicit TLS or STARTTLS, AUTH PLAIN or LOGIN
//! only when the server offers AUTH, then MAIL FROM, RCPT TO and DATA (dot-stuffed).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use base64ct::{Base64, Encoding};

use super::{Endpoint, Login, Security};
use crate::net::http::HttpError;
use crate::net::stream::{Stream, TlsSettings};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// RFC 5321 asks clients to wait up to 10 minutes for the end of DATA; 5 is plenty.
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error(transparent)]
    Net(#[from] HttpError),
    /// `command` is what was refused ("MAIL FROM", "AUTH", …).
    #[error("{host}: {command} refused: {code} {text}")]
    Refused { host: String, command: &'static str, code: u16, text: String },
    #[error("{host}: {what}")]
    Protocol { host: String, what: String },
}

impl SmtpError {
    /// A permanent refusal of this very message, as opposed to a server or account
    /// problem that may pass.
    pub fn rejects_message(&self) -> bool {
        matches!(self, SmtpError::Refused { command: "MAIL FROM" | "RCPT TO" | "DATA", code: 500..=599, .. })
    }
}

/// One message to deliver.
pub struct Envelope<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub data: &'a [u8],
}

/// Delivers `envelope` through the server at `endpoint`, introducing us as `helo`.
pub fn send(
    endpoint: &Endpoint,
    tls: &TlsSettings,
    login: &Login,
    helo: &str,
    envelope: &Envelope,
    stop: Arc<AtomicBool>,
) -> Result<(), SmtpError> {
    let mut session = Session::open(endpoint, tls, helo, stop)?;
    session.authenticate(login)?;
    session.transfer(envelope)?;
    let _ = session.command("QUIT", "QUIT", 2);
    Ok(())
}

struct Session {
    stream: Stream,
    extensions: Vec<String>,
}

impl Session {
    fn open(
        endpoint: &Endpoint,
        tls: &TlsSettings,
        helo: &str,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, SmtpError> {
        let mut stream = Stream::connect(&endpoint.host, endpoint.port, CONNECT_TIMEOUT, stop)?;
        stream.set_timeout(REPLY_TIMEOUT);
        if endpoint.security == Security::Tls {
            stream = stream.start_tls(tls)?;
        }
        let mut session = Self { stream, extensions: Vec::new() };
        session.expect("greeting", 2)?;
        session.hello(helo)?;
        if endpoint.security == Security::StartTls {
            if !session.offers("STARTTLS") {
                return Err(session.protocol("the server does not offer STARTTLS"));
            }
            session.command("STARTTLS", "STARTTLS", 2)?;
            session.stream = session.stream.start_tls(tls)?;
            session.hello(helo)?;
        }
        Ok(session)
    }

    fn hello(&mut self, helo: &str) -> Result<(), SmtpError> {
        let lines = self.command("EHLO", &format!("EHLO {helo}"), 2)?;
        self.extensions = lines.into_iter().skip(1).map(|l| l.to_ascii_uppercase()).collect();
        Ok(())
    }

    fn offers(&self, extension: &str) -> bool {
        self.extensions.iter().any(|e| e.split_whitespace().next() == Some(extension))
    }

    /// Logs in if the server offers AUTH; a server that does not (a local relay) takes
    /// mail without it.
    fn authenticate(&mut self, login: &Login) -> Result<(), SmtpError> {
        let offered = self
            .extensions
            .iter()
            .find_map(|e| e.strip_prefix("AUTH ").or_else(|| e.strip_prefix("AUTH=")).map(str::to_owned));
        let Some(offered) = offered else { return Ok(()) };
        let mechanisms: Vec<&str> = offered.split(|c: char| c == '=' || c.is_whitespace()).collect();
        let encode = |text: &str| Base64::encode_string(text.as_bytes());
        if mechanisms.contains(&"PLAIN") {
            let token = encode(&format!("\0{}\0{}", login.user, login.password));
            self.command("AUTH", &format!("AUTH PLAIN {token}"), 2)?;
        } else if mechanisms.contains(&"LOGIN") {
            self.command("AUTH", "AUTH LOGIN", 3)?;
            self.command("AUTH", &encode(&login.user), 3)?;
            self.command("AUTH", &encode(&login.password), 2)?;
        } else {
            return Err(self.protocol(&format!("AUTH offers neither PLAIN nor LOGIN ({})", offered.trim())));
        }
        Ok(())
    }

    fn transfer(&mut self, envelope: &Envelope) -> Result<(), SmtpError> {
        self.command("MAIL FROM", &format!("MAIL FROM:<{}>", envelope.from), 2)?;
        self.command("RCPT TO", &format!("RCPT TO:<{}>", envelope.to), 2)?;
        self.command("DATA", "DATA", 3)?;
        let mut data = dot_stuffed(envelope.data);
        data.extend_from_slice(b".\r\n");
        self.stream.write_all(&data)?;
        self.expect("DATA", 2).map(drop)
    }

    /// Sends `line` and expects a reply of class `class` (2 done, 3 go on).
    fn command(&mut self, name: &'static str, line: &str, class: u16) -> Result<Vec<String>, SmtpError> {
        self.stream.write_all(format!("{line}\r\n").as_bytes())?;
        self.expect(name, class)
    }

    /// The next reply's lines (text after the code), if its code is of `class`.
    fn expect(&mut self, name: &'static str, class: u16) -> Result<Vec<String>, SmtpError> {
        let mut lines = Vec::new();
        loop {
            let line = String::from_utf8_lossy(&self.stream.read_line()?).into_owned();
            let Some(code) = line.get(..3).and_then(|c| c.parse::<u16>().ok()) else {
                return Err(self.protocol(&format!("not an SMTP reply: {line}")));
            };
            lines.push(line.get(4..).unwrap_or_default().to_owned());
            if line.as_bytes().get(3) == Some(&b'-') {
                continue;
            }
            if code / 100 != class {
                let host = self.stream.host().to_owned();
                return Err(SmtpError::Refused { host, command: name, code, text: lines.join(" ") });
            }
            return Ok(lines);
        }
    }

    fn protocol(&self, what: &str) -> SmtpError {
        SmtpError::Protocol { host: self.stream.host().to_owned(), what: what.to_owned() }
    }
}

/// `data` with CRLF line breaks and a dot doubled at the start of every line.
fn dot_stuffed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    for line in data.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_starting_with_a_dot_are_stuffed_and_breaks_made_crlf() {
        assert_eq!(dot_stuffed(b"a\n.\r\n..b\nlast"), b"a\r\n..\r\n...b\r\nlast\r\n");
    }

    #[test]
    fn only_refusals_of_the_message_itself_are_permanent() {
        let refused =
            |command, code| SmtpError::Refused { host: "h".into(), command, code, text: String::new() };
        assert!(refused("RCPT TO", 550).rejects_message());
        assert!(!refused("RCPT TO", 451).rejects_message());
        assert!(!refused("AUTH", 535).rejects_message());
    }
}
