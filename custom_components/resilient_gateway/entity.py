"""Base entity: one device of a gateway, showing what the device itself reported."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from homeassistant.core import callback
from homeassistant.helpers.entity import Entity

from .const import ATTR_SYNC
from .coordinator import GatewayCoordinator
from .core.availability import Availability
from .core.model import AttributeValues, DeviceDescription


def renamed_in_place(parent: Any, old_entity_id: str) -> None:
    """What an entity class that sets itself up in ``async_added_to_hass`` does when its
    entity id changes: Home Assistant 2026.11 renames such entities in place only when the
    class defines ``async_entity_id_changed`` (2027.11 always will); without it, or on
    2026.10, the entity is removed and added again. Nothing of ours is keyed on the entity
    id, so the base class's hook (where there is one) is all there is to run."""
    hook = getattr(parent, "async_entity_id_changed", None)
    if hook is not None:
        hook(old_entity_id)


class GatewayEntity(Entity):
    """An entity of one device; state comes only from the device's reports and reads."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # Whether this is the entity that takes the device's commands (named in events).
    _takes_commands = False

    def __init__(
        self, coordinator: GatewayCoordinator, device: DeviceDescription, key: str
    ) -> None:
        self.coordinator = coordinator
        self.device = device
        self._attr_unique_id = f"{device.device_id}-{key}"
        self._attr_device_info = coordinator.device_info(device)

    @property
    def available(self) -> bool:
        """Unavailable only when the device is known to be unreachable. While the radio is
        down or a device is not re-confirmed yet it stays available (commands queue) with
        an unknown state: never a stale one."""
        gateway = self.coordinator.gateway
        return gateway.device_availability(self.device.device_id) is not Availability.OFFLINE

    @property
    def values(self) -> dict[str, Any]:
        return self.coordinator.gateway.values(self.device.device_id)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_subscribe_device(self.device.device_id, self._handle_update)
        )
        if self._takes_commands:
            # The entity itself, not its entity_id: events read the id when they need it,
            # so a rename (in place from Home Assistant 2026.11) needs no bookkeeping.
            commanded = self.coordinator.command_entities
            device_id = self.device.device_id
            commanded[device_id] = self

            def forget() -> None:
                if commanded.get(device_id) is self:
                    del commanded[device_id]

            self.async_on_remove(forget)

    @callback
    def async_entity_id_changed(self, old_entity_id: str) -> None:
        """Renamed: nothing here is keyed on the entity id (see ``renamed_in_place``)."""
        renamed_in_place(super(), old_entity_id)

    @callback
    def _handle_update(self) -> None:
        self.async_write_ha_state()

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        return {ATTR_SYNC: self.coordinator.gateway.sync_state(self.device.device_id)}

    async def _async_set(self, values: AttributeValues, transition: float | None = None) -> None:
        """Hand the command to the change engine, which follows it until the device shows it.

        Returns at once: the entity's state changes when the device reports, and its
        ``sync`` attribute says meanwhile whether the command is pending, verified or failed.
        """
        self.coordinator.gateway.set_state(self.device.device_id, values, transition=transition)


@callback
def async_add_new_entities[T](
    coordinator: GatewayCoordinator,
    async_add_entities: Callable[[Iterable[Entity]], None],
    items: Callable[[], Iterable[T]],
    key: Callable[[T], Hashable],
    build: Callable[[T], Iterable[Entity]],
) -> None:
    """Add entities for every item (device, group, scene) now, and for every item that
    appears later in the gateway's inventory."""
    known: set[Hashable] = set()

    @callback
    def add_new() -> None:
        new = [item for item in items() if key(item) not in known]
        known.update(key(item) for item in new)
        if entities := [entity for item in new for entity in build(item)]:
            async_add_entities(entities)

    add_new()
    coordinator.entry.async_on_unload(coordinator.async_subscribe_inventory(add_new))


@callback
def async_add_device_entities(
    coordinator: GatewayCoordinator,
    async_add_entities: Callable[[Iterable[Entity]], None],
    build: Callable[[DeviceDescription], Iterable[Entity]],
) -> None:
    """Add entities for every device now, and for every device that joins later."""
    async_add_new_entities(
        coordinator,
        async_add_entities,
        lambda: coordinator.gateway.devices.values(),  # noqa: PLW0108 (a new dict each refresh)
        lambda device: device.device_id,
        build,
    )
