"""Radio-neutral model: devices, their attributes, and what every radio must offer.

The change engine, the snapshot format and the Home Assistant glue speak only this
vocabulary, so a Zigbee radio, a simulated one, a Bluetooth LE link or a Wi-Fi node link
are interchangeable beneath them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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


class FieldKind(StrEnum):
    """What a device's own named field is (beyond ``Attr``: a Wi-Fi node's JSON field)."""

    SENSOR = "sensor"  # a number the device reports
    BINARY = "binary"  # a boolean the device reports
    SWITCH = "switch"  # a boolean the device reports and can be told
    NUMBER = "number"  # a number the device reports and can be told


WRITABLE_FIELD_KINDS: frozenset[FieldKind] = frozenset({FieldKind.SWITCH, FieldKind.NUMBER})


@dataclass(frozen=True, slots=True)
class FieldDescription:
    """A named value a device reports under its own name (not one of ``Attr``): values
    come and commands go keyed by ``name``, and are verified like any attribute."""

    name: str
    kind: FieldKind
    unit: str | None = None
    device_class: str | None = None

    @property
    def writable(self) -> bool:
        return self.kind in WRITABLE_FIELD_KINDS


@dataclass(frozen=True, slots=True)
class EventDescription:
    """Something momentary a device tells (a button), never kept among its values: its
    ``DeviceEvent`` subtype and the event types it can say ("press", "release")."""

    name: str
    types: tuple[str, ...]


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
    fields: tuple[FieldDescription, ...] = ()  # its own named values, sorted by name
    events: tuple[EventDescription, ...] = ()  # what it tells as events (buttons)

    @property
    def writable(self) -> frozenset[Attr]:
        return self.attributes & WRITABLE_ATTRS

    @property
    def writable_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.writable)


@dataclass(frozen=True, slots=True)
class GroupDescription:
    """A radio-level group: one frame reaches all members."""

    group_id: int
    name: str
    members: tuple[DeviceId, ...] = field(default=())
