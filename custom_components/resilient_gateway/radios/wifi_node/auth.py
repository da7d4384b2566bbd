"""The optional challenge on connect: a node proves it holds the link's shared secret.

After the ID line the server sends ``?`` and a fresh 32-hex-digit nonce; the node answers
``!`` and the hex HMAC-SHA256, keyed with the secret, of ``<node id>\\n<nonce>``. Neither
line can be mistaken for a message, an ACK or a keepalive (they start with two hex digits
or are empty). Upstream clients do not answer, so with a secret set they are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

CHALLENGE_PREFIX: Final = b"?"
RESPONSE_PREFIX: Final = b"!"


def new_nonce() -> str:
    return secrets.token_hex(16)


def challenge_line(nonce: str) -> bytes:
    return CHALLENGE_PREFIX + nonce.encode("ascii") + b"\n"


def response_digest(secret: str, node_id: str, nonce: str) -> str:
    message = f"{node_id}\n{nonce}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def response_line(secret: str, node_id: str, nonce: str) -> bytes:
    """What a node with the secret answers (for node code and tests)."""
    return RESPONSE_PREFIX + response_digest(secret, node_id, nonce).encode("ascii") + b"\n"


def response_valid(line: bytes, secret: str, node_id: str, nonce: str) -> bool:
    """Whether ``line`` (without its newline) is the right answer, in constant time."""
    if not line.startswith(RESPONSE_PREFIX):
        return False
    expected = response_digest(secret, node_id, nonce).encode("ascii")
    return hmac.compare_digest(line[len(RESPONSE_PREFIX) :], expected)
