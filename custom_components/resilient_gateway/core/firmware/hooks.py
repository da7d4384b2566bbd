"""The updater's narrow view of a ``Gateway``: its scheduler and budget, which devices
sleep, and the device configuration (groups, scene entries, bindings, reporting) the
gateway keeps and repairs. Only this file knows the gateway's shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..configuration import DeviceConfiguration, configurations
from ..model import DeviceId, SleepMode
from ..radio import RadioBudget
from ..scheduler import Priority, SendScheduler
from .updater import Configuration

if TYPE_CHECKING:
    from ..gateway import Gateway


class GatewayFirmwareHooks:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    @property
    def scheduler(self) -> SendScheduler:
        return self._gateway.scheduler

    @property
    def budget(self) -> RadioBudget:
        return self._gateway.radio.budget

    def is_sleepy(self, device_id: DeviceId) -> bool:
        device = self._gateway.devices.get(device_id)
        return device is not None and device.sleep_mode is SleepMode.SLEEPY

    def configuration(self, device_id: DeviceId) -> Configuration:
        gateway = self._gateway
        members = {group.group_id: group.members for group in gateway.groups.values()}
        wanted = configurations(members, list(gateway.scenes)).get(device_id)
        if wanted is None:
            return Configuration(frozenset(), ())
        return Configuration(wanted.groups, wanted.scenes)

    async def configure(self, device_id: DeviceId, configuration: Configuration) -> None:
        await self._gateway.configurer.configure(
            device_id,
            DeviceConfiguration(configuration.groups, configuration.scenes),
            Priority.REPAIR,
        )
