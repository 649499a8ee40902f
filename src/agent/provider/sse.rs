//! Server-Sent Events (WHATWG HTML §9.2) decoded from bytes in any split: lines ending in
//! `\n`, `\r\n` or `\r`, `event:` and `data:` fields, comments, dispatch on a blank line.

use super::WireError;

/// Longest line, and longest event data, a stream may send.
pub const MAX_LINE: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, "message" when none was given.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug)]
pub struct SseDecoder {
    /// The current line's bytes; decoded only when complete, so a split UTF-8 sequence
    /// is whole by then.
    line: Vec<u8>,
    /// The last line ended in `\r`: a `\n` opening the next chunk belongs to it.
    after_cr: bool,
    /// No line completed yet: a leading byte order mark is still to be dropped.
    first_line: bool,
    event: String,
    data: String,
    limit: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::with_limit(MAX_LINE)
    }
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder refusing lines and event data longer than `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        let (line, event, data) = (Vec::new(), String::new(), String::new());
        Self { line, after_cr: false, first_line: true, event, data, limit }
    }

    /// The events these bytes complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, WireError> {
        let mut out = Vec::new();
        if bytes.is_empty() {
            return Ok(out);
        }
        if std::mem::take(&mut self.after_cr) && bytes[0] == b'\n' {
            bytes = &bytes[1..];
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.extend(&bytes[..end])?;
            self.end_line(&mut out)?;
            let crlf = bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n');
            self.after_cr = bytes[end] == b'\r' && end + 1 == bytes.len();
            bytes = &bytes[end + 1 + usize::from(crlf)..];
        }
        self.extend(bytes)?;
        Ok(out)
    }

    /// The stream ended. The spec drops an event missing its closing blank line; it is
    /// dispatched here instead, since the API decoders catch truncation themselves and
    /// some servers end on a bare `data: [DONE]\n`.
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, WireError> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out)?;
        }
        self.dispatch(&mut out);
        Ok(out)
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        if self.line.len() + bytes.len() > self.limit {
            return Err(WireError::LineTooLong(self.limit));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), WireError> {
        let mut bytes = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.first_line) && bytes.starts_with("\u{feff}".as_bytes()) {
            bytes.drain(..3);
        }
        let line = String::from_utf8_lossy(&bytes);
        let result = self.field(&line, out);
        // Keep the allocation for the next line.
        self.line = bytes;
        self.line.clear();
        result
    }

    fn field(&mut self, line: &str, out: &mut Vec<SseEvent>) -> Result<(), WireError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match name {
            "event" => value.clone_into(&mut self.event),
            "data" if self.data.len() + value.len() >= self.limit => {
                return Err(WireError::EventTooLong(self.limit));
            }
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            // Comments (empty name), `id`, `retry` and unknown fields: nothing these APIs use.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        let event = if event.is_empty() { "message".into() } else { event };
        out.push(SseEvent { event, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    fn whole(bytes: &[u8]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = d.feed(bytes).unwrap();
        out.extend(d.finish().unwrap());
        out
    }

    fn bytewise(bytes: &[u8]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out: Vec<SseEvent> = bytes.iter().flat_map(|b| d.feed(&[*b]).unwrap()).collect();
        out.extend(d.finish().unwrap());
        out
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let text =
            b"\xef\xbb\xbf: comment\nevent: add\ndata: a\ndata:b\ndata\nid: 7\nretry: 10\n\ndata: x\n\n";
        let expected = vec![ev("add", "a\nb\n"), ev("message", "x")];
        assert_eq!(whole(text), expected);
        assert_eq!(bytewise(text), expected);
    }

    #[test]
    fn every_line_ending_splits_lines_once() {
        let expected = vec![ev("e", "1"), ev("message", "2"), ev("message", "3")];
        let text = b"event: e\r\ndata: 1\r\n\r\ndata: 2\r\rdata: 3\n\n";
        assert_eq!(whole(text), expected);
        assert_eq!(bytewise(text), expected);
        // A \r\n split between two feeds is one line end, not two (which would dispatch).
        let mut d = SseDecoder::new();
        assert!(d.feed(b"data: a\r").unwrap().is_empty());
        assert!(d.feed(b"\ndata: b\r").unwrap().is_empty());
        assert!(d.feed(b"").unwrap().is_empty());
        assert_eq!(d.feed(b"\n\r\n").unwrap(), vec![ev("message", "a\nb")]);
    }

    #[test]
    fn empty_data_dispatches_and_no_data_does_not() {
        assert_eq!(whole(b"data:\n\nevent: x\n\n:only a comment\n\n"), vec![ev("message", "")]);
        // The event name does not leak into the next event.
        assert_eq!(whole(b"event: x\n\ndata: 1\n\n"), vec![ev("message", "1")]);
    }

    #[test]
    fn split_utf8_is_rejoined() {
        let text = "data: Grüße 🌤\n\n".as_bytes();
        assert_eq!(bytewise(text), vec![ev("message", "Grüße 🌤")]);
    }

    #[test]
    fn an_unterminated_last_event_is_still_dispatched() {
        assert_eq!(whole(b"data: [DONE]"), vec![ev("message", "[DONE]")]);
        assert_eq!(whole(b"data: [DONE]\n"), vec![ev("message", "[DONE]")]);
    }

    #[test]
    fn long_lines_and_events_are_refused() {
        let mut d = SseDecoder::with_limit(8);
        assert_eq!(d.feed(b"data: 12").unwrap(), vec![]);
        assert_eq!(d.feed(b"3"), Err(WireError::LineTooLong(8)));
        let mut d = SseDecoder::with_limit(12);
        assert_eq!(d.feed(b"data: 1234\ndata: 5678\n").unwrap(), vec![]);
        assert_eq!(d.feed(b"data: 90\n"), Err(WireError::EventTooLong(12)));
        let mut d = SseDecoder::new();
        assert!(d.feed(&vec![b'x'; MAX_LINE]).is_ok());
        assert_eq!(d.feed(b"x"), Err(WireError::LineTooLong(MAX_LINE)));
    }
}
