"""The Zigbee section of a gateway snapshot: network identity and interview data.

zigpy's network backup holds only the coordinator's identity (keys, frame counters, PAN);
devices, endpoints and groups live in its SQLite database. The section carries both, in
plain JSON, so a gateway restored on a new machine knows its devices without interviewing
them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import voluptuous as vol
import zigpy.endpoint
import zigpy.profiles.zha
import zigpy.profiles.zll
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.application import ControllerApplication
from zigpy.backups import NetworkBackup
from zigpy.device import Device

_LOGGER = logging.getLogger(__name__)

SECTION: Final = "zigbee"
_PROFILE_DEVICE_TYPES: Final[dict[int, Any]] = {
    zigpy.profiles.zha.PROFILE_ID: zigpy.profiles.zha.DeviceType,
    zigpy.profiles.zll.PROFILE_ID: zigpy.profiles.zll.DeviceType,
}


def network_id(backup: NetworkBackup) -> str:
    """What tells two networks apart to a user: the extended PAN id."""
    return str(backup.network_info.extended_pan_id)


def parse_network_backup(data: Mapping[str, Any]) -> NetworkBackup:
    """A zigpy network backup or an Open Coordinator Backup (ZHA, Zigbee2MQTT).

    Raises ValueError when it is neither or cannot recreate a network.
    """
    try:
        backup = NetworkBackup.from_dict(dict(data))
    except Exception as exc:  # any shape zigpy cannot read is refused
        # (Never the data itself in the message: it holds the network key.)
        raise ValueError(f"not a Zigbee network backup ({type(exc).__name__})") from None
    if not backup.is_complete():
        raise ValueError("the Zigbee network backup is incomplete")
    return backup


def check_section(section: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``section`` can be restored as it is: a complete network
    backup, and devices and groups of the shapes ``adopt_devices`` and ``adopt_groups``
    take. Checked before phase 1 touches the radio, so a bad section changes nothing."""
    parse_network_backup(section.get("network") or {})
    try:
        _SECTION_SCHEMA(dict(section))
    except vol.Invalid as exc:
        raise ValueError(f"the Zigbee section is not valid: {_describe(exc)}") from None


def _describe(error: vol.Invalid) -> str:
    if isinstance(error, vol.MultipleInvalid):
        error = error.errors[0]
    where = "".join(f"[{part!r}]" for part in error.path)
    return f"{where}: {error.msg}" if where else str(error.msg)


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise vol.Invalid(f"expected an integer in {low}..{high}")
        return value

    return check


def _ieee(value: Any) -> str:
    try:
        t.EUI64.convert(value)
    except Exception:  # (zigpy asserts on some malformed input)
        raise vol.Invalid("expected an IEEE address") from None
    return str(value)


def _node_descriptor(value: Any) -> str:
    try:
        zdo_t.NodeDescriptor.deserialize(bytes.fromhex(value))
    except Exception:  # (zigpy asserts on some malformed input)
        raise vol.Invalid("expected a serialised node descriptor") from None
    return str(value)


def _optional_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise vol.Invalid("expected text or null")
    return value


