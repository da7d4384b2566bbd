"""Bluetooth SIG Battery Service (0x180F): Battery Level (0x2A19), uint8 percent; read,
notify optional."""

from __future__ import annotations

from ....core.model import Attr
from ..gatt import Characteristic, ServiceProfile, sig_uuid, uint8

SERVICE = sig_uuid(0x180F)
LEVEL = sig_uuid(0x2A19)

PROFILE = ServiceProfile(
    key="battery",
    title="Battery",
    service=SERVICE,
    characteristics=(Characteristic(LEVEL, decode=uint8, attr=Attr.BATTERY),),
)
