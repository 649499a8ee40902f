//! ALP bytes on the wire: signed envelopes (their JSON forms are `crate::json`'s) and
//! the hex text of nonces, ids and digests.

pub mod envelope;

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
