"""A virtual Zigbee radio: zigpy driving a simulated network with fault injection.

- ``VirtualNetworkSpec``: the house (device counts) and the faults of its air.
- ``VirtualAir``: the simulated network; ``await VirtualAir.load_or_create(spec, path)``,
  fault methods, ``ground_truth()``, ``await air.save()``, ``await air.stop()``.
- ``VirtualControllerApplication``: the zigpy ``ControllerApplication`` for
  ``{"device": {"path": air.path}}``.
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
from .kinds import MANUFACTURER, DeviceKind, SleepMode
from .spec import VirtualNetworkSpec, network_path
from .stats import AirStats

__all__ = [
    "ALL_LIGHTS_GROUP_ID",
    "ALL_LIGHTS_GROUP_NAME",
    "MANUFACTURER",
    "AirStats",
    "DeviceKind",
    "ExtendedScenes",
    "ExtensionFieldSet",
    "ExtensionFieldSets",
    "SceneValues",
    "SleepMode",
    "VirtualAir",
    "VirtualControllerApplication",
    "VirtualNetworkSpec",
    "find_air",
    "network_path",
    "use_extended_scenes",
]
