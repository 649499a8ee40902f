//! The agent turn: providers, tools, approval, budget — arriving piece by piece; approval first.

pub mod approval;
pub mod compact;
pub mod ledger;
pub mod mcp;
pub mod memory;
pub mod mentions;
pub mod model;
pub mod peer_turns;
pub mod provider;
pub mod redact;
pub mod run;
pub mod session;
pub mod tools;
pub mod turn;
