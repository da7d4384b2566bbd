"""The shapes of the documents the gateway reads back: a snapshot's payload, ``changes.json``
and ``scenes.json``.

A file can be damaged, edited or written by something else, and JSON alone says nothing
about its shape: a list where an object belongs, a text where a number belongs. Every
document is checked against these schemas before anything acts on it, so a bad one is
refused (a restore) or set aside (a start-up file) before it touches the radio or the
change engine, instead of failing half-way with a raw ``TypeError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import voluptuous as vol

from .changes.pending import PENDING_FORMAT
from .model import Attr
from .scheduler import Priority

MAX_GROUP_ID: Final = 0xFFFF
MAX_SCENE_ID: Final = 0xFF


def _integer(low: int | None = None, high: int | None = None) -> Callable[[Any], int]:
    """An integer (not a bool: JSON true is no count) within ``low``..``high``."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected an integer, got {type(value).__name__}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise vol.Invalid(f"{value} is outside {low}..{high}")
        return value

    return check


def _number(low: float | None = None, high: float | None = None) -> Callable[[Any], float]:
    """A finite number (int or float, not a bool) within ``low``..``high``."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise vol.Invalid(f"expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise vol.Invalid(f"{value} is not a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise vol.Invalid(f"{value} is outside {low}..{high}")
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected text, got {type(value).__name__}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {type(value).__name__}")
    return value


def _list(item: Any) -> vol.Schema:
    """A JSON array whose every element is ``item`` (a tuple is not a JSON array)."""
    return vol.Schema([item])


def _xy(value: Any) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise vol.Invalid("expected an [x, y] pair")
    return [_number(0.0, 1.0)(part) for part in value]


# The value each neutral attribute may hold (units in model.Attr).
ATTRIBUTE_VALUES: Final[dict[str, Callable[[Any], Any]]] = {
    Attr.ON: _boolean,
    # (Numbers, not only integers: the radio rounds them; a float must not count as damage.)
    Attr.BRIGHTNESS: _number(0, 255),
    Attr.COLOR_TEMP: _number(0, 0xFFFF),
    Attr.XY: _xy,
    Attr.TEMPERATURE: _number(),
    Attr.HUMIDITY: _number(),
    Attr.BATTERY: _number(),
    Attr.OPEN: _boolean,
    Attr.POWER: _number(),
    Attr.LOCAL_TEMPERATURE: _number(),
    Attr.HEATING_SETPOINT: _number(-100.0, 100.0),
    Attr.HVAC_MODE: vol.In(["off", "heat", "auto"]),
}
_ATTRIBUTE_NAMES = vol.In([str(attr) for attr in Attr])


def _attribute_values(value: Any) -> dict[str, Any]:
    """``{attribute name: value}`` with every name a known attribute holding its kind."""
    if not isinstance(value, dict):
        raise vol.Invalid(f"expected an object of attribute values, got {type(value).__name__}")
    for name, item in value.items():
        if (check := ATTRIBUTE_VALUES.get(name)) is None:
            raise vol.Invalid(f"unknown attribute {name!r}")
        try:
            check(item)
        except vol.Invalid as exc:
            raise vol.Invalid(exc.msg, path=[name]) from None
    return value


_OPTIONAL_INT = vol.Any(None, _integer(0, MAX_GROUP_ID))

SCENE: Final = vol.Schema(
    {
        vol.Required("group_id"): _integer(0, MAX_GROUP_ID),
        vol.Required("scene_id"): _integer(0, MAX_SCENE_ID),
        vol.Required("name"): _text,
        vol.Required("member_states"): vol.Schema({_text: _attribute_values}),
    },
    extra=vol.ALLOW_EXTRA,
)
"""A gateway scene (``GatewayScene.as_dict``)."""

SCENES: Final = _list(SCENE)
"""``scenes.json``: the gateway's scenes."""

_SCENE_ENTRY = vol.Schema(
    {
        vol.Required("group_id"): _integer(0, MAX_GROUP_ID),
        vol.Required("scene_id"): _integer(0, MAX_SCENE_ID),
        vol.Required("values"): _attribute_values,
        vol.Optional("proved_wrong"): _boolean,
    },
    extra=vol.ALLOW_EXTRA,
)

