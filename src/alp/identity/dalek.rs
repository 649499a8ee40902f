//! Ed25519 by `ed25519-dalek` (the default): shares its curve code with the Noise stack.

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
    VerifyingKey::from_bytes(public)
        .map(|key| key.verify_strict(message, &Signature::from_bytes(signature)).is_ok())
        .unwrap_or(false)
}
