"""The firmware updater of one entry, shared by the ``update`` platform (an entity per
device) and the gateway's *Firmware updates* sensor.

The work is the core's ``FirmwareUpdater`` (core/firmware/); this builds it for the entry
(images from ``<config>/resilient_gateway/firmware/``, updates under way in
``<config>/resilient_gateway/<entry>/firmware.json``, the options' deadline, retries and
share), and tells of the outcome with the events ``resilient_gateway_update_done`` and
``resilient_gateway_update_failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_track_time_interval

from .const import DOMAIN, LOGGER, STORAGE_DIR
from .core.firmware import (
    FirmwareCatalog,
    FirmwareFolder,
    FirmwareImage,
    FirmwareUpdater,
    GatewayFirmwareHooks,
    ImageSource,
    UpdateFailed,
    UpdatePolicy,
    UpdateProgress,
    UpdateResult,
)
from .core.model import DeviceId
from .core.storage import AtomicJsonFile
from .radios.zigbee.ota import parse_ota_file
from .radios.zigbee.ota_providers import ZigpyProviderImages, build_providers
from .radios.zigbee.radio import ZigbeeRadio

if TYPE_CHECKING:
    from .coordinator import GatewayCoordinator

FIRMWARE_DIR: Final = "firmware"
FIRMWARE_FILE: Final = "firmware.json"
EVENT_UPDATE_DONE: Final = "resilient_gateway_update_done"
EVENT_UPDATE_FAILED: Final = "resilient_gateway_update_failed"
RESCAN_INTERVAL: Final = timedelta(hours=1)
"""How often the folder is read again (and zigpy's providers, when their index expired)."""

type Watcher = Callable[[DeviceId | None], None]
"""Told when a device's update moved (its id) or the updates as a whole did (None)."""


def version_text(version: int | None) -> str | None:
    """A file version as Zigbee tools show it (ZHA, Zigbee2MQTT): 0x01020000."""
    return None if version is None else f"0x{version:08x}"


async def async_start_firmware(
    hass: HomeAssistant, coordinator: GatewayCoordinator
) -> GatewayFirmware | None:
    """The entry's firmware updater, started (None for radios without OTA: Wi-Fi nodes)."""
    radio = coordinator.gateway.radio
    if not isinstance(radio, ZigbeeRadio):
        return None
    folder = Path(hass.config.path(STORAGE_DIR, FIRMWARE_DIR))
    sources: list[ImageSource] = [FirmwareFolder(folder, parse_ota_file)]
    found = await sources[0].images()
    catalog = FirmwareCatalog(found)
    if providers := coordinator.ota_providers:
        # (Built off the loop: zigpy's schema may read files. Their indexes are loaded in
        # the background: the set-up waits for no network.)
        built = await hass.async_add_executor_job(build_providers, providers)
        sources.append(ZigpyProviderImages(built))
    updater = FirmwareUpdater(
        radio.firmware,
        GatewayFirmwareHooks(coordinator.gateway),
        catalog,
        file=AtomicJsonFile(coordinator.storage_path / FIRMWARE_FILE),
        policy=UpdatePolicy.from_options(coordinator.entry.options),
    )
    firmware = GatewayFirmware(hass, coordinator, updater, sources, found)
    updater.add_listener(firmware)
    await updater.start()
    firmware.start_rescans()
    return firmware


class GatewayFirmware:
    """The entry's updater and what it tells: watchers (entities) told, events fired."""

    def __init__(
        self,
        hass: HomeAssistant,
        coordinator: GatewayCoordinator,
        updater: FirmwareUpdater,
        sources: list[ImageSource],
        found: list[FirmwareImage],
    ) -> None:
        """``found``: the first source's images, read already (the folder)."""
        self.hass = hass
        self.coordinator = coordinator
        self.updater = updater
        self._sources = sources
        # What each source offered when last read (one that fails keeps its images).
        self._found: list[list[FirmwareImage]] = [found] + [[] for _ in sources[1:]]
        self._cancel_rescans: Callable[[], None] | None = None
        self._watchers: list[Watcher] = []
        # The update entity of each device (named in the events; its id as it is then).
        self._entities: dict[DeviceId, Entity] = {}

    @callback
    def start_rescans(self) -> None:
        """Read the sources now (zigpy's providers were not read yet) and every hour."""
        if len(self._sources) > 1:
            self._rescan_soon(first=1)  # (the folder was read a moment ago)
        self._cancel_rescans = async_track_time_interval(
            self.hass, callback(lambda _now: self._rescan_soon()), RESCAN_INTERVAL
        )

    @callback
    def _rescan_soon(self, first: int = 0) -> None:
        self.coordinator.entry.async_create_background_task(
            self.hass, self.async_rescan(first), f"{DOMAIN} firmware images"
        )

    async def async_rescan(self, first: int = 0) -> None:
        """The sources' images again, from the ``first`` on (new files in the folder,
        providers' indexes)."""
        for index, source in enumerate(self._sources[first:], start=first):
            try:
                self._found[index] = await source.images()
            except OSError as exc:  # (what it offered before stays)
                LOGGER.warning("Firmware images could not be read: %s", exc)
        self.updater.catalog.replace(image for images in self._found for image in images)
        self._tell(None)

    async def stop(self) -> None:
        if self._cancel_rescans is not None:
            self._cancel_rescans()
            self._cancel_rescans = None
        await self.updater.stop()

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher)

    def add_entity(self, device_id: DeviceId, entity: Entity) -> Callable[[], None]:
        """The device's update entity (named in the events), until it is removed."""
        self._entities[device_id] = entity

        def remove() -> None:
            if self._entities.get(device_id) is entity:
                del self._entities[device_id]

        return remove

    def _tell(self, device_id: DeviceId | None) -> None:
        """The device's update entity (every one for None) and the watchers hear of it."""
        if device_id is None:
            entities = list(self._entities.values())
        else:
            entities = [entity] if (entity := self._entities.get(device_id)) else []
        for entity in entities:
            entity.async_write_ha_state()
        for watcher in tuple(self._watchers):
            watcher(device_id)

    async def read_target(self, device_id: DeviceId) -> None:
        """Ask the device what it runs (at low priority); the watchers hear of it."""
        await self.updater.read_target(device_id)
        self._tell(device_id)

    # -- what the updater tells -------------------------------------------------------

    def update_progress(self, progress: UpdateProgress) -> None:
        self._tell(progress.device_id)

    def update_finished(
        self, device_id: DeviceId, result: UpdateResult | None, failure: UpdateFailed | None
    ) -> None:
        data: dict[str, Any] = {
            **self.coordinator.device_label(device_id),
            "entity_id": entity.entity_id
            if (entity := self._entities.get(device_id)) is not None
            else None,
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
        self._tell(device_id)

    # -- what the gateway's sensor counts ---------------------------------------------

    def newest_version(self, device_id: DeviceId) -> int | None:
        """The version of the newest image that fits the device (None: none fits)."""
        images = self.updater.images_for(device_id)
        return images[0].version if images else None

    def update_available(self, device_id: DeviceId) -> bool:
        """An image newer than what the device runs fits it (its version known)."""
        target = self.updater.target(device_id)
        if target is None or target.version is None:
            return False
        newest = self.newest_version(device_id)
        return newest is not None and newest > target.version

    def counts(self) -> tuple[int, int]:
        """Devices with an update available, and updates under way (scheduled ones too)."""
        gateway = self.coordinator.gateway
        available = sum(
            1
            for device_id in gateway.devices
            if self.updater.has_client(device_id) and self.update_available(device_id)
        )
        return available, len(self.updater.running())
