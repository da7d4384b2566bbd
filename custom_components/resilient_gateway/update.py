"""Firmware updates of a gateway's devices: an update entity per device with an OTA client.

The entry's updater (``firmware.py``) does the work; each entity shows its device's
installed and newest version, progress and remaining time.
"""

from __future__ import annotations

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

from .const import DOMAIN
from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.firmware import FirmwareImage, FirmwareUpdater, Phase, UpdateFailed, UpdateProgress
from .core.model import DeviceDescription
from .entity import GatewayEntity, async_add_device_entities, renamed_in_place
from .firmware import (
    EVENT_UPDATE_DONE,
    EVENT_UPDATE_FAILED,
    GatewayFirmware,
    version_text,
)

__all__ = ["EVENT_UPDATE_DONE", "EVENT_UPDATE_FAILED", "GatewayFirmwareUpdate"]

PARALLEL_UPDATES = 0

ATTR_REMAINING: Final = "remaining_s"
ATTR_PHASE: Final = "phase"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ResilientGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    firmware = coordinator.firmware
    if firmware is None:
        return
    async_add_device_entities(
        coordinator,
        async_add_entities,
        lambda device: (
            [GatewayFirmwareUpdate(coordinator, device, firmware)]
            if firmware.updater.has_client(device.device_id)
            else []
        ),
    )


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
        self, coordinator: GatewayCoordinator, device: DeviceDescription, firmware: GatewayFirmware
    ) -> None:
        super().__init__(coordinator, device, "firmware")
        self._firmware = firmware

    @property
    def _updater(self) -> FirmwareUpdater:
        return self._firmware.updater

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        device_id = self.device.device_id
        self.async_on_remove(self._firmware.add_entity(device_id, self))  # (written on news)
        if self._updater.target(device_id) is None or self.installed_version is None:
            # Ask the device once what it runs (in the background, at low priority).
            self.coordinator.entry.async_create_background_task(
                self.hass,
                self._firmware.read_target(device_id),
                f"{DOMAIN} firmware of {device_id}",
            )

    @callback
    def async_entity_id_changed(self, old_entity_id: str) -> None:
        renamed_in_place(super(), old_entity_id)  # (the events read the id when they fire)

    @property
    def installed_version(self) -> str | None:
        target = self._updater.target(self.device.device_id)
        return version_text(target.version) if target is not None else None

    def _images(self) -> list[FirmwareImage]:
        return self._updater.images_for(self.device.device_id)

    @property
    def latest_version(self) -> str | None:
        newest = self._firmware.newest_version(self.device.device_id)
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
