"""A Wi-Fi node link's settings and bounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

DEFAULT_PORT: Final = 8125
"""Not upstream's 8123, which is Home Assistant's own HTTP port."""

DEFAULT_TIMEOUT_MS: Final = 2000

DEFAULT_HOST: Final = "0.0.0.0"  # nodes connect from the LAN


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Where the link listens and how it treats nodes.

    ``timeout_ms`` must match the nodes' (an outage is nothing received within it, and
    keepalives go every quarter of it). ``expected`` names the node IDs the link knows in
    advance; others are taken as new devices only with ``accept_unknown``. With a
    ``secret`` every node must answer the HMAC challenge (see ``auth.py``).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    expected: frozenset[str] = frozenset()
    accept_unknown: bool = True
    secret: str | None = field(default=None, repr=False)  # (never in a log line)
    max_line: int = 4096  # bytes of one line, newline excluded
    max_nodes: int = 200
    max_outbox: int = 32  # messages queued to one node (well under the 128-id window)
    wake_pause: float = 0.2  # s after a node's first line before data goes to it (upstream)
    read_wait: float = 5.0  # s a read waits for the node's next report

    @property
    def timeout(self) -> float:
        return self.timeout_ms / 1000

    @property
    def keepalive_interval(self) -> float:
        return self.timeout / 4

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not a TCP port")
        if self.timeout_ms < 100:
            raise ValueError("timeout_ms must be at least 100")
        if not 1 <= self.max_outbox <= 100:
            raise ValueError("max_outbox must be 1-100 (the receivers' id window is 128)")
        if self.max_line < 16 or self.max_nodes < 1:
            raise ValueError("max_line must be at least 16 and max_nodes at least 1")
