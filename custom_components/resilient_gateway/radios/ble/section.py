"""The Bluetooth link's snapshot section: the device's address and name, the profiles it
offers and its characteristics' handles (what the last connection found). Desired states
travel in the gateway's own part of the snapshot, as for every radio kind."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import voluptuous as vol

from .gatt import ServiceProfile
from .profiles import BY_KEY, by_keys

NAME: Final = "bluetooth"
ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def _address(value: Any) -> str:
    if not isinstance(value, str) or not ADDRESS.match(value):
        raise vol.Invalid(f"{value!r} is not a Bluetooth address")
    return value.upper()


def _profile_keys(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise vol.Invalid("expected a non-empty list of profiles")
    unknown = [key for key in value if key not in BY_KEY]
    if unknown:
        raise vol.Invalid(f"unknown profiles: {unknown!r}")
    return value


def _handle(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 0xFFFF:
        raise vol.Invalid(f"{value!r} is not an attribute handle")
    return value


SCHEMA = vol.Schema(
    {
        vol.Required("address"): _address,
        vol.Required("name"): vol.Any(None, str),
        vol.Required("profiles"): _profile_keys,
        vol.Required("handles"): {str: _handle},
    },
    extra=vol.ALLOW_EXTRA,
)


@dataclass(frozen=True, slots=True)
class KnownDevice:
    address: str
    name: str | None
    profiles: tuple[ServiceProfile, ...]
    handles: Mapping[str, int]


def parse(data: Mapping[str, Any]) -> KnownDevice:
    """A section as the link uses it; ValueError when it is not of the right shape."""
    try:
        checked = SCHEMA(dict(data))
    except vol.Invalid as exc:
        raise ValueError(f"the Bluetooth section is invalid: {exc}") from None
    return KnownDevice(
        address=checked["address"],
        name=checked["name"],
        profiles=by_keys(checked["profiles"]),
        handles=dict(checked["handles"]),
    )


def export(
    address: str, name: str, found: Iterable[ServiceProfile], handles: Mapping[str, int]
) -> dict[str, Any]:
    return {
        "address": address,
        "name": name,
        "profiles": [profile.key for profile in found],
        "handles": dict(handles),
    }
