//! The agent turn: providers, tools, approval, budget — arriving piece by piece; approval first.

pub mod approval;
pub mod ledger;
pub mod memory;
pub mod redact;
pub mod session;
