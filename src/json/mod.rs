//! JSON as ALP signs it: a value type that keeps Python's int/float split and key order,
//! a parser accepting what Python's `json.loads` does, and byte-exact writers for the
//! compact wire form and the sorted canonical form (ALP spec §2).

use std::io::Write as _;
use std::str::FromStr;

/// Deepest nesting of arrays and objects `parse` accepts.
pub const MAX_DEPTH: usize = 128;
/// Python's default `sys.int_info.default_max_str_digits`.
pub const MAX_INT_DIGITS: usize = 4300;
/// What `canonical` and `wire` start with: an envelope fits without the buffer regrowing.
const WRITE_CAPACITY: usize = 1024;

/// A JSON value as Python holds it: `1` and `1.0` stay apart, object keys keep their order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(Int),
    Float(f64),
    String(String),
    Array(Vec<Value>),
    Object(Object),
}

/// An integer of any size, kept as canonical decimal text: optional `-`, no leading
/// zeros, `-0` written `0` (Python ints are unbounded; peers send 2^64 and beyond).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Int(String);

/// Fields in insertion order with unique keys, like a Python dict.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Object(Vec<(String, Value)>);

#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct ParseError {
    pub offset: usize,
    pub reason: &'static str,
}

impl ParseError {
    fn at(offset: usize, reason: &'static str) -> Self {
        Self { offset, reason }
    }
}

impl Int {
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `text` must already be JSON integer syntax.
    fn from_json(text: &str) -> Self {
        Self(if text == "-0" { "0".into() } else { text.into() })
    }
}

impl FromStr for Int {
    type Err = ParseError;

    /// JSON integer syntax only: `-12`, not `+12`, `012` or `1e3`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match scan_number(s.as_bytes(), 0)? {
            (end, false) if end == s.len() => Ok(Self::from_json(s)),
            (end, _) => Err(ParseError::at(end.min(s.len()), "expected an integer")),
        }
    }
}

impl From<i64> for Int {
    fn from(n: i64) -> Self {
        Self(n.to_string())
    }
}

impl From<u64> for Int {
    fn from(n: u64) -> Self {
        Self(n.to_string())
    }
}

/// Pairs in order; a repeated key keeps its first position and takes the later value,
/// as repeated [`Object::insert`]s would — in linear time, for objects with thousands of
/// keys (a scheduler's `runs.json`).
impl FromIterator<(String, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Self {
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut fields: Vec<(String, Value)> = Vec::new();
        for (key, value) in pairs {
            match at.get(&key) {
                Some(&i) => fields[i].1 = value,
                None => {
                    at.insert(key.clone(), fields.len());
                    fields.push((key, value));
                }
            }
        }
        Self(fields)
    }
}

