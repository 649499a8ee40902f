//! Envelope parse and verify (spec §2 checks 1–4) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = alpi::clock::now_micros();
    let _ = alpi::alp::wire::envelope::authenticate(data, now);
});
