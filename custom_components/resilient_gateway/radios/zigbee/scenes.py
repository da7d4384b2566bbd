"""Scene extension field sets: the member state a Zigbee scene stands for.

zigpy's Scenes cluster has no extension field sets in ``add`` or ``view_response``. A zigpy
app talking to any device uses ``ExtendedScenes`` (via ``use_extended_scenes``) to send
``add`` with extension field sets and to read them back from ``view``; the simulated
devices parse them from the raw payload with ``ExtensionFieldSets``.

Colour sets follow ZCL: x, y, enhanced hue, saturation, colour loop active/direction/time,
colour temperature. A zero x/y pair or a zero colour temperature means "not part of the
scene", which is how a stored scene tells an xy colour from a colour temperature.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final

import zigpy.types as t
from zigpy.endpoint import Endpoint
from zigpy.zcl import foundation
from zigpy.zcl.clusters import general, lighting

ON_OFF: Final = general.OnOff.cluster_id
LEVEL: Final = general.LevelControl.cluster_id
COLOR: Final = lighting.Color.cluster_id
_COLOR_FORMAT: Final = "<HHHBBBHH"  # x, y, enhanced hue, sat, loop active/dir/time, mireds


class ExtensionFieldSet(t.Struct):
    cluster_id: t.uint16_t
    extension: t.LVBytes


class ExtensionFieldSets(t.List, item_type=ExtensionFieldSet):  # type: ignore[type-arg]
    """Extension field sets up to the end of the frame."""


@dataclass(frozen=True, slots=True)
class SceneValues:
    """The state a scene restores; None where the scene leaves a value alone."""

    on: bool | None = None
    level: int | None = None
    xy: tuple[int, int] | None = None  # ZCL units (0..65279 for 0..1)
    color_temp: int | None = None  # mireds

    def to_extension_sets(self) -> ExtensionFieldSets:
        sets = ExtensionFieldSets()
        if self.on is not None:
            sets.append(ExtensionFieldSet(cluster_id=ON_OFF, extension=t.LVBytes([int(self.on)])))
        if self.level is not None:
            sets.append(ExtensionFieldSet(cluster_id=LEVEL, extension=t.LVBytes([self.level])))
        if self.xy is not None or self.color_temp is not None:
            x, y = self.xy or (0, 0)
            raw = struct.pack(_COLOR_FORMAT, x, y, 0, 0, 0, 0, 0, self.color_temp or 0)
            sets.append(ExtensionFieldSet(cluster_id=COLOR, extension=t.LVBytes(raw)))
        return sets

    @classmethod
    def from_extension_sets(cls, sets: list[ExtensionFieldSet]) -> SceneValues:
        on: bool | None = None
        level: int | None = None
        xy: tuple[int, int] | None = None
        color_temp: int | None = None
        for field_set in sets:
            raw = bytes(field_set.extension)
            if field_set.cluster_id == ON_OFF and raw:
                on = bool(raw[0])
            elif field_set.cluster_id == LEVEL and raw:
                level = raw[0]
            elif field_set.cluster_id == COLOR and len(raw) >= 4:
                x, y = struct.unpack_from("<HH", raw)
                if x or y:
                    xy = (x, y)
                if len(raw) >= struct.calcsize(_COLOR_FORMAT):
                    mireds = struct.unpack(_COLOR_FORMAT, raw[: struct.calcsize(_COLOR_FORMAT)])[7]
                    color_temp = mireds or None
        return cls(on=on, level=level, xy=xy, color_temp=color_temp)


@dataclass(slots=True)
class Scene:
    """An entry of a device's scene table."""

    name: str
    transition_time: int
    extensions: bytes  # serialized extension field sets


def parse_extension_sets(data: bytes) -> ExtensionFieldSets:
    """Extension field sets from the rest of a frame (an empty list if there are none)."""
    sets, _ = ExtensionFieldSets.deserialize(data)
    return sets


_SCENE_NAME: Any = t.LimitedCharString(16)  # type: ignore[no-untyped-call]
_CommandDef: Any = foundation.ZCLCommandDef  # zigpy builds its schema from a dict
_ADD_SCHEMA: Final = {
    "group_id": t.Group,
    "scene_id": t.uint8_t,
    "transition_time": t.uint16_t,
    "scene_name": _SCENE_NAME,
    "extension_field_sets": ExtensionFieldSets,
}
_VIEW_RESPONSE_SCHEMA: Final = {
    "status": foundation.Status,
    "group_id": t.Group,
    "scene_id": t.uint8_t,
    "transition_time?": t.uint16_t,
    "scene_name?": _SCENE_NAME,
    "extension_field_sets?": ExtensionFieldSets,
}


class ExtendedScenes(general.Scenes):
    """zigpy's Scenes cluster with extension field sets in add and view."""

    _skip_registry = True

    class ServerCommandDefs(general.Scenes.ServerCommandDefs):
        add = _CommandDef(id=0x00, schema=_ADD_SCHEMA)  # type: ignore[misc]
        enhanced_add = _CommandDef(id=0x40, schema=_ADD_SCHEMA)  # type: ignore[misc]

    class ClientCommandDefs(general.Scenes.ClientCommandDefs):
        view_response = _CommandDef(id=0x01, schema=_VIEW_RESPONSE_SCHEMA)  # type: ignore[misc]
        enhanced_view_response = _CommandDef(  # type: ignore[misc]
            id=0x41, schema=_VIEW_RESPONSE_SCHEMA
        )


def use_extended_scenes(endpoint: Endpoint) -> ExtendedScenes:
    """Put an ``ExtendedScenes`` cluster in place of ``endpoint``'s Scenes cluster."""
    current = endpoint.in_clusters.get(general.Scenes.cluster_id)
    if isinstance(current, ExtendedScenes):
        return current
    cluster = ExtendedScenes(endpoint, is_server=True)
    endpoint.add_input_cluster(general.Scenes.cluster_id, cluster)
    return cluster
