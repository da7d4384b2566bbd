"""Bluetooth LE devices as radio links: one device per link, connected through
bleak-retry-connector (Home Assistant's Bluetooth stack picks the adapter or proxy), its
GATT services mapped onto the core's attributes by small profile tables."""

from __future__ import annotations

from .connection import ConnectionPolicy, DeviceLookup, DeviceUnreachable, GattConnection
from .link import BleLink
from .profiles import PROFILES, SERVICE_UUIDS, detect

__all__ = [
    "PROFILES",
    "SERVICE_UUIDS",
    "BleLink",
    "ConnectionPolicy",
    "DeviceLookup",
    "DeviceUnreachable",
    "GattConnection",
    "detect",
]
