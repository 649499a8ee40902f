//! Identity against vectors made elsewhere: the original alpi's own (tests/vectors/original)
//! and libsodium/`cryptography` ones (tests/vectors/python, from gen_python.py).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use alpi::alp::identity::{Identity, KeyFiles, Keypair, pem, x25519};
use serde_json::Value;

fn vectors(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(rel)
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(vectors(rel)).unwrap()).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    let s = v.as_str().unwrap();
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn check_key_vector(v: &Value) {
    let keys = Keypair::from_seed(hex32(&v["seed_hex"]));
    assert_eq!(keys.identity().to_string(), v["ed25519_public_b64"].as_str().unwrap());
    assert_eq!(hex(keys.x25519_private().as_ref()), v["x25519_private_hex"].as_str().unwrap());
    let x_pub = keys.identity().x25519_public().expect("a valid point");
    assert_eq!(hex(&x_pub), v["x25519_public_hex"].as_str().unwrap());
    assert_eq!(x25519::public_from_private(&keys.x25519_private()), x_pub);
}

#[test]
fn original_alpi_key_vectors() {
    let doc = json("original/keys.json");
    let keys = doc["keys"].as_array().unwrap();
    assert!(keys.len() >= 3);
    keys.iter().for_each(check_key_vector);
}

#[test]
fn libsodium_key_and_signature_vectors() {
    let doc = json("python/identity.json");
    let message = unhex(doc["message_hex"].as_str().unwrap());
    for v in doc["keys"].as_array().unwrap() {
        check_key_vector(v);
        let keys = Keypair::from_seed(hex32(&v["seed_hex"]));
        let sig = keys.sign(&message);
        // Ed25519 is deterministic: the same key and message give libsodium's bytes.
        let expected = v["signature_b64"].as_str().unwrap();
        assert_eq!(base64(&sig), expected);
        assert!(keys.identity().verifies(&message, &sig));
    }
}

#[test]
fn verification_rejects_tampering() {
    let keys = Keypair::from_seed([9; 32]);
    let other = Keypair::from_seed([10; 32]);
    let msg = b"link.ping";
    let mut sig = keys.sign(msg);
    assert!(keys.identity().verifies(msg, &sig));
    assert!(!keys.identity().verifies(b"link.pong", &sig));
    assert!(!other.identity().verifies(msg, &sig));
    sig[5] ^= 1;
    assert!(!keys.identity().verifies(msg, &sig));
}

#[test]
fn identity_strings_are_canonical_44_char_base64() {
    let id: Identity = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=".parse().unwrap();
    assert_eq!(id.short(), "A6EHv/PO…Mbg=");
    for bad in [
        "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg",  // no padding
        "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=", // url-safe alphabet
        "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh=", // non-zero trailing bits
        "",
    ] {
        assert!(bad.parse::<Identity>().is_err(), "{bad}");
    }
}

#[test]
fn pem_files_from_python_cryptography_load_and_are_reproduced_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("alp/secrets");
    fs::create_dir_all(&secrets).unwrap();
    let private_pem = fs::read_to_string(vectors("python/alp_key.pem")).unwrap();
    let public_pem = fs::read_to_string(vectors("python/alp_key.pub")).unwrap();
    let expected = fs::read_to_string(vectors("python/alp_key.identity")).unwrap();
    fs::write(secrets.join("alp_key.pem"), &private_pem).unwrap();
    fs::write(secrets.join("alp_key.pub"), &public_pem).unwrap();

    let files = KeyFiles::new(&secrets);
    let keys = files.load().unwrap();
    assert_eq!(keys.identity().to_string(), expected.trim());
    assert_eq!(files.read_identity().unwrap(), *keys.identity());
    assert_eq!(keys.private_pem().as_str(), private_pem);
    assert_eq!(keys.public_pem(), public_pem);
    let seed = pem::decode_private(&private_pem).unwrap();
    assert_eq!(pem::encode_private(&seed), private_pem);
}

#[test]
fn pkcs8_v2_with_embedded_public_key_loads() {
    // OpenSSL 3 `genpkey -algorithm ed25519` style v2 structure, built from the v1 vector.
    let v1 = fs::read_to_string(vectors("python/alp_key.pem")).unwrap();
    let seed = pem::decode_private(&v1).unwrap();
    let public = *Keypair::from_seed(seed).identity().as_bytes();
    let mut der =
        vec![0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&seed);
    der.extend_from_slice(&[0x81, 0x21, 0x00]);
    der.extend_from_slice(&public);
    let v2 = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", base64(&der));
    assert_eq!(pem::decode_private(&v2).unwrap(), seed);
}

#[test]
fn key_is_created_once_then_reloaded_and_public_file_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let files = KeyFiles::new(&dir.path().join("secrets"));
    let (first, created) = files.load_or_create().unwrap();
    assert!(created);
    assert_eq!(common::mode(&dir.path().join("secrets")), 0o700);
    assert_eq!(common::mode(&files.private_path()), 0o600);
    assert_eq!(common::mode(&files.public_path()), 0o644);
    let (again, created) = files.load_or_create().unwrap();
    assert!(!created);
    assert_eq!(again.identity(), first.identity());

    // The private file is the truth: a lost or wrong public file is rewritten from it.
    fs::remove_file(files.public_path()).unwrap();
    files.load_or_create().unwrap();
    assert_eq!(files.read_identity().unwrap(), *first.identity());
    fs::write(files.public_path(), Keypair::from_seed([1; 32]).public_pem()).unwrap();
    files.load_or_create().unwrap();
    assert_eq!(files.read_identity().unwrap(), *first.identity());
}

#[test]
fn corrupt_private_key_is_an_error_naming_the_file_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let files = KeyFiles::new(dir.path());
    fs::write(files.private_path(), "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n")
        .unwrap();
    let err = files.load_or_create().unwrap_err().to_string();
    assert!(err.contains("alp_key.pem") && err.contains("move the file aside"), "{err}");
    assert!(fs::read_to_string(files.private_path()).unwrap().contains("not base64!"));
}

#[test]
fn concurrent_first_use_agrees_on_one_identity() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| KeyFiles::new(&secrets).load_or_create().unwrap().0.identity().to_string()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
