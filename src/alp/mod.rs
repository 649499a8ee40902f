//! ALP, the signed agent-to-agent link protocol: identities, the wire format, pinned
//! peers, replay and rate limits, dispatch and the `link.*` methods. Knows nothing of
//! the CLI.

pub mod ask;
pub mod audit;
pub mod blobs;
pub mod client;
pub mod dispatch;
pub mod identity;
pub mod limits;
pub mod methods;
pub mod peers;
pub mod replay;
pub mod transport;
pub mod wire;
pub mod workgroup;