impl Object {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// An existing key keeps its position and gets the new value (Python dict semantics).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let (key, value) = (key.into(), value.into());
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(index).1)
    }

    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Parsed fields to a dict the way Python builds one: a repeated key keeps its first
    /// position and its last value. Sorting, not `insert`, so hostile input stays O(n log n).
    fn from_fields(mut fields: Vec<(String, Value)>) -> Self {
        if fields.len() < 2 {
            return Self(fields);
        }
        let mut order: Vec<usize> = (0..fields.len()).collect();
        // Stable: within a run of equal keys, indices stay in input order.
        order.sort_by(|&a, &b| fields[a].0.cmp(&fields[b].0));
        let repeats: Vec<&[usize]> =
            order.chunk_by(|&a, &b| fields[a].0 == fields[b].0).filter(|run| run.len() > 1).collect();
        if repeats.is_empty() {
            return Self(fields);
        }
        let mut dropped = vec![false; fields.len()];
        for run in repeats {
            let (first, last) = (run[0], run[run.len() - 1]);
            fields[first].1 = std::mem::replace(&mut fields[last].1, Value::Null);
            run[1..].iter().for_each(|&i| dropped[i] = true);
        }
        let mut index = 0;
        fields.retain(|_| {
            index += 1;
            !dropped[index - 1]
        });
        Self(fields)
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(n) => n.as_u64(),
            _ => None,
        }
    }

    /// Ints convert (rounded to the nearest float; huge ones to infinity).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => n.0.parse().ok(),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The field `key` of an object; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// The signed form: keys sorted by code point at every depth, no whitespace.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRITE_CAPACITY);
        self.write_canonical(&mut out);
        out
    }

    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        self.write(out, true);
    }

    /// The sent form: like `canonical` but keys in insertion order.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRITE_CAPACITY);
        self.write_wire(&mut out);
        out
    }

    pub fn write_wire(&self, out: &mut Vec<u8>) {
        self.write(out, false);
    }

    /// The file form: Python's `json.dumps(v, indent=2, ensure_ascii=False)` plus a
    /// final newline — how profile state files (sessions, ledger) are written.
    pub fn pretty(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_pretty(&mut out, 0);
        out.push(b'\n');
        out
    }

    fn write_pretty(&self, out: &mut Vec<u8>, depth: usize) {
        let newline = |out: &mut Vec<u8>, depth: usize| {
            out.push(b'\n');
            out.resize(out.len() + 2 * depth, b' ');
        };
        match self {
            Value::Array(items) if !items.is_empty() => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    newline(out, depth + 1);
                    item.write_pretty(out, depth + 1);
                }
                newline(out, depth);
                out.push(b']');
            }
            Value::Object(object) if !object.is_empty() => {
                out.push(b'{');
                for (i, (key, value)) in object.0.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    newline(out, depth + 1);
                    write_string(key, out);
                    out.extend_from_slice(b": ");
                    value.write_pretty(out, depth + 1);
                }
                newline(out, depth);
                out.push(b'}');
            }
            other => other.write(out, false),
        }
    }

    fn write(&self, out: &mut Vec<u8>, sorted: bool) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(n) => out.extend_from_slice(n.0.as_bytes()),
            Value::Float(f) => write_float(*f, out),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out, sorted);
                }
                out.push(b']');
            }
            Value::Object(object) => write_object(object, out, sorted),
        }
    }
}

fn write_object(object: &Object, out: &mut Vec<u8>, sorted: bool) {
    let mut fields: Vec<&(String, Value)> = object.0.iter().collect();
    if sorted {
        // String order is UTF-8 byte order, which is code point order: Python's sort.
        fields.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    out.push(b'{');
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        value.write(out, sorted);
    }
    out.push(b'}');
}

