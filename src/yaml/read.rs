//! The reader: one YAML document to a [`Value`] by recursive descent over the text,
//! noting where each node starts (in document order) for later error messages.

use std::collections::HashSet;

use super::scalar::{is_allowed_in_stream, resolve};
use super::{Document, Error, Mark};
use crate::json::{Object, Value};

/// Deepest nesting of block and flow collections read.
pub const MAX_DEPTH: usize = 128;

type Result<T> = std::result::Result<T, Error>;

pub(super) fn document(bytes: &[u8]) -> Result<Document> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
        Reader::new(valid).fail(valid.len(), "not UTF-8")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        &normalized
    } else {
        text
    };
    let mut reader = Reader::new(text);
    if let Some((at, _)) = text.char_indices().find(|&(_, c)| !is_allowed_in_stream(c)) {
        return Err(reader.fail(at, "control characters are not allowed"));
    }
    let value = reader.document()?;
    Ok(Document { value, marks: reader.marks })
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line_starts: Vec<usize>,
    marks: Vec<Mark>,
    /// The last node's position and column: columns are counted on from there, so a
    /// long line of many nodes costs linear time.
    last_node: (usize, usize),
    depth: usize,
}

fn is_blank(b: Option<u8>) -> bool {
    matches!(b, Some(b' ' | b'\t'))
}

