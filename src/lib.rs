//! alpi: a personal AI agent runtime in one small static binary.
//!
//! Layers point inward: `cli` uses everything; `profile` and `alp` know nothing of the
//! CLI; `fsio`, `clock`, `logging` and `yaml` are the shared ground floor.

pub mod agent;
pub mod alp;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod daemon;
pub mod fsio;
pub mod json;
pub mod logging;
pub mod net;
pub mod profile;
pub mod repl;
pub mod schedule;
pub mod signals;
pub mod yaml;
