//! Audit forwarding, the sending side: a profile's agent and approval log records go
//! to its `audit.hub` peer over ALP (`audit.push`) and/or to a syslog server, each
//! sink with a cursor of its own that moves only after a batch was delivered. The hub
//! side lives in [`crate::alp::audit`].

pub mod forward;
pub mod source;
pub mod syslog;
