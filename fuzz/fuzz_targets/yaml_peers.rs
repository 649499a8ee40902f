//! peers.yaml and pending_peers.yaml as the daemon loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (peers, pending) = alpi::alp::peers::parse_lists(data);
    for peer in peers.iter().flatten() {
        let _ = (peer.may_call("link.ping"), peer.allowed_tools(), peer.per_minute());
    }
    let _ = pending;
});
