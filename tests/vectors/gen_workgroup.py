#!/usr/bin/env python3
"""Regenerates tests/vectors/workgroup.json: room (ALP.3) crypto vectors.

Each vector is computed twice and the two must agree before it is written:
- by the original alpi's own functions (alpi.alp.workgroup.seal_group_key,
  open_sealed_group_key, encrypt_post, decrypt_post) with the randomness pinned, and
- by an independent re-implementation on Python `cryptography` primitives
  (X25519, HKDF-SHA256, ChaCha20-Poly1305) plus PyNaCl's Ed25519 -> X25519 map.

Needs the original alpi installed (e.g. the /tmp/pyalpi venv) with `cryptography`;
PyNaCl is used when present. Run from the repo root:
    /tmp/pyalpi/bin/python tests/vectors/gen_workgroup.py
"""

import base64
import hashlib
import json
import os
import pathlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from alpi.alp import workgroup as wg
from alpi.alp.keys import Keypair

OUT = pathlib.Path(__file__).resolve().parent / "workgroup.json"
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def ed_x25519(seed: bytes) -> tuple[bytes, bytes]:
    """(x25519 private, x25519 public) of an Ed25519 seed, per ALP spec §1."""
    digest = bytearray(hashlib.sha512(seed).digest()[:32])
    digest[0] &= 248
    digest[31] &= 127
    digest[31] |= 64
    priv = bytes(digest)
    pub = X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(*RAW)
    try:
        import nacl.bindings as sodium

        ed_pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*RAW)
        assert sodium.crypto_sign_ed25519_pk_to_curve25519(ed_pub) == pub
    except ImportError:
        pass
    return priv, pub


def independent_seal(group_key: bytes, seed: bytes, eph: bytes, nonce: bytes) -> str:
    _, recipient_x = ed_x25519(seed)
    eph_priv = X25519PrivateKey.from_private_bytes(eph)
    eph_pub = eph_priv.public_key().public_bytes(*RAW)
    shared = eph_priv.exchange(X25519PublicKey.from_public_bytes(recipient_x))
    key = HKDF(hashes.SHA256(), 32, salt=eph_pub + recipient_x, info=b"alp.workgroup.seal.v1").derive(shared)
    return b64(eph_pub + nonce + ChaCha20Poly1305(key).encrypt(nonce, group_key, b"seal"))


def original_seal(group_key: bytes, pubkey: str, eph: bytes, nonce: bytes) -> str:
    real_generate, real_urandom = wg.X25519PrivateKey.generate, os.urandom
    wg.X25519PrivateKey.generate = staticmethod(lambda: X25519PrivateKey.from_private_bytes(eph))
    os.urandom = lambda n: nonce
    try:
        return wg.seal_group_key(group_key, pubkey)
    finally:
        wg.X25519PrivateKey.generate, os.urandom = real_generate, real_urandom


def original_post(group_key: bytes, plaintext: bytes, nonce: bytes) -> tuple[str, str]:
    real = os.urandom
    os.urandom = lambda n: nonce
    try:
        return wg.encrypt_post(group_key, plaintext)
    finally:
        os.urandom = real


def main() -> None:
    seals, posts = [], []
    for i in range(4):
        seed, group_key = h(f"member seed {i}"), h(f"group key {i}")
        eph, nonce = h(f"ephemeral {i}"), h(f"seal nonce {i}")[:12]
        priv = Ed25519PrivateKey.from_private_bytes(seed)
        kp = Keypair(private=priv, public=priv.public_key())
        pubkey = kp.pubkey_b64()
        sealed = original_seal(group_key, pubkey, eph, nonce)
        assert sealed == independent_seal(group_key, seed, eph, nonce), "original and independent seal differ"
        assert wg.open_sealed_group_key(sealed, kp) == group_key
        # One seal with the original's own randomness: must open all the same.
        random_sealed = wg.seal_group_key(group_key, pubkey)
        seals.append({
            "seed": seed.hex(),
            "pubkey": pubkey,
            "x25519_public": b64(ed_x25519(seed)[1]),
            "group_key": group_key.hex(),
            "ephemeral": eph.hex(),
            "nonce": nonce.hex(),
            "sealed": sealed,
            "sealed_random": random_sealed,
        })
    texts = ["", "who picks up Mia on Friday?", "héllo · ünïcode ✓", "x" * 1000]
    for i, text in enumerate(texts):
        group_key, nonce = h(f"post key {i}"), h(f"post nonce {i}")[:12]
        n, c = original_post(group_key, text.encode(), nonce)
        assert c == b64(ChaCha20Poly1305(group_key).encrypt(nonce, text.encode(), b"post"))
        assert wg.decrypt_post(group_key, n, c) == text.encode()
        posts.append({"group_key": group_key.hex(), "nonce": n, "plaintext": text, "ciphertext": c})
    OUT.write_text(json.dumps({
        "about": "ALP.3 room crypto, from the original alpi's functions, cross-checked against an independent implementation (tests/vectors/gen_workgroup.py)",
        "seal": seals,
        "post": posts,
    }, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
