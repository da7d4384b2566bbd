"""Measurements of a gateway's devices, and the gateway's own status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfPower, UnitOfTemperature
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import GatewayCoordinator, GatewayNews, ResilientGatewayConfigEntry
from .core.change_results import ChangeCounts
from .core.gateway import RunStatus
from .core.health import RadioHealth
from .core.model import (
    Attr,
    DeviceDescription,
    DeviceId,
    DeviceKind,
    FieldDescription,
    FieldKind,
    SleepMode,
)
from .entity import (
    GatewayEntity,
    GatewayFieldEntity,
    async_add_device_entities,
    async_add_field_entities,
    known_device_class,
    renamed_in_place,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class GatewaySensorDescription(SensorEntityDescription):
    attr: Attr


SENSORS: tuple[GatewaySensorDescription, ...] = (
    GatewaySensorDescription(
        key="temperature",
        attr=Attr.TEMPERATURE,
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
    ),
    GatewaySensorDescription(
        key="humidity",
        attr=Attr.HUMIDITY,
        device_class=SensorDeviceClass.HUMIDITY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
    ),
    GatewaySensorDescription(
        key="power",
        attr=Attr.POWER,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
    ),
    GatewaySensorDescription(
        key="battery",
        attr=Attr.BATTERY,
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
)


def _sensors_for(coordinator: GatewayCoordinator, device: DeviceDescription) -> list[GatewaySensor]:
    # A thermostat's own temperature belongs to its climate entity.
    if device.kind is DeviceKind.THERMOSTAT:
        return []
    return [
        GatewaySensor(coordinator, device, description)
        for description in SENSORS
        if description.attr in device.attributes
    ]


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ResilientGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    async_add_entities(
        GatewayChangesSensor(coordinator, description) for description in CHANGE_SENSORS
    )
    async_add_entities(
        GatewayStatusSensor(coordinator, description) for description in STATUS_SENSORS
    )
    async_add_device_entities(
        coordinator, async_add_entities, lambda device: _sensors_for(coordinator, device)
    )
    if coordinator.wifi_node_radio is not None:
        async_add_device_entities(
            coordinator,
            async_add_entities,
            lambda device: [NodeConnectionSensor(coordinator, device)],
        )
    async_add_field_entities(coordinator, async_add_entities, FieldKind.SENSOR, GatewayFieldSensor)
    if coordinator.firmware is not None:
        async_add_entities([FirmwareUpdatesSensor(coordinator)])


@dataclass(frozen=True, kw_only=True)
class ChangesSensorDescription(SensorEntityDescription):
    value: Callable[[ChangeCounts], int]


# The change counts, the run status and the restore progress move with every command, pause
# or restore step: disabled until someone wants them (the radio status and the last
# snapshot say whether the gateway is well).
CHANGE_SENSORS: tuple[ChangesSensorDescription, ...] = (
    ChangesSensorDescription(
        key="pending_changes",
        translation_key="pending_changes",
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda counts: counts.pending_changes,
    ),
    ChangesSensorDescription(
        key="failed_changes",
        translation_key="failed_changes",
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Devices, as its name says ("Devices with failed changes"): one device with two
        # failed attributes is one thing to look at.
        value=lambda counts: counts.failed_devices,
    ),
)


class GatewayChangesSensor(GatewayEntity, SensorEntity):
    """How many commands the gateway is still following, or saw fail (on the gateway)."""

    entity_description: ChangesSensorDescription
    _gateway_news = frozenset({GatewayNews.COUNTS})

    def __init__(
        self, coordinator: GatewayCoordinator, description: ChangesSensorDescription
    ) -> None:
        super().__init__(coordinator, None, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> int:
        return self.entity_description.value(self.coordinator.gateway.engine.counts)


ATTR_RESTORED = "restored"


class GatewaySensor(GatewayEntity, RestoreSensor):
    """One measurement, as the device last reported it.

    A sleepy device may stay silent for many minutes after a restart, so its sensors show
    their last value from before the restart, marked ``restored: true``, until the device
    reports again (the gateway reads all of it when it is first heard). Only then: a
    restored value never comes back, not even during a radio outage.
    """

    entity_description: GatewaySensorDescription

    def __init__(
        self,
        coordinator: GatewayCoordinator,
        device: DeviceDescription,
        description: GatewaySensorDescription,
    ) -> None:
        super().__init__(coordinator, device, description.key)
        self.entity_description = description
        self._restored: Any = None  # the value from before the restart, until a live one

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if self.device.sleep_mode is not SleepMode.SLEEPY or self._live is not None:
            return
        if (last := await self.async_get_last_sensor_data()) is not None:
            self._restored = last.native_value

    @callback
    def async_entity_id_changed(self, old_entity_id: str) -> None:
        renamed_in_place(super(), old_entity_id)

    @property
    def _live(self) -> Any:
        return self.values.get(self.entity_description.attr)

    @callback
    def _async_handle_update(self) -> None:
        if self._live is not None:
            self._restored = None
        super()._async_handle_update()

    @property
    def native_value(self) -> Any:
        live = self._live
        return live if live is not None else self._restored

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        attributes = super().extra_state_attributes
        if self._live is None and self._restored is not None:
            attributes[ATTR_RESTORED] = True
        return attributes


@dataclass(frozen=True, kw_only=True)
class StatusSensorDescription(SensorEntityDescription):
    value: Callable[[GatewayCoordinator], Any]
    attributes: Callable[[GatewayCoordinator], dict[str, Any]] = lambda _: {}


def _restore_percent(coordinator: GatewayCoordinator) -> int | None:
    progress = coordinator.restore_progress
    if progress is None:
        return None
    return 100 if progress.total == 0 else round(100 * progress.done / progress.total)


def _last_snapshot_attributes(coordinator: GatewayCoordinator) -> dict[str, Any]:
    info = coordinator.last_snapshot
    if info is None:
        return {}
    return {"device_count": info.device_count, "size": info.size, "file": info.path.name}


STATUS_SENSORS: tuple[StatusSensorDescription, ...] = (
    StatusSensorDescription(
        key="radio_status",
        translation_key="radio_status",
        device_class=SensorDeviceClass.ENUM,
        options=[str(status) for status in RadioHealth],
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda coordinator: str(coordinator.gateway.radio_status),
    ),
    StatusSensorDescription(
        key="run_status",
        translation_key="run_status",
        entity_registry_enabled_default=False,
        device_class=SensorDeviceClass.ENUM,
        options=[str(status) for status in RunStatus],
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda coordinator: str(coordinator.gateway.current_status),
        attributes=lambda coordinator: {"target_status": str(coordinator.gateway.target_status)},
    ),
    StatusSensorDescription(
        key="last_snapshot",
        translation_key="last_snapshot",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda coordinator: (
            coordinator.last_snapshot.created_at if coordinator.last_snapshot else None
        ),
        attributes=_last_snapshot_attributes,
    ),
    StatusSensorDescription(
        key="restore_progress",
        translation_key="restore_progress",
        entity_registry_enabled_default=False,
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=_restore_percent,
        attributes=lambda coordinator: {
            "phase": str(coordinator.restore_progress.phase)
            if coordinator.restore_progress
            else None
        },
    ),
)


class GatewayStatusSensor(GatewayEntity, SensorEntity):
    """The gateway's radio health, run status, last snapshot and restore progress."""

    entity_description: StatusSensorDescription
    _gateway_news = frozenset({GatewayNews.STATUS})

    def __init__(
        self, coordinator: GatewayCoordinator, description: StatusSensorDescription
    ) -> None:
        super().__init__(coordinator, None, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> Any:
        return self.entity_description.value(self.coordinator)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        return self.entity_description.attributes(self.coordinator)


class GatewayFieldSensor(GatewayFieldEntity, SensorEntity):
    """A number a Wi-Fi node reports, with the unit and device class its ``_meta`` gave."""

    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(
        self, coordinator: GatewayCoordinator, device: DeviceDescription, field: FieldDescription
    ) -> None:
        super().__init__(coordinator, device, field)
        self._attr_native_unit_of_measurement = field.unit
        self._attr_device_class = known_device_class(SensorDeviceClass, field.device_class)

    @property
    def native_value(self) -> Any:
        return self.field_value


NODE_CONNECTION_OPTIONS = ["connected", "disconnected"]


class NodeConnectionSensor(GatewayEntity, SensorEntity):
    """A Wi-Fi node's link: connected or not, with its outages and when it was last heard."""

    _attr_translation_key = "node_connection"
    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options = NODE_CONNECTION_OPTIONS
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: GatewayCoordinator, device: DeviceDescription) -> None:
        super().__init__(coordinator, device, "connection")

    @property
    def available(self) -> bool:
        return self.coordinator.node_status(self.device.device_id) is not None

    @property
    def native_value(self) -> str | None:
        status = self.coordinator.node_status(self.device.device_id)
        if status is None:
            return None
        return "connected" if status["connected"] else "disconnected"

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        status = self.coordinator.node_status(self.device.device_id) or {}
        last_seen = status.get("last_seen")
        return {
            "outages": status.get("outages", 0),
            "connects": status.get("connects", 0),
            "last_seen": None
            if last_seen is None
            else dt_util.utc_from_timestamp(last_seen).isoformat(),
        }


