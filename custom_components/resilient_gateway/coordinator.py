"""One gateway per config entry: builds its radio, runs it, and fans its news out to entities."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo

from .const import (
    CONF_BAUDRATE,
    CONF_DEVICE_PATH,
    CONF_FLOW_CONTROL,
    CONF_GROUP_MISS,
    CONF_LIGHTS,
    CONF_LOSS,
    CONF_NETWORK,
    CONF_RADIO_LIBRARY,
    CONF_RADIO_TYPE,
    CONF_SEED,
    CONF_SENSORS,
    CONF_SLEEPY_SENSORS,
    DOMAIN,
    LOGGER,
    RADIO_VIRTUAL,
    STORAGE_DIR,
)
from .core.change_results import ChangeCounts, ChangeResult
from .core.gateway import Gateway, RadioLink
from .core.model import DeviceDescription, DeviceId, RadioListener, RadioState
from .core.storage import AtomicJsonFile
from .radios.virtual import VirtualAir, VirtualControllerApplication, VirtualNetworkSpec
from .radios.zigbee.libraries import RADIO_LIBRARIES
from .radios.zigbee.radio import ZigbeeRadio

VIRTUAL_SPEC_KEYS = (
    CONF_NETWORK,
    CONF_LIGHTS,
    CONF_SENSORS,
    CONF_SLEEPY_SENSORS,
    CONF_LOSS,
    CONF_GROUP_MISS,
    CONF_SEED,
)


def spec_from_entry_data(data: Mapping[str, Any]) -> VirtualNetworkSpec:
    """The simulated house an entry asks for (missing keys take the demo defaults)."""
    return VirtualNetworkSpec(**{key: data[key] for key in VIRTUAL_SPEC_KEYS if key in data})


MANUFACTURER = "Resilient Gateway"

type ResilientGatewayConfigEntry = ConfigEntry[GatewayCoordinator]
type UpdateCallback = Callable[[], None]


class GatewayCoordinator:
    """The Home Assistant side of one gateway (one radio, one config entry)."""

    def __init__(self, hass: HomeAssistant, entry: ResilientGatewayConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.air: VirtualAir | None = None
        self.gateway_device_id: str | None = None
        self._stopped = False
        self.gateway = Gateway(
            self._build_radio, changes_file=AtomicJsonFile(self.storage_path / "changes.json")
        )
        self._device_callbacks: dict[DeviceId, list[UpdateCallback]] = {}
        self._any_callbacks: list[UpdateCallback] = []
        self._inventory_callbacks: list[UpdateCallback] = []
        self._unsubscribe_gateway = self.gateway.add_listener(self)

    @property
    def storage_path(self) -> Path:
        """This entry's folder below the config directory (in every Home Assistant backup)."""
        return Path(self.hass.config.path(STORAGE_DIR, self.entry.entry_id))

    @property
    def is_virtual(self) -> bool:
        return bool(self.entry.data[CONF_RADIO_TYPE] == RADIO_VIRTUAL)

    def _build_radio(self, listener: RadioListener) -> RadioLink:
        data = self.entry.data
        config: dict[str, Any] = {"database_path": str(self.storage_path / "zigbee.db")}
        if self.is_virtual:
            config["device"] = {"path": f"virtual://{data[CONF_NETWORK]}"}
            return ZigbeeRadio(VirtualControllerApplication, config, listener)
        library = RADIO_LIBRARIES[data[CONF_RADIO_LIBRARY]]
        config["device"] = {
            "path": data[CONF_DEVICE_PATH],
            "baudrate": data.get(CONF_BAUDRATE, library.default_baudrate),
            "flow_control": data.get(CONF_FLOW_CONTROL),
        }
        return ZigbeeRadio(library.controller_class(), config, listener)

    # -- lifecycle -------------------------------------------------------------------

    async def async_start(self) -> None:
        """Start the radio; a radio that cannot start makes the entry retry later."""
        await self.hass.async_add_executor_job(
            partial(self.storage_path.mkdir, parents=True, exist_ok=True)
        )
        if self.is_virtual:
            spec = spec_from_entry_data(self.entry.data)
            self.air = await VirtualAir.load_or_create(
                spec, Path(self.hass.config.path(STORAGE_DIR, "virtual", f"{spec.network}.json"))
            )
        try:
            await self.gateway.start()
        except Exception as exc:
            await self._stop_radio_parts()
            LOGGER.debug("Radio start failed", exc_info=True)
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="radio_not_ready",
                translation_placeholders={"error": str(exc) or type(exc).__name__},
            ) from exc
        gateway_device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.entry.entry_id)},
            name=self.entry.title,
            manufacturer=MANUFACTURER,
            model=self.gateway_model,
        )
        self.gateway_device_id = gateway_device.id

    async def async_stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._unsubscribe_gateway()
        await self._stop_radio_parts()

    async def async_on_hass_stop(self, _event: Event) -> None:
        await self.async_stop()

    async def _stop_radio_parts(self) -> None:
        await self.gateway.stop()
        if self.air is not None:
            await self.air.stop()

    async def async_flush(self) -> None:
        """Write everything that lives in memory to disk (before a Home Assistant backup)."""
        await self.gateway.flush()
        if self.air is not None:
            await self.air.save()

    # -- device info -----------------------------------------------------------------

    @property
    def gateway_device_info(self) -> DeviceInfo:
        return DeviceInfo(
            identifiers={(DOMAIN, self.entry.entry_id)},
            name=self.entry.title,
            manufacturer=MANUFACTURER,
            model=self.gateway_model,
        )

    @property
    def gateway_model(self) -> str:
        return "Virtual gateway" if self.is_virtual else "Zigbee gateway"

    def device_info(self, device: DeviceDescription) -> DeviceInfo:
        assert self.gateway_device_id is not None, "the gateway device is registered at start"
        return DeviceInfo(
            identifiers={(DOMAIN, device.device_id)},
            name=device.name,
            manufacturer=device.manufacturer,
            model=device.model,
            sw_version=device.firmware_version,
            via_device_id=self.gateway_device_id,
        )

    # -- fan-out to entities (GatewayListener) ---------------------------------------

    @callback
    def async_subscribe_device(
        self, device_id: DeviceId | None, update: UpdateCallback
    ) -> Callable[[], None]:
        """Call ``update`` when the device (None: any device) reports something."""
        callbacks = (
            self._any_callbacks
            if device_id is None
            else self._device_callbacks.setdefault(device_id, [])
        )
        callbacks.append(update)
        return lambda: callbacks.remove(update)

    @callback
    def async_subscribe_inventory(self, update: UpdateCallback) -> Callable[[], None]:
        self._inventory_callbacks.append(update)
        return lambda: self._inventory_callbacks.remove(update)

    def device_updated(self, device_id: DeviceId) -> None:
        for update in (*self._device_callbacks.get(device_id, ()), *self._any_callbacks):
            update()

    def inventory_changed(self) -> None:
        for update in tuple(self._inventory_callbacks):
            update()

    def radio_state_changed(self, state: RadioState) -> None:
        if state is RadioState.DOWN:
            LOGGER.warning("The radio of %s is down", self.entry.title)
        else:
            LOGGER.info("The radio of %s is up again", self.entry.title)
        for callbacks in (*self._device_callbacks.values(), self._any_callbacks):
            for update in tuple(callbacks):
                update()

    def change_finished(self, result: ChangeResult) -> None:
        """Failures are announced; verified changes show in the entities' state."""

    def counts_changed(self, counts: ChangeCounts) -> None:
        for update in tuple(self._any_callbacks):
            update()
