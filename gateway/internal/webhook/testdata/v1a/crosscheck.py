"""Checks every v1a vector with Python's cryptography (an implementation independent of
node's): a valid vector must verify with some configured whpk_ key and v1a entry, a
signature_mismatch one must not."""
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def verifies(v):
    h = {x["name"].lower(): x["value"] for x in v["request"]["headers"]}
    content = f'{h["webhook-id"]}.{h["webhook-timestamp"]}.'.encode() + base64.b64decode(v["request"]["body_base64"])
    for s in v["secrets"]:
        if not s.startswith("whpk_"):
            continue
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(s[5:]))
        for entry in h["webhook-signature"].split():
            version, _, sig = entry.partition(",")
            if version != "v1a":
                continue
            try:
                key.verify(base64.b64decode(sig + "=" * (-len(sig) % 4)), content)
                return True
            except (InvalidSignature, ValueError):
                pass
    return False


checked = 0
for v in json.load(open(sys.argv[1]))["vectors"]:
    kinds = [s for s in v["secrets"] if s.startswith("whpk_")]
    if not kinds or "v1a," not in json.dumps(v["request"]["headers"]):
        continue
    want = v["expected"]["valid"] or v["expected"].get("reason") == "timestamp_expired"
    if verifies(v) != want:
        sys.exit(f'{v["id"]}: cryptography says {not want}, want {want}')
    checked += 1
print(f"cryptography: {checked} v1a vectors agree", file=sys.stderr)
