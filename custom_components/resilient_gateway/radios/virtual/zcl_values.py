"""Attribute values between the device's JSON-friendly store and zigpy's ZCL types.

Devices keep plain ints, bools and strings (so their state persists as JSON); on air
every value is typed through zigpy's own attribute definitions.
"""

from __future__ import annotations

from typing import Any, cast

import zigpy.types as t
from zigpy.zcl import Cluster, foundation


def cluster_class(cluster_id: int) -> type[Cluster] | None:
    """zigpy's cluster class for ``cluster_id``, or None for an unknown cluster."""
    registry = cast(dict[int, type[Cluster]], Cluster._registry)
    return registry.get(cluster_id)


def attribute_def(cluster_id: int, attr_id: int) -> foundation.ZCLAttributeDef | None:
    cls = cluster_class(cluster_id)
    if cls is None:
        return None
    try:
        return cls.find_attribute(attr_id)
    except KeyError:
        return None


def to_zigpy(attr: foundation.ZCLAttributeDef, value: Any) -> Any:
    """The zigpy-typed form of a stored value."""
    kind = attr.type
    if isinstance(kind, type) and issubclass(kind, t.EUI64):
        return t.EUI64.convert(value)
    return kind(value)


def to_stored(attr: foundation.ZCLAttributeDef, value: Any) -> Any:
    """The JSON-friendly form of a zigpy-typed value."""
    if isinstance(value, t.EUI64):
        return str(value)
    if isinstance(value, str):
        return str(value)
    if attr.type is t.Bool:
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def type_value(attr: foundation.ZCLAttributeDef, value: Any) -> foundation.TypeValue:
    return foundation.TypeValue(type=attr.zcl_type, value=to_zigpy(attr, value))


def is_analog(attr: foundation.ZCLAttributeDef) -> bool:
    """Analog attributes report on a change of at least the reportable change."""
    try:
        info = foundation.DataType.from_type_id(attr.zcl_type)
    except ValueError:
        return False
    return bool(info.type_class is foundation.DataClass.Analog)


def is_writable(attr: foundation.ZCLAttributeDef) -> bool:
    return bool(attr.access & foundation.ZCLAttributeAccess.Write)
