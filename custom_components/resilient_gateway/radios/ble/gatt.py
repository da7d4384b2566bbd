"""What a device profile is: GATT services as small tables of characteristics, each mapped
onto the core's neutral attributes (or onto events), with its value encoding.

A profile module describes one published GATT service and nothing else; ``profiles``
collects them and detects which a device offers from its service UUIDs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...core.model import Attr, DeviceKind


def sig_uuid(short: int) -> str:
    """The full 128-bit form of a Bluetooth SIG 16-bit UUID (as bleak spells UUIDs)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


def uint8(data: bytes) -> int:
    return int.from_bytes(data[:1], "little", signed=False)


def sint8(data: bytes) -> int:
    return int.from_bytes(data[:1], "little", signed=True)


def hundredths(*, signed: bool) -> Callable[[bytes], float]:
    """A 16-bit value in hundredths (the Environmental Sensing resolution of 0.01)."""

    def decode(data: bytes) -> float:
        return int.from_bytes(data[:2], "little", signed=signed) / 100

    return decode


def flag(data: bytes) -> bool:
    return uint8(data) != 0


def named(names: Mapping[int, str], default: str) -> Callable[[bytes], str]:
    """A uint8 state by its name (a button's 0 "release", 1 "press")."""

    def decode(data: bytes) -> str:
        return names.get(uint8(data), default)

    return decode


def encode_flag(value: Any) -> bytes:
    return b"\x01" if value else b"\x00"


@dataclass(frozen=True, slots=True)
class Characteristic:
    """One characteristic of a service: what it shows, how it is read, written and
    notified.

    ``attr``: the state it holds (a value the gateway keeps and verifies). ``event``: its
    notifications are events of this subtype (a button), decoded by ``decode`` into the
    event's value, one of ``event_types``. A characteristic with ``encode`` is written
    with response.
    """

    uuid: str
    decode: Callable[[bytes], Any]
    attr: Attr | None = None
    event: str | None = None
    event_types: tuple[str, ...] = ()
    encode: Callable[[Any], bytes] | None = None
    readable: bool = True
    notify: bool = False


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """A published GATT service, as a table of characteristics.

    ``holds_connection``: its notifications carry what cannot be read later (button
    presses), so the link keeps the connection open while it runs instead of releasing it
    when idle. ``kind``: what the service makes the device (a light); None when it only
    adds attributes.
    """

    key: str
    title: str
    service: str
    characteristics: tuple[Characteristic, ...]
    kind: DeviceKind | None = None
    manufacturer: str | None = None
    holds_connection: bool = False

    def by_attr(self, attr: Attr) -> Characteristic | None:
        return next((c for c in self.characteristics if c.attr is attr), None)

    @property
    def attributes(self) -> frozenset[Attr]:
        return frozenset(c.attr for c in self.characteristics if c.attr is not None)