/// Python's `ensure_ascii=False` escaping: only `"`, `\` and controls below 0x20.
fn write_string(s: &str, out: &mut Vec<u8>) {
    let mut rest = s.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    while let Some(i) = rest.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(&rest[..i]);
        write_escape(rest[i], out);
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn write_escape(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let unicode;
    let escape: &[u8] = match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        _ => {
            unicode = [b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
            &unicode
        }
    };
    out.extend_from_slice(escape);
}

/// Python's `repr(f)`, which `json.dumps` writes: shortest round-trip digits, fixed
/// notation for decimal exponents -4..16 (`.0` kept when integral), else `1.5e+300`.
pub fn python_float_repr(f: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_float(f, &mut out);
    String::from_utf8(out).expect("float text is ASCII")
}

fn write_float(f: f64, out: &mut Vec<u8>) {
    if !f.is_finite() {
        let word: &[u8] = match f {
            _ if f.is_nan() => b"NaN",
            _ if f > 0.0 => b"Infinity",
            _ => b"-Infinity",
        };
        return out.extend_from_slice(word);
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let mut buf = [0u8; 32];
    let (digits, exponent) = shortest_digits(f.abs(), &mut buf);
    if (-4..16).contains(&exponent) {
        write_fixed(digits, exponent, out);
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        write!(out, "e{sign}{:02}", exponent.unsigned_abs()).expect("writing to a Vec");
    }
}

/// The shortest digits that read back as `f` (finite, positive) and the decimal exponent
/// of the first one: `f = d.ddd × 10^exponent`. Python's choice when two are equally near.
fn shortest_digits(f: f64, buf: &mut [u8; 32]) -> (&[u8], i32) {
    let mut cursor = &mut buf[..];
    write!(cursor, "{f:e}").expect("32 bytes hold any f64 in {:e}");
    let len = 32 - cursor.len();
    let e_at = buf.iter().position(|&b| b == b'e').expect("{:e} writes an exponent");
    let exponent = std::str::from_utf8(&buf[e_at + 1..len]).ok().and_then(|e| e.parse().ok());
    let exponent: i32 = exponent.expect("{:e} writes an integer exponent");
    // `d.ddd` to `dddd`
    let count = if e_at > 1 {
        buf.copy_within(2..e_at, 1);
        e_at - 1
    } else {
        1
    };
    settle_tie_to_even(f, &mut buf[..count], exponent);
    (&buf[..count], exponent)
}

/// When `f` lies exactly halfway between two shortest candidates, Rust takes the upper
/// and Python (David Gay's dtoa) the even one: 1096196765573614.25 prints as `…614.2`.
fn settle_tie_to_even(f: f64, digits: &mut [u8], exponent: i32) {
    let last = digits.len() - 1;
    // Settled up from an even digit; from 0 (ending 1) a shorter form would have existed.
    if !matches!(digits[last], b'3' | b'5' | b'7' | b'9') {
        return;
    }
    let upper = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    let midpoint_exponent = exponent - digits.len() as i32;
    if !is_exactly(f, 10 * upper - 5, midpoint_exponent) {
        return;
    }
    digits[last] -= 1;
    if !reads_back_as(f, digits, exponent) {
        digits[last] += 1;
    }
}

/// Whether `f` (finite, positive) equals `odd × 10^exponent` exactly, `odd` being odd:
/// compares the powers of 2 and the odd parts of both sides.
fn is_exactly(f: f64, odd: u64, exponent: i32) -> bool {
    let bits = f.to_bits();
    let (fraction, biased) = (bits & ((1 << 52) - 1), (bits >> 52) as i32);
    let (mantissa, power) = if biased == 0 { (fraction, -1074) } else { (fraction | 1 << 52, biased - 1075) };
    let zeros = mantissa.trailing_zeros();
    if power + zeros as i32 != exponent {
        return false;
    }
    let (f_odd, five) = (mantissa >> zeros, 5u64.checked_pow(exponent.unsigned_abs()));
    if exponent >= 0 {
        five.and_then(|p| odd.checked_mul(p)) == Some(f_odd)
    } else {
        five.and_then(|p| f_odd.checked_mul(p)) == Some(odd)
    }
}

fn reads_back_as(f: f64, digits: &[u8], exponent: i32) -> bool {
    let mut buf = [0u8; 32];
    let mut cursor = &mut buf[..];
    let written = cursor.write_all(b"0.").and_then(|()| cursor.write_all(digits));
    let written = written.and_then(|()| write!(cursor, "e{}", exponent + 1));
    let len = 32 - cursor.len();
    written.is_ok() && std::str::from_utf8(&buf[..len]).ok().and_then(|s| s.parse().ok()) == Some(f)
}

/// `d.ddd × 10^exponent` in plain decimal, for -4 <= exponent < 16.
fn write_fixed(digits: &[u8], exponent: i32, out: &mut Vec<u8>) {
    let zeros = |n: u32, out: &mut Vec<u8>| out.extend(std::iter::repeat_n(b'0', n as usize));
    if exponent < 0 {
        out.extend_from_slice(b"0.");
        zeros(exponent.unsigned_abs() - 1, out);
        return out.extend_from_slice(digits);
    }
    let whole = exponent.unsigned_abs() + 1;
    let (int, frac) = digits.split_at(digits.len().min(whole as usize));
    out.extend_from_slice(int);
    zeros(whole - int.len() as u32, out);
    out.push(b'.');
    out.extend_from_slice(if frac.is_empty() { b"0" } else { frac });
}

/// Parses one JSON text the way Python's `json.loads` does, as far as signatures care.
///
/// Accepts RFC 8259 plus `NaN`, `Infinity` and `-Infinity`. Numbers with `.`, `e` or
/// `E` become floats (overflowing to infinity), others exact ints. A repeated key keeps
/// its first position and last value. Rejects lone surrogates, raw controls in strings,
/// invalid UTF-8, trailing data and nesting deeper than [`MAX_DEPTH`].
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::at(e.valid_up_to(), "not UTF-8"))?;
    let mut parser = Parser { text, pos: 0, depth: 0 };
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != text.len() {
        return Err(parser.error("unexpected data after the value"));
    }
    Ok(value)
}