CHANGE: Final = vol.Schema(
    {
        vol.Required("change_id"): _integer(0),
        vol.Required("device_id"): _text,
        vol.Required("values"): _attribute_values,
        vol.Optional("open"): _list(_ATTRIBUTE_NAMES),
        vol.Optional("verified"): _list(_ATTRIBUTE_NAMES),
        vol.Optional("superseded"): _list(_ATTRIBUTE_NAMES),
        vol.Optional("transition"): vol.Any(None, _number(0.0)),
        vol.Optional("priority"): vol.In([int(priority) for priority in Priority]),
        vol.Optional("remaining"): _number(),
        vol.Optional("elapsed"): _number(),
        vol.Optional("attempts"): _integer(0),
        vol.Optional("reads"): _integer(0),
        vol.Optional("group_id"): _OPTIONAL_INT,
        vol.Optional("scene"): vol.Any(None, _SCENE_ENTRY),
    },
    extra=vol.ALLOW_EXTRA,
)
"""One pending change of the change engine's snapshot."""

DESIRED: Final = vol.Schema(
    {
        vol.Optional("desired"): _attribute_values,
        vol.Optional("failed"): _list(_ATTRIBUTE_NAMES),
    },
    extra=vol.ALLOW_EXTRA,
)
"""One device's desired state in the change engine's snapshot."""

_VERSION = vol.All(_integer(), vol.In([PENDING_FORMAT]))

CHANGES: Final = vol.Schema(
    {
        vol.Required("version"): _VERSION,
        vol.Optional("devices"): vol.Schema({_text: DESIRED}),
        vol.Optional("changes"): _list(CHANGE),
        vol.Optional("links"): dict,  # what was learned of links (read leniently)
    },
    extra=vol.ALLOW_EXTRA,
)
"""``changes.json`` and a snapshot's ``changes``: ``ChangeEngine.export_pending()``."""

GROUP: Final = vol.Schema(
    {
        vol.Required("group_id"): _integer(0, MAX_GROUP_ID),
        vol.Optional("name"): vol.Any(None, _text),
        vol.Optional("members"): _list(_text),
    },
    extra=vol.ALLOW_EXTRA,
)

PAYLOAD: Final = vol.Schema(
    {
        vol.Optional("format"): _integer(1),
        vol.Optional("network_id"): vol.Any(None, _text),
        vol.Optional("devices"): _list(
            vol.Schema({vol.Required("device_id"): _text}, extra=vol.ALLOW_EXTRA)
        ),
        vol.Optional("groups"): _list(GROUP),
        vol.Optional("scenes"): SCENES,
        vol.Optional("changes"): vol.Any(None, CHANGES),
        vol.Optional("options"): dict,
        vol.Required("sections"): vol.Schema({_text: dict}),
    },
    extra=vol.ALLOW_EXTRA,
)
"""A snapshot's payload (``Gateway.snapshot_payload``), or the payload made of an Open
Coordinator Backup (only ``sections``). Each radio checks its own section."""


def problem(schema: Callable[[Any], Any], document: Any) -> str | None:
    """Why ``document`` does not fit ``schema`` (where and what), or None when it does."""
    try:
        schema(document)
    except vol.MultipleInvalid as exc:
        return "; ".join(_describe(error) for error in exc.errors[:3])
    except vol.Invalid as exc:
        return _describe(exc)
    return None


def _describe(error: vol.Invalid) -> str:
    where = "".join(f"[{part!r}]" for part in error.path)
    return f"{where}: {error.msg}" if where else str(error.msg)


def recover_changes(document: Any) -> tuple[dict[str, Any] | None, str | None]:
    """What of a damaged ``changes.json`` can be used: every device's desired state and
    every pending change that fits the schema. Returns it (None: nothing) and what was
    wrong (None: nothing; the document is used as it is)."""
    if (found := problem(CHANGES, document)) is None:
        return document, None
    if not isinstance(document, Mapping) or problem(_VERSION, document.get("version")):
        return None, found
    devices = document.get("devices")
    changes = document.get("changes")
    recovered: dict[str, Any] = {
        "version": PENDING_FORMAT,
        "devices": {
            device_id: saved
            for device_id, saved in (devices.items() if isinstance(devices, Mapping) else ())
            if isinstance(device_id, str) and problem(DESIRED, saved) is None
        },
        "changes": [
            change
            for change in (changes if isinstance(changes, list) else ())
            if problem(CHANGE, change) is None
        ],
    }
    if not recovered["devices"] and not recovered["changes"]:
        return None, found
    return recovered, found


def recover_scenes(document: Any) -> tuple[list[Any] | None, str | None]:
    """What of a damaged ``scenes.json`` can be used: every scene that fits the schema."""
    if (found := problem(SCENES, document)) is None:
        return document, None
    if not isinstance(document, list):
        return None, found
    recovered = [scene for scene in document if problem(SCENE, scene) is None]
    return recovered or None, found


def check_payload(payload: Any) -> str | None:
    """Why a snapshot's payload cannot be restored, or None."""
    return problem(PAYLOAD, payload)
