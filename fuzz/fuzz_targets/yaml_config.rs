//! config.yaml as every command loads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = alpi::profile::config::Config::parse(std::path::Path::new("config.yaml"), text) {
        let _ = (config.unknown_keys(), config.tcp_port(true), config.tcp_port(false));
    }
});
