"""The one base of every entity: a device of a gateway, a group, a scene or the gateway
itself, showing only what the devices themselves reported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity

from .const import ATTR_SYNC, DOMAIN
from .coordinator import GatewayCoordinator, GatewayNews
from .core.availability import Availability
from .core.changes import EngineStopped
from .core.health import describe_failure
from .core.inventory import NotInNetwork
from .core.model import AttributeValues, DeviceDescription, DeviceId, FieldDescription, FieldKind
from .core.radio import RadioError, UnsupportedValue

type Unsubscribe = Callable[[], None]


def renamed_in_place(parent: Any, old_entity_id: str) -> None:
    """What an entity class that sets itself up in ``async_added_to_hass`` does when its
    entity id changes: Home Assistant 2026.11 renames such entities in place only when the
    class defines ``async_entity_id_changed`` (2027.11 always will); without it, or on
    2026.10, the entity is removed and added again. Nothing of ours is keyed on the entity
    id, so the base class's hook (where there is one) is all there is to run."""
    hook = getattr(parent, "async_entity_id_changed", None)
    if hook is not None:
        hook(old_entity_id)


def _command_error_words(error: Exception) -> str:
    """Why a command could not be handed to the gateway, in plain words."""
    if isinstance(error, EngineStopped):
        return "the gateway is not running"
    if isinstance(error, NotInNetwork):
        return "the gateway's network no longer has it"
    if isinstance(error, RadioError):
        return describe_failure(error)
    return str(error) or type(error).__name__  # a value the radio cannot send


@contextmanager
def command_errors(target: str) -> Iterator[None]:
    """Turn what the core raises for a command into the translated ``command_failed``:
    no raw exception reaches the UI. (Anything else is a defect and stays visible.)"""
    try:
        yield
    except (EngineStopped, NotInNetwork, UnsupportedValue, RadioError) as error:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_failed",
            translation_placeholders={"device": target, "error": _command_error_words(error)},
        ) from error


