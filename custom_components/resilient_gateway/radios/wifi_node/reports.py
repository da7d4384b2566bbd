"""What a node's JSON lines mean to the device model.

A node sends one JSON object per message: numeric fields are sensor readings, booleans
binary ones. An optional ``"_meta"`` object describes fields by name: ``unit``,
``device_class``, and ``kind`` (``sensor``, ``binary``, or the actuators ``switch`` and
``number``, which the gateway may set and then verifies by the node's next report).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from ...core.model import FieldDescription, FieldKind

META: Final = "_meta"
MAX_FIELDS: Final = 64
MAX_NAME: Final = 64

type FieldValue = bool | int | float

_BOOLEAN_KINDS = frozenset({FieldKind.BINARY, FieldKind.SWITCH})
_KIND_ALIASES: Mapping[str, FieldKind] = {
    "sensor": FieldKind.SENSOR,
    "binary": FieldKind.BINARY,
    "binary_sensor": FieldKind.BINARY,
    "switch": FieldKind.SWITCH,
    "number": FieldKind.NUMBER,
}


class ReportError(ValueError):
    """A message that is not a JSON object (still delivered and ACKed: only not a report)."""


@dataclass(slots=True)
class Report:
    """The readings in one message and what its ``_meta`` said about fields."""

    values: dict[str, FieldValue] = field(default_factory=dict)
    declared: dict[str, FieldDescription] = field(default_factory=dict)
    ignored: int = 0  # fields of no usable type or name


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and not name.startswith("_") and name.isprintable()


def _value(raw: Any) -> FieldValue | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and math.isfinite(raw):
        return raw
    return None


def _declared(name: str, raw: Any) -> FieldDescription | None:
    if not isinstance(raw, Mapping):
        return None
    kind = _KIND_ALIASES.get(str(raw.get("kind", "sensor")))
    if kind is None:
        return None
    unit, device_class = raw.get("unit"), raw.get("device_class")
    return FieldDescription(
        name,
        kind,
        unit=str(unit)[:32] if unit is not None else None,
        device_class=str(device_class)[:32] if device_class is not None else None,
    )


def parse_report(payload: str) -> Report:
    """Readings and field declarations of one message; ReportError when it is no object."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ReportError("not JSON") from exc
    if not isinstance(document, dict):
        raise ReportError("not a JSON object")
    report = Report()
    meta = document.get(META)
    if isinstance(meta, dict):
        for name, raw in list(meta.items())[:MAX_FIELDS]:
            described = _declared(name, raw) if _valid_name(name) else None
            if described is None:
                report.ignored += 1
            else:
                report.declared[name] = described
    for name, raw in document.items():
        if name == META:
            continue
        value = _value(raw)
        if value is None or not _valid_name(name) or len(report.values) >= MAX_FIELDS:
            report.ignored += 1
        else:
            report.values[name] = value
    return report


def fits(kind: FieldKind, value: FieldValue) -> bool:
    """Whether ``value`` is of the type a field of ``kind`` holds."""
    return isinstance(value, bool) is (kind in _BOOLEAN_KINDS)


def merge_fields(
    known: Mapping[str, FieldDescription], report: Report
) -> tuple[dict[str, FieldDescription], dict[str, FieldValue], int]:
    """The node's fields after ``report``, the readings that fit them, and how many
    readings did not (a number for a declared switch). Declarations win over guesses from
    a value's type; a field once known keeps its kind until declared otherwise."""
    fields = dict(known)
    for name, declared in report.declared.items():
        fields[name] = declared
    readings: dict[str, FieldValue] = {}
    misfits = 0
    for name, value in report.values.items():
        current = fields.get(name)
        if current is None:
            if len(fields) >= MAX_FIELDS:
                misfits += 1
                continue
            kind = FieldKind.BINARY if isinstance(value, bool) else FieldKind.SENSOR
            current = fields[name] = FieldDescription(name, kind)
        if fits(current.kind, value):
            readings[name] = value
        else:
            misfits += 1
    return fields, readings, misfits


def field_to_dict(description: FieldDescription) -> dict[str, Any]:
    return {
        "kind": description.kind.value,
        "unit": description.unit,
        "device_class": description.device_class,
    }


def field_from_dict(name: str, data: Mapping[str, Any]) -> FieldDescription:
    return replace(
        FieldDescription(name, FieldKind(data["kind"])),
        unit=data.get("unit"),
        device_class=data.get("device_class"),
    )
