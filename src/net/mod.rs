//! Outbound networking shared by every client: name resolution, the HTTP(S) client,
//! and the line-oriented stream the mail protocols use.

pub mod dns;
pub mod http;
pub mod stream;
