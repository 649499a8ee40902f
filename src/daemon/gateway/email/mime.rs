//! Just enough MIME for the email gateway. Reading: headers (folded, RFC 2047
//! encoded-words), the multipart walk to the text a person wrote (text/plain preferred,
//! HTML stripped), quoted-printable and base64, UTF-8, Latin-1 and Windows-1252.
//! Writing: the threaded plain-text reply.

use base64ct::{Base64, Base64Unpadded, Encoding};

use crate::agent::tools::web::html_to_text;
use crate::clock::UtcTime;

/// Parts nested deeper than this are not looked into.
const MAX_DEPTH: usize = 8;
/// Subjects are cut to this many characters in replies.
const SUBJECT_LIMIT: usize = 200;
/// Message ids kept in a reply's `References`.
const REFERENCES_KEPT: usize = 10;

/// A message or body part: its headers, unfolded, and its raw body.
pub struct Message<'a> {
    headers: Vec<(String, String)>,
    body: &'a [u8],
}

impl<'a> Message<'a> {
    pub fn parse(raw: &'a [u8]) -> Self {
        let (head, body) = split_head(raw);
        Self { headers: parse_headers(head), body }
    }

    /// The first header called `name` (any case), as written.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header called `name` (any case).
    pub fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A header with its encoded-words decoded and control characters made spaces.
    pub fn decoded(&self, name: &str) -> Option<String> {
        let text = decode_words(self.header(name)?);
        Some(text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect())
    }

    /// The sender's address, lowercased.
    pub fn sender(&self) -> Option<String> {
        address(self.header("from")?)
    }

    /// What the sender wrote: the first text/plain part, else the first HTML part as
    /// text; attachments are left out.
    pub fn text(&self) -> String {
        let mut found = Found::default();
        self.walk(&mut found, 0);
        found.plain.or_else(|| found.html.map(|html| html_to_text(&html))).unwrap_or_default()
    }

    fn walk(&self, found: &mut Found, depth: usize) {
        let (mime, params) = content_type(self.header("content-type").unwrap_or("text/plain"));
        if mime.starts_with("multipart/") {
            let Some(boundary) = param(&params, "boundary").filter(|_| depth < MAX_DEPTH) else { return };
            for part in split_parts(self.body, boundary) {
                Message::parse(part).walk(found, depth + 1);
                if found.plain.is_some() {
                    return;
                }
            }
            return;
        }
        let disposition = self.header("content-disposition").unwrap_or_default();
        if disposition.trim_start().to_ascii_lowercase().starts_with("attachment") {
            return;
        }
        let slot = match mime.as_str() {
            "text/plain" => &mut found.plain,
            "text/html" => &mut found.html,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(decode_charset(param(&params, "charset").unwrap_or("utf-8"), &self.decoded_body()));
        }
    }

    /// The body with its transfer encoding undone.
    fn decoded_body(&self) -> Vec<u8> {
        let encoding =
            self.header("content-transfer-encoding").unwrap_or_default().trim().to_ascii_lowercase();
        match encoding.as_str() {
            "base64" => base64_lenient(self.body),
            "quoted-printable" => quoted_printable(self.body, false),
            _ => self.body.to_vec(),
        }
    }
}

#[derive(Default)]
struct Found {
    plain: Option<String>,
    html: Option<String>,
}

/// The header block and the body, split at the first empty line.
fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line == b"\n" || line == b"\r\n" {
            return (&raw[..at], &raw[at + line.len()..]);
        }
        at += line.len();
    }
    (raw, &[])
}

fn parse_headers(head: &[u8]) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

/// `type/subtype` lowercased, and the parameters (names lowercased, values unquoted).
fn content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = split_unquoted(value, ';').into_iter();
    let mime = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = pieces
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_owned()))
        .collect();
    (mime, params)
}

fn split_unquoted(value: &str, separator: char) -> Vec<&str> {
    let (mut pieces, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in value.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            pieces.push(&value[start..i]);
            start = i + 1;
        }
    }
    pieces.push(&value[start..]);
    pieces
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The bodies between `--boundary` lines, up to the closing `--boundary--` (or the end
/// of a cut message).
fn split_parts<'b>(body: &'b [u8], boundary: &str) -> Vec<&'b [u8]> {
    let delimiter = format!("--{boundary}");
    let (mut parts, mut start, mut at) = (Vec::new(), None, 0);
    for line in body.split_inclusive(|&b| b == b'\n') {
        let rest = line.trim_ascii_end().strip_prefix(delimiter.as_bytes());
        if let Some(rest) = rest.filter(|r| r.is_empty() || *r == b"--") {
            if let Some(from) = start {
                parts.push(without_final_break(&body[from..at]));
            }
            if rest == b"--" {
                return parts;
            }
            start = Some(at + line.len());
        }
        at += line.len();
    }
    parts.extend(start.map(|from| &body[from..]));
    parts
}

/// The line break before a boundary belongs to the boundary.
fn without_final_break(part: &[u8]) -> &[u8] {
    let part = part.strip_suffix(b"\n").unwrap_or(part);
    part.strip_suffix(b"\r").unwrap_or(part)
}

