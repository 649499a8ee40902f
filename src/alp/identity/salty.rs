//! Ed25519 by `salty` (`--features salty`): the design card's crate, for
//! microcontroller-class targets where its assembly path is fast.

pub struct SecretKey(salty::Keypair);

impl SecretKey {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(salty::Keypair::from(seed))
    }

    pub fn public(&self) -> [u8; 32] {
        self.0.public.to_bytes()
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    salty::PublicKey::try_from(public)
        .map(|key| key.verify(message, &salty::Signature::from(signature)).is_ok())
        .unwrap_or(false)
}