def _member(value: Any) -> list[Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise vol.Invalid("expected an [IEEE address, endpoint] pair")
    return [_ieee(value[0]), _integer(1, 254)(value[1])]


_CLUSTERS = vol.Schema([_integer(0, 0xFFFF)])
_ENDPOINT = vol.Schema(
    {
        vol.Required("id"): _integer(1, 254),
        vol.Required("profile_id"): _integer(0, 0xFFFF),
        vol.Required("device_type"): vol.Any(None, _integer(0, 0xFFFF)),
        vol.Required("in_clusters"): _CLUSTERS,
        vol.Required("out_clusters"): _CLUSTERS,
    },
    extra=vol.ALLOW_EXTRA,
)
_DEVICE = vol.Schema(
    {
        vol.Required("ieee"): _ieee,
        vol.Required("nwk"): _integer(0, 0xFFFF),
        vol.Required("node_descriptor"): _node_descriptor,
        vol.Optional("manufacturer"): _optional_text,
        vol.Optional("model"): _optional_text,
        vol.Required("endpoints"): vol.Schema([_ENDPOINT]),
    },
    extra=vol.ALLOW_EXTRA,
)
_GROUP = vol.Schema(
    {
        vol.Required("group_id"): _integer(0, 0xFFFF),
        vol.Required("name"): _optional_text,
        vol.Required("members"): vol.Schema([_member]),
    },
    extra=vol.ALLOW_EXTRA,
)
_SECTION_SCHEMA = vol.Schema(
    {
        vol.Required("network"): dict,
        vol.Optional("devices"): vol.Schema([_DEVICE]),
        vol.Optional("groups"): vol.Schema([_GROUP]),
    },
    extra=vol.ALLOW_EXTRA,
)


def export_devices(app: ControllerApplication) -> list[dict[str, Any]]:
    """Every interviewed device with what its interview found."""
    coordinator = app.state.node_info.ieee
    devices = []
    for device in app.devices.values():
        if not isinstance(device, Device) or device.ieee == coordinator:
            continue
        if not device.is_initialized or device.node_desc is None:
            continue
        endpoints = []
        for endpoint_id, endpoint in device.endpoints.items():
            if endpoint_id == 0 or not isinstance(endpoint, zigpy.endpoint.Endpoint):
                continue
            endpoints.append(
                {
                    "id": endpoint_id,
                    "profile_id": endpoint.profile_id,
                    "device_type": None
                    if endpoint.device_type is None
                    else int(endpoint.device_type),
                    "in_clusters": sorted(endpoint.in_clusters),
                    "out_clusters": sorted(endpoint.out_clusters),
                }
            )
        devices.append(
            {
                "ieee": str(device.ieee),
                "nwk": int(device.nwk),
                "node_descriptor": device.node_desc.serialize().hex(),
                "manufacturer": device.manufacturer,
                "model": device.model,
                "endpoints": endpoints,
                "last_seen": device.last_seen,
            }
        )
    return devices


def export_groups(app: ControllerApplication) -> list[dict[str, Any]]:
    return [
        {
            "group_id": int(group.group_id),
            "name": group.name,
            "members": sorted([str(ieee), int(endpoint_id)] for ieee, endpoint_id in group.members),
        }
        for group in app.groups.values()
    ]


def adopt_devices(app: ControllerApplication, devices: list[Mapping[str, Any]]) -> list[str]:
    """Make zigpy know the snapshot's devices it does not know (no interview: the
    snapshot has what the interview found). Returns the adopted IEEE addresses."""
    adopted = []
    for item in devices:
        ieee = t.EUI64.convert(item["ieee"])
        if ieee in app.devices:
            continue
        device = app.add_device(ieee, t.NWK(item["nwk"]))  # type: ignore[no-untyped-call]
        device.node_desc, _ = zdo_t.NodeDescriptor.deserialize(
            bytes.fromhex(item["node_descriptor"])
        )
        device.manufacturer = item.get("manufacturer")
        device.model = item.get("model")
        for described in item["endpoints"]:
            endpoint = device.add_endpoint(described["id"])
            endpoint.profile_id = described["profile_id"]
            device_types = _PROFILE_DEVICE_TYPES.get(described["profile_id"])
            raw_type = described["device_type"]
            typed: Any = endpoint  # zigpy types device_type as a ZHA device type only
            typed.device_type = (
                device_types(raw_type) if device_types and raw_type is not None else raw_type
            )
            for cluster_id in described["in_clusters"]:
                endpoint.add_input_cluster(cluster_id)
            for cluster_id in described["out_clusters"]:
                endpoint.add_output_cluster(cluster_id)
            endpoint.status = zigpy.endpoint.Status.ZDO_INIT
        app.device_initialized(device)
        adopted.append(str(ieee))
    return adopted


def adopt_groups(app: ControllerApplication, groups: list[Mapping[str, Any]]) -> None:
    """Put the snapshot's groups and members into zigpy's group table (the devices' own
    group tables are checked and repaired separately, over the air)."""
    for item in groups:
        group = app.groups.add_group(item["group_id"], item["name"])
        for ieee_text, endpoint_id in item["members"]:
            ieee = t.EUI64.convert(ieee_text)
            device = app.devices.get(ieee)
            if not isinstance(device, Device) or (ieee, endpoint_id) in group.members:
                continue
            endpoint = device.endpoints.get(endpoint_id)
            if isinstance(endpoint, zigpy.endpoint.Endpoint):
                group.add_member(endpoint)
