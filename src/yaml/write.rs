//! The writer: a [`Value`] laid out as PyYAML's `safe_dump(sort_keys=False,
//! allow_unicode=True)` lays it out, each string quoted only when it must be to read
//! back as the same string.

use super::scalar::{is_printable, reads_back_as_string};
use crate::json::{Object, Value, python_float_repr};

/// PyYAML's longest `key: value` key (its reader takes up to 1024 characters).
pub(super) const MAX_SIMPLE_KEY: usize = 128;

pub(super) fn dump(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(object) if !object.is_empty() => mapping(&mut out, object, 0, false),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0, false),
        scalar => {
            write_scalar(&mut out, scalar);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// `key: value` lines at `indent`; the first continues a `- ` line when `after_dash`.
fn mapping(out: &mut String, object: &Object, indent: usize, after_dash: bool) {
    for (i, (key, value)) in object.iter().enumerate() {
        if i > 0 || !after_dash {
            pad(out, indent);
        }
        if !is_simple_key(key) {
            out.push_str("? ");
            write_string(out, key);
            out.push('\n');
            pad(out, indent);
            out.push_str(": ");
            compact_node(out, value, indent + 2);
            continue;
        }
        write_string(out, key);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, indent + 2, false);
            }
            // PyYAML does not indent a mapping's sequences past their key.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, indent, false);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize, after_dash: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !after_dash {
            pad(out, indent);
        }
        out.push_str("- ");
        compact_node(out, item, indent + 2);
    }
}

/// PyYAML writes empty, multi-line and long keys as `? key` / `: value`.
fn is_simple_key(key: &str) -> bool {
    !key.is_empty() && !key.contains(is_line_break) && key.chars().count() <= MAX_SIMPLE_KEY
}

/// A node after `- ` or `: `, a collection's first line on that same line.
fn compact_node(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(inner) if !inner.is_empty() => mapping(out, inner, indent, true),
        Value::Array(inner) if !inner.is_empty() => sequence(out, inner, indent, true),
        scalar => {
            write_scalar(out, scalar);
            out.push('\n');
        }
    }
}

/// A scalar, or an empty collection in flow style.
fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(n.as_str()),
        Value::Float(f) => out.push_str(&float_text(*f)),
        Value::String(s) => write_string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// PyYAML's float: Python's `repr`, always with a `.` before an exponent (YAML 1.1
/// reads `1e+16` as a string), and `.inf` / `.nan`.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let repr = python_float_repr(f);
    if repr.contains('.') { repr } else { repr.replacen('e', ".0e", 1) }
}

fn write_string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if s.chars().all(|c| is_printable(c) && !is_line_break(c)) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        write_double_quoted(out, s);
    }
}

/// YAML 1.1's line breaks: PyYAML folds each inside quotes, so none is written raw.
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// PyYAML's test for a plain scalar in block context: nothing that would read as
/// another type, an indicator, a comment, or lose its edges.
fn is_plain_safe(s: &str) -> bool {
    if !reads_back_as_string(s) || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let spacing =
        |c: Option<&char>| c.is_none_or(|c| matches!(c, '\0' | ' ' | '\t' | '\r') || is_line_break(*c));
    let first = chars[0];
    if "#,[]{}&*!|>'\"%@`".contains(first)
        || (matches!(first, '?' | ':' | '-') && spacing(chars.get(1)))
        || first == ' '
        || chars.last() == Some(&' ')
    {
        return false;
    }
    chars.iter().enumerate().all(|(i, &c)| {
        is_printable(c)
            && !is_line_break(c)
            && !(i > 0 && c == ':' && spacing(chars.get(i + 1)))
            && !(i > 0 && c == '#' && spacing(chars.get(i - 1)))
    })
}

/// PyYAML's escapes; printable characters (`allow_unicode`) are written as they are.
fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{85}' => "\\N",
            '\u{2028}' => "\\L",
            '\u{2029}' => "\\P",
            c if is_printable(c) => {
                out.push(c);
                continue;
            }
            '\0' => "\\0",
            '\u{7}' => "\\a",
            '\u{8}' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\u{b}' => "\\v",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            '\u{1b}' => "\\e",
            c => {
                let code = u32::from(c);
                let text = match code {
                    0..=0xff => format!("\\x{code:02X}"),
                    0x100..=0xffff => format!("\\u{code:04X}"),
                    _ => format!("\\U{code:08X}"),
                };
                out.push_str(&text);
                continue;
            }
        };
        out.push_str(escape);
    }
    out.push('"');
}