/// `pos` only ever stops on ASCII bytes, so slicing `text` there is always valid.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> ParseError {
        ParseError::at(self.pos, reason)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') if !self.rest().starts_with("-Infinity") => self.number(),
            Some(_) => self.literal(),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn literal(&mut self) -> Result<Value, ParseError> {
        let literals = [
            ("null", Value::Null),
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("NaN", Value::Float(f64::NAN)),
            ("Infinity", Value::Float(f64::INFINITY)),
            ("-Infinity", Value::Float(f64::NEG_INFINITY)),
        ];
        let (word, value) = literals
            .into_iter()
            .find(|(word, _)| self.rest().starts_with(word))
            .ok_or_else(|| self.error("expected a value"))?;
        self.pos += word.len();
        Ok(value)
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let (end, is_float) = scan_number(self.text.as_bytes(), start)?;
        self.pos = end;
        let text = &self.text[start..end];
        if is_float {
            return Ok(Value::Float(text.parse().expect("scanned JSON number is valid float syntax")));
        }
        // Python 3.11+ refuses to parse longer integers, so no envelope from the original
        // can carry one; refusing them too keeps both sides dropping the same envelopes.
        if text.trim_start_matches('-').len() > MAX_INT_DIGITS {
            self.pos = start;
            return Err(self.error("integer longer than 4300 digits"));
        }
        Ok(Value::Int(Int::from_json(text)))
    }

    fn nested(&mut self, parse: fn(&mut Self) -> Result<Value, ParseError>) -> Result<Value, ParseError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    /// After an item: `true` at the closing bracket, `false` after a comma.
    fn closes(&mut self, close: u8, reason: &'static str) -> Result<bool, ParseError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_whitespace();
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.error(reason)),
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        self.skip_whitespace();
        let mut items = Vec::new();
        if self.eat(b']') {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            if self.closes(b']', "expected ',' or ']'")? {
                return Ok(Value::Array(items));
            }
        }
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        self.skip_whitespace();
        let mut fields = Vec::new();
        if self.eat(b'}') {
            return Ok(Value::Object(Object(fields)));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return Err(self.error("expected ':'"));
            }
            self.skip_whitespace();
            fields.push((key, self.value()?));
            if self.closes(b'}', "expected ',' or '}'")? {
                return Ok(Value::Object(Object::from_fields(fields)));
            }
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek()
                && b != b'"'
                && b != b'\\'
                && b >= 0x20
            {
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => return Err(self.error("control character in string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, ParseError> {
        let start = self.pos;
        self.pos += 2;
        Ok(match self.text.as_bytes().get(start + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(start),
            _ => return Err(ParseError::at(start, "invalid escape")),
        })
    }

    /// `\uXXXX`, or a `\uD8xx\uDCxx` surrogate pair; a lone surrogate cannot be a Rust
    /// `char` (and Python could not UTF-8-encode it to canonicalise either).
    fn unicode_escape(&mut self, start: usize) -> Result<char, ParseError> {
        let lone = ParseError::at(start, "lone surrogate in \\u escape");
        let high = self.hex4()?;
        let code = match high {
            0xd800..0xdc00 if self.rest().starts_with("\\u") => {
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xdc00..0xe000).contains(&low) {
                    return Err(lone);
                }
                0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
            }
            0xd800..0xe000 => return Err(lone),
            _ => high,
        };
        Ok(char::from_u32(code).expect("surrogates were handled"))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self.rest().as_bytes().get(..4).filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        let digits = digits.ok_or_else(|| self.error("invalid \\u escape"))?;
        let code = digits.iter().fold(0, |code, &d| code * 16 + char::from(d).to_digit(16).unwrap_or(0));
        self.pos += 4;
        Ok(code)
    }
}

