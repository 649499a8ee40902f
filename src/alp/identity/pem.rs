//! The two PEM files of an identity, byte-compatible with Python `cryptography`:
//! PKCS#8 v1 `PRIVATE KEY` (RFC 8410) and SubjectPublicKeyInfo `PUBLIC KEY`.

use base64ct::{Base64, Encoding};

/// DER of `OneAsymmetricKey { v1, id-Ed25519, OCTET STRING { OCTET STRING seed } }`
/// up to the seed.
const PKCS8_V1_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
/// The same structure as v2 (OpenSSL 3 and others may add the public key, `[1]`).
const PKCS8_V2_PREFIX: [u8; 16] =
    [0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const PKCS8_V2_PUBLIC_TAG: [u8; 3] = [0x81, 0x21, 0x00];
/// DER of `SubjectPublicKeyInfo { id-Ed25519, BIT STRING }` up to the key.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

const PRIVATE_LABEL: &str = "PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PemError {
    #[error("no PEM block labelled {0:?}")]
    MissingBlock(&'static str),
    #[error("PEM body is not valid base64")]
    Base64,
    #[error("not an unencrypted Ed25519 key (RFC 8410)")]
    NotEd25519,
}

/// The PKCS#8 PEM of an Ed25519 seed, exactly as `cryptography` writes it.
pub fn encode_private(seed: &[u8; 32]) -> String {
    let mut der = PKCS8_V1_PREFIX.to_vec();
    der.extend_from_slice(seed);
    let pem = armor(PRIVATE_LABEL, &der);
    der.fill(0);
    pem
}

/// The SubjectPublicKeyInfo PEM of an Ed25519 public key.
pub fn encode_public(public: &[u8; 32]) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(public);
    armor(PUBLIC_LABEL, &der)
}

/// The seed inside a PKCS#8 (v1, or v2 with the public key attached) PEM.
pub fn decode_private(pem: &str) -> Result<[u8; 32], PemError> {
    let mut der = unarmor(PRIVATE_LABEL, pem)?;
    let seed = match der.len() {
        48 if der[..16] == PKCS8_V1_PREFIX => Ok(take32(&der[16..])),
        83 if der[..16] == PKCS8_V2_PREFIX && der[48..51] == PKCS8_V2_PUBLIC_TAG => Ok(take32(&der[16..])),
        _ => Err(PemError::NotEd25519),
    };
    der.fill(0);
    seed
}

/// The key inside a SubjectPublicKeyInfo PEM.
pub fn decode_public(pem: &str) -> Result<[u8; 32], PemError> {
    let der = unarmor(PUBLIC_LABEL, pem)?;
    if der.len() == 44 && der[..12] == SPKI_PREFIX {
        Ok(take32(&der[12..]))
    } else {
        Err(PemError::NotEd25519)
    }
}

fn take32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

fn armor(label: &str, der: &[u8]) -> String {
    let body = Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn unarmor(label: &'static str, pem: &str) -> Result<Vec<u8>, PemError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or(PemError::MissingBlock(label))? + begin.len();
    let stop = pem[start..].find(&end).ok_or(PemError::MissingBlock(label))? + start;
    let body: String = pem[start..stop].split_whitespace().collect();
    Base64::decode_vec(&body).map_err(|_| PemError::Base64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_files() {
        let seed = [7u8; 32];
        assert_eq!(decode_private(&encode_private(&seed)), Ok(seed));
        assert_eq!(decode_public(&encode_public(&seed)), Ok(seed));
    }

    #[test]
    fn rejects_other_key_types_and_labels() {
        let rsa_like = armor(PRIVATE_LABEL, &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert_eq!(decode_private(&rsa_like), Err(PemError::NotEd25519));
        assert_eq!(decode_private(&encode_public(&[1; 32])), Err(PemError::MissingBlock(PRIVATE_LABEL)));
        let bad = "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n";
        assert_eq!(decode_public(bad), Err(PemError::Base64));
    }
}
