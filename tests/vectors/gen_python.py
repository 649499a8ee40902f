#!/usr/bin/env python3
"""Regenerates tests/vectors/python/: identity vectors made independently of alpi's code.

- identity.json: Ed25519 public keys, signatures and the Ed25519 -> X25519 derivation
  computed by libsodium (PyNaCl), for fixed seeds.
- alp_key.pem / alp_key.pub: a key pair written by Python `cryptography` exactly as the
  original alpi writes its identity files (PKCS#8 / SubjectPublicKeyInfo PEM).

Needs: pip install pynacl cryptography.  Run from the repo root.
"""

import base64
import hashlib
import json
import pathlib

import nacl.bindings as sodium
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OUT = pathlib.Path(__file__).resolve().parent / "python"
MESSAGE = bytes(range(256)) + b"alpi" * 11  # 300 bytes


def seeds():
    yield bytes(32)
    yield bytes([0xFF] * 32)
    for i in range(6):
        yield hashlib.sha256(b"alpi identity vector %d" % i).digest()


def vector(seed):
    pk, sk = sodium.crypto_sign_seed_keypair(seed)
    return {
        "seed_hex": seed.hex(),
        "ed25519_public_b64": base64.b64encode(pk).decode(),
        "x25519_private_hex": sodium.crypto_sign_ed25519_sk_to_curve25519(sk).hex(),
        "x25519_public_hex": sodium.crypto_sign_ed25519_pk_to_curve25519(pk).hex(),
        "signature_b64": base64.b64encode(sodium.crypto_sign(MESSAGE, sk)[:64]).decode(),
    }


def main():
    OUT.mkdir(exist_ok=True)
    doc = {
        "generator": "libsodium via PyNaCl",
        "message_hex": MESSAGE.hex(),
        "keys": [vector(s) for s in seeds()],
    }
    (OUT / "identity.json").write_text(json.dumps(doc, indent=2) + "\n")

    seed = hashlib.sha256(b"alpi pem interop").digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    (OUT / "alp_key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (OUT / "alp_key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    (OUT / "alp_key.identity").write_text(base64.b64encode(raw).decode() + "\n")


if __name__ == "__main__":
    main()
