//! Ed25519 by `ed25519-dalek` (the default): shares its curve code with the Noise stack.

use std::cell::Cell;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

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

pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    verifying_key(public)
        .is_some_and(|key| key.verify_strict(message, &Signature::from_bytes(signature)).is_ok())
}

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
        let key = VerifyingKey::from_bytes(public).ok()?;
        last.set(Some(key));
        Some(key)
    })
}