class GatewayEntity(Entity):
    """An entity of one gateway: of one of its devices (``device``), or of the gateway
    itself (a status, a light group, a scene).

    It follows the signals it needs (its devices', and the gateway's news it names in
    ``_gateway_news``) and rewrites its state when they come; commands go through
    ``_async_command``, which translates every error.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    # Whether this is the entity that takes the device's commands (named in events, and
    # showing a ``sync`` attribute).
    _takes_commands = False
    # The gateway's news that rewrites this entity's state.
    _gateway_news: frozenset[GatewayNews] = frozenset()
    # Write the state once per loop turn, however many updates came in it.
    _debounce_writes = False

    def __init__(
        self, coordinator: GatewayCoordinator, device: DeviceDescription | None, key: str
    ) -> None:
        self.coordinator = coordinator
        self._device = device
        if device is None:
            self._attr_unique_id = f"{coordinator.entry.entry_id}-{key}"
            self._attr_device_info = coordinator.gateway_device_info
        else:
            self._attr_unique_id = f"{device.device_id}-{key}"
            self._attr_device_info = coordinator.device_info(device)
        self._followed: dict[DeviceId, Unsubscribe] = {}
        self._write_soon: asyncio.Task[None] | None = None

    @property
    def device(self) -> DeviceDescription:
        """The device of a device entity (not for the gateway's own entities)."""
        assert self._device is not None, "an entity of the gateway itself has no device"
        return self._device

    # -- state -----------------------------------------------------------------------

    def _followed_devices(self) -> Iterable[DeviceId]:
        """The devices whose news rewrites this entity."""
        return () if self._device is None else (self._device.device_id,)

    @property
    def available(self) -> bool:
        """Unavailable only when its devices are all known to be unreachable. While the
        radio is down or a device is not re-confirmed yet it stays available (Home
        Assistant drops commands to unavailable entities, and these queue) with an unknown
        state: never a stale one. A Bluetooth device nobody hears is unavailable."""
        coordinator = self.coordinator
        gateway = coordinator.gateway
        devices = list(self._followed_devices())
        return not devices or any(
            gateway.device_availability(device) is not Availability.OFFLINE
            and coordinator.in_range(device)
            for device in devices
        )

    @property
    def values(self) -> dict[str, Any]:
        return self.coordinator.gateway.values(self.device.device_id)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """``sync`` on the entity that takes a device's commands, once it was commanded."""
        if not self._takes_commands:
            return {}
        sync = self.coordinator.gateway.sync_state(self.device.device_id)
        return {} if sync is None else {ATTR_SYNC: sync}

    # -- subscriptions ---------------------------------------------------------------

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if self._gateway_news:
            self.async_on_remove(
                async_dispatcher_connect(
                    self.hass, self.coordinator.gateway_signal, self._async_gateway_news
                )
            )
        self._async_follow_devices()
        self.async_on_remove(self._async_unfollow_devices)
        self.async_on_remove(self._async_cancel_write)
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
    def _async_follow_devices(self) -> None:
        """Follow the devices ``_followed_devices`` names now (a group's members change)."""
        wanted = set(self._followed_devices())
        for device_id in self._followed.keys() - wanted:
            self._followed.pop(device_id)()
        for device_id in wanted - self._followed.keys():
            self._followed[device_id] = async_dispatcher_connect(
                self.hass, self.coordinator.device_signal(device_id), self._async_device_updated
            )

    @callback
    def _async_unfollow_devices(self) -> None:
        for unsubscribe in self._followed.values():
            unsubscribe()
        self._followed.clear()

    @callback
    def _async_gateway_news(self, news: GatewayNews) -> None:
        if news is GatewayNews.INVENTORY:
            self._async_follow_devices()
        if news in self._gateway_news:
            self._async_handle_update()

    @callback
    def _async_device_updated(self) -> None:
        self._async_handle_update()

    @callback
    def _async_handle_update(self) -> None:
        if not self._debounce_writes:
            self.async_write_ha_state()
        elif self._write_soon is None:
            # A task Home Assistant tracks (not a bare loop callback): it runs once the
            # updates of this loop turn are in, and waiting for Home Assistant waits for it.
            self._write_soon = self.hass.async_create_task(
                self._async_write_soon(), f"{self.entity_id} state", eager_start=False
            )

    async def _async_write_soon(self) -> None:
        self._write_soon = None
        self.async_write_ha_state()

    @callback
    def _async_cancel_write(self) -> None:
        if self._write_soon is not None:
            self._write_soon.cancel()
            self._write_soon = None

    # -- commands --------------------------------------------------------------------

    def _command_target(self) -> str:
        """Whom a failed command names: the entity as the user knows it."""
        return self.entity_id or str(self.name)

    async def _async_command[R](self, command: Callable[[], R]) -> R:
        """Hand a command to the gateway; what the core raises becomes the translated
        ``command_failed``."""
        with command_errors(self._command_target()):
            return command()

    async def _async_set(self, values: AttributeValues, transition: float | None = None) -> None:
        """Hand the command to the change engine, which follows it until the device shows it.

        Returns at once: the entity's state changes when the device reports, and its
        ``sync`` attribute says meanwhile whether the command is pending, verified or failed.
        """
        device_id = self.device.device_id
        gateway = self.coordinator.gateway
        await self._async_command(
            lambda: gateway.set_state(device_id, values, transition=transition)
        )


def known_device_class[E: StrEnum](kind: type[E], name: str | None) -> E | None:
    """The device class a node named in its ``_meta``, if Home Assistant knows it."""
    try:
        return None if name is None else kind(name)
    except ValueError:
        return None


class GatewayFieldEntity(GatewayEntity):
    """An entity of one of a device's own named fields (a Wi-Fi node's JSON field),
    named after the field; available while the node's link is up."""

    def __init__(
        self, coordinator: GatewayCoordinator, device: DeviceDescription, field: FieldDescription
    ) -> None:
        super().__init__(coordinator, device, f"field-{field.name}")
        self.field = field
        self._attr_name = field.name

    @property
    def available(self) -> bool:
        status = self.coordinator.node_status(self.device.device_id)
        return self.coordinator.gateway.radio_up and bool(status and status["connected"])

    @property
    def field_value(self) -> Any:
        return self.values.get(self.field.name)

    @property
    def is_on(self) -> bool | None:
        """A boolean field's value (a binary sensor's, a switch's)."""
        value = self.field_value
        return None if value is None else bool(value)


class GatewayGroupEntity(GatewayEntity):
    """An entity of a radio group (a group light, a scene of the group), on the gateway's
    device: it follows the group's members, and writes its state once per loop turn
    however many of them reported in it (a groupcast brings a burst of reports)."""

    _gateway_news = frozenset({GatewayNews.INVENTORY})
    _debounce_writes = True

    def __init__(self, coordinator: GatewayCoordinator, group_id: int, key: str) -> None:
        super().__init__(coordinator, None, key)
        self.group_id = group_id

    @property
    def members(self) -> tuple[DeviceId, ...]:
        """The group's members as the radio knows them now (they come and go)."""
        group = self.coordinator.gateway.groups.get(self.group_id)
        return () if group is None else group.members

    def _followed_devices(self) -> Iterable[DeviceId]:
        return self.members


@callback
def async_add_new_entities[T](
    coordinator: GatewayCoordinator,
    async_add_entities: Callable[[Iterable[Entity]], None],
    items: Callable[[], Iterable[T]],
    key: Callable[[T], Hashable],
    build: Callable[[T], Iterable[Entity]],
) -> None:
    """Add entities for every item (device, group, scene) now, and for every item that
    appears later in the gateway's inventory (again, if it left and came back)."""
    known: set[Hashable] = set()

    @callback
    def add_new(news: GatewayNews = GatewayNews.INVENTORY) -> None:
        if news is not GatewayNews.INVENTORY:
            return
        current = {key(item): item for item in items()}
        known.intersection_update(current)
        new = [item for item_key, item in current.items() if item_key not in known]
        known.update(current)
        if entities := [entity for item in new for entity in build(item)]:
            async_add_entities(entities)

    add_new()
    coordinator.entry.async_on_unload(
        async_dispatcher_connect(coordinator.hass, coordinator.gateway_signal, add_new)
    )


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


@callback
def async_add_field_entities(
    coordinator: GatewayCoordinator,
    async_add_entities: Callable[[Iterable[Entity]], None],
    kind: FieldKind,
    entity_class: Callable[[GatewayCoordinator, DeviceDescription, FieldDescription], Entity],
) -> None:
    """Add an ``entity_class`` entity for every field of ``kind`` of every device now, and
    for every such field that appears later (a node declares its fields in its reports)."""
    async_add_new_entities(
        coordinator,
        async_add_entities,
        lambda: [
            (device, field)
            for device in coordinator.gateway.devices.values()
            for field in device.fields
            if field.kind is kind
        ],
        lambda item: (item[0].device_id, item[1].name, kind),
        lambda item: [entity_class(coordinator, *item)],
    )
