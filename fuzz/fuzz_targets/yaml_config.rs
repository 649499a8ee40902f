//! config.yaml as every command loads it, and any YAML the reader accepts written out
//! and read back to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = alpi::yaml::parse(data) {
        let written = alpi::yaml::dump(&value);
        let reread = alpi::yaml::parse(written.as_bytes()).expect("the writer's output reads back");
        // Compared as text: NaN is not equal to itself.
        assert_eq!(alpi::yaml::dump(&reread), written);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = alpi::profile::config::Config::parse(std::path::Path::new("config.yaml"), text) {
        let _ = (config.unknown_keys(), config.tcp_port(true), config.tcp_port(false));
    }
});
