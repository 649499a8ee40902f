//! Room cryptography, byte for byte as the original (ALP spec §8): a 32-byte group key
//! sealed to each member's X25519 key (ephemeral X25519 → HKDF-SHA256 →
//! ChaCha20-Poly1305, AAD `seal`), and posts under the group key (AAD `post`).

use base64ct::{Base64, Encoding};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::MontgomeryPoint;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::alp::identity::{Identity, Keypair, x25519};

pub const GROUP_KEY_BYTES: usize = 32;
const HKDF_INFO: &[u8] = b"alp.workgroup.seal.v1";
const AAD_SEAL: &[u8] = b"seal";
const AAD_POST: &[u8] = b"post";
/// eph_pub(32) ‖ nonce(12) ‖ sealed key(32) ‖ tag(16).
pub const SEALED_BYTES: usize = 32 + 12 + GROUP_KEY_BYTES + 16;

pub type GroupKey = Zeroizing<[u8; GROUP_KEY_BYTES]>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("not a valid Ed25519 identity to seal to")]
    BadRecipient,
    #[error("sealed key is malformed")]
    Malformed,
    #[error("authentication failed")]
    Auth,
    #[error("the system's random source failed")]
    Random,
}

/// Fresh random bytes.
pub fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

pub fn new_group_key() -> Result<GroupKey, CryptoError> {
    Ok(Zeroizing::new(random()?))
}

/// Seals `key` to `recipient` with a fresh ephemeral key and nonce.
pub fn seal(key: &[u8; GROUP_KEY_BYTES], recipient: &Identity) -> Result<String, CryptoError> {
    seal_with(key, recipient, &Zeroizing::new(random()?), &random()?)
}

/// [`seal`] with the ephemeral private key and nonce given (test vectors).
pub fn seal_with(
    key: &[u8; GROUP_KEY_BYTES],
    recipient: &Identity,
    ephemeral: &[u8; 32],
    nonce: &[u8; 12],
) -> Result<String, CryptoError> {
    let recipient_x = recipient.x25519_public().ok_or(CryptoError::BadRecipient)?;
    let eph_pub = x25519::public_from_private(ephemeral);
    let shared = exchange(ephemeral, &recipient_x)?;
    let aead = seal_cipher(&shared, &eph_pub, &recipient_x);
    let sealed = aead
        .encrypt(Nonce::from_slice(nonce), Payload { msg: key, aad: AAD_SEAL })
        .map_err(|_| CryptoError::Auth)?;
    let mut blob = Vec::with_capacity(SEALED_BYTES);
    blob.extend_from_slice(&eph_pub);
    blob.extend_from_slice(nonce);
    blob.extend_from_slice(&sealed);
    Ok(Base64::encode_string(&blob))
}

/// Opens a sealed group key with this profile's derived X25519 key.
pub fn open(sealed_b64: &str, me: &Keypair) -> Result<GroupKey, CryptoError> {
    let blob = Base64::decode_vec(sealed_b64.trim()).map_err(|_| CryptoError::Malformed)?;
    if blob.len() < 32 + 12 + 16 {
        return Err(CryptoError::Malformed);
    }
    let eph_pub: [u8; 32] = blob[..32].try_into().expect("32 bytes");
    let my_private = me.x25519_private();
    let my_public = x25519::public_from_private(&my_private);
    let shared = exchange(&my_private, &eph_pub)?;
    let aead = seal_cipher(&shared, &eph_pub, &my_public);
    let plain = aead
        .decrypt(Nonce::from_slice(&blob[32..44]), Payload { msg: &blob[44..], aad: AAD_SEAL })
        .map_err(|_| CryptoError::Auth)?;
    let key: [u8; GROUP_KEY_BYTES] = plain.as_slice().try_into().map_err(|_| CryptoError::Malformed)?;
    Ok(Zeroizing::new(key))
}