/// Decodes quoted-printable; `header` is the `Q` form, where `_` is a space.
fn quoted_printable(data: &[u8], header: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let rest = &data[i + 1..];
        match data[i] {
            b'=' if rest.starts_with(b"\r\n") => i += 3,
            b'=' if rest.starts_with(b"\n") => i += 2,
            b'=' => match rest.get(..2).and_then(hex_byte) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if header => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()
}

/// Base64 with line breaks, stray characters and missing padding tolerated.
fn base64_lenient(data: &[u8]) -> Vec<u8> {
    let mut clean: String = data
        .iter()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .map(|&b| b as char)
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    Base64Unpadded::decode_vec(&clean).unwrap_or_default()
}

/// Windows-1252's printable characters at 0x80–0x9F, where Latin-1 has controls.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}',
    '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

fn decode_charset(charset: &str, bytes: &[u8]) -> String {
    match charset.trim().to_ascii_lowercase().as_str() {
        "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "iso-8859-15" => {
            bytes.iter().map(|&b| b as char).collect()
        }
        "windows-1252" | "cp1252" => bytes
            .iter()
            .map(|&b| if (0x80..0xa0).contains(&b) { CP1252_HIGH[usize::from(b - 0x80)] } else { b as char })
            .collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A header value with its RFC 2047 encoded-words (`=?charset?B|Q?text?=`) decoded;
/// the blanks between two adjacent words go.
pub fn decode_words(value: &str) -> String {
    let (mut out, mut rest, mut after_word) = (String::new(), value, false);
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        match encoded_word(word) {
            Some((text, len)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &word[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &word[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the encoded-word at the start of `word`, and its length.
fn encoded_word(word: &str) -> Option<(String, usize)> {
    let inner = &word[2..];
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest.as_bytes()[..end];
    let bytes = match encoding {
        "B" | "b" => base64_lenient(text),
        "Q" | "q" => quoted_printable(text, true),
        _ => return None,
    };
    // RFC 2231 lets a language follow the charset: `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    Some((decode_charset(charset, &bytes), word.len() - rest.len() + end + 2))
}

/// The address in a `From`-style value, lowercased: `Name <a@b>`, `a@b` or `a@b (Name)`.
pub fn address(value: &str) -> Option<String> {
    let candidate = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split_whitespace().find(|w| w.contains('@'))?,
    };
    let candidate = candidate.trim();
    let plausible = candidate
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && candidate.chars().all(|c| !c.is_control() && !c.is_whitespace() && !"<>()[],;:\\\"".contains(c));
    plausible.then(|| candidate.to_lowercase())
}

/// A message we send: an answer threaded under the original (with `message_id`), or a
/// new one (a pushed note).
pub struct Outgoing<'a> {
    pub from: &'a str,
    pub to: &'a str,
    /// The original's subject, decoded (a new message's own subject).
    pub subject: &'a str,
    /// The original's `Message-ID`.
    pub message_id: Option<&'a str>,
    /// The original's `References` (or its `In-Reply-To`).
    pub references: Option<&'a str>,
    pub body: &'a str,
}

impl Outgoing<'_> {
    /// The message as sent: CRLF lines, UTF-8 text, quoted-printable (long lines and any
    /// byte survive every relay; base64 would hide the text from filters and people).
    pub fn render(&self, now_micros: i64) -> Vec<u8> {
        let domain = self.from.rsplit_once('@').map_or("localhost", |(_, d)| d);
        let subject = match self.message_id {
            Some(_) => reply_subject(self.subject),
            None => self.subject.trim().chars().take(SUBJECT_LIMIT).collect(),
        };
        let mut head = vec![
            format!("From: {}", self.from),
            format!("To: {}", self.to),
            format!("Subject: {}", encode_header(&subject)),
            format!("Date: {}", rfc5322_date(now_micros)),
            format!("Message-ID: <{now_micros:x}.{:016x}@{domain}>", random_u64()),
        ];
        if let Some(id) = self.message_id {
            head.push(format!("In-Reply-To: {id}"));
            head.push(format!("References: {}", references(self.references, id)));
        }
        head.extend([
            "MIME-Version: 1.0".into(),
            "Content-Type: text/plain; charset=utf-8".into(),
            "Content-Transfer-Encoding: quoted-printable".into(),
            // RFC 3834: other responders leave this message alone (no mail loops).
            match self.message_id {
                Some(_) => "Auto-Submitted: auto-replied".into(),
                None => "Auto-Submitted: auto-generated".into(),
            },
        ]);
        let mut message = head.join("\r\n");
        message.push_str("\r\n\r\n");
        message.push_str(&quoted_printable_encode(self.body));
        message.into_bytes()
    }
}

fn reply_subject(subject: &str) -> String {
    let subject: String = subject.trim().chars().take(SUBJECT_LIMIT).collect();
    match subject.get(..3) {
        Some(re) if re.eq_ignore_ascii_case("re:") => subject,
        _ => format!("Re: {subject}"),
    }
}

/// The original's references and its id, the oldest dropped past [`REFERENCES_KEPT`].
fn references(earlier: Option<&str>, id: &str) -> String {
    let mut ids: Vec<&str> = earlier.unwrap_or_default().split_whitespace().collect();
    ids.push(id);
    ids[ids.len().saturating_sub(REFERENCES_KEPT)..].join("\r\n ")
}

/// ASCII as it is; anything else as UTF-8 base64 encoded-words, folded.
fn encode_header(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let (mut words, mut start) = (Vec::new(), 0);
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() - start > 45 {
            words.push(&text[start..i]);
            start = i;
        }
    }
    words.push(&text[start..]);
    let encoded: Vec<String> =
        words.iter().map(|w| format!("=?utf-8?B?{}?=", Base64::encode_string(w.as_bytes()))).collect();
    encoded.join("\r\n ")
}

/// Quoted-printable with CRLF line breaks and soft breaks before 76 characters.
pub fn quoted_printable_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        let bytes = line.as_bytes();
        let mut width = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let blank_inside = matches!(b, b' ' | b'\t') && i + 1 < bytes.len();
            let piece = if blank_inside || (b'!'..=b'~').contains(&b) && b != b'=' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            out.push_str(&piece);
            width += piece.len();
        }
        out.push_str("\r\n");
    }
    out
}

