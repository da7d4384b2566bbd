"""Nordic LED Button Service (the nRF5 SDK's ``ble_app_blinky`` example, also in the nRF
Connect SDK as ``peripheral_lbs``): one LED to write, one button that notifies.

LED (0x1525): read, write; 0x00 off, 0x01 on. Button (0x1524): read, notify; 0x00
released, 0x01 pressed.
"""

from __future__ import annotations

from ....core.model import Attr, DeviceKind
from ..gatt import Characteristic, ServiceProfile, encode_flag, flag, named

SERVICE = "00001523-1212-efde-1523-785feabcd123"
BUTTON = "00001524-1212-efde-1523-785feabcd123"
LED = "00001525-1212-efde-1523-785feabcd123"

BUTTON_STATES = {0: "release", 1: "press"}


PROFILE = ServiceProfile(
    key="nordic_lbs",
    title="Nordic LED Button Service",
    service=SERVICE,
    characteristics=(
        Characteristic(LED, decode=flag, attr=Attr.ON, encode=encode_flag),
        Characteristic(
            BUTTON,
            decode=named(BUTTON_STATES, "press"),
            event="button",
            event_types=tuple(BUTTON_STATES.values()),
            notify=True,
        ),
    ),
    kind=DeviceKind.LIGHT,
    manufacturer="Nordic Semiconductor",
    holds_connection=True,
)
