"""How a frame reached a node: only unicasts are answered (ZCL and ZDO both say so)."""

from __future__ import annotations

from enum import StrEnum


class DeliveryMode(StrEnum):
    UNICAST = "unicast"
    GROUPCAST = "groupcast"
    BROADCAST = "broadcast"
