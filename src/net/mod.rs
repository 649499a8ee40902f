//! Outbound networking shared by every client: name resolution and the HTTP(S) client.

pub mod dns;
pub mod http;
