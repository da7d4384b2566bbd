"""Bluetooth SIG Environmental Sensing Service (0x181A): temperature (0x2A6E, sint16 in
0.01 degrees Celsius) and humidity (0x2A6F, uint16 in 0.01 percent); read, notify
optional."""

from __future__ import annotations

from ....core.model import Attr, DeviceKind
from ..gatt import Characteristic, ServiceProfile, hundredths, sig_uuid

SERVICE = sig_uuid(0x181A)
TEMPERATURE = sig_uuid(0x2A6E)
HUMIDITY = sig_uuid(0x2A6F)

PROFILE = ServiceProfile(
    key="environmental_sensing",
    title="Environmental Sensing",
    service=SERVICE,
    characteristics=(
        Characteristic(TEMPERATURE, decode=hundredths(signed=True), attr=Attr.TEMPERATURE),
        Characteristic(HUMIDITY, decode=hundredths(signed=False), attr=Attr.HUMIDITY),
    ),
    kind=DeviceKind.CLIMATE_SENSOR,
)
