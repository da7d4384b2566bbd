"""The BBC micro:bit Bluetooth profile (Lancaster University's micro:bit runtime): its
temperature, button and LED services.

Temperature (e95d9250): sint8 degrees Celsius, read and notify. Buttons A and B
(e95dda90, e95dda91): uint8, 0 released, 1 pressed, 2 long press; read and notify. LED
Text (e95d93ee): UTF-8 text of up to 20 bytes scrolled across the matrix, write only.
"""

from __future__ import annotations

from ....core.model import Attr
from ..gatt import Characteristic, ServiceProfile, named, sint8

TEMPERATURE_SERVICE = "e95d6100-251d-470a-a062-fa1922dfa9a8"
TEMPERATURE = "e95d9250-251d-470a-a062-fa1922dfa9a8"
BUTTON_SERVICE = "e95d9882-251d-470a-a062-fa1922dfa9a8"
BUTTON_A = "e95dda90-251d-470a-a062-fa1922dfa9a8"
BUTTON_B = "e95dda91-251d-470a-a062-fa1922dfa9a8"
LED_SERVICE = "e95dd91d-251d-470a-a062-fa1922dfa9a8"
LED_TEXT = "e95d93ee-251d-470a-a062-fa1922dfa9a8"

LED_TEXT_MAX_BYTES = 20
BUTTON_STATES = {0: "release", 1: "press", 2: "long_press"}
_button = named(BUTTON_STATES, "press")
MANUFACTURER = "Micro:bit Educational Foundation"


def _float(data: bytes) -> float:
    return float(sint8(data))


def encode_text(text: str) -> bytes:
    """The LED Text value: UTF-8, cut to 20 bytes at a character boundary."""
    data = text.encode()
    while len(data) > LED_TEXT_MAX_BYTES:
        text = text[:-1]
        data = text.encode()
    return data


TEMPERATURE_PROFILE = ServiceProfile(
    key="microbit_temperature",
    title="micro:bit temperature",
    service=TEMPERATURE_SERVICE,
    characteristics=(
        Characteristic(TEMPERATURE, decode=_float, attr=Attr.TEMPERATURE, notify=True),
    ),
    manufacturer=MANUFACTURER,
)

BUTTON_PROFILE = ServiceProfile(
    key="microbit_button",
    title="micro:bit buttons",
    service=BUTTON_SERVICE,
    characteristics=(
        Characteristic(
            BUTTON_A,
            decode=_button,
            event="button_a",
            event_types=tuple(BUTTON_STATES.values()),
            notify=True,
        ),
        Characteristic(
            BUTTON_B,
            decode=_button,
            event="button_b",
            event_types=tuple(BUTTON_STATES.values()),
            notify=True,
        ),
    ),
    manufacturer=MANUFACTURER,
    holds_connection=True,
)

LED_PROFILE = ServiceProfile(
    key="microbit_led",
    title="micro:bit LED matrix",
    service=LED_SERVICE,
    characteristics=(
        Characteristic(
            LED_TEXT,
            decode=lambda data: data.decode(errors="replace"),
            encode=lambda text: encode_text(str(text)),
            readable=False,
        ),
    ),
    manufacturer=MANUFACTURER,
)