/// The JSON number starting at `start`: its end and whether it is a float.
fn scan_number(bytes: &[u8], start: usize) -> Result<(usize, bool), ParseError> {
    let digits = |from: usize| from + bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut i = start + usize::from(bytes.get(start) == Some(&b'-'));
    i = match bytes.get(i) {
        Some(b'0') => i + 1,
        Some(b'1'..=b'9') => digits(i),
        _ => return Err(ParseError::at(i, "expected a digit")),
    };
    let mut is_float = false;
    if bytes.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return Err(ParseError::at(end, "expected a digit"));
        }
        (i, is_float) = (end, true);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1 + usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        let end = digits(i);
        if end == i {
            return Err(ParseError::at(end, "expected a digit"));
        }
        (i, is_float) = (end, true);
    }
    Ok((i, is_float))
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Int> for Value {
    fn from(n: Int) -> Self {
        Value::Int(n)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n.into())
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Int(n.into())
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        i64::from(n).into()
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        u64::from(n).into()
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(o)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_pairs_keep_first_positions_and_last_values() {
        let pairs = [("b", 1i64), ("a", 2), ("b", 3)].map(|(k, v)| (k.to_owned(), Value::from(v)));
        let object: Object = pairs.into_iter().collect();
        assert_eq!(object, Object::new().with("b", 1i64).with("a", 2i64).with("b", 3i64));
        assert_eq!(object.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b", "a"]);
    }

    fn canon(text: &str) -> String {
        String::from_utf8(parse(text.as_bytes()).unwrap().canonical()).unwrap()
    }

    fn wire(text: &str) -> String {
        String::from_utf8(parse(text.as_bytes()).unwrap().wire()).unwrap()
    }

    fn err(text: &str) -> ParseError {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn pretty_matches_pythons_indent_2() {
        // python3 -c 'import json;print(json.dumps({"a":[1,{"b":[]}],"c":{},"d":"é"},indent=2,ensure_ascii=False))'
        let v = parse(r#"{"a":[1,{"b":[]}],"c":{},"d":"é"}"#.as_bytes()).unwrap();
        let expected =
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": {},\n  \"d\": \"é\"\n}\n";
        assert_eq!(String::from_utf8(v.pretty()).unwrap(), expected);
    }

    #[test]
    fn integers_longer_than_python_accepts_are_refused() {
        let ok = "9".repeat(MAX_INT_DIGITS);
        assert!(parse(ok.as_bytes()).is_ok());
        assert!(parse(format!("-{ok}").as_bytes()).is_ok());
        assert!(parse(format!("[{ok}9]").as_bytes()).is_err());
    }

    #[test]
    fn round_trips_compactly_in_insertion_order() {
        let text = r#"{"b":[1,2.5,"x",null,true,false,{}],"a":{"z":[],"y":-3}}"#;
        assert_eq!(wire(text), text);
        assert_eq!(wire(" {\n\"b\" : [ 1 ,\t2.5 ] }\r\n"), r#"{"b":[1,2.5]}"#);
    }

    #[test]
    fn canonical_sorts_keys_by_code_point_at_every_depth() {
        let text = r#"{"é":1,"a":2,"Z":3,"日":4,"🚀":5,"｡":6,"":7,"n":[{"b":1,"a":2}]}"#;
        assert_eq!(canon(text), r#"{"":7,"Z":3,"a":2,"n":[{"a":2,"b":1}],"é":1,"日":4,"｡":6,"🚀":5}"#);
    }

    #[test]
    fn canonical_sorts_raw_keys_not_their_escapes() {
        // "\n" (0x0a) sorts before " " (0x20) although its escape starts with '\'.
        assert_eq!(canon(r#"{" ":1,"\n":2,"\\":3,"\"":4}"#), r#"{"\n":2," ":1,"\"":4,"\\":3}"#);
    }

    #[test]
    fn strings_escape_like_python_ensure_ascii_false() {
        let value = Value::from("q\" b\\ /\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}\u{2028}é🚀");
        let expected = "\"q\\\" b\\\\ /\\n\\r\\t\\b\\f\\u0000\\u001f\u{7f}\u{2028}é🚀\"";
        assert_eq!(String::from_utf8(value.canonical()).unwrap(), expected);
        assert_eq!(parse(expected.as_bytes()).unwrap(), value);
    }

    #[test]
    fn parses_every_escape() {
        let parsed = parse(br#""\"\\\/\b\f\n\r\t\u00e9\u00E9\ud83d\ude80\u0000""#).unwrap();
        assert_eq!(parsed.as_str(), Some("\"\\/\u{8}\u{c}\n\r\té\u{e9}🚀\u{0}"));
    }

    #[test]
    fn rejects_bad_escapes_and_lone_surrogates() {
        assert_eq!(err(r#""a\x""#), ParseError::at(2, "invalid escape"));
        assert_eq!(err(r#""\u12""#).reason, "invalid \\u escape");
        assert_eq!(err(r#""\u+123""#).reason, "invalid \\u escape");
        for lone in [r#""\ud800""#, r#""\udc00x""#, r#""\ud800\u0041""#, r#""\ud800\ud800""#] {
            assert_eq!(err(lone), ParseError::at(1, "lone surrogate in \\u escape"), "{lone}");
        }
    }

    #[test]
    fn rejects_raw_controls_and_invalid_utf8() {
        assert_eq!(err("\"a\nb\""), ParseError::at(2, "control character in string"));
        assert_eq!(err("\"a\u{1f}\""), ParseError::at(2, "control character in string"));
        assert_eq!(parse("\"a\u{7f}\"".as_bytes()).unwrap().as_str(), Some("a\u{7f}"));
        assert_eq!(parse(b"\"ab\xff\"").unwrap_err(), ParseError::at(3, "not UTF-8"));
        assert_eq!(parse(b"\"\xed\xa0\x80\"").unwrap_err(), ParseError::at(1, "not UTF-8"));
    }

    #[test]
    fn rejects_malformed_structure() {
        let cases = [
            ("", 0, "unexpected end of input"),
            ("[1,]", 3, "expected a value"),
            ("[1 2]", 3, "expected ',' or ']'"),
            ("{\"a\" 1}", 5, "expected ':'"),
            ("{\"a\":1,}", 7, "expected a string key"),
            ("{a:1}", 1, "expected a string key"),
            ("{\"a\":1 \"b\"}", 7, "expected ',' or '}'"),
            ("\"abc", 4, "unterminated string"),
            ("1 2", 2, "unexpected data after the value"),
            ("nul", 0, "expected a value"),
            ("'a'", 0, "expected a value"),
            ("\u{feff}{}", 0, "expected a value"),
        ];
        for (text, offset, reason) in cases {
            assert_eq!(err(text), ParseError::at(offset, reason), "{text:?}");
        }
        assert_eq!(err("[1,]").to_string(), "invalid JSON at byte 3: expected a value");
    }

    #[test]
    fn number_syntax_is_strict() {
        for bad in ["01", "-", "1.", ".5", "1e", "1e+", "+1", "-01", "0x10", "1.e5", "--1"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn ints_stay_exact_and_floats_stay_floats() {
        assert_eq!(
            wire("[0,-0,42,-9223372036854775808,18446744073709551616]"),
            "[0,0,42,-9223372036854775808,18446744073709551616]"
        );
        let huge = format!("-{}", "9".repeat(400));
        assert_eq!(wire(&huge), huge);
        assert_eq!(wire("[1.0,-0.0,1E2,1e-5,0e0,-0e0,2.50]"), "[1.0,-0.0,100.0,1e-05,0.0,-0.0,2.5]");
        assert_eq!(wire("[1e400,-1e400,1e-400,1e99999999999999999999]"), "[Infinity,-Infinity,0.0,Infinity]");
    }

    #[test]
    fn python_literals_parse_as_floats() {
        let parsed = parse(b"[NaN,Infinity,-Infinity]").unwrap();
        let items = parsed.as_array().unwrap();
        assert!(items[0].as_f64().unwrap().is_nan());
        assert_eq!(items[1], Value::Float(f64::INFINITY));
        assert_eq!(items[2], Value::Float(f64::NEG_INFINITY));
        assert_eq!(parsed.wire(), b"[NaN,Infinity,-Infinity]");
        assert!(parse(b"-NaN").is_err() && parse(b"+Infinity").is_err() && parse(b"-Inf").is_err());
    }

    #[test]
    fn int_accessors_and_from_str() {
        let big: Int = "18446744073709551616".parse().unwrap();
        assert_eq!((big.as_u64(), big.as_i64()), (None, None));
        let max = Int::from(u64::MAX);
        assert_eq!(
            (max.as_u64(), max.as_i64(), max.as_str()),
            (Some(u64::MAX), None, "18446744073709551615")
        );
        assert_eq!(Int::from(i64::MIN).as_i64(), Some(i64::MIN));
        assert_eq!(Int::from(-5i64).as_u64(), None);
        assert_eq!("-0".parse::<Int>().unwrap().as_str(), "0");
        for bad in ["", "+1", "01", "1.0", "1e3", " 1", "1 "] {
            assert!(bad.parse::<Int>().is_err(), "{bad:?}");
        }
        assert_eq!(Value::from(Int::from(7i64)).as_f64(), Some(7.0));
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        assert_eq!(wire(r#"{"a":1,"b":2,"a":3,"c":4,"b":5,"a":6}"#), r#"{"a":6,"b":5,"c":4}"#);
        assert_eq!(wire(r#"{"a":{"x":1,"x":[2]}}"#), r#"{"a":{"x":[2]}}"#);
    }

    #[test]
    fn depth_limit_holds_without_overflowing_the_stack() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(err(&deep(MAX_DEPTH + 1)), ParseError::at(MAX_DEPTH, "nested too deeply"));
        assert_eq!(err(&"{\"a\":".repeat(100_000)).reason, "nested too deeply");
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456789.123, "123456789.123"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e-5, "1e-05"),
            (2.5e-8, "2.5e-08"),
            (1.5e300, "1.5e+300"),
            (-1e100, "-1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            // Exactly halfway between two shortest candidates: Python takes the even one.
            (1e15 + 0.25, "1000000000000000.2"),
            (1e15 + 0.75, "1000000000000000.8"),
            (233891771783429.5 + 0.125, "233891771783429.62"),
            (2f64.powi(-25), "2.9802322387695312e-08"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
        ];
        for (f, repr) in cases {
            assert_eq!(python_float_repr(f), repr);
        }
    }

    #[test]
    fn object_behaves_like_a_python_dict() {
        let mut o = Object::new().with("b", 1).with("a", "x").with("c", None::<bool>);
        assert_eq!(o.insert("b", true), Some(Value::from(1)));
        assert_eq!(o.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(o.get("b"), Some(&Value::Bool(true)));
        assert!(o.get("c").unwrap().is_null() && o.contains_key("a") && !o.contains_key("z"));
        assert_eq!(o.remove("a"), Some(Value::from("x")));
        assert_eq!((o.len(), o.is_empty(), o.remove("a")), (2, false, None));
        *o.get_mut("c").unwrap() = Value::from(vec![Value::from(2.5), Value::from(3u32)]);
        let v = Value::from(o);
        assert_eq!(v.wire(), br#"{"b":true,"c":[2.5,3]}"#);
        assert_eq!(v.get("c").and_then(Value::as_array).map(<[Value]>::len), Some(2));
        assert_eq!(v.get("b").and_then(Value::as_bool), Some(true));
        assert_eq!(Value::from(3).get("b"), None);
    }
}
