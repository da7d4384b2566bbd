"""Radio-neutral model: devices, their attributes, and what every radio must offer.

The change engine, the snapshot format and the Home Assistant glue speak only this
vocabulary, so a Zigbee radio, a simulated one, a Bluetooth LE link or a Wi-Fi node link
are interchangeable beneath them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

type DeviceId = str
"""A device's stable address: an IEEE address ``aa:bb:…`` for Zigbee, a MAC for BLE."""

type AttributeValues = Mapping[str, Any]


class Attr(StrEnum):
    """Neutral attribute names, with the unit of their values."""

    ON = "on"  # bool
    BRIGHTNESS = "brightness"  # int 1..254 (the Zigbee level scale)
    COLOR_TEMP = "color_temp_mireds"  # int mireds
    XY = "xy"  # tuple[float, float], CIE 1931 chromaticity 0..1
    TEMPERATURE = "temperature"  # float degrees Celsius
    HUMIDITY = "humidity"  # float percent
    BATTERY = "battery"  # int percent
    OPEN = "open"  # bool, a contact sensor that is open
    POWER = "power"  # float watts
    LOCAL_TEMPERATURE = "local_temperature"  # float degrees Celsius (thermostat)
    HEATING_SETPOINT = "heating_setpoint"  # float degrees Celsius
    HVAC_MODE = "hvac_mode"  # "off" | "heat" | "auto"


WRITABLE_ATTRS: frozenset[Attr] = frozenset(
    {Attr.ON, Attr.BRIGHTNESS, Attr.COLOR_TEMP, Attr.XY, Attr.HEATING_SETPOINT, Attr.HVAC_MODE}
)


class DeviceKind(StrEnum):
    """What a device is, as a user would name it."""

    LIGHT = "light"
    PLUG = "plug"
    CLIMATE_SENSOR = "climate_sensor"
    CONTACT_SENSOR = "contact_sensor"
    THERMOSTAT = "thermostat"
    OTHER = "other"


class PowerSource(StrEnum):
    MAINS = "mains"
    BATTERY = "battery"


class SleepMode(StrEnum):
    """How a device listens: decides when commands can reach it."""

    ALWAYS_ON = "always_on"  # a router or mains device: receives at any time
    LIGHT_SLEEPER = "light_sleeper"  # polls its parent every few seconds
    SLEEPY = "sleepy"  # polls rarely; commands wait for its poll, report or announce


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    """What the radio knows about a device, once interviewed."""

    device_id: DeviceId
    name: str
    kind: DeviceKind
    manufacturer: str | None = None
    model: str | None = None
    power_source: PowerSource = PowerSource.MAINS
    sleep_mode: SleepMode = SleepMode.ALWAYS_ON
    attributes: frozenset[Attr] = frozenset()
    firmware_version: str | None = None

    @property
    def writable(self) -> frozenset[Attr]:
        return self.attributes & WRITABLE_ATTRS


@dataclass(frozen=True, slots=True)
class GroupDescription:
    """A radio-level group: one frame reaches all members."""

    group_id: int
    name: str
    members: tuple[DeviceId, ...] = field(default=())


class RadioState(StrEnum):
    UP = "up"
    DOWN = "down"


class RadioError(Exception):
    """A radio could not do what was asked."""


class DeliveryError(RadioError):
    """The radio reported that a frame could not be sent (queue full, no route, no ack)."""


class NoResponseError(RadioError):
    """A device did not answer in time."""


class RadioIdentityError(RadioError):
    """The radio does not hold this gateway's network: it must be restored, not used."""


class BlankRadioError(RadioIdentityError):
    """The radio holds no network at all (a new or replaced stick, wiped NVRAM)."""


class ForeignNetworkError(RadioIdentityError):
    """The radio runs a network other than this gateway's."""


class RadioListener(Protocol):
    """What a radio tells its gateway. Values only ever come from the device itself."""

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        """Values the device reported or returned in a read response."""

    def device_seen(self, device_id: DeviceId) -> None:
        """Any frame from the device: a sleeper is awake now."""

    def device_announced(self, device_id: DeviceId) -> None:
        """The device (re)joined or powered on."""

    def devices_changed(self) -> None:
        """The device or group inventory changed."""

    def radio_state_changed(self, state: RadioState) -> None:
        """The radio went up or down."""


@dataclass(frozen=True, slots=True)
class RadioBudget:
    """What a radio can put on air without its own queue overflowing.

    The scheduler paces sends by it; exceeding it makes real radios report delivery
    failures ("bridge busy"), so the scheduler never does.
    """

    unicasts_per_s: float = 20.0
    groupcasts_per_s: float = 1.0
    max_in_flight: int = 8


class Radio(Protocol):
    """What the change engine (and the gateway) may ask of any radio."""

    @property
    def budget(self) -> RadioBudget:
        """Sending limits of this radio."""

    async def send(
        self, device_id: DeviceId, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        """Send the command(s) that set ``values`` on one device.

        Returns once the radio accepted the frames; success on the device is learned only
        from its reports or reads. Raises DeliveryError when the radio could not send.
        """

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        """Read attributes from the device (values also go to the listener).

        Raises NoResponseError when the device does not answer in time.
        """

    async def send_group(
        self, group_id: int, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        """One groupcast that sets ``values`` on every member of a radio group."""

    def frames_to_send(self, values: AttributeValues) -> int:
        """The frames one ``send`` or ``send_group`` of ``values`` puts on air (a radio
        may need one per cluster: on and level in one, colour in another)."""

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        """The frames one ``read`` of ``attributes`` puts on air."""

    async def recall_scene(self, group_id: int, scene_id: int) -> None:
        """One groupcast recalling a scene stored on the members."""

    async def store_scene(
        self, device_id: DeviceId, group_id: int, scene_id: int, values: AttributeValues
    ) -> None:
        """Write a scene entry with explicit values into one device's scene table."""
