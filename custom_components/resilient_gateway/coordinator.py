"""One gateway per config entry: builds its radio, runs it, and fans its news out to entities."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryError,
    ConfigEntryNotReady,
    HomeAssistantError,
)
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.entity import Entity
from homeassistant.util.signal_type import SignalType

from .const import (
    CONF_ACCEPT_UNKNOWN,
    CONF_AUTO_RESTORE,
    CONF_BAUDRATE,
    CONF_BLUETOOTH_KEEP_ALIVE,
    CONF_DEVICE_PATH,
    CONF_EXPECTED_NODES,
    CONF_FIRMWARE_PROVIDERS,
    CONF_FLOW_CONTROL,
    CONF_GROUP_MISS,
    CONF_HOST,
    CONF_LIGHTS,
    CONF_LOSS,
    CONF_NETWORK,
    CONF_PORT,
    CONF_RADIO_LIBRARY,
    CONF_RADIO_TYPE,
    CONF_SECRET,
    CONF_SEED,
    CONF_SENSORS,
    CONF_SLEEPY_SENSORS,
    CONF_SNAPSHOT_INTERVAL,
    CONF_SNAPSHOT_KEEP,
    CONF_SNAPSHOT_PASSWORD,
    CONF_STANDBY_PATH,
    CONF_STANDBY_RADIO,
    CONF_TIMEOUT_MS,
    DEFAULT_SNAPSHOT_INTERVAL,
    DEFAULT_SNAPSHOT_KEEP,
    DOMAIN,
    EVENT_CHANGE_FAILED,
    EVENT_RADIO_STATE,
    EVENT_RESTORE_DONE,
    EVENT_RESTORE_PROGRESS,
    LOGGER,
    RADIO_BLUETOOTH,
    RADIO_VIRTUAL,
    RADIO_WIFI_NODE,
    SNAPSHOT_DIR,
    STORAGE_DIR,
)
from .core.availability import AvailabilityPolicy
from .core.change_results import ChangeCounts, ChangeResult, ChangeStatus
from .core.gateway import Gateway, GatewayFileError, GatewayListener
from .core.health import (
    FailureCause,
    HealthEvent,
    HealthPolicy,
    RadioHealth,
    describe_failure,
)
from .core.matching import value_matches
from .core.model import Attr, DeviceDescription, DeviceId
from .core.policy import ChangePolicy
from .core.radio import (
    DeviceEvent,
    ForeignNetworkError,
    LinkState,
    RadioError,
    RadioLink,
    RadioListener,
)
from .core.restore import RestoreInProgress, RestoreProgress, RestoreReport
from .core.snapshot import (
    SnapshotInfo,
    SnapshotMissing,
    SnapshotStore,
    decode_snapshot_document,
    load_json,
    read_snapshot_bytes,
)
from .core.storage import AtomicJsonFile, SetAside, jsonable
from .radios.virtual import VirtualAir, VirtualControllerApplication, VirtualNetworkSpec
from .radios.wifi_node.config import LinkConfig
from .radios.wifi_node.radio import STATE_FILE_NAME, WifiNodeRadio
from .radios.zigbee.libraries import RADIO_LIBRARIES
from .radios.zigbee.ota_providers import ota_config
from .radios.zigbee.radio import ZigbeeRadio
from .radios.zigbee.snapshot import SECTION as ZIGBEE_SECTION

if TYPE_CHECKING:
    from homeassistant.components.usb import USBDevice

    from .ble import BluetoothDevice
    from .firmware import GatewayFirmware

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


def describe_values(values: Mapping[str, Any]) -> str:
    """Attribute values in words for a log line: "on", "off, brightness 120"."""
    words: list[str] = []
    for attr, value in values.items():
        if attr == Attr.ON:
            words.append("on" if value else "off")
        else:
            words.append(f"{str(attr).replace('_', ' ')} {jsonable(value)}")
    return ", ".join(words) or "nothing"


def read_restore_source(path: Path, password: str | None) -> dict[str, Any]:
    """The payload to restore from ``path``: one of our snapshots, or an Open Coordinator
    Backup (ZHA, Zigbee2MQTT) as the network part alone (its content is checked with the
    restore's payload). A file larger than any snapshot is refused before it is read,
    and the file is parsed once. Raises SnapshotError (OSError when it cannot be read)."""
    data = read_snapshot_bytes(path)
    document = load_json(data, path)
    if isinstance(document, dict) and "metadata" in document and "format" not in document:
        return {"sections": {ZIGBEE_SECTION: {"network": document}}}
    snapshot = decode_snapshot_document(document, path=path, size=len(data), password=password)
    return dict(snapshot.payload)


def link_config_from_entry_data(data: Mapping[str, Any]) -> LinkConfig:
    """A Wi-Fi node link's settings from its entry."""
    return LinkConfig(
        host=data[CONF_HOST],
        port=int(data[CONF_PORT]),
        timeout_ms=int(data[CONF_TIMEOUT_MS]),
        expected=frozenset(data.get(CONF_EXPECTED_NODES, ())),
        accept_unknown=bool(data.get(CONF_ACCEPT_UNKNOWN, True)),
        secret=data.get(CONF_SECRET) or None,
    )


def gateway_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options the gateway keeps (and writes into its snapshots): never the password."""
    return {key: value for key, value in options.items() if key != CONF_SNAPSHOT_PASSWORD}


ISSUE_RESTORE_NEEDED = "restore_needed"
ISSUE_RADIO_FAILED = "radio_failed"
ISSUE_DAMAGED_FILE = "damaged_file"


class GatewayNews(StrEnum):
    """What moved on the gateway as a whole (carried by its dispatcher signal)."""

    INVENTORY = "inventory"  # devices, groups or scenes added or removed
    COUNTS = "counts"  # the number of pending or failed changes
    STATUS = "status"  # radio status, run status, snapshots, a restore


class GatewayCoordinator(GatewayListener):
    """The Home Assistant side of one gateway (one radio, one config entry)."""

    def __init__(self, hass: HomeAssistant, entry: ResilientGatewayConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.air: VirtualAir | None = None
        self.gateway_device_id: str | None = None
        self.firmware: GatewayFirmware | None = None  # (set up with the entry: firmware.py)
        self._stopped = False
        # The entity that takes commands for each device (light, switch, climate). The
        # entity, not its id: a renamed entity keeps its place here.
        self.command_entities: dict[DeviceId, Entity] = {}
        options = gateway_options(entry.options)
        self.bluetooth: BluetoothDevice | None = None
        health_policy = HealthPolicy.from_options(options)
        if self.is_bluetooth:
            # Imported only for Bluetooth entries: the Bluetooth stack is set up then.
            from .ble import BluetoothDevice, gentle_health_policy

            self.bluetooth = BluetoothDevice(
                hass,
                dict(entry.data),
                self.storage_path,
                entry.title,
                keep_alive=entry.options.get(CONF_BLUETOOTH_KEEP_ALIVE),
            )
            health_policy = gentle_health_policy(health_policy)
        self.gateway = Gateway(
            self._build_radio,
            name=entry.title,
            changes_file=AtomicJsonFile(self.storage_path / "changes.json"),
            scenes_file=AtomicJsonFile(self.storage_path / "scenes.json"),
            snapshots=SnapshotStore(
                self.storage_path / SNAPSHOT_DIR,
                keep=int(options.get(CONF_SNAPSHOT_KEEP, DEFAULT_SNAPSHOT_KEEP)),
            ),
            snapshot_interval=3600.0
            * float(options.get(CONF_SNAPSHOT_INTERVAL, DEFAULT_SNAPSHOT_INTERVAL)),
            snapshot_password=self.snapshot_password,
            policy=ChangePolicy.from_options(options),
            health_policy=health_policy,
            availability_policy=AvailabilityPolicy.from_options(options),
        )
        self.restore_progress: RestoreProgress | None = None
        self.last_snapshot: SnapshotInfo | None = None
        # Devices of the registry that were in the gateway's inventory while it ran its
        # network: one missing from a later inventory left the network.
        self._inventory_devices: set[DeviceId] = set()
        self._unsubscribe_gateway = self.gateway.add_listener(self)
        self._unsubscribe_link: Callable[[], None] | None = None
        if (link := self.wifi_node_radio) is not None:
            # A node's entities follow its link: they hear of it coming and going.
            self._unsubscribe_link = link.add_connection_listener(
                lambda node_id, _connected: self.device_updated(node_id)
            )
        self._unsubscribe_usb: Callable[[], None] | None = None

    @property
    def storage_path(self) -> Path:
        """This entry's folder below the config directory (in every Home Assistant backup)."""
        return Path(self.hass.config.path(STORAGE_DIR, self.entry.entry_id))

    @property
    def snapshot_password(self) -> str | None:
        """The password stored in the options (never logged, never in diagnostics)."""
        return self.entry.options.get(CONF_SNAPSHOT_PASSWORD) or None

    @property
    def ota_providers(self) -> list[str]:
        """zigpy's OTA providers the options chose (a virtual gateway's devices have no
        images online: none)."""
        if self.is_virtual:
            return []
        return list(self.entry.options.get(CONF_FIRMWARE_PROVIDERS, ()))

    @property
    def is_virtual(self) -> bool:
        return bool(self.entry.data[CONF_RADIO_TYPE] == RADIO_VIRTUAL)

    @property
    def is_wifi_node_link(self) -> bool:
        return bool(self.entry.data[CONF_RADIO_TYPE] == RADIO_WIFI_NODE)

    @property
    def is_bluetooth(self) -> bool:
        return bool(self.entry.data[CONF_RADIO_TYPE] == RADIO_BLUETOOTH)

    @property
    def wifi_node_radio(self) -> WifiNodeRadio | None:
        """The Wi-Fi node link of a "Wi-Fi node link" entry (None for other radios)."""
        radio = self.gateway.radio
        return radio if isinstance(radio, WifiNodeRadio) else None

    def _build_radio(self, listener: RadioListener) -> RadioLink:
        data = self.entry.data
        if self.bluetooth is not None:
            return self.bluetooth.build_link(listener)
        if self.is_wifi_node_link:
            return WifiNodeRadio(
                link_config_from_entry_data(data),
                listener,
                state_file=self.storage_path / STATE_FILE_NAME,
            )
        config: dict[str, Any] = {
            "database_path": str(self.storage_path / "zigbee.db"),
            "ota": ota_config(self.ota_providers),
        }
        if self.is_virtual:
            path = f"virtual://{data[CONF_NETWORK]}"
            config["device"] = {"path": path}
            standby = (
                {"path": f"{path}/standby"} if self.entry.options.get(CONF_STANDBY_RADIO) else None
            )
            return ZigbeeRadio(
                VirtualControllerApplication, config, listener, standby_device=standby
            )
        library = RADIO_LIBRARIES[data[CONF_RADIO_LIBRARY]]

        def port(path: str) -> dict[str, Any]:
            return {
                "path": path,
                "baudrate": data.get(CONF_BAUDRATE, library.default_baudrate),
                "flow_control": data.get(CONF_FLOW_CONTROL),
            }

        config["device"] = port(data[CONF_DEVICE_PATH])
        standby_path = self.entry.options.get(CONF_STANDBY_PATH)
        return ZigbeeRadio(
            library.controller_class(),
            config,
            listener,
            standby_device=port(standby_path) if standby_path else None,
        )

    # -- lifecycle -------------------------------------------------------------------

    async def async_start(self) -> None:
        """Start the radio; a radio that cannot start makes the entry retry later."""
        await self.hass.async_add_executor_job(
            partial(self.storage_path.mkdir, parents=True, exist_ok=True)
        )
        if self.is_virtual:
            spec = self._virtual_spec()
            self.air = await VirtualAir.load_or_create(
                spec, Path(self.hass.config.path(STORAGE_DIR, "virtual", f"{spec.network}.json"))
            )
        if self.bluetooth is not None:
            if "bluetooth" not in self.hass.config.components:
                raise ConfigEntryNotReady(
                    translation_domain=DOMAIN, translation_key="bluetooth_not_running"
                )
            await self.bluetooth.async_load_known()
        snapshots = self.gateway.snapshots
        assert snapshots is not None
        self.last_snapshot = await snapshots.async_newest()
        try:
            # Only a new gateway may form a network on a blank radio: one with devices in
            # the registry had a network (the gateway adds what it and the radio know).
            await self.gateway.start(form_new_network=not self._had_devices())
        except GatewayFileError as exc:
            await self._stop_radio_parts()
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="file_unreadable",
                translation_placeholders={"error": str(exc)},
            ) from exc
        except Exception as exc:
            await self._stop_radio_parts()
            LOGGER.debug("Radio start failed", exc_info=True)
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="radio_not_ready",
                # Plain words: radio libraries often raise a bare exception class.
                translation_placeholders={"error": describe_failure(exc)},
            ) from exc
        gateway_device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.entry.entry_id)},
            name=self.entry.title,
            manufacturer=MANUFACTURER,
            model=self.gateway_model,
        )
        self.gateway_device_id = gateway_device.id
        if self.bluetooth is not None:
            self.bluetooth.async_follow_advertisements(self._async_in_range_changed)
        self._async_listen_for_usb_ports()
        if self.gateway.needs_restore:
            self._async_restore_needed()

    def _virtual_spec(self) -> VirtualNetworkSpec:
        """The simulated house the entry asks for; settings out of range (entry data
        edited by hand) stop the set-up with a reason the UI shows."""
        try:
            spec = spec_from_entry_data(self.entry.data)
            spec.standby_radio = bool(self.entry.options.get(CONF_STANDBY_RADIO))
            spec.validate()
        except (TypeError, ValueError) as exc:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="virtual_settings_invalid",
                translation_placeholders={"error": str(exc)},
            ) from None
        return spec

    def _had_devices(self) -> bool:
        """Whether the device registry holds devices of this entry besides the gateway."""
        own = (DOMAIN, self.entry.entry_id)
        return any(
            own not in device.identifiers
            for device in dr.async_entries_for_config_entry(
                dr.async_get(self.hass), self.entry.entry_id
            )
        )

    async def async_stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._unsubscribe_gateway()
        if self._unsubscribe_link is not None:
            self._unsubscribe_link()
            self._unsubscribe_link = None
        if self._unsubscribe_usb is not None:
            self._unsubscribe_usb()
            self._unsubscribe_usb = None
        if self.bluetooth is not None:
            self.bluetooth.async_stop_following()
        if self.firmware is not None:  # (first: the updates under way are saved)
            await self.firmware.stop()
        await self._stop_radio_parts()

    async def async_on_hass_stop(self, _event: Event) -> None:
        await self.async_stop()

    async def _stop_radio_parts(self) -> None:
        try:
            await self.gateway.stop()
        finally:
            if self.air is not None:
                try:
                    await self.air.stop()  # (saving the house is its last step)
                except OSError as exc:
                    LOGGER.error("The virtual house of %s was not saved: %s", self.entry.title, exc)

    async def async_flush(self) -> SnapshotInfo | None:
        """Write everything that lives in memory to disk and take a fresh snapshot
        (before a Home Assistant backup, so the backup holds a current one). Returns that
        snapshot; None when the radio does not run the network (no snapshot is possible)."""
        await self.gateway.flush()
        snapshot = None
        if self.gateway.runs_its_network:
            snapshot = await self.gateway.take_snapshot()
        if self.air is not None:
            await self.air.save()
        return snapshot

    # -- a stick plugged back ----------------------------------------------------------

    @callback
    def _async_in_range_changed(self) -> None:
        """A Bluetooth device was heard again or is no longer heard: its entities'
        availability follows."""
        if self.bluetooth is not None:
            self.device_updated(self.bluetooth.address)

    def in_range(self, device_id: DeviceId) -> bool:
        """Whether Home Assistant's Bluetooth stack hears a Bluetooth device (or it is
        connected); devices of other radios are always in range of theirs."""
        bluetooth = self.bluetooth
        return bluetooth is None or device_id != bluetooth.address or bluetooth.in_range

    @callback
    def _async_listen_for_usb_ports(self) -> None:
        """A USB port that appears may be this gateway's stick plugged back (perhaps under
        another name): the radio is tried at once instead of at its next retry. Any port
        will do: telling ours apart would take file-system work for a cheap retry."""
        if "usb" not in self.hass.config.components:
            return  # Home Assistant's usb integration is not running here
        # Imported only where it runs: its requirements are installed then.
        from homeassistant.components import usb

        self._unsubscribe_usb = usb.async_register_port_event_callback(
            self.hass, self._async_usb_ports_changed
        )

    @callback
    def _async_usb_ports_changed(self, added: set[USBDevice], _removed: set[USBDevice]) -> None:
        if added:
            ports = ", ".join(sorted(device.device for device in added))
            self.async_radio_port_appeared(f"USB port {ports} appeared")

    @callback
    def async_radio_port_appeared(self, reason: str) -> None:
        """The radio may be back (a USB port appeared, a simulated stick was plugged back
        in): a recovery under way tries it now."""
        self.gateway.supervisor.retry_now(f"{self.entry.title}: {reason}")

    # -- backup and restore ----------------------------------------------------------

    async def async_backup(self, password: str | None = None) -> SnapshotInfo:
        """Write a snapshot now (with ``password``, else the stored one); waits for a
        restore, pause or resume under way. Raises translated errors."""
        try:
            return await self.gateway.take_snapshot(password=password)
        except RadioError:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="radio_not_running",
                translation_placeholders={"title": self.entry.title},
            ) from None
        except OSError as exc:  # a full disk, a read-only file system
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="snapshot_write_failed",
                translation_placeholders={"error": exc.strerror or str(exc)},
            ) from exc

    async def async_restore(
        self, path: Path | None = None, *, password: str | None = None, force: bool = False
    ) -> RestoreReport:
        """Restore a snapshot (default: the newest) or an Open Coordinator Backup; an
        encrypted one opens with ``password``, else the stored one.

        Raises SnapshotError for a bad file, core radio errors for a refused or failed
        restore (RestoreInProgress: one runs already); the caller translates them.
        """
        if self.gateway.restore_running:  # (refused before a file is read for nothing)
            raise RestoreInProgress(f"a restore of {self.entry.title} is already running")
        snapshots = self.gateway.snapshots
        assert snapshots is not None
        if path is None:
            newest = await snapshots.async_newest()
            if newest is None:
                raise SnapshotMissing("there is no snapshot of this gateway yet")
            path = newest.path
        payload = await self.hass.async_add_executor_job(
            read_restore_source, path, password or self.snapshot_password
        )
        LOGGER.info("Restoring %s from %s", self.entry.title, path.name)
        try:
            report = await self.gateway.restore(payload, force=force, on_progress=self._progress)
        finally:
            # Failed or not, the Restore progress sensor must not stay at its last step
            # (unless this call was refused because another restore still runs).
            if self.restore_progress is not None and not self.gateway.restore_running:
                self.restore_progress = None
                self._status_updated()
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_RESTORE_NEEDED))
        self.hass.bus.async_fire(
            EVENT_RESTORE_DONE, {"config_entry_id": self.entry.entry_id, **report.as_dict()}
        )
        self._status_updated()
        return report

    def _progress(self, progress: RestoreProgress) -> None:
        self.restore_progress = progress
        self.hass.bus.async_fire(
            EVENT_RESTORE_PROGRESS, {"config_entry_id": self.entry.entry_id, **progress.as_dict()}
        )
        self._status_updated()

    def _issue_id(self, kind: str) -> str:
        return f"{kind}_{self.entry.entry_id}"

    @callback
    def _async_restore_needed(self) -> None:
        """The radio does not hold the network: restore at once (``auto_restore``) or
        ask the user through a fixable repair issue. Never start silently on it."""
        if self.entry.options.get(CONF_AUTO_RESTORE) and self.last_snapshot is not None:
            self.entry.async_create_background_task(
                self.hass, self._async_auto_restore(), f"{DOMAIN} auto restore"
            )
            return
        self._async_create_restore_issue()

    @callback
    def _async_create_restore_issue(self) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(ISSUE_RESTORE_NEEDED),
            is_fixable=True,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_RESTORE_NEEDED,
            translation_placeholders={"gateway": self.entry.title},
            data={"entry_id": self.entry.entry_id},
        )

    async def _async_auto_restore(self) -> None:
        try:
            await self.async_restore()
        except ForeignNetworkError as exc:
            # Possibly another home's stick on the wrong port: only a person may erase it.
            LOGGER.warning("Not restoring %s automatically: %s", self.entry.title, exc)
            self._async_create_restore_issue()
        except Exception:
            LOGGER.exception("Automatic restore of %s failed", self.entry.title)
            self._async_create_restore_issue()

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
        if self.is_wifi_node_link:
            return "Wi-Fi node link"
        if self.is_bluetooth:
            return "Bluetooth LE link"
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

    def node_status(self, device_id: DeviceId) -> dict[str, Any] | None:
        """A Wi-Fi node's link status (``connected``, ``outages``, ``last_seen``, …);
        None when this entry is no Wi-Fi node link or does not know the node."""
        link = self.wifi_node_radio
        if link is None or device_id not in self.gateway.devices:
            return None
        return link.node_status(device_id)

    def command_entity_id(self, device_id: DeviceId) -> str | None:
        """The entity id (as it is now) of the entity that takes the device's commands."""
        entity = self.command_entities.get(device_id)
        return None if entity is None else entity.entity_id

    def device_label(self, device_id: DeviceId) -> dict[str, Any]:
        """How a person finds a device again: its entity id and name, and its address."""
        entity_id = self.command_entity_id(device_id)
        state = self.hass.states.get(entity_id) if entity_id else None
        device = self.gateway.devices.get(device_id)
        name = state.name if state else device.name if device else None
        return {"entity_id": entity_id, "name": name, "ieee": device_id}

    # -- fan-out to entities (GatewayListener) ---------------------------------------

    @property
    def gateway_signal(self) -> SignalType[GatewayNews]:
        """Sent with what moved on the gateway as a whole (``GatewayNews``)."""
        return SignalType(f"{DOMAIN}_{self.entry.entry_id}_gateway")

    def device_signal(self, device_id: DeviceId) -> SignalType[()]:
        """Sent when the device reported something, or its sync state or availability moved."""
        return SignalType(f"{DOMAIN}_{self.entry.entry_id}_device_{device_id}")

    def _announce(self, news: GatewayNews) -> None:
        async_dispatcher_send(self.hass, self.gateway_signal, news)

    def _status_updated(self) -> None:
        self._announce(GatewayNews.STATUS)

    def health_changed(self, event: HealthEvent) -> None:
        self.hass.bus.async_fire(
            EVENT_RADIO_STATE,
            {
                "config_entry_id": self.entry.entry_id,
                "status": str(event.status),
                "step": None if event.step is None else str(event.step),
                "reason": event.reason,
                "cause": None if event.cause is None else str(event.cause),
                "needs_restore": event.needs_restore,
            },
        )
        if event.needs_restore:
            self._async_restore_needed()
        elif event.status is RadioHealth.FAILED and self.bluetooth is None:
            # (A Bluetooth device out of range is no radio failure: its entities are
            # unavailable while nobody hears it, and it is connected when it is back.)
            # One text per cause, in plain words with what to do (never an exception name).
            cause = event.cause or FailureCause.RADIO_ERROR
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id(ISSUE_RADIO_FAILED),
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=f"{ISSUE_RADIO_FAILED}_{cause}",
                translation_placeholders={"gateway": self.entry.title},
            )
        elif event.status in (RadioHealth.OK, RadioHealth.FAILED_OVER):
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_RADIO_FAILED))
        self._status_updated()

    def run_status_changed(self) -> None:
        self._status_updated()

    def snapshot_taken(self, info: SnapshotInfo) -> None:
        self.last_snapshot = info
        self._status_updated()

    def file_set_aside(self, event: SetAside) -> None:
        """A damaged start-up file was kept aside: a repair issue names it (confirming it
        only dismisses the message; the file stays for a human to look at)."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{self._issue_id(ISSUE_DAMAGED_FILE)}_{event.path.stem}",
            is_fixable=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_DAMAGED_FILE,
            translation_placeholders={
                "gateway": self.entry.title,
                "file": event.path.name,
                "aside": str(event.aside),
                "problem": event.problem,
            },
        )

    def device_updated(self, device_id: DeviceId) -> None:
        async_dispatcher_send(self.hass, self.device_signal(device_id))

    def event_signal(self, device_id: DeviceId) -> SignalType[DeviceEvent]:
        """Sent with each of the device's events (a button pressed)."""
        return SignalType(f"{DOMAIN}_{self.entry.entry_id}_event_{device_id}")

    def device_event(self, event: DeviceEvent) -> None:
        async_dispatcher_send(self.hass, self.event_signal(event.device_id), event)

    def inventory_changed(self) -> None:
        self._async_refresh_device_registry()
        self._announce(GatewayNews.INVENTORY)
        if self.bluetooth is not None:
            self.entry.async_create_background_task(
                self.hass, self.bluetooth.async_save_known(), f"{DOMAIN} keep Bluetooth device"
            )

    @callback
    def _async_refresh_device_registry(self) -> None:
        """Registered devices follow what the interview learned later: a device seen
        before zigpy read its model got a placeholder name ("Zigbee device 1a2b3"). A name
        the user gave stays theirs (``name_by_user``). A device that left the network goes
        from the registry, with its entities."""
        registry = dr.async_get(self.hass)
        registered = {
            device_id: entry
            for entry in dr.async_entries_for_config_entry(registry, self.entry.entry_id)
            for domain, device_id in entry.identifiers
            if domain == DOMAIN
        }
        for device in self.gateway.devices.values():
            if (entry := registered.get(device.device_id)) is None:
                continue
            known: dict[str, Any] = {
                "name": device.name,
                "manufacturer": device.manufacturer,
                "model": device.model,
                "sw_version": device.firmware_version,
            }
            changed = {key: value for key, value in known.items() if getattr(entry, key) != value}
            if changed:
                registry.async_update_device(entry.id, **changed)
        for device_id in self._devices_that_left():
            if (entry := registered.get(device_id)) is not None:
                LOGGER.info("%s left %s: removing it", entry.name, self.entry.title)
                registry.async_update_device(entry.id, remove_config_entry_id=self.entry.entry_id)

    def _devices_that_left(self) -> set[DeviceId]:
        """Devices of an earlier inventory that the radio no longer knows. Only while the
        radio runs its own network and no restore is under way: a blank or foreign radio
        (or one half restored) knows none of them, and they have not left."""
        if not self.gateway.runs_its_network or self.gateway.restore_running:
            return set()
        current = set(self.gateway.devices)
        left = self._inventory_devices - current
        self._inventory_devices = current
        return left

    def knows_device(self, device_id: str) -> bool:
        """Whether the gateway's radio still has the device in its network."""
        return device_id == self.entry.entry_id or device_id in self.gateway.devices

    def radio_state_changed(self, state: LinkState) -> None:
        # (The supervisor logs the outage and each recovery step once.)
        self._status_updated()

    def change_finished(self, result: ChangeResult) -> None:
        """Announce failures (an event per attribute, a repair issue for a device that
        stays silent); a device that verifies again clears its issue."""
        issue_id = f"unresponsive_{result.device_id}"
        if result.status is ChangeStatus.VERIFIED:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        if result.status is not ChangeStatus.FAILED:
            return
        device = self.gateway.devices.get(result.device_id)
        name = device.name if device else result.device_id
        ha_device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, result.device_id), self.entry.entry_id
        )
        for attribute in sorted(result.failed_attributes):
            self.hass.bus.async_fire(
                EVENT_CHANGE_FAILED,
                {
                    "entity_id": self.command_entity_id(result.device_id),
                    "device_id": ha_device.id if ha_device else None,
                    "ieee": result.device_id,
                    "attribute": attribute,
                    "desired": jsonable(result.desired.get(attribute)),
                    "actual": jsonable(result.actual.get(attribute)),
                    "attempts": result.attempts,
                },
            )
        LOGGER.warning(
            "%s did not confirm %s within its deadline: %s",
            name,
            describe_values(result.desired),
            self._what_it_showed(result),
        )
        if not self.gateway.radio_up:
            return  # the radio's fault, not the device's: the radio's status tells it
        if not self.gateway.heard_within(result.device_id, result.elapsed):
            # Silent for the whole change: unplugged, out of range or dead. A human must look.
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="device_unresponsive",
                translation_placeholders={"device": name, "gateway": self.entry.title},
            )

    def _what_it_showed(self, result: ChangeResult) -> str:
        """What became of a failed change, for the log: what the device last showed where
        that is not what was asked, otherwise that it never confirmed it; and why."""
        tolerances = self.gateway.engine.policy.tolerances
        differing = {
            attr: result.actual[attr]
            for attr in result.desired
            if attr in result.failed_attributes
            and attr in result.actual
            and not value_matches(attr, result.desired[attr], result.actual[attr], tolerances)
        }
        what = (
            f"it last showed {describe_values(differing)}" if differing else "it never confirmed it"
        )
        if not self.gateway.radio_up:
            return f"{what} (the radio was down)"
        if not self.gateway.heard_within(result.device_id, result.elapsed):
            return f"{what} (nothing was heard from it since the command)"
        return what

    def counts_changed(self, counts: ChangeCounts) -> None:
        self._announce(GatewayNews.COUNTS)