/// A post under the group key: `(nonce_b64, ciphertext_b64)` with a fresh nonce.
pub fn encrypt_post(key: &[u8; GROUP_KEY_BYTES], plaintext: &[u8]) -> Result<(String, String), CryptoError> {
    encrypt_post_with(key, plaintext, &random()?)
}

/// [`encrypt_post`] with the nonce given (test vectors).
pub fn encrypt_post_with(
    key: &[u8; GROUP_KEY_BYTES],
    plaintext: &[u8],
    nonce: &[u8; 12],
) -> Result<(String, String), CryptoError> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let sealed = cipher
        .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad: AAD_POST })
        .map_err(|_| CryptoError::Auth)?;
    Ok((Base64::encode_string(nonce), Base64::encode_string(&sealed)))
}

pub fn decrypt_post(
    key: &[u8; GROUP_KEY_BYTES],
    nonce_b64: &str,
    ciphertext_b64: &str,
) -> Result<Vec<u8>, CryptoError> {
    let nonce = Base64::decode_vec(nonce_b64).map_err(|_| CryptoError::Malformed)?;
    let sealed = Base64::decode_vec(ciphertext_b64).map_err(|_| CryptoError::Malformed)?;
    decrypt_bytes(key, &nonce, &sealed)
}

/// Decrypts raw ciphertext (a file) under the group key with AAD `post`.
pub fn decrypt_bytes(
    key: &[u8; GROUP_KEY_BYTES],
    nonce: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if nonce.len() != 12 {
        return Err(CryptoError::Malformed);
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: AAD_POST })
        .map_err(|_| CryptoError::Auth)
}

/// X25519; an all-zero result (a low-order point) is refused, as `cryptography` does.
fn exchange(private: &[u8; 32], public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let shared = Zeroizing::new(MontgomeryPoint(*public).mul_clamped(*private).to_bytes());
    if shared.iter().all(|&b| b == 0) {
        return Err(CryptoError::Malformed);
    }
    Ok(shared)
}

fn seal_cipher(shared: &[u8; 32], eph_pub: &[u8; 32], recipient_x: &[u8; 32]) -> ChaCha20Poly1305 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(recipient_x);
    let key = hkdf_sha256_32(&salt, shared, HKDF_INFO);
    ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
}

/// HMAC-SHA256 (RFC 2104) for keys of at most one block (64 bytes), all we need.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    debug_assert!(key.len() <= 64);
    let mut pad = Zeroizing::new([0u8; 64]);
    pad[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(pad.map(|b| b ^ 0x36));
    parts.iter().for_each(|p| inner.update(p));
    let mut outer = Sha256::new();
    outer.update(pad.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    Zeroizing::new(outer.finalize().into())
}

/// HKDF-SHA256 (RFC 5869) with a 32-byte output: one expand block.
pub fn hkdf_sha256_32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = hmac_sha256(salt, &[ikm]);
    hmac_sha256(prk.as_ref(), &[info, &[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc_5869_case_1() {
        let salt: Vec<u8> = (0..=12).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_sha256_32(&salt, &[0x0b; 22], &info);
        assert_eq!(
            crate::alp::wire::hex(okm.as_slice()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn seal_and_post_round_trip() {
        let me = Keypair::from_seed([7; 32]);
        let key = new_group_key().unwrap();
        let sealed = seal(&key, me.identity()).unwrap();
        assert_eq!(Base64::decode_vec(&sealed).unwrap().len(), SEALED_BYTES);
        assert_eq!(*open(&sealed, &me).unwrap(), *key);
        assert_eq!(open(&sealed, &Keypair::from_seed([8; 32])), Err(CryptoError::Auth));
        let (nonce, ct) = encrypt_post(&key, "hé".as_bytes()).unwrap();
        assert_eq!(decrypt_post(&key, &nonce, &ct).unwrap(), "hé".as_bytes());
        assert_eq!(decrypt_post(&[0; 32], &nonce, &ct), Err(CryptoError::Auth));
    }
}
