//! Room crypto against vectors made by the original alpi's own functions and an
//! independent implementation (tests/vectors/gen_workgroup.py): group-key sealing and
//! post encryption byte for byte, and opening what Python sealed with its own randomness.

use alpi::alp::identity::{Identity, Keypair};
use alpi::alp::workgroup::crypto::{self, CryptoError};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/workgroup.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    let hex = v[key].as_str().unwrap();
    let out: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    out.try_into().unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap()
}

#[test]
fn sealing_matches_the_original_byte_for_byte() {
    let all = vectors();
    let seals = all["seal"].as_array().unwrap();
    assert!(seals.len() >= 4);
    for v in seals {
        let me = Keypair::from_seed(bytes(v, "seed"));
        let recipient: Identity = text(v, "pubkey").parse().unwrap();
        assert_eq!(me.identity(), &recipient);
        let group_key: [u8; 32] = bytes(v, "group_key");
        let sealed =
            crypto::seal_with(&group_key, &recipient, &bytes(v, "ephemeral"), &bytes(v, "nonce")).unwrap();
        assert_eq!(sealed, text(v, "sealed"));
        assert_eq!(*crypto::open(text(v, "sealed"), &me).unwrap(), group_key);
        assert_eq!(
            *crypto::open(text(v, "sealed_random"), &me).unwrap(),
            group_key,
            "Python's own randomness"
        );
        let stranger = Keypair::from_seed([9; 32]);
        assert_eq!(crypto::open(text(v, "sealed"), &stranger), Err(CryptoError::Auth));
    }
}

#[test]
fn posts_match_the_original_byte_for_byte() {
    for v in vectors()["post"].as_array().unwrap() {
        let key: [u8; 32] = bytes(v, "group_key");
        let nonce: Vec<u8> = base64_decode(text(v, "nonce"));
        let plaintext = text(v, "plaintext");
        let (n, c) =
            crypto::encrypt_post_with(&key, plaintext.as_bytes(), &nonce.try_into().unwrap()).unwrap();
        assert_eq!((n.as_str(), c.as_str()), (text(v, "nonce"), text(v, "ciphertext")));
        assert_eq!(crypto::decrypt_post(&key, &n, &c).unwrap(), plaintext.as_bytes());
        let mut tampered = key;
        tampered[0] ^= 1;
        assert_eq!(crypto::decrypt_post(&tampered, &n, &c), Err(CryptoError::Auth));
    }
}

#[test]
fn round_trips_with_fresh_randomness() {
    let me = Keypair::from_seed([4; 32]);
    let key = crypto::new_group_key().unwrap();
    let (a, b) = (crypto::seal(&key, me.identity()).unwrap(), crypto::seal(&key, me.identity()).unwrap());
    assert_ne!(a, b, "a fresh ephemeral key and nonce every time");
    assert_eq!(*crypto::open(&a, &me).unwrap(), *key);
    let (n1, c1) = crypto::encrypt_post(&key, b"same text").unwrap();
    let (n2, c2) = crypto::encrypt_post(&key, b"same text").unwrap();
    assert!(n1 != n2 && c1 != c2);
    assert_eq!(crypto::decrypt_post(&key, &n2, &c2).unwrap(), b"same text");
    assert_eq!(crypto::open("bm90IGEgc2VhbA==", &me), Err(CryptoError::Malformed));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64ct::{Base64, Encoding};
    Base64::decode_vec(s).unwrap()
}
