//! A getUpdates answer decoded into the messages the gateway acts on.
#![no_main]
use alpi::json::{self, Value};
use alpi::daemon::gateway::telegram::Incoming;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = json::parse(data) else { return };
    let result = answer.get("result").cloned().unwrap_or(answer);
    for update in result.as_array().map(<[Value]>::to_vec).unwrap_or_default() {
        let _ = Incoming::decode(&update);
    }
});