ATTR_IN_PROGRESS = "in_progress"


class FirmwareUpdatesSensor(GatewayEntity, SensorEntity):
    """On the gateway: how many of its devices have a firmware update available, with
    the updates under way (transferring, scheduled for a sleeper, verifying) in
    ``in_progress``."""

    _attr_translation_key = "firmware_updates"
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: GatewayCoordinator) -> None:
        super().__init__(coordinator, None, "firmware_updates")
        assert coordinator.firmware is not None
        self._firmware = coordinator.firmware
        self._counted = self._firmware.counts()  # (available, in progress)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self._firmware.watch(self._firmware_moved))

    @callback
    def async_entity_id_changed(self, old_entity_id: str) -> None:
        renamed_in_place(super(), old_entity_id)

    @callback
    def _firmware_moved(self, _device_id: DeviceId | None) -> None:
        # (Told at every step of every transfer: counted once, written when it moved.)
        counted = self._firmware.counts()
        if counted != self._counted:
            self._write(counted)

    @callback
    def _async_handle_update(self) -> None:
        """The gateway's news (devices come and go): counted afresh."""
        self._write(self._firmware.counts())

    def _write(self, counted: tuple[int, int]) -> None:
        self._counted = counted
        self.async_write_ha_state()

    @property
    def native_value(self) -> int:
        return self._counted[0]

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        return {ATTR_IN_PROGRESS: self._counted[1]}
