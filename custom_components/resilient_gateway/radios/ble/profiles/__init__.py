"""The GATT services this integration knows, and which of them a device offers."""

from __future__ import annotations

from collections.abc import Iterable

from ....core.model import Attr, DeviceKind
from ..gatt import ServiceProfile
from . import battery, environmental, microbit, nordic_lbs

PROFILES: tuple[ServiceProfile, ...] = (
    nordic_lbs.PROFILE,
    microbit.TEMPERATURE_PROFILE,
    microbit.BUTTON_PROFILE,
    microbit.LED_PROFILE,
    environmental.PROFILE,
    battery.PROFILE,
)
BY_KEY = {profile.key: profile for profile in PROFILES}
SERVICE_UUIDS = frozenset(profile.service for profile in PROFILES)
"""What the Home Assistant glue matches advertisements against."""


def detect(service_uuids: Iterable[str]) -> tuple[ServiceProfile, ...]:
    """The known profiles among a device's services (in ``PROFILES`` order)."""
    offered = {uuid.lower() for uuid in service_uuids}
    return tuple(profile for profile in PROFILES if profile.service in offered)


def by_keys(keys: Iterable[str]) -> tuple[ServiceProfile, ...]:
    """Profiles by their keys (from a snapshot or a config entry); unknown keys raise
    KeyError."""
    wanted = set(keys)
    unknown = wanted - BY_KEY.keys()
    if unknown:
        raise KeyError(f"unknown Bluetooth profiles: {', '.join(sorted(unknown))}")
    return tuple(profile for profile in PROFILES if profile.key in wanted)


def device_kind(profiles: Iterable[ServiceProfile]) -> DeviceKind:
    """A light when a profile makes it one, a climate sensor when it measures the
    temperature, otherwise "other" (a micro:bit with only buttons)."""
    found = tuple(profiles)
    for profile in found:
        if profile.kind is not None:
            return profile.kind
    if any(Attr.TEMPERATURE in profile.attributes for profile in found):
        return DeviceKind.CLIMATE_SENSOR
    return DeviceKind.OTHER
