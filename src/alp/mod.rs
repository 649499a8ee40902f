//! ALP, the signed agent-to-agent link protocol: identities now; envelopes, peers and
//! transports as they land. Knows nothing of the CLI.

pub mod identity;