/// `Thu, 01 Jan 1970 00:00:00 +0000`.
fn rfc5322_date(micros: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = UtcTime::from_micros(micros);
    let weekday = DAYS[micros.max(0).div_euclid(86_400_000_000).rem_euclid(7) as usize];
    let month = MONTHS[(t.month as usize).clamp(1, 12) - 1];
    format!("{weekday}, {:02} {month} {} {:02}:{:02}:{:02} +0000", t.day, t.year, t.hour, t.minute, t.second)
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // A weaker id is still unique enough with the time in front of it.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_headers_and_encoded_words_are_read() {
        let raw = b"From: =?iso-8859-1?q?J=F6rg?= <Joerg@Example.ORG>\r\nSubject: =?utf-8?B?SGVsbG8g?=\r\n =?utf-8?Q?w=C3=B6rld?= and more\r\nX-Empty:\r\n\r\nbody";
        let message = Message::parse(raw);
        assert_eq!(message.decoded("subject").unwrap(), "Hello wörld and more");
        assert_eq!(message.decoded("from").unwrap(), "Jörg <Joerg@Example.ORG>");
        assert_eq!(message.sender().unwrap(), "joerg@example.org");
        assert_eq!(message.text(), "body");
        assert_eq!(decode_words("=?bogus no word"), "=?bogus no word");
    }

    #[test]
    fn addresses_are_found_in_every_usual_form() {
        assert_eq!(address("\"Doe, <Jane>\" <Jane@x.org>").unwrap(), "jane@x.org");
        assert_eq!(address("jane@x.org (Jane)").unwrap(), "jane@x.org");
        assert_eq!(address("undisclosed"), None);
        assert_eq!(address("<a b@x.org>"), None);
    }

    #[test]
    fn the_plain_part_is_preferred_and_html_is_stripped_otherwise() {
        let alternative = b"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b1\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe, a long=\r\n line\r\n--b1--\r\nepilogue";
        assert_eq!(Message::parse(alternative).text(), "Grüße, a long line");
        let html_only = b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\nPGI+SGk8L2I+PGJyPnRoZXJl\n--x\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nnot this\n--x--\n";
        assert_eq!(Message::parse(html_only).text(), "Hi\nthere");
    }

    #[test]
    fn windows_1252_quotes_survive() {
        assert_eq!(decode_charset("Windows-1252", b"\x93hi\x94 \xe9"), "\u{201c}hi\u{201d} é");
    }

    #[test]
    fn replies_are_threaded_quoted_printable_and_encoded() {
        let reply = Outgoing {
            from: "agent@example.org",
            to: "jane@x.org",
            subject: "Grüße",
            message_id: Some("<m2@x.org>"),
            references: Some("<m1@x.org>"),
            body: &format!("line one\n.dot and ünïcode = fine \n{}", "x".repeat(100)),
        };
        let text = String::from_utf8(reply.render(1_700_000_000_000_000)).unwrap();
        assert!(text.contains("\r\nSubject: =?utf-8?B?UmU6IEdyw7zDn2U=?=\r\n"), "{text}");
        assert!(text.contains("\r\nIn-Reply-To: <m2@x.org>\r\nReferences: <m1@x.org>\r\n <m2@x.org>\r\n"));
        assert!(text.contains("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), "{text}");
        assert!(text.contains("\r\n\r\nline one\r\n.dot and =C3=BCn=C3=AFcode =3D fine=20\r\n"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 76), "{text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let round = String::from_utf8(quoted_printable(body.as_bytes(), false)).unwrap();
        assert!(round.contains(&"x".repeat(100)) && round.contains("ünïcode = fine \r\n"));
        assert_eq!(reply_subject("RE: again"), "RE: again");
    }
}
