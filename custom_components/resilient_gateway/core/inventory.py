"""The radio's devices and groups as the gateway last described them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from .model import DeviceDescription, DeviceId, GroupDescription
from .radio import RadioLink

INVENTORY_DEBOUNCE = 0.2
"""Seconds of quiet before inventory changes (joins, group members) are taken in."""

type InventoryChanged = Callable[[set[DeviceId], bool], None]
"""Called after every inventory: the devices that are new, and whether the devices or
groups changed at all (a join, a leave, a new group member)."""


class NotInNetwork(LookupError):
    """A command names a group or scene the gateway's network does not have (any more):
    the caller's mistake or a stale entity, not a defect of the core."""


class Inventory:
    """Devices and groups, replaced as a whole at each inventory (never updated in
    place: whoever looks a device up asks ``description``, never a dict it kept)."""

    def __init__(self, radio: RadioLink, on_changed: InventoryChanged) -> None:
        self._radio = radio
        self._on_changed = on_changed
        self.devices: dict[DeviceId, DeviceDescription] = {}
        self.groups: dict[int, GroupDescription] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def description(self, device_id: DeviceId) -> DeviceDescription | None:
        """The device as last inventoried."""
        return self.devices.get(device_id)

    def members(self, group_id: int) -> list[DeviceId]:
        """The group's members the gateway knows (NotInNetwork for an unknown group)."""
        group = self.groups.get(group_id)
        if group is None:
            raise NotInNetwork(f"no group 0x{group_id:04x}")
        return [m for m in group.members if m in self.devices]

    def take_soon(self) -> None:
        """The radio's devices or groups changed. A network start or a join brings a
        burst of these (one per device and group member): the inventory is taken once
        per burst, not once per event."""
        if self._timer is None and not self._stopped:
            self._timer = asyncio.get_running_loop().call_later(INVENTORY_DEBOUNCE, self._settled)

    def _settled(self) -> None:
        self._timer = None
        self.take()

    def take(self) -> None:
        """Describe the radio's devices and groups now."""
        before = (set(self.devices), self.groups)
        self.devices = {device.device_id: device for device in self._radio.devices()}
        self.groups = {group.group_id: group for group in self._radio.groups()}
        changed = (set(self.devices), self.groups) != before
        self._on_changed(self.devices.keys() - before[0], changed)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def as_payload(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The devices and groups as a snapshot's payload holds them."""
        devices = [_description_dict(d) for d in self.devices.values()]
        groups = [
            {"group_id": g.group_id, "name": g.name, "members": list(g.members)}
            for g in self.groups.values()
        ]
        return devices, groups


def _description_dict(device: DeviceDescription) -> dict[str, Any]:
    data = dataclasses.asdict(device)
    data["attributes"] = sorted(device.attributes)
    return data
