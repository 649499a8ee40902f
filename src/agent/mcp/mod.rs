//! Local MCP (Model Context Protocol) servers as agent tools: `mcp.servers` in
//! config.yaml names programs that speak JSON-RPC 2.0 over their stdin and stdout.
//!
//! - [`protocol`]: the messages, sans-I/O — requests as lines, lines as messages, tool
//!   results as text, and the `mcp__<server>__<tool>` names the model sees.
//! - [`config`]: the `mcp.servers` entries, with `env:NAME` values from the profile's `.env`.
//! - [`client`]: one running server — its process group, a reader, a writer, its stderr
//!   in `logs/mcp-<name>.log`, requests with timeouts.
//! - [`registry`]: the servers of this process, one per profile and name, started on
//!   first use, restarted with backoff after a crash, stopped when alpi ends; and the
//!   [`Toolbox`] a turn offers the model.

pub mod client;
pub mod config;
pub mod protocol;
pub mod registry;

pub use config::ServerConfig;
pub use registry::{McpTool, ServerReport, Toolbox, stop_all, stop_profile, warm_up};

/// Why a server could not be started, listed or called, worded for the user.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum McpError {
    #[error("{key}: {problem}")]
    Config { key: String, problem: String },
    #[error("`{0}` is not set in the profile's .env or the environment")]
    MissingSecret(String),
    #[error("command `{0}` not found — is it installed and on PATH? (mcp.servers.<name>.command)")]
    CommandNotFound(String),
    #[error("cannot start `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("wrote something that is not JSON-RPC on stdout: {0}")]
    NotJsonRpc(String),
    #[error("speaks MCP protocol version {0:?}; alpi speaks {versions}", versions = protocol::SUPPORTED_VERSIONS.join(", "))]
    ProtocolVersion(String),
    #[error("no answer to {method} within {seconds} s")]
    Timeout { method: String, seconds: u64 },
    #[error("{0} was interrupted")]
    Interrupted(String),
    #[error("{0}")]
    Gone(String),
    #[error("answered {method} with an error: {message} ({code})")]
    Rpc { method: String, code: i64, message: String },
    #[error("answered {method} with something unexpected: {what}")]
    Shape { method: String, what: &'static str },
    #[error("{reason}; next try in {seconds} s")]
    Backoff { reason: String, seconds: u64 },
}
