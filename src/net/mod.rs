//! Outbound networking shared by every client: name resolution now; the HTTP client later.

pub mod dns;
