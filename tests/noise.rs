//! Our Noise_XK against the original alpi's own handshake (tests/vectors/original/
//! noise_xk.json, made by its independent Noise implementation with fixed ephemerals):
//! every handshake byte, the handshake hash, both transport keys and the transport
//! ciphertexts must match.

use std::path::Path;

use alpi::alp::identity::Keypair;
use alpi::alp::transport::noise::{self, CipherState, Handshake, NoiseError};
use alpi::json::{self, Value};

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/original/noise_xk.json");
    json::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn hex(v: &Value, key: &str) -> Vec<u8> {
    let s = v.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("{key}"));
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn arr32(bytes: Vec<u8>) -> [u8; 32] {
    bytes.try_into().unwrap()
}

#[test]
fn handshake_matches_the_original_byte_for_byte() {
    let v = vectors();
    assert_eq!(v.get("protocol").and_then(Value::as_str), Some(noise::PROTOCOL));
    let initiator = Keypair::from_seed(arr32(hex(&v, "initiator_seed_hex")));
    let responder = Keypair::from_seed(arr32(hex(&v, "responder_seed_hex")));
    let ie = arr32(hex(&v, "initiator_ephemeral_private_hex"));
    let re = arr32(hex(&v, "responder_ephemeral_private_hex"));

    let mut i = Handshake::initiator_with(&initiator, responder.identity(), Some(&ie)).unwrap();
    let mut r = Handshake::responder_with(&responder, Some(&re)).unwrap();
    let msg1 = i.write().unwrap();
    assert_eq!(msg1, hex(&v, "msg1_hex"));
    assert_eq!(noise::handshake_frame(&msg1), hex(&v, "msg1_frame_hex"));
    r.read(&msg1).unwrap();
    let msg2 = r.write().unwrap();
    assert_eq!(msg2, hex(&v, "msg2_hex"));
    assert_eq!(noise::handshake_frame(&msg2), hex(&v, "msg2_frame_hex"));
    i.read(&msg2).unwrap();
    let msg3 = i.write().unwrap();
    assert_eq!(msg3, hex(&v, "msg3_hex"));
    assert_eq!(noise::handshake_frame(&msg3), hex(&v, "msg3_frame_hex"));
    r.read(&msg3).unwrap();
    assert_eq!([msg1.len(), msg2.len(), msg3.len()], [48, 48, 64]);

    let mut i = i.finish().unwrap();
    let mut r = r.finish().unwrap();
    assert_eq!(i.handshake_hash, hex(&v, "handshake_hash_hex"));
    assert_eq!(r.handshake_hash, i.handshake_hash);
    assert_eq!(i.send.key().to_vec(), hex(&v, "k_initiator_to_responder_hex"));
    assert_eq!(i.recv.key().to_vec(), hex(&v, "k_responder_to_initiator_hex"));
    assert_eq!(r.recv.key(), i.send.key());
    // Each side learns who the other is: the responder the initiator's derived X25519 key.
    assert_eq!(Some(r.remote_static), initiator.identity().x25519_public());
    assert_eq!(Some(i.remote_static), responder.identity().x25519_public());

    for t in v.get("transport").and_then(Value::as_array).unwrap() {
        let plaintext = t.get("plaintext").and_then(Value::as_str).unwrap().as_bytes();
        let expected = hex(t, "ciphertext_hex");
        let (sender, receiver) = match t.get("dir").and_then(Value::as_str).unwrap() {
            "i->r" => (&mut i.send, &mut r.recv),
            _ => (&mut r.send, &mut i.recv),
        };
        let sealed = sender.encrypt(plaintext).unwrap();
        assert_eq!(sealed, expected);
        if t.get("bulk_frame_hex").is_some() {
            assert_eq!(noise::transport_frame(&sealed), hex(t, "bulk_frame_hex"));
        }
        assert_eq!(receiver.decrypt(&sealed).unwrap(), plaintext);
    }
}

#[test]
fn tampering_reordering_and_oversize_are_refused() {
    let (a, b) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
    let mut i = Handshake::initiator(&a, b.identity()).unwrap();
    let mut r = Handshake::responder(&b).unwrap();
    r.read(&i.write().unwrap()).unwrap();
    i.read(&r.write().unwrap()).unwrap();
    r.read(&i.write().unwrap()).unwrap();
    let (mut i, mut r) = (i.finish().unwrap(), r.finish().unwrap());

    let first = i.send.encrypt(b"one").unwrap();
    let second = i.send.encrypt(b"two").unwrap();
    assert_eq!(r.recv.decrypt(&second), Err(NoiseError::Decrypt), "out of order");
    let mut flipped = first.clone();
    flipped[0] ^= 1;
    assert_eq!(r.recv.decrypt(&flipped), Err(NoiseError::Decrypt));
    assert_eq!(r.recv.decrypt(&first).unwrap(), b"one");

    // One envelope up to 1 MiB travels in one frame (more than Noise's usual 64 KiB).
    let big = vec![b'x'; noise::MAX_FRAME - 16];
    let sealed = i.send.encrypt(&big).unwrap();
    assert_eq!(sealed.len(), noise::MAX_FRAME);
    assert!(matches!(i.send.encrypt(&vec![0; noise::MAX_FRAME - 15]), Err(NoiseError::TooLarge(_))));
    assert!(noise::transport_frame_len((noise::MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
    assert_eq!(noise::transport_frame_len((noise::MAX_FRAME as u32).to_be_bytes()), Ok(noise::MAX_FRAME));

    // The wrong responder key fails the handshake instead of talking to an impostor.
    let c = Keypair::from_seed([3; 32]);
    let mut i = Handshake::initiator(&a, c.identity()).unwrap();
    let mut r = Handshake::responder(&b).unwrap();
    assert!(r.read(&i.write().unwrap()).is_err());
    let _ = CipherState::new([0; 32]);
}
