//! Ed25519 by `ed25519-dalek` (the default): shares its curve code with the Noise stack.

use std::cell::Cell;
use std::sync::LazyLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

pub struct SecretKey(SigningKey);

impl SecretKey {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// Accepts what `verify_strict` accepts — no small-order `R` or key — for a sixth less
/// time: `verify` compares `R` with the canonical encoding it computes, so checking its
/// bytes against the eight small-order encodings (as libsodium does) replaces
/// decompressing it. Keys are checked once, when decompressed.
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let r = &signature[..32];
    !SMALL_ORDER.iter().any(|point| point == r)
        && verifying_key(public)
            .is_some_and(|key| key.verify(message, &Signature::from_bytes(signature)).is_ok())
}

/// The canonical encodings of the eight points of small order (the 8-torsion).
static SMALL_ORDER: LazyLock<[[u8; 32]; 8]> =
    LazyLock::new(|| EIGHT_TORSION.map(|point| point.compress().to_bytes()));

thread_local! {
    /// The key this thread verified with last. Decompressing a key is a tenth of a
    /// verification, and a thread mostly hears from the same peer again.
    static LAST_KEY: Cell<Option<VerifyingKey>> = const { Cell::new(None) };
}

fn verifying_key(public: &[u8; 32]) -> Option<VerifyingKey> {
    LAST_KEY.with(|last| {
        if let Some(key) = last.get().filter(|key| key.as_bytes() == public) {
            return Some(key);
        }
        let key = VerifyingKey::from_bytes(public).ok().filter(|key| !key.is_weak())?;
        last.set(Some(key));
        Some(key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signature whose `R` and key are small order verifies under plain `verify`
    /// (R = identity, A = identity, s = 0 satisfies the equation for any message);
    /// ours refuses it, as `verify_strict` does.
    #[test]
    fn small_order_signatures_are_refused_like_verify_strict() {
        let mut identity = [0u8; 32];
        identity[0] = 1; // y = 1, the neutral point
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&identity);
        let key = VerifyingKey::from_bytes(&identity).unwrap();
        let sig = Signature::from_bytes(&signature);
        assert!(key.verify(b"anything", &sig).is_ok());
        assert!(key.verify_strict(b"anything", &sig).is_err());
        assert!(!verify(&identity, b"anything", &signature));
        // An honest key with a small-order R is refused before any curve arithmetic.
        let honest = SecretKey::from_seed(&[9; 32]);
        let mut forged = honest.sign(b"m");
        forged[..32].copy_from_slice(&SMALL_ORDER[3]);
        assert!(!verify(&honest.public(), b"m", &forged));
        assert!(verify(&honest.public(), b"m", &honest.sign(b"m")));
    }
}
