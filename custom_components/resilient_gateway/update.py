"""Firmware updates of a gateway's devices: an update entity per device with an OTA client.

The work is the core's ``FirmwareUpdater`` (core/firmware/); this platform builds it for
the entry (images from ``<config>/resilient_gateway/firmware/``, updates under way in
``<config>/resilient_gateway/<entry>/firmware.json``), shows each device's installed and
newest version, progress and remaining time, and tells of the outcome with the events
``resilient_gateway_update_done`` and ``resilient_gateway_update_failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from homeassistant.components.update import (
    UpdateDeviceClass,
    UpdateEntity,
    UpdateEntityFeature,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN, STORAGE_DIR
from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.firmware import (
    FirmwareCatalog,
    FirmwareFolder,
    FirmwareImage,
    FirmwareUpdater,
    GatewayFirmwareHooks,
    Phase,
    UpdateFailed,
    UpdatePolicy,
    UpdateProgress,
    UpdateResult,
)
from .core.model import DeviceDescription, DeviceId
from .core.storage import AtomicJsonFile
from .entity import GatewayEntity, async_add_device_entities
from .radios.zigbee.ota import parse_ota_file
from .radios.zigbee.radio import ZigbeeRadio

PARALLEL_UPDATES = 0

FIRMWARE_DIR: Final = "firmware"
FIRMWARE_FILE: Final = "firmware.json"
EVENT_UPDATE_DONE: Final = "resilient_gateway_update_done"
EVENT_UPDATE_FAILED: Final = "resilient_gateway_update_failed"
UPDATE_POLICY = UpdatePolicy()
ATTR_REMAINING: Final = "remaining_s"
ATTR_PHASE: Final = "phase"


def version_text(version: int | None) -> str | None:
    """A file version as Zigbee tools show it (ZHA, Zigbee2MQTT): 0x01020000."""
    return None if version is None else f"0x{version:08x}"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ResilientGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    gateway = coordinator.gateway
    radio = gateway.radio
    if not isinstance(radio, ZigbeeRadio):
        return
    folder = Path(hass.config.path(STORAGE_DIR, FIRMWARE_DIR))
    catalog = FirmwareCatalog(await FirmwareFolder(folder, parse_ota_file).images())
    updater = FirmwareUpdater(
        radio.firmware,
        GatewayFirmwareHooks(gateway),
        catalog,
        file=AtomicJsonFile(coordinator.storage_path / FIRMWARE_FILE),
        policy=UPDATE_POLICY,
    )
    updates = _Updates(hass, coordinator, updater)
    updater.add_listener(updates)
    await updater.start()
    entry.async_on_unload(updater.stop)
    async_add_device_entities(
        coordinator,
        async_add_entities,
        lambda device: (
            [GatewayFirmwareUpdate(coordinator, device, updates)]
            if updater.has_client(device.device_id)
            else []
        ),
    )


class _Updates:
    """The entry's updater and what it tells: entities refreshed, events fired."""

    def __init__(
        self, hass: HomeAssistant, coordinator: GatewayCoordinator, updater: FirmwareUpdater
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.updater = updater
        self._entities: dict[DeviceId, GatewayFirmwareUpdate] = {}

    def subscribe(self, entity: GatewayFirmwareUpdate) -> Callable[[], None]:
        device_id = entity.device.device_id
        self._entities[device_id] = entity

        def unsubscribe() -> None:
            if self._entities.get(device_id) is entity:
                del self._entities[device_id]

        return unsubscribe

    def update_progress(self, progress: UpdateProgress) -> None:
        if (entity := self._entities.get(progress.device_id)) is not None:
            entity.async_write_ha_state()

    def update_finished(
        self, device_id: DeviceId, result: UpdateResult | None, failure: UpdateFailed | None
    ) -> None:
        entity = self._entities.get(device_id)
        data: dict[str, Any] = {
            **self.coordinator.device_label(device_id),
            "entity_id": entity.entity_id if entity is not None else None,
        }
        if result is not None:
            data |= {
                "from": version_text(result.from_version),
                "to": version_text(result.to_version),
                "repaired": list(result.repaired),
            }
            self.hass.bus.async_fire(EVENT_UPDATE_DONE, data)
        elif failure is not None:
            data |= {"reason": str(failure.reason), "message": str(failure)}
            self.hass.bus.async_fire(EVENT_UPDATE_FAILED, data)
        if entity is not None:
            entity.async_write_ha_state()


class GatewayFirmwareUpdate(GatewayEntity, UpdateEntity):
    """A device's firmware: the version it reports, the newest image that fits it."""

    _attr_device_class = UpdateDeviceClass.FIRMWARE
    _attr_entity_category = EntityCategory.CONFIG
    _attr_translation_key = "firmware"
    _attr_supported_features = (
        UpdateEntityFeature.INSTALL
        | UpdateEntityFeature.PROGRESS
        | UpdateEntityFeature.SPECIFIC_VERSION
        | UpdateEntityFeature.BACKUP
        | UpdateEntityFeature.RELEASE_NOTES
    )

    def __init__(
        self, coordinator: GatewayCoordinator, device: DeviceDescription, updates: _Updates
    ) -> None:
        super().__init__(coordinator, device, "firmware")
        self._updates = updates

    @property
    def _updater(self) -> FirmwareUpdater:
        return self._updates.updater

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        device_id = self.device.device_id
        self.async_on_remove(self._updates.subscribe(self))
        if self._updater.target(device_id) is None or self.installed_version is None:
            # Ask the device once what it runs (in the background, at low priority).
            self.coordinator.entry.async_create_background_task(
                self.hass, self._read_target(), f"{DOMAIN} firmware of {device_id}"
            )

    async def _read_target(self) -> None:
        await self._updater.read_target(self.device.device_id)
        self.async_write_ha_state()

    @property
    def installed_version(self) -> str | None:
        target = self._updater.target(self.device.device_id)
        return version_text(target.version) if target is not None else None

    def _images(self) -> list[FirmwareImage]:
        return self._updater.images_for(self.device.device_id)

    @property
    def latest_version(self) -> str | None:
        images = self._images()
        newest = images[0].version if images else None
        target = self._updater.target(self.device.device_id)
        installed = target.version if target is not None else None
        if newest is None or (installed is not None and newest <= installed):
            return self.installed_version
        return version_text(newest)

    @property
    def _progress(self) -> UpdateProgress | None:
        return self._updater.progress(self.device.device_id)

    @property
    def in_progress(self) -> bool:
        return self._progress is not None

    @property
    def update_percentage(self) -> int | None:
        progress = self._progress
        if progress is None or progress.phase is Phase.SCHEDULED:
            return None
        return progress.percent

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        attributes = super().extra_state_attributes
        if (progress := self._progress) is not None:
            attributes[ATTR_PHASE] = str(progress.phase)
            if progress.remaining is not None:
                attributes[ATTR_REMAINING] = round(progress.remaining)
        return attributes

    async def async_release_notes(self) -> str | None:
        images = self._images()
        return images[0].release_notes if images else None

    async def async_install(self, version: str | None, backup: bool, **kwargs: Any) -> None:
        image_key = None
        if version is not None:
            found = [i for i in self._images() if version_text(i.version) == version.lower()]
            if not found:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="firmware_version_unknown",
                    translation_placeholders={"version": version},
                )
            image_key = found[0].key
        if backup:
            await self.coordinator.async_backup()
        try:
            await self._updater.install(self.device.device_id, image_key)
        except UpdateFailed as failure:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=f"update_{failure.reason}",
                translation_placeholders={"error": str(failure)},
            ) from failure
        finally:
            self.async_write_ha_state()

    @callback
    def _handle_update(self) -> None:
        self.async_write_ha_state()