fn is_flow_indicator(b: Option<u8>) -> bool {
    matches!(b, Some(b',' | b'[' | b']' | b'{' | b'}'))
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        let newlines = text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1);
        let line_starts = std::iter::once(0).chain(newlines).collect();
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line_starts,
            marks: Vec::new(),
            last_node: (0, 1),
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    /// A space, tab, line break or the end follows position `i`'s character.
    fn spaced_after(&self, i: usize) -> bool {
        matches!(self.at(i + 1), None | Some(b' ' | b'\t' | b'\n'))
    }

    fn line_start(&self, pos: usize) -> usize {
        self.line_starts[self.line_starts.partition_point(|&s| s <= pos) - 1]
    }

    fn column(&self, pos: usize) -> usize {
        pos - self.line_start(pos)
    }

    /// Where `pos` is, its column counted in characters from `from` (at `column`) on
    /// its line, or else from the line's start.
    fn mark_from(&self, pos: usize, (from, column): (usize, usize)) -> Mark {
        let line = self.line_starts.partition_point(|&s| s <= pos);
        let start = self.line_starts[line - 1];
        let (from, column) = if (start..=pos).contains(&from) { (from, column) } else { (start, 1) };
        Mark { line, column: column + self.text.get(from..pos).map_or(0, |t| t.chars().count()) }
    }

    fn mark(&self, pos: usize) -> Mark {
        self.mark_from(pos, (0, 1))
    }

    fn fail(&self, pos: usize, reason: &'static str) -> Error {
        Error { at: self.mark(pos), reason }
    }

    fn note_node(&mut self, pos: usize) {
        let mark = self.mark_from(pos, self.last_node);
        self.last_node = (pos, mark.column);
        self.marks.push(mark);
    }

    fn null_node(&mut self) -> Value {
        self.null_node_at(self.pos)
    }

    fn null_node_at(&mut self, pos: usize) -> Value {
        self.note_node(pos);
        Value::Null
    }

    fn nest(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(self.fail(self.pos, "nested too deeply")) } else { Ok(()) }
    }

    fn skip_blanks(&mut self) {
        while is_blank(self.peek()) {
            self.pos += 1;
        }
    }

    fn skip_to_line_end(&mut self) {
        while !matches!(self.peek(), None | Some(b'\n')) {
            self.pos += 1;
        }
    }

    /// `---` or `...` opening the line at `pos`.
    fn document_marker_at(&self, pos: usize) -> bool {
        let rest = &self.bytes[pos..];
        self.column(pos) == 0
            && (rest.starts_with(b"---") || rest.starts_with(b"..."))
            && self.spaced_after(pos + 2)
    }

    /// Past what is left of the line: blanks, a comment, the line break.
    fn end_line(&mut self) -> Result<()> {
        self.skip_blanks();
        if self.peek() == Some(b'#') {
            self.skip_to_line_end();
        }
        match self.peek() {
            None => Ok(()),
            Some(b'\n') => {
                self.pos += 1;
                Ok(())
            }
            Some(b':') => Err(self.fail(self.pos, "mapping values are not allowed here")),
            Some(_) => Err(self.fail(self.pos, "unexpected text after the value")),
        }
    }

    /// Moves to the next token at or after `pos` (blank and comment lines skipped) and
    /// returns its column; `None` at the end or at a document marker.
    fn next_token(&mut self) -> Result<Option<usize>> {
        loop {
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            if self.peek() == Some(b'\t') {
                let tab = self.pos;
                self.skip_blanks();
                if !matches!(self.peek(), None | Some(b'\n' | b'#')) {
                    return Err(self.fail(tab, "tabs are not allowed in indentation"));
                }
            }
            match self.peek() {
                None => return Ok(None),
                Some(b'#') => self.skip_to_line_end(),
                Some(b'\n') => self.pos += 1,
                Some(_) if self.document_marker_at(self.pos) => return Ok(None),
                Some(_) => return Ok(Some(self.column(self.pos))),
            }
        }
    }

    fn document(&mut self) -> Result<Value> {
        if self.next_token()?.is_some() && self.peek() == Some(b'%') {
            return Err(self.fail(self.pos, "directives are not supported"));
        }
        if self.bytes[self.pos..].starts_with(b"---") && self.document_marker_at(self.pos) {
            self.pos += 3;
            self.skip_blanks();
            if !matches!(self.peek(), None | Some(b'\n' | b'#')) {
                let value = self.inline_value(-1)?;
                return self.document_end(value);
            }
        }
        let value = match self.next_token()? {
            Some(_) => self.block_node(-1)?,
            None => self.null_node(),
        };
        self.document_end(value)
    }

    /// After the value only blank lines, comments and one `...` may follow.
    fn document_end(&mut self, value: Value) -> Result<Value> {
        if self.next_token()?.is_some() {
            return Err(self.fail(self.pos, "unexpected text after the document"));
        }
        if self.bytes[self.pos..].starts_with(b"...") {
            self.pos += 3;
            self.end_line()?;
            if self.next_token()?.is_none() && self.pos == self.bytes.len() {
                return Ok(value);
            }
        }
        match self.peek() {
            None => Ok(value),
            Some(_) => Err(self.fail(self.pos, "more than one document is not supported")),
        }
    }

    /// The node whose first token is at `pos`, on its own line or after `- `: a block
    /// sequence, a block mapping, or a scalar or flow collection (to the end of its line).
    fn block_node(&mut self, parent: isize) -> Result<Value> {
        let indent = self.column(self.pos);
        if self.peek() == Some(b'-') && self.spaced_after(self.pos) {
            return self.block_sequence(indent);
        }
        if self.key_ahead() || self.explicit_key_ahead() {
            return self.block_mapping(indent);
        }
        self.scalar_node(parent, false)
    }

    /// A value on its key's line: no block collection may start there.
    fn inline_value(&mut self, parent: isize) -> Result<Value> {
        if self.peek() == Some(b'-') && self.spaced_after(self.pos) {
            return Err(self.fail(self.pos, "a sequence cannot start on its key's line"));
        }
        if self.key_ahead() {
            return Err(self.fail(self.pos, "mapping values are not allowed here"));
        }
        self.scalar_node(parent, false)
    }

    fn block_sequence(&mut self, indent: usize) -> Result<Value> {
        self.nest()?;
        self.note_node(self.pos);
        let mut items = Vec::new();
        loop {
            self.pos += 1;
            items.push(self.sequence_item(indent)?);
            match self.next_token()? {
                Some(c) if c == indent && self.peek() == Some(b'-') && self.spaced_after(self.pos) => {}
                Some(c) if c > indent => {
                    return Err(self.fail(self.pos, "bad indentation of a sequence entry"));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    /// What follows `- ` (or an explicit key's `: `): a node on the same line, one on
    /// the lines below indented past `indent`, or null.
    fn sequence_item(&mut self, indent: usize) -> Result<Value> {
        let after_dash = self.pos;
        self.skip_blanks();
        if !matches!(self.peek(), None | Some(b'\n' | b'#')) {
            return self.block_node(indent as isize);
        }
        self.end_line()?;
        match self.next_token()? {
            Some(c) if c > indent => self.block_node(indent as isize),
            _ => Ok(self.null_node_at(after_dash)),
        }
    }

    fn block_mapping(&mut self, indent: usize) -> Result<Value> {
        self.nest()?;
        self.note_node(self.pos);
        let (mut fields, mut key_marks) = (Vec::new(), Vec::new());
        loop {
            key_marks.push(self.pos);
            let field = if self.explicit_key_ahead() {
                self.explicit_field(indent)?
            } else {
                let key = self.block_key()?;
                (key, self.mapping_value(indent)?)
            };
            fields.push(field);
            match self.next_token()? {
                Some(c) if c == indent => {}
                Some(c) if c > indent => {
                    return Err(self.fail(self.pos, "bad indentation of a mapping entry"));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        self.object(fields, &key_marks)
    }

    fn object(&self, fields: Vec<(String, Value)>, key_marks: &[usize]) -> Result<Value> {
        let mut seen = HashSet::with_capacity(fields.len());
        if let Some(i) = fields.iter().position(|(key, _)| !seen.insert(key.as_str())) {
            return Err(self.fail(key_marks[i], "duplicate key"));
        }
        Ok(Value::Object(fields.into_iter().collect::<Object>()))
    }

    /// `key:` at `pos`: a plain or quoted key on one line, then `:` and a space.
    fn block_key(&mut self) -> Result<String> {
        let start = self.pos;
        let key = match self.peek() {
            Some(b'\'' | b'"') => self.quoted()?,
            _ if self.plain_can_start(false) => {
                let end = self.plain_line_end(self.pos, false);
                self.pos = end;
                self.text[start..end].to_owned()
            }
            _ => return Err(self.fail(start, "expected a mapping key (`key: value`)")),
        };
        self.skip_blanks();
        if self.peek() != Some(b':') || !self.spaced_after(self.pos) {
            return Err(self.fail(start, "expected a mapping key (`key: value`)"));
        }
        self.pos += 1;
        Ok(key)
    }

    fn explicit_key_ahead(&self) -> bool {
        self.peek() == Some(b'?') && self.spaced_after(self.pos)
    }

    /// `? key` then `: value` on the next line at the same indentation, as PyYAML writes
    /// keys that are empty, hold line breaks or run past 128 characters. Text keys only.
    fn explicit_field(&mut self, indent: usize) -> Result<(String, Value)> {
        self.pos += 1;
        self.skip_blanks();
        let start = self.pos;
        let key = match self.peek() {
            Some(b'\'' | b'"') => self.quoted()?,
            _ if self.plain_can_start(false) => self.plain(indent as isize, false),
            _ => return Err(self.fail(start, "complex keys (`? key`) are not supported")),
        };
        self.end_line()?;
        let has_value =
            self.next_token()? == Some(indent) && self.peek() == Some(b':') && self.spaced_after(self.pos);
        if !has_value {
            return Ok((key, self.null_node_at(start)));
        }
        self.pos += 1;
        Ok((key, self.sequence_item(indent)?))
    }

    /// Whether the token at `pos` is a mapping key: `:` and a space follow it on its line.
    fn key_ahead(&self) -> bool {
        let end = match self.peek() {
            Some(q @ (b'\'' | b'"')) => match self.quoted_end_on_line(q) {
                Some(end) => end,
                None => return false,
            },
            _ if self.plain_can_start(false) => self.plain_line_end(self.pos, false),
            _ => return false,
        };
        let colon = end + self.bytes[end..].iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        self.at(colon) == Some(b':') && self.spaced_after(colon)
    }

    /// Just past the closing quote of the quoted scalar at `pos`, if it closes on this line.
    fn quoted_end_on_line(&self, quote: u8) -> Option<usize> {
        let mut i = self.pos + 1;
        loop {
            match self.at(i)? {
                b'\n' => return None,
                b'\'' if quote == b'\'' && self.at(i + 1) == Some(b'\'') => i += 2,
                b'\\' if quote == b'"' => i += 2,
                b if b == quote => return Some(i + 1),
                _ => i += 1,
            }
        }
    }

    fn mapping_value(&mut self, indent: usize) -> Result<Value> {
        let after_colon = self.pos;
        self.skip_blanks();
        if !matches!(self.peek(), None | Some(b'\n' | b'#')) {
            return self.inline_value(indent as isize);
        }
        self.end_line()?;
        match self.next_token()? {
            Some(c) if c > indent => self.block_node(indent as isize),
            // PyYAML writes a mapping's sequences at the key's own indentation.
            Some(c) if c == indent && self.peek() == Some(b'-') && self.spaced_after(self.pos) => {
                self.block_sequence(indent)
            }
            _ => Ok(self.null_node_at(after_colon)),
        }
    }

    /// A scalar or flow collection at `pos`; in block context also the rest of its
    /// line. A plain scalar's continuation lines must be indented past `parent`.
    fn scalar_node(&mut self, parent: isize, flow: bool) -> Result<Value> {
        let start = self.pos;
        let value = match self.peek() {
            Some(b'[') => self.flow_sequence(parent)?,
            Some(b'{') => self.flow_mapping(parent)?,
            Some(b'|' | b'>') if !flow => {
                self.note_node(start);
                // A block scalar ends its own lines.
                return self.block_scalar(parent).map(Value::String);
            }
            _ => {
                self.note_node(start);
                self.flow_scalar(parent, flow)?
            }
        };
        if !flow {
            self.end_line()?;
        }
        Ok(value)
    }

    fn flow_scalar(&mut self, parent: isize, flow: bool) -> Result<Value> {
        let start = self.pos;
        match self.peek() {
            Some(b'\'' | b'"') => self.quoted().map(Value::String),
            Some(b'&' | b'*' | b'!') => Err(self.fail(start, "anchors, aliases and tags are not supported")),
            Some(b'?') if self.spaced_after(start) => {
                Err(self.fail(start, "complex keys (`? key`) are not supported"))
            }
            _ if self.plain_can_start(flow) => Ok(resolve(&self.plain(parent, flow))),
            None => Ok(Value::Null),
            _ => Err(self.fail(start, "a value cannot start with this character")),
        }
    }

    fn plain_can_start(&self, flow: bool) -> bool {
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\n' | b'#' | b',' | b'[' | b']' | b'{' | b'}') => false,
            Some(b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`') => false,
            Some(b'-' | b'?' | b':') => {
                !(self.spaced_after(self.pos) || (flow && is_flow_indicator(self.at(self.pos + 1))))
            }
            Some(_) => true,
        }
    }

    /// The end of the plain text starting at `from` on its line: before a comment,
    /// `: `, (in flow) an indicator, or the line break; trailing blanks excluded.
    fn plain_line_end(&self, from: usize, flow: bool) -> usize {
        let mut i = from;
        loop {
            match self.at(i) {
                None | Some(b'\n') => break,
                Some(b' ' | b'\t') if matches!(self.at(i + 1), Some(b'#')) => break,
                Some(b':') if self.spaced_after(i) || (flow && is_flow_indicator(self.at(i + 1))) => break,
                Some(b',' | b'[' | b']' | b'{' | b'}') if flow => break,
                Some(_) => i += 1,
            }
        }
        while i > from && is_blank(self.at(i - 1)) {
            i -= 1;
        }
        i
    }

    /// A plain scalar, folded over its continuation lines: one line break becomes a
    /// space, each blank line a `\n`.
    fn plain(&mut self, parent: isize, flow: bool) -> String {
        let mut text = String::new();
        loop {
            let end = self.plain_line_end(self.pos, flow);
            text.push_str(&self.text[self.pos..end]);
            self.pos = end;
            let Some((next, blank_lines)) = self.plain_continuation(parent, flow) else { return text };
            match blank_lines {
                0 => text.push(' '),
                n => text.extend(std::iter::repeat_n('\n', n)),
            }
            self.pos = next;
        }
    }

    /// Where the plain scalar ending at `pos` goes on, and how many blank lines come first.
    fn plain_continuation(&self, parent: isize, flow: bool) -> Option<(usize, usize)> {
        let mut i =
            self.pos + self.bytes[self.pos..].iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        let mut blank_lines = 0;
        while self.at(i) == Some(b'\n') {
            i += 1;
            let indent = self.bytes[i..].iter().take_while(|&&b| b == b' ').count();
            let text_at = i + indent + self.bytes[i + indent..].iter().take_while(|&&b| b == b'\t').count();
            match self.at(text_at) {
                Some(b'\n') => blank_lines += 1,
                None | Some(b'#') => return None,
                Some(_) if text_at > i + indent || self.document_marker_at(i) => return None,
                Some(_) if !flow && indent as isize <= parent => return None,
                Some(_) if self.plain_line_end(text_at, flow) == text_at => return None,
                Some(_) => return Some((text_at, blank_lines)),
            }
            i = text_at;
        }
        None
    }

    /// A single- or double-quoted scalar, folded over lines as YAML folds them.
    fn quoted(&mut self) -> Result<String> {
        let (start, quote) = (self.pos, self.bytes[self.pos]);
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run = self.pos;
            while !matches!(self.peek(), None | Some(b' ' | b'\t' | b'\n' | b'\'' | b'"' | b'\\'))
                && self.unicode_break().is_none()
            {
                self.pos += 1;
            }
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                None => return Err(self.fail(start, "a quoted value is not closed")),
                Some(b'\'') if quote == b'\'' && self.at(self.pos + 1) == Some(b'\'') => {
                    out.push('\'');
                    self.pos += 2;
                }
                Some(b) if b == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') if quote == b'"' => self.escape(&mut out)?,
                Some(b @ (b'\'' | b'"' | b'\\')) => {
                    out.push(char::from(b));
                    self.pos += 1;
                }
                Some(_) => self.quoted_spaces(start, &mut out)?,
            }
        }
    }

    /// YAML 1.1's other line breaks at `pos` (PyYAML writes them raw in single quotes):
    /// their length, and the character such a break keeps (NEL folds like `\n`).
    fn unicode_break(&self) -> Option<(usize, Option<char>)> {
        match self.bytes.get(self.pos..self.pos + 3)? {
            [0xc2, 0x85, _] => Some((2, None)),
            [0xe2, 0x80, 0xa8] => Some((3, Some('\u{2028}'))),
            [0xe2, 0x80, 0xa9] => Some((3, Some('\u{2029}'))),
            _ => None,
        }
    }

    /// Blanks inside a quoted scalar; at a line break, the break folded.
    fn quoted_spaces(&mut self, start: usize, out: &mut String) -> Result<()> {
        let run = self.pos;
        self.skip_blanks();
        let line_break = if self.peek() == Some(b'\n') { Some((1, None)) } else { self.unicode_break() };
        if let Some((length, kept)) = line_break {
            self.pos += length;
            let blank_lines = self.quoted_breaks(start)?;
            match kept {
                Some(c) => out.push(c),
                None if blank_lines == 0 => out.push(' '),
                None => {}
            }
            out.extend(std::iter::repeat_n('\n', blank_lines));
        } else if self.peek().is_none() {
            return Err(self.fail(start, "a quoted value is not closed"));
        } else {
            out.push_str(&self.text[run..self.pos]);
        }
        Ok(())
    }

    /// Skips the indentation and blank lines inside a quoted scalar; counts the blank lines.
    fn quoted_breaks(&mut self, start: usize) -> Result<usize> {
        let mut blank_lines = 0;
        loop {
            if self.document_marker_at(self.pos) {
                return Err(self.fail(start, "a quoted value is not closed"));
            }
            self.skip_blanks();
            if self.peek() != Some(b'\n') {
                return Ok(blank_lines);
            }
            self.pos += 1;
            blank_lines += 1;
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<()> {
        let at = self.pos;
        self.pos += 2;
        let c = match self.at(at + 1) {
            Some(b'\n') => {
                // An escaped line break joins the lines without a space.
                let blank_lines = self.quoted_breaks(at)?;
                out.extend(std::iter::repeat_n('\n', blank_lines));
                return Ok(());
            }
            Some(b'0') => '\0',
            Some(b'a') => '\u{7}',
            Some(b'b') => '\u{8}',
            Some(b't' | b'\t') => '\t',
            Some(b'n') => '\n',
            Some(b'v') => '\u{b}',
            Some(b'f') => '\u{c}',
            Some(b'r') => '\r',
            Some(b'e') => '\u{1b}',
            Some(b'N') => '\u{85}',
            Some(b'_') => '\u{a0}',
            Some(b'L') => '\u{2028}',
            Some(b'P') => '\u{2029}',
            Some(b @ (b' ' | b'"' | b'/' | b'\\')) => char::from(b),
            Some(b'x') => self.hex_escape(at, 2)?,
            Some(b'u') => self.hex_escape(at, 4)?,
            Some(b'U') => self.hex_escape(at, 8)?,
            _ => return Err(self.fail(at, "invalid escape")),
        };
        out.push(c);
        Ok(())
    }

    fn hex_escape(&mut self, at: usize, digits: usize) -> Result<char> {
        let hex =
            self.text.get(self.pos..self.pos + digits).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let code = hex.and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32);
        self.pos += digits;
        code.ok_or_else(|| self.fail(at, "invalid escape"))
    }

    /// `|` (literal) or `>` (folded), with an optional chomping indicator (`-` strip,
    /// `+` keep) and indentation digit, as PyYAML's scanner reads them.
    fn block_scalar(&mut self, parent: isize) -> Result<String> {
        let folded = self.peek() == Some(b'>');
        self.pos += 1;
        let (mut chomp, mut increment) = (None, None);
        for _ in 0..2 {
            match self.peek() {
                Some(b @ (b'+' | b'-')) if chomp.is_none() => chomp = Some(b),
                Some(b @ b'1'..=b'9') if increment.is_none() => increment = Some(usize::from(b - b'0')),
                _ => break,
            }
            self.pos += 1;
        }
        if !matches!(self.peek(), None | Some(b' ' | b'\t' | b'\n')) {
            return Err(self.fail(self.pos, "invalid block scalar header"));
        }
        self.end_line()?;
        let min_indent = usize::try_from(parent + 1).unwrap_or(0).max(1);
        let (mut breaks, indent) = match increment {
            Some(n) => (self.block_breaks(min_indent + n - 1), min_indent + n - 1),
            None => self.block_indentation(min_indent),
        };
        let mut out = String::new();
        let mut line_break = false;
        while self.peek().is_some() && self.column(self.pos) == indent {
            out.extend(std::iter::repeat_n('\n', breaks));
            let leading_text = !is_blank(self.peek());
            let line = self.pos;
            self.skip_to_line_end();
            out.push_str(&self.text[line..self.pos]);
            line_break = self.peek() == Some(b'\n');
            self.pos += usize::from(line_break);
            breaks = self.block_breaks(indent);
            if self.peek().is_none() || self.column(self.pos) != indent {
                break;
            }
            if folded && line_break && leading_text && !is_blank(self.peek()) {
                if breaks == 0 {
                    out.push(' ');
                }
            } else if line_break {
                out.push('\n');
            }
        }
        if chomp != Some(b'-') && line_break {
            out.push('\n');
        }
        if chomp == Some(b'+') {
            out.extend(std::iter::repeat_n('\n', breaks));
        }
        Ok(out)
    }

    /// Skips the blank lines before a block scalar's text; their count and the text's
    /// indentation (at least `min_indent`).
    fn block_indentation(&mut self, min_indent: usize) -> (usize, usize) {
        let (mut breaks, mut widest) = (0, 0);
        loop {
            match self.peek() {
                Some(b' ') => self.pos += 1,
                Some(b'\n') => {
                    self.pos += 1;
                    breaks += 1;
                }
                _ => break,
            }
            widest = widest.max(self.column(self.pos));
        }
        (breaks, widest.max(min_indent))
    }

    /// Skips lines holding nothing but indentation (up to `indent`); counts them.
    fn block_breaks(&mut self, indent: usize) -> usize {
        let mut breaks = 0;
        loop {
            while self.peek() == Some(b' ') && self.column(self.pos) < indent {
                self.pos += 1;
            }
            if self.peek() != Some(b'\n') {
                return breaks;
            }
            self.pos += 1;
            breaks += 1;
        }
    }

    /// Blanks, line breaks and comments between flow tokens.
    fn skip_flow_space(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n') => self.pos += 1,
                Some(b'#') => self.skip_to_line_end(),
                _ => return,
            }
        }
    }

    fn flow_sequence(&mut self, parent: isize) -> Result<Value> {
        let start = self.pos;
        self.nest()?;
        self.note_node(start);
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_flow_space();
            if self.peek() == Some(b']') {
                break;
            }
            items.push(self.scalar_node(parent, true)?);
            self.skip_flow_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => break,
                Some(b':') => {
                    return Err(self.fail(self.pos, "pairs inside a flow sequence are not supported"));
                }
                None => return Err(self.fail(start, "a flow sequence is not closed")),
                Some(_) => return Err(self.fail(self.pos, "expected ',' or ']'")),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn flow_mapping(&mut self, parent: isize) -> Result<Value> {
        let start = self.pos;
        self.nest()?;
        self.note_node(start);
        self.pos += 1;
        let (mut fields, mut key_marks) = (Vec::new(), Vec::new());
        loop {
            self.skip_flow_space();
            if self.peek() == Some(b'}') {
                break;
            }
            key_marks.push(self.pos);
            let key = self.flow_key()?;
            self.skip_flow_space();
            let value = if self.peek() == Some(b':') {
                self.pos += 1;
                self.skip_flow_space();
                match self.peek() {
                    Some(b',' | b'}') => self.null_node(),
                    _ => self.scalar_node(parent, true)?,
                }
            } else {
                self.null_node()
            };
            fields.push((key, value));
            self.skip_flow_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                None => return Err(self.fail(start, "a flow mapping is not closed")),
                Some(_) => return Err(self.fail(self.pos, "expected ',' or '}'")),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        self.object(fields, &key_marks)
    }

    fn flow_key(&mut self) -> Result<String> {
        if self.explicit_key_ahead() {
            self.pos += 1;
            self.skip_flow_space();
        }
        match self.peek() {
            Some(b'\'' | b'"') => self.quoted(),
            _ if self.plain_can_start(true) => Ok(self.plain(-1, true)),
            None => Err(self.fail(self.pos, "a flow mapping is not closed")),
            _ => Err(self.fail(self.pos, "expected a mapping key")),
        }
    }
}
