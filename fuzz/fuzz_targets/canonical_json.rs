//! Our JSON parser, and canonical JSON as a fixed point: parsing the canonical form
//! gives the same value, whose canonical form is the same bytes.
#![no_main]
use alpi::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = json::parse(data) else { return };
    let canonical = value.canonical();
    let again = json::parse(&canonical).expect("canonical JSON parses");
    assert_eq!(again.canonical(), canonical, "canonical JSON is a fixed point");
    let _ = json::parse(&value.wire()).expect("wire JSON parses");
});
