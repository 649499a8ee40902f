//! ALP bytes on the wire: the JSON value type with its Python-compatible canonical form
//! (what signatures cover) and compact wire form.

pub mod envelope;
pub mod json;

/// Lowercase hex, two digits a byte: nonces, ids, digests.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    text
}
