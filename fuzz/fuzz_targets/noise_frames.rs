//! The Noise transport frame reader: length headers (oversize refused before the body),
//! bodies opened with a session key, and a responder reading a handshake message.
#![no_main]
use alpi::alp::identity::Keypair;
use alpi::alp::transport::noise::{CipherState, Handshake, transport_frame, transport_frame_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut responder = Handshake::responder(&Keypair::from_seed([1; 32])).unwrap();
    let _ = responder.read(data);
    let mut cipher = CipherState::new([2; 32]);
    let mut rest = data;
    while rest.len() >= 4 {
        let Ok(len) = transport_frame_len([rest[0], rest[1], rest[2], rest[3]]) else { break };
        let Some(body) = rest.get(4..4 + len) else { break };
        if cipher.decrypt(body).is_ok() {
            unreachable!("a forged frame opened");
        }
        rest = &rest[4 + len..];
    }
    let mut sealer = CipherState::new([3; 32]);
    let mut opener = CipherState::new([3; 32]);
    if let Ok(sealed) = sealer.encrypt(data) {
        let frame = transport_frame(&sealed);
        let len = transport_frame_len(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(opener.decrypt(&frame[4..4 + len]).unwrap(), data);
    }
});
