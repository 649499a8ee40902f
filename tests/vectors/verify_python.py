#!/usr/bin/env python3
"""Verifies ALP envelopes the way the original Python alpi does, independently of our code.

Reads one envelope per line on stdin (the Unix-socket wire form), and for each:
json.loads -> drop alp.sig -> json.dumps(sort_keys=True, separators=(",",":"),
ensure_ascii=False) -> Ed25519 verify with PyNaCl against alp.from. Prints the canonical
text of each on stdout and exits 1 at the first envelope that does not verify.

Needs: pip install pynacl.
"""

import base64
import json
import sys

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey


def canonical(envelope):
    body = dict(envelope)
    body["alp"] = {k: v for k, v in envelope["alp"].items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def main():
    count = 0
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        envelope = json.loads(line)
        payload = canonical(envelope)
        key = VerifyKey(base64.b64decode(envelope["alp"]["from"]))
        try:
            key.verify(payload, base64.b64decode(envelope["alp"]["sig"]))
        except BadSignatureError:
            print(f"envelope {count}: signature did not verify", file=sys.stderr)
            return 1
        sys.stdout.write(payload.decode("utf-8") + "\n")
        count += 1
    print(f"verified {count} envelopes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
