"""A whole radio for a Gateway in core tests: a FakeRadio (``air``) for what goes on air,
plus start/stop, inventory and the health checks, without zigpy."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from custom_components.resilient_gateway.core.model import (
    Attr,
    AttributeValues,
    DeviceDescription,
    DeviceId,
    GroupDescription,
)
from custom_components.resilient_gateway.core.radio import LinkState, RadioBudget, RadioListener

from .fake_radio import FakeRadio


class FakeLink:
    """Starts at once, holds the gateway's network, and never fails a health check."""

    def __init__(self, listener: RadioListener, **air: Any) -> None:
        self.air = FakeRadio(**air)
        self.air.listener = listener
        self._state = LinkState.DOWN

    # ---- the air --------------------------------------------------------------------

    @property
    def budget(self) -> RadioBudget:
        return self.air.budget

    async def send(
        self, device_id: DeviceId, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        await self.air.send(device_id, values, transition=transition)

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        return await self.air.read(device_id, attributes)

    async def send_group(
        self, group_id: int, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        await self.air.send_group(group_id, values, transition=transition)

    async def recall_scene(self, group_id: int, scene_id: int) -> None:
        await self.air.recall_scene(group_id, scene_id)

    async def store_scene(
        self, device_id: DeviceId, group_id: int, scene_id: int, values: AttributeValues
    ) -> None:
        await self.air.store_scene(device_id, group_id, scene_id, values)

    def frames_to_send(self, values: AttributeValues) -> int:
        return self.air.frames_to_send(values)

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        return self.air.frames_to_read(attributes)

    # ---- the link -------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    async def start(self, *, form_new_network: bool = False) -> None:
        self._state = LinkState.UP

    async def stop(self) -> None:
        self._state = LinkState.DOWN

    def devices(self) -> list[DeviceDescription]:
        return [device.description for device in self.air.devices.values()]

    def groups(self) -> list[GroupDescription]:
        return []

    def diagnostics(self) -> dict[str, Any]:
        return {}

    async def probe(self) -> None:
        pass

    async def reconnect(self) -> None:
        pass

    async def restart(self) -> None:
        pass

    @property
    def has_standby(self) -> bool:
        return False

    async def failover(self, section: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def check_values(self, device_id: DeviceId | None, values: AttributeValues) -> None:
        pass

    async def ping(self, device_id: DeviceId) -> None:
        await self.read(device_id, ())

    async def configure_device(
        self,
        device_id: DeviceId,
        groups: Collection[int],
        scenes: Collection[tuple[int, int, AttributeValues]],
    ) -> None:
        pass

    def configuration_frames(
        self, device_id: DeviceId, groups: Collection[int], scene_count: int
    ) -> int:
        return 1

    @property
    def section_name(self) -> str:
        return "fake"

    def network_id(self) -> str | None:
        return "fake-network"

    async def export_section(self) -> dict[str, Any]:
        return {}

    async def export_network(self) -> dict[str, Any]:
        return {}

    async def write_network_identity(
        self, section: Mapping[str, Any], *, force: bool = False
    ) -> None:
        pass

    async def adopt(self, section: Mapping[str, Any]) -> list[DeviceId]:
        return []
