//! The Noise static key derived from an Ed25519 identity (ALP spec §1): never stored.

use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

/// X25519 private key: SHA-512(seed)[0..32], clamped.
pub fn private_from_seed(seed: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut digest = Sha512::digest(seed);
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&digest[..32]);
    digest.as_mut_slice().zeroize();
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
    key
}

/// X25519 public key of an Ed25519 public key: the Montgomery u of its point,
/// u = (1+y)/(1−y), as libsodium's `crypto_sign_ed25519_pk_to_curve25519`.
/// `None` when the bytes are not a point on the curve.
pub fn public_from_ed25519(public: &[u8; 32]) -> Option<[u8; 32]> {
    let point = CompressedEdwardsY(*public).decompress()?;
    Some(point.to_montgomery().to_bytes())
}

/// X25519 public key of an X25519 private key (base-point multiplication).
pub fn public_from_private(private: &[u8; 32]) -> [u8; 32] {
    curve25519_dalek::MontgomeryPoint::mul_base_clamped(*private).to_bytes()
}
