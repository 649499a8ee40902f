//! The IMAP response line parsers (literal announcements, quoted strings, response
//! codes, SEARCH and FETCH results, EXISTS).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = alpi::daemon::gateway::email::imap::parse_lines(&text);
});
