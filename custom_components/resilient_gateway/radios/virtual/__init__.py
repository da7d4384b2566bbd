"""A virtual Zigbee radio: zigpy driving a simulated network with fault injection.

- ``VirtualNetworkSpec``: the house (device counts) and the faults of its air.
- ``VirtualAir``: the simulated network; ``await VirtualAir.load_or_create(spec, path)``,
  fault methods, ``ground_truth()``, ``await air.save()``, ``await air.stop()``.
- ``VirtualControllerApplication``: the zigpy ``ControllerApplication`` for
  ``{"device": {"path": air.path}}`` (the primary radio) or ``air.standby_path`` (the
  standby radio of a ``standby_radio`` network).
- ``ExtendedScenes`` / ``use_extended_scenes``: zigpy's Scenes cluster with extension
  field sets, for scene add/view with member states on any radio.
"""

from ..zigbee.scenes import (
    ExtendedScenes,
    ExtensionFieldSet,
    ExtensionFieldSets,
    SceneValues,
    use_extended_scenes,
)
from .air import VirtualAir, find_air
from .application import VirtualControllerApplication
from .house import ALL_LIGHTS_GROUP_ID, ALL_LIGHTS_GROUP_NAME
from .kinds import MANUFACTURER, SimKind
from .spec import (
    PRIMARY,
    RADIO_SLOTS,
    STANDBY,
    RadioSlot,
    VirtualNetworkSpec,
    network_from_path,
    network_path,
    slot_from_path,
)
from .stats import AirStats

__all__ = [
    "ALL_LIGHTS_GROUP_ID",
    "ALL_LIGHTS_GROUP_NAME",
    "MANUFACTURER",
    "PRIMARY",
    "RADIO_SLOTS",
    "STANDBY",
    "AirStats",
    "ExtendedScenes",
    "ExtensionFieldSet",
    "ExtensionFieldSets",
    "RadioSlot",
    "SceneValues",
    "SimKind",
    "VirtualAir",
    "VirtualControllerApplication",
    "VirtualNetworkSpec",
    "find_air",
    "network_from_path",
    "network_path",
    "slot_from_path",
    "use_extended_scenes",
]
