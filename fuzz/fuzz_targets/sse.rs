//! The SSE decoder of provider streams, fed in pieces of every size.
#![no_main]
use alpi::agent::provider::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else { return };
    let mut whole = SseDecoder::with_limit(4096);
    let mut pieces = SseDecoder::with_limit(4096);
    let a = whole.feed(body).and_then(|mut e| {
        whole.finish().map(|f| {
            e.extend(f);
            e
        })
    });
    let mut events = Vec::new();
    let mut failed = false;
    for chunk in body.chunks(usize::from(step).max(1)) {
        match pieces.feed(chunk) {
            Ok(e) => events.extend(e),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if !failed && let (Ok(a), Ok(rest)) = (a, pieces.finish()) {
        events.extend(rest);
        assert_eq!(format!("{a:?}"), format!("{events:?}"), "splitting the stream changes nothing");
    }
});
