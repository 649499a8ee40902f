//! Outbound networking shared by every client: name resolution, the HTTP(S) client,
//! and the line-oriented stream the mail protocols use.

pub mod dns;
pub mod http;
pub mod stream;

/// This machine's host name (`gethostname`), if it has a usable one.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the name is NUL-terminated within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (rc == 0 && !name.is_empty()).then(|| name.to_owned())
}
