//! YAML for the profile files shared with the Python alpi (`config.yaml`, `peers.yaml`,
//! room files…), read into and written from the JSON [`Value`] — one value type for
//! both. It owns the text form only: what a file's keys mean is its module's business.
//!
//! Read: one document of block mappings and sequences (a mapping's sequence may sit at
//! its key's indentation, `- key: v` nests a mapping), `? key` / `: value` for text keys,
//! flow `[a, b]` / `{a: 1}`, plain, `'single'` and `"double"` (every YAML escape)
//! scalars folded over lines, `|` and `>` block scalars with chomping and indentation
//! indicators, comments, `---` and `...`. Plain scalars resolve as PyYAML's
//! `safe_load` does (YAML 1.1): `~`/`null`/empty, `true`/`yes`/`on`…, ints in decimal,
//! `0x`, `0b` and `0`-octal, floats with a dot, `.inf`/`.nan`; dates and `1:30` stay
//! strings. Keys are strings as written. Anchors, aliases, tags, collections as keys,
//! directives, several documents, duplicate keys, tabs in indentation and control
//! characters are errors naming the line and column.
//!
//! Written: as PyYAML's `safe_dump(sort_keys=False, allow_unicode=True)` writes it,
//! byte for byte but for two things: long lines are not wrapped, and a string with
//! line breaks is written `"a\nb"` where PyYAML folds it in single quotes. Strings are
//! quoted only where PyYAML would read them as something else (`'yes'`, `'123'`, `''`,
//! `'a: b'`, dates…).

mod read;
mod scalar;
mod write;

pub use read::MAX_DEPTH;

use crate::json::{Value, python_float_repr};

/// Where something is in the text; both count from 1, columns in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at line {} column {}", at.line, at.column)]
pub struct Error {
    pub at: Mark,
    pub reason: &'static str,
}

/// A parsed file, and where each of its nodes starts: for errors about a value that is
/// valid YAML but not what the file's reader expects.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub value: Value,
    /// One per node, in document order (a node, then its children).
    marks: Vec<Mark>,
}

impl Document {
    /// Where the node at `path` (mapping keys from the top) starts.
    pub fn mark(&self, path: &[&str]) -> Option<Mark> {
        let (mut node, mut index) = (&self.value, 0);
        for key in path {
            index += 1;
            let mut found = None;
            for (k, value) in node.as_object()?.iter() {
                if k == *key {
                    found = Some(value);
                    break;
                }
                index += node_count(value);
            }
            node = found?;
        }
        self.marks.get(index).copied()
    }
}

fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(object) => object.iter().map(|(_, v)| node_count(v)).sum(),
        _ => 0,
    }
}

/// One YAML document (UTF-8); an empty one is `Null`.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    parse_document(bytes).map(|document| document.value)
}

pub fn parse_document(bytes: &[u8]) -> Result<Document, Error> {
    read::document(bytes)
}

/// `value` as a YAML file, ending in a line break.
pub fn dump(value: &Value) -> String {
    write::dump(value)
}

/// A string, or a number as text (floats in Python's spelling) — for text fields a
/// hand-written file may leave unquoted (`address: 7423`).
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Int(n) => Some(n.as_str().to_owned()),
        Value::Float(f) => Some(python_float_repr(*f)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
