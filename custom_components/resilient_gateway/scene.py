"""Gateway scenes: one groupcast recall, then every member verified and repaired."""

from __future__ import annotations

from typing import Any

from homeassistant.components.scene import Scene
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.scenes import GatewayScene
from .entity import GatewayGroupEntity, async_add_new_entities

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ResilientGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    async_add_new_entities(
        coordinator,
        async_add_entities,
        lambda: coordinator.gateway.scenes,
        lambda scene: scene.key,
        lambda scene: [GatewaySceneEntity(coordinator, scene)],
    )


class GatewaySceneEntity(GatewayGroupEntity, Scene):
    """A scene of a light group, stored both in the bulbs and in the gateway. Available as
    the group's lights are: unless every member is known to be unreachable (while the
    radio is down its recall queues, as their commands do)."""

    def __init__(self, coordinator: GatewayCoordinator, scene: GatewayScene) -> None:
        super().__init__(coordinator, scene.group_id, f"scene-{scene.group_id}-{scene.scene_id}")
        self.scene_id = scene.scene_id
        self._attr_name = scene.name

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        scene = self.coordinator.gateway.scenes.get(self.group_id, self.scene_id)
        return {
            "group_id": self.group_id,
            "scene_id": self.scene_id,
            "members": len(scene.member_states) if scene else 0,
        }

    async def async_activate(self, **kwargs: Any) -> None:
        """Recall; the change engine then follows every member until it shows the scene."""
        gateway = self.coordinator.gateway
        group_id, scene_id = self.group_id, self.scene_id
        await self._async_command(lambda: gateway.recall_scene(group_id, scene_id))
