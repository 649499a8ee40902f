#!/usr/bin/env python3
"""Regenerates tests/vectors/python/canonical.json: ALP canonical-JSON vectors made by
Python's own json module, independently of alpi's code.

Each case holds a value's compact wire text (json.dumps with separators=(",", ":") and
ensure_ascii=False, keys in insertion order), its canonical text and hex (the same with
sort_keys=True, UTF-8 encoded: what ALP signs) and a libsodium (PyNaCl) Ed25519
signature of the canonical bytes by a fixed key.

Needs: pip install pynacl.  Run from the repo root: tests/vectors/gen_canonical.py
"""

import base64
import hashlib
import json
import pathlib
import random
import struct

import nacl.signing

OUT = pathlib.Path(__file__).resolve().parent / "python" / "canonical.json"
SEED = hashlib.sha256(b"alpi canonical vectors").digest()


def wire(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def random_floats(count):
    """Finite doubles from uniformly random bit patterns: every exponent range and
    digit count, where a shortest-repr implementation would slip."""
    rng = random.Random(20260101)
    floats = []
    while len(floats) < count:
        (f,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if f == f and abs(f) != float("inf"):
            floats.append(f)
    return floats


def cases():
    yield "empty_object", {}
    yield "empty_array", []
    yield "top_level_string", "plain"
    yield "top_level_int", 7
    yield "top_level_float", 0.1
    yield "top_level_null", None
    yield "booleans_and_null", {"t": True, "f": False, "n": None}
    yield "key_order_ascii_case", {"b": 1, "a": 2, "B": 3, "A": 4, "_": 5, "0": 6, "": 7}
    yield "key_order_unicode", {"日": 1, "é": 2, "Z": 3, "a": 4, "🚀": 5, "\uff61": 6, "\ue000": 7, "ä": 8}
    yield "key_order_prefixes", {"ab": 1, "a": 2, "a\u0000": 3, "a ": 4, "abc": 5}
    yield "key_order_raw_not_escaped", {" ": 1, "\n": 2, "\\": 3, '"': 4, "\u001f": 5, "/": 6}
    yield "unicode_values", {"fr": "héllo wörld", "ja": "日本語", "emoji": "🚀👩‍💻", "mixed": "é—ñ 日 🚀"}
    yield "escapes_named", {"s": 'quote" backslash\\ nl\n cr\r tab\t bs\b ff\f'}
    yield "control_chars", {"s": "".join(chr(c) for c in range(0x20)) + "\u007f"}
    yield "nul_us_del", ["\u0000", "\u001f", "\u007f", "a\u0000b"]
    yield "slash_not_escaped", {"url": "https://example.com/a/b", "/": "/"}
    yield "unicode_separators", {"ls": "\u2028", "ps": "\u2029", "nbsp": "\u00a0", "bom": "\ufeff"}
    yield "nested", {"z": {"y": {"x": [1, {"b": [], "a": {}}]}}, "a": [[[]], [{}]]}
    yield "empty_containers", {"o": {}, "a": [], "s": "", "ao": [{}], "oa": {"a": []}}
    yield "ints", [0, -1, 1, 42, 2**53 + 1, -(2**63), 2**63 - 1, 2**64 - 1, 2**64, 10**30, -(10**30)]
    yield "floats_fixed", [0.1, 1.0, 1e15, 0.0001, 123456789.123, 0.5, 100.0, 3.141592653589793]
    yield "floats_exponent", [1e-05, 1e16, 1.5e300, 5e-324, 1.7976931348623157e308, 2.5e-08, 1e22]
    # Exactly halfway between two shortest digit strings: repr picks the even last digit.
    yield "floats_ties", [1e15 + 0.25, 1e15 + 0.75, 233891771783429.625, 1497868848827301.25, 2.0**-25]
    yield "float_zeros", [0.0, -0.0, {"neg": -0.0}]
    yield "floats_negative", [-0.1, -1.0, -1e16, -1e-05, -123456789.123, -2.2250738585072014e-308]
    yield "int_float_distinction", {"i": 1, "f": 1.0, "big_i": 10**16, "big_f": 1e16}
    yield "mixed_types_array", [1, "1", 1.0, True, None, [], {}]
    yield "envelope_like", {
        "jsonrpc": "2.0",
        "id": "00000000000000000000000000000000",
        "method": "link.ask",
        "params": {"prompt": "héllo", "stream": True},
        "alp": {"v": 1, "from": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=", "ts": "2026-01-01T00:00:00Z"},
    }
    yield "long_string", {"s": "ab\u00e9\U0001f680" * 200}
    yield "random_floats", random_floats(300)


def main():
    key = nacl.signing.SigningKey(SEED)
    vectors = []
    for name, value in cases():
        text = canonical(value)
        data = text.encode("utf-8")
        vectors.append({
            "name": name,
            "value_wire": wire(value),
            "canonical_text": text,
            "canonical_hex": data.hex(),
            "signature_b64": base64.b64encode(key.sign(data).signature).decode(),
        })
    doc = {
        "generator": "Python json.dumps + libsodium via PyNaCl (tests/vectors/gen_canonical.py)",
        "signer_seed_hex": SEED.hex(),
        "signer_public_b64": base64.b64encode(bytes(key.verify_key)).decode(),
        "cases": vectors,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
