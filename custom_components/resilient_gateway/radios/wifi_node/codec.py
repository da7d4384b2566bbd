"""micropython-iot's wire format and message-id rules, byte for byte.

- TCP, newline-terminated UTF-8 lines. The client's first line is its ID.
- A message is two lowercase hex digits of message id, the payload, ``\\n``.
- An ACK is the two hex digits alone; an empty line is a keepalive.
- Ids run 0, 1 … 255, 1 … : 0 only first after a sender (re)started, and it clears the
  receiver's memory of ids. The receiver remembers ids in a 256-bit window and forgets
  the eighth of it 128 ids ahead of each id it marks, so ids reused after a wrap count as
  new again (upstream's ``isnew``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

KEEPALIVE: Final = b"\n"
NEWLINE: Final = 0x0A
MAX_ID: Final = 255
NODE_ID: Final = re.compile(r"[\x21-\x7e]{1,64}")
"""What this server accepts as a node ID: 1-64 printable ASCII characters, no spaces."""


def encode_message(message_id: int, payload: str) -> bytes:
    """A message line (upstream adds the newline only when the payload lacks one)."""
    text = f"{message_id:02x}{payload}"
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def encode_ack(message_id: int) -> bytes:
    return f"{message_id:02x}\n".encode()


def next_message_id(message_id: int) -> int:
    """The id after ``message_id``: 1 … 255, then 1 again (0 only starts a sequence)."""
    return message_id % MAX_ID + 1


class LineKind(StrEnum):
    KEEPALIVE = "keepalive"
    ACK = "ack"
    MESSAGE = "message"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Line:
    """One received line, classified as upstream's reader does."""

    kind: LineKind
    message_id: int = 0
    payload: str = ""


_HEX = frozenset(b"0123456789abcdefABCDEF")


def parse_line(raw: bytes) -> Line:
    """Classify a line received without its newline. Upstream takes any two-character line
    for an ACK and any longer one for a message with a payload; lines whose first two
    characters are not hex, or that are not UTF-8, are malformed here (upstream would
    crash on them)."""
    if not raw:
        return Line(LineKind.KEEPALIVE)
    if len(raw) < 2 or raw[0] not in _HEX or raw[1] not in _HEX:
        return Line(LineKind.MALFORMED)
    message_id = int(raw[:2], 16)
    if len(raw) == 2:
        return Line(LineKind.ACK, message_id)
    try:
        payload = raw[2:].decode("utf-8")
    except UnicodeDecodeError:
        return Line(LineKind.MALFORMED, message_id)
    return Line(LineKind.MESSAGE, message_id, payload)


@dataclass(slots=True)
class LineSplitter:
    """Cuts a byte stream into lines of at most ``max_line`` bytes (newline excluded).

    A longer line is dropped whole: its start is returned once as ``oversized`` (enough to
    read its message id from), the rest is skipped up to its newline.
    """

    max_line: int
    _buffer: bytearray = field(default_factory=bytearray)
    _skipping: bool = False

    def feed(self, data: bytes) -> tuple[list[bytes], list[bytes]]:
        """Complete lines in ``data`` (with what came before), and starts of oversized ones."""
        lines: list[bytes] = []
        oversized: list[bytes] = []
        buffer = self._buffer
        buffer += data
        start = 0
        while True:
            end = buffer.find(NEWLINE, start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            elif end - start > self.max_line:
                oversized.append(bytes(buffer[start : start + 2]))
            else:
                lines.append(bytes(buffer[start:end]))
            start = end + 1
        del buffer[:start]
        if len(buffer) > self.max_line:
            if not self._skipping:
                oversized.append(bytes(buffer[:2]))
                self._skipping = True
            buffer.clear()
        return lines, oversized


class ReceiveWindow:
    """Which message ids were received lately (upstream's ``isnew`` over 32 bytes), plus
    one refinement: a repeated id 0 with the same payload, before any other id, is the
    sender retransmitting its first message (its ACK was lost), not a second restart."""

    def __init__(self, bits: bytes = bytes(32), first_digest: str | None = None) -> None:
        if len(bits) != 32:
            raise ValueError("a receive window is 32 bytes")
        self._bits = bytearray(bits)
        self._first_digest = first_digest  # of the id-0 payload while nothing followed it

    def accept(self, message_id: int, payload: str) -> bool:
        """Mark ``message_id`` received; whether it is new (False: a duplicate)."""
        if message_id == 0:
            digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
            if digest == self._first_digest:
                return False
            self._bits[:] = bytes(32)  # the sender restarted
            self._first_digest = digest
        else:
            self._first_digest = None
        index, bit = message_id >> 3, 1 << (message_id & 7)
        new = not self._bits[index] & bit
        self._bits[index] |= bit
        self._bits[(index + 16) & 0x1F] = 0
        return new

    def as_dict(self) -> dict[str, str | None]:
        return {"bits": self._bits.hex(), "first": self._first_digest}

    @classmethod
    def from_dict(cls, data: dict[str, str | None]) -> ReceiveWindow:
        return cls(bytes.fromhex(data.get("bits") or "00" * 32), data.get("first"))
