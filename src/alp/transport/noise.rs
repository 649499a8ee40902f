//! Noise_XK_25519_ChaChaPoly_SHA256 for ALP.2 (spec §6), sans-I/O: handshake messages
//! and transport frames in, bytes out; the caller owns the socket and the clock.
//!
//! `snow` runs the handshake. Transport messages are sealed here, because ALP frames
//! carry up to 1 MiB in one ChaCha20-Poly1305 message (nonce = 4 zero bytes ‖ u64-LE
//! counter, empty AD) and Noise libraries stop at 64 KiB; the original does the same.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroizing;

use crate::alp::identity::{Identity, Keypair};

pub const PROTOCOL: &str = "Noise_XK_25519_ChaChaPoly_SHA256";
/// Largest transport frame body (ciphertext with its tag).
pub const MAX_FRAME: usize = 1024 * 1024;
/// Largest handshake message (`u16` length prefix).
pub const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;
const TAG: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoiseError {
    #[error("noise handshake failed: {0}")]
    Handshake(String),
    #[error("frame of {0} bytes is over the 1 MiB limit")]
    TooLarge(usize),
    #[error("frame did not decrypt")]
    Decrypt,
    #[error("nonce exhausted; a new session is needed")]
    Exhausted,
    #[error("the peer's key is not a valid curve point")]
    BadPeerKey,
}

impl From<snow::Error> for NoiseError {
    fn from(e: snow::Error) -> Self {
        NoiseError::Handshake(e.to_string())
    }
}

/// A handshake in progress, on either side.
pub struct Handshake {
    state: snow::HandshakeState,
}

impl Handshake {
    /// Initiator towards the peer whose identity is `responder`.
    pub fn initiator(me: &Keypair, responder: &Identity) -> Result<Self, NoiseError> {
        Self::initiator_with(me, responder, None)
    }

    /// Responder with this profile's key.
    pub fn responder(me: &Keypair) -> Result<Self, NoiseError> {
        Self::responder_with(me, None)
    }

    /// Initiator with a fixed ephemeral key: test vectors only.
    pub fn initiator_with(
        me: &Keypair,
        responder: &Identity,
        ephemeral: Option<&[u8; 32]>,
    ) -> Result<Self, NoiseError> {
        let remote = responder.x25519_public().ok_or(NoiseError::BadPeerKey)?;
        let private = me.x25519_private();
        let mut builder = builder().local_private_key(private.as_ref())?.remote_public_key(&remote)?;
        if let Some(e) = ephemeral {
            builder = builder.fixed_ephemeral_key_for_testing_only(e);
        }
        Ok(Self { state: builder.build_initiator()? })
    }

    /// Responder with a fixed ephemeral key: test vectors only.
    pub fn responder_with(me: &Keypair, ephemeral: Option<&[u8; 32]>) -> Result<Self, NoiseError> {
        let private = me.x25519_private();
        let mut builder = builder().local_private_key(private.as_ref())?;
        if let Some(e) = ephemeral {
            builder = builder.fixed_ephemeral_key_for_testing_only(e);
        }
        Ok(Self { state: builder.build_responder()? })
    }

    /// The next handshake message to send (empty payload).
    pub fn write(&mut self) -> Result<Vec<u8>, NoiseError> {
        let mut buf = vec![0u8; 128];
        let n = self.state.write_message(&[], &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Takes the peer's handshake message; its payload must be empty.
    pub fn read(&mut self, message: &[u8]) -> Result<(), NoiseError> {
        let mut payload = vec![0u8; message.len()];
        let n = self.state.read_message(message, &mut payload)?;
        if n != 0 {
            return Err(NoiseError::Handshake("unexpected handshake payload".into()));
        }
        Ok(())
    }

    pub fn is_finished(&self) -> bool {
        self.state.is_handshake_finished()
    }

    /// The session keys, once the three messages are through.
    pub fn finish(mut self) -> Result<Session, NoiseError> {
        if !self.is_finished() {
            return Err(NoiseError::Handshake("handshake not finished".into()));
        }
        let mut remote_static = [0u8; 32];
        remote_static.copy_from_slice(self.state.get_remote_static().ok_or(NoiseError::BadPeerKey)?);
        let handshake_hash = self.state.get_handshake_hash().to_vec();
        let initiator = self.state.is_initiator();
        let (i_to_r, r_to_i) = self.state.dangerously_get_raw_split();
        let (send, recv) = if initiator { (i_to_r, r_to_i) } else { (r_to_i, i_to_r) };
        Ok(Session {
            send: CipherState::new(send),
            recv: CipherState::new(recv),
            remote_static,
            handshake_hash,
        })
    }
}

fn builder() -> snow::Builder<'static> {
    snow::Builder::new(PROTOCOL.parse().expect("a valid Noise protocol name"))
}

/// An established session: one cipher per direction and who is on the other end.
pub struct Session {
    pub send: CipherState,
    pub recv: CipherState,
    /// The peer's X25519 static key, authenticated by the handshake.
    pub remote_static: [u8; 32],
    pub handshake_hash: Vec<u8>,
}

/// One direction's key and message counter.
pub struct CipherState {
    cipher: ChaCha20Poly1305,
    key: Zeroizing<[u8; 32]>,
    n: u64,
}

impl CipherState {
    pub fn new(key: [u8; 32]) -> Self {
        let key = Zeroizing::new(key);
        Self { cipher: ChaCha20Poly1305::new(Key::from_slice(key.as_ref())), key, n: 0 }
    }

    fn nonce(&self) -> Result<Nonce, NoiseError> {
        if self.n == u64::MAX {
            return Err(NoiseError::Exhausted);
        }
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.n.to_le_bytes());
        Ok(*Nonce::from_slice(&nonce))
    }

    /// Seals one message (empty AD).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if plaintext.len() + TAG > MAX_FRAME {
            return Err(NoiseError::TooLarge(plaintext.len() + TAG));
        }
        let sealed = self.cipher.encrypt(&self.nonce()?, Payload { msg: plaintext, aad: &[] });
        self.n += 1;
        sealed.map_err(|_| NoiseError::Decrypt)
    }

    /// Opens one message; a forged or reordered one fails and the session must end.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let opened = self.cipher.decrypt(&self.nonce()?, Payload { msg: ciphertext, aad: &[] });
        let plaintext = opened.map_err(|_| NoiseError::Decrypt)?;
        self.n += 1;
        Ok(plaintext)
    }

    /// The raw key (test vectors).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

/// `u16`-BE length ‖ message.
pub fn handshake_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = (message.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(message);
    frame
}

/// `u32`-BE length ‖ ciphertext.
pub fn transport_frame(ciphertext: &[u8]) -> Vec<u8> {
    let mut frame = (ciphertext.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(ciphertext);
    frame
}

/// The body length a transport frame header announces, refusing oversize ones before
/// a byte of the body is read.
pub fn transport_frame_len(header: [u8; 4]) -> Result<usize, NoiseError> {
    let n = u32::from_be_bytes(header) as usize;
    if n > MAX_FRAME { Err(NoiseError::TooLarge(n)) } else { Ok(n) }
}
