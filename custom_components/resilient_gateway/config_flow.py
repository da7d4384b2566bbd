"""Config flow: pick a radio kind, then the radio; one entry per radio."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import probatio as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .const import (
    CONF_ACCEPT_UNKNOWN,
    CONF_ADDRESS,
    CONF_AUTO_RESTORE,
    CONF_BATTERY_INTERVAL,
    CONF_BAUDRATE,
    CONF_BLUETOOTH_KEEP_ALIVE,
    CONF_DEVICE_PATH,
    CONF_EXPECTED_NODES,
    CONF_FIRMWARE_PROVIDERS,
    CONF_HEALTH_CHECK_INTERVAL,
    CONF_HEALTH_CHECK_TIMEOUT,
    CONF_HOST,
    CONF_LIGHTS,
    CONF_MAINS_INTERVAL,
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
    DEFAULT_NETWORK_PORT,
    DEFAULT_SNAPSHOT_INTERVAL,
    DEFAULT_SNAPSHOT_KEEP,
    DOMAIN,
    HOME_ASSISTANT_PORT,
    LOGGER,
    NETWORK_CONNECT_TIMEOUT,
    NETWORK_PATH_SCHEMES,
    RADIO_BLUETOOTH,
    RADIO_VIRTUAL,
    RADIO_WIFI_NODE,
    RADIO_ZIGBEE,
    VIRTUAL_LIMITS,
    WIFI_NODE_LIMITS,
)
from .core.availability import AvailabilityPolicy
from .core.firmware import OPTION_DEADLINE, OPTION_RETRIES, OPTION_SHARE, UpdatePolicy
from .core.health import HealthPolicy
from .core.model import DeviceKind, SleepMode
from .core.policy import DEFAULT_DEADLINES, DEFAULT_KIND_DEADLINES
from .radios.ble.connection import ConnectionPolicy
from .radios.virtual import VirtualNetworkSpec
from .radios.wifi_node.codec import NODE_ID
from .radios.wifi_node.config import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT_MS
from .radios.zigbee.libraries import RADIO_LIBRARIES, RadioLibrary, library_for_radio_type
from .radios.zigbee.ota_providers import OTA_PROVIDER_KINDS

if TYPE_CHECKING:
    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak

# -- form helpers --------------------------------------------------------------------


def _number(step: float) -> NumberSelector:
    # No min/max here: out-of-range input must reach out_of_range_errors, which answers
    # with a translated form error naming the field's range instead of a generic one.
    return NumberSelector(NumberSelectorConfig(step=step, mode=NumberSelectorMode.BOX))


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def range_placeholders(limits: Mapping[str, tuple[float, float]]) -> dict[str, str]:
    """``<field>_min``/``<field>_max`` for the forms' texts: the ranges are written once,
    here, and the field descriptions and errors show them."""
    return {
        f"{key}_{end}": _bound(value)
        for key, (low, high) in limits.items()
        for end, value in (("min", low), ("max", high))
    }


def out_of_range_errors(
    values: Mapping[str, Any], limits: Mapping[str, tuple[float, float]]
) -> dict[str, str]:
    """A ``<field>_out_of_range`` error for each given value outside its limits (the UI
    limits can be bypassed)."""
    return {
        key: f"{key}_out_of_range"
        for key, (low, high) in limits.items()
        if key in values and not low <= float(values[key]) <= high
    }


def _radio_type_selector() -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=[
                SelectOptionDict(value=lib.key, label=lib.description)
                for lib in RADIO_LIBRARIES.values()
            ],
            translation_key=CONF_RADIO_LIBRARY,
        )
    )


def zigbee_schema(*, with_baudrate: bool = True) -> vol.Schema:
    fields: dict[vol.Marker, Any] = {
        vol.Required(CONF_RADIO_LIBRARY, default="ezsp"): _radio_type_selector(),
        vol.Required(CONF_DEVICE_PATH): TextSelector(),
    }
    if with_baudrate:
        fields[vol.Optional(CONF_BAUDRATE)] = vol.Coerce(int)
    return vol.Schema(fields)


def _zigbee_data(library: RadioLibrary, path: str, baudrate: int) -> dict[str, Any]:
    return {
        CONF_RADIO_TYPE: RADIO_ZIGBEE,
        CONF_RADIO_LIBRARY: library.key,
        CONF_DEVICE_PATH: path,
        CONF_BAUDRATE: baudrate,
    }


# -- radio ports ---------------------------------------------------------------------


def network_address(path: str) -> tuple[str, int] | None:
    """Host and port of a network coordinator's ``socket://host:port``; None for a local
    port. Raises ValueError for a network path without a host or a valid port."""
    if not path.lower().startswith(NETWORK_PATH_SCHEMES):
        return None
    parts = urlsplit(path)
    port = parts.port  # ValueError when it is not a number from 0 to 65535
    if not parts.hostname or not port or parts.path.strip("/") or parts.query or parts.username:
        raise ValueError(path)
    return parts.hostname, port


async def port_problem(hass: HomeAssistant, path: str) -> str | None:
    """The form error for a port that is not there at all (no such device file, nothing
    accepting connections at the address), or None when something is there to probe."""
    if not path:
        return "port_required"
    try:
        address = network_address(path)
    except ValueError:
        return "invalid_network_address"
    if address is None:
        if "://" in path:  # another serial URL (rfc2217://, esphome://): the probe tells
            return None
        exists = await hass.async_add_executor_job(os.path.exists, path)
        return None if exists else "port_not_found"
    host, port = address
    try:
        async with asyncio.timeout(NETWORK_CONNECT_TIMEOUT):
            _, writer = await asyncio.open_connection(host, port)
    except OSError, TimeoutError:
        return "host_unreachable"
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()
    return None


async def probe_radio(hass: HomeAssistant, library: RadioLibrary, path: str, baudrate: int) -> bool:
    """Whether the radio library can talk to a radio on this port."""
    # The library's first import reads its modules from disk: not on the event loop.
    controller = await hass.async_add_import_executor_job(library.controller_class)
    try:
        return bool(await controller.probe({"path": path, "baudrate": baudrate}))
    except Exception:
        LOGGER.debug("Probing %s on %s failed", library.key, path, exc_info=True)
        return False


async def radio_errors(
    hass: HomeAssistant, library: RadioLibrary, path: str, baudrate: int, field: str
) -> dict[str, str]:
    """Form errors for a radio port: missing, unreachable, or there but silent."""
    if problem := await port_problem(hass, path):
        return {field: problem}
    if await probe_radio(hass, library, path, baudrate):
        return {}
    return {field: "cannot_connect"}


def port_placeholders(library: RadioLibrary, path: str) -> dict[str, str]:
    return {"path": path, "radio_type": library.description}


def entry_using_port(
    hass: HomeAssistant, path: str, *, except_for: tuple[ConfigEntry, str] | None = None
) -> ConfigEntry | None:
    """The entry whose radio (CONF_DEVICE_PATH) or standby radio (CONF_STANDBY_PATH) is on
    this port, other than ``except_for`` (an entry and that role)."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        for role, used in (
            (CONF_DEVICE_PATH, entry.data.get(CONF_DEVICE_PATH)),
            (CONF_STANDBY_PATH, entry.options.get(CONF_STANDBY_PATH)),
        ):
            if used == path and (entry, role) != except_for:
                return entry
    return None


# -- network coordinators (zeroconf) -------------------------------------------------

COORDINATOR_SERVICE_TYPE = "_zigbee-coordinator._tcp.local."
ESPHOME_SERVICE_TYPE = "_esphomelib._tcp.local."


@dataclass(frozen=True, slots=True)
class NetworkCoordinator:
    """What a network coordinator's announcement tells."""

    name: str
    identifier: str  # stays when its address changes: serial number, MAC or host name
    library: RadioLibrary
    host: str
    port: int
    baudrate: int

    @property
    def path(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"socket://{host}:{self.port}"


def network_coordinator(info: ZeroconfServiceInfo) -> NetworkCoordinator:
    """Read a coordinator's zeroconf announcement the way its firmware writes it.

    The standard ``_zigbee-coordinator`` announcement carries ``radio_type`` and
    ``serial_number``; older firmwares (SLZB-06, ZigStar, UZG-01, XZG, TubesZB) announce
    their own service types, sometimes with ``radio_type``, else a Silicon Labs chip says
    ``efr32`` in its name and a ZiGate ``zigate``; the others run Z-Stack. TubesZB's
    ESPHome firmware announces its ESPHome API port, not its Zigbee port.
    Raises ValueError (with the announced radio type) for a radio we do not drive.
    """
    props = {str(key).lower(): str(value) for key, value in info.properties.items() if value}
    instance = info.name.split("._", 1)[0]
    announced = props.get("radio_type")
    if announced is None:
        if info.type == COORDINATOR_SERVICE_TYPE:
            raise ValueError("none")
        lowered = info.name.lower()  # the service type names a ZiGate gateway
        announced = "ezsp" if "efr32" in lowered else "zigate" if "zigate" in lowered else "znp"
    library = library_for_radio_type(announced)
    if library is None:
        raise ValueError(announced)
    port = info.port if info.port and info.type != ESPHOME_SERVICE_TYPE else DEFAULT_NETWORK_PORT
    mac = props.get("mac", "").replace(":", "").replace("-", "").lower()
    identifier = (
        props.get("serial_number") or mac or info.hostname.removesuffix(".").removesuffix(".local")
    )
    baudrate = props.get("baud_rate", "")
    return NetworkCoordinator(
        name=props.get("name") or instance,
        identifier=identifier,
        library=library,
        host=info.host,
        port=port,
        baudrate=int(baudrate) if baudrate.isdigit() else library.default_baudrate,
    )


# -- the config flow -----------------------------------------------------------------


BLUETOOTH_DEVICE_STEP = "bluetooth_device"  # (the step "bluetooth" is the discovery's)


def free_network_name(taken: set[str], base: str = "demo") -> str:
    """``base``, or ``base_2``, ``base_3``, … whichever no virtual gateway uses yet."""
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}_{number}"
    return name


def virtual_schema() -> vol.Schema:
    fields: dict[vol.Marker, Any] = {vol.Required(CONF_NETWORK): TextSelector()}
    for key, (_, high) in VIRTUAL_LIMITS.items():
        fields[vol.Required(key)] = _number(0.01 if isinstance(high, float) else 1)
    fields[vol.Required(CONF_SEED)] = _number(1)
    return vol.Schema(fields)


def wifi_node_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST): TextSelector(),
            vol.Required(CONF_PORT): _number(1),
            vol.Required(CONF_TIMEOUT_MS): _number(1),
            vol.Optional(CONF_EXPECTED_NODES): TextSelector(),
            vol.Required(CONF_ACCEPT_UNKNOWN): BooleanSelector(),
            vol.Optional(CONF_SECRET): TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            ),
        }
    )


def node_ids(text: str) -> list[str]:
    """The node IDs of a comma- or space-separated list (duplicates once, in order)."""
    return list(dict.fromkeys(text.replace(",", " ").split()))


def wifi_node_errors(data: Mapping[str, Any]) -> dict[str, str]:
    errors = out_of_range_errors(data, WIFI_NODE_LIMITS)
    if data[CONF_PORT] == HOME_ASSISTANT_PORT:
        errors[CONF_PORT] = "port_home_assistant"
    if not all(NODE_ID.fullmatch(node) for node in data[CONF_EXPECTED_NODES]):
        errors[CONF_EXPECTED_NODES] = "invalid_node_ids"
    return errors


class ResilientGatewayConfigFlow(ConfigFlow, domain=DOMAIN):
    """Adds a Zigbee radio (USB stick or network coordinator) or a virtual gateway."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> ResilientGatewayOptionsFlow:
        return ResilientGatewayOptionsFlow()

    def __init__(self) -> None:
        self._discovered_path: str | None = None
        self._coordinator: NetworkCoordinator | None = None
        self._bluetooth: BluetoothServiceInfoBleak | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(
            step_id="user",
            menu_options=[RADIO_ZIGBEE, BLUETOOTH_DEVICE_STEP, RADIO_WIFI_NODE, RADIO_VIRTUAL],
        )

    # -- Bluetooth LE device (one entry per device) -----------------------------------

    async def async_step_bluetooth(
        self, discovery_info: BluetoothServiceInfoBleak
    ) -> ConfigFlowResult:
        """Home Assistant's Bluetooth stack heard a device matching the manifest."""
        from .ble import display_name, supported  # (the Bluetooth stack runs: it found it)

        if not supported(discovery_info):
            return self.async_abort(reason="not_supported")
        await self.async_set_unique_id(discovery_info.address.upper())
        self._abort_if_unique_id_configured()
        self._bluetooth = discovery_info
        self.context["title_placeholders"] = {"name": display_name(discovery_info)}
        return await self.async_step_bluetooth_confirm()

    async def async_step_bluetooth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the discovered device?"""
        info = self._bluetooth
        assert info is not None
        if user_input is not None:
            return await self._bluetooth_entry(info)
        self._set_confirm_only()
        return self.async_show_form(
            step_id="bluetooth_confirm",
            description_placeholders=self.context["title_placeholders"],
        )

    async def async_step_bluetooth_device(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the supported devices Home Assistant hears and that no entry has."""
        if "bluetooth" not in self.hass.config.components:
            return self.async_abort(reason="bluetooth_not_running")
        from homeassistant.components import bluetooth

        from .ble import display_name, supported

        if user_input is not None:
            address = user_input[CONF_ADDRESS]
            info = bluetooth.async_last_service_info(self.hass, address, connectable=True)
            if info is None:
                return self.async_abort(reason="device_gone")
            await self.async_set_unique_id(address, raise_on_progress=False)
            self._abort_if_unique_id_configured()
            return await self._bluetooth_entry(info)
        configured = self._async_current_ids(include_ignore=False)
        found = {
            info.address.upper(): display_name(info)
            for info in bluetooth.async_discovered_service_info(self.hass, connectable=True)
            if info.address.upper() not in configured and supported(info)
        }
        if not found:
            return self.async_abort(reason="no_devices_found")
        return self.async_show_form(
            step_id=BLUETOOTH_DEVICE_STEP,
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_ADDRESS): SelectSelector(
                        SelectSelectorConfig(
                            options=[
                                SelectOptionDict(value=address, label=label)
                                for address, label in sorted(found.items(), key=lambda i: i[1])
                            ]
                        )
                    )
                }
            ),
        )

    async def _bluetooth_entry(self, info: BluetoothServiceInfoBleak) -> ConfigFlowResult:
        """The entry, once one connection showed the device offers a service we drive."""
        from .ble import async_probe

        if reason := await async_probe(self.hass, info):
            return self.async_abort(reason=reason)
        address = info.address.upper()
        name = info.name if info.name and info.name.upper() != address else address
        return self.async_create_entry(
            title=name, data={CONF_RADIO_TYPE: RADIO_BLUETOOTH, CONF_ADDRESS: address}
        )

    # -- Wi-Fi node link --------------------------------------------------------------

    async def async_step_wifi_node(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where micropython-iot nodes connect, and which of them are welcome."""
        errors: dict[str, str] = {}
        suggested: dict[str, Any] = {
            CONF_HOST: DEFAULT_HOST,
            CONF_PORT: DEFAULT_PORT,
            CONF_TIMEOUT_MS: DEFAULT_TIMEOUT_MS,
            CONF_ACCEPT_UNKNOWN: True,
        }
        if user_input is not None:
            data: dict[str, Any] = {
                CONF_HOST: str(user_input[CONF_HOST]).strip() or DEFAULT_HOST,
                CONF_PORT: int(user_input[CONF_PORT]),
                CONF_TIMEOUT_MS: int(user_input[CONF_TIMEOUT_MS]),
                CONF_EXPECTED_NODES: node_ids(str(user_input.get(CONF_EXPECTED_NODES) or "")),
                CONF_ACCEPT_UNKNOWN: bool(user_input[CONF_ACCEPT_UNKNOWN]),
            }
            errors = wifi_node_errors(data)
            if not errors:
                await self.async_set_unique_id(f"{RADIO_WIFI_NODE}:{data[CONF_PORT]}")
                self._abort_if_unique_id_configured()
                if secret := str(user_input.get(CONF_SECRET) or ""):
                    data[CONF_SECRET] = secret
                return self.async_create_entry(
                    title=f"Wi-Fi node link (port {data[CONF_PORT]})",
                    data={CONF_RADIO_TYPE: RADIO_WIFI_NODE, **data},
                )
            # (The secret is not shown again: it is typed anew.)
            suggested = {
                **{k: v for k, v in user_input.items() if k != CONF_SECRET},
                CONF_EXPECTED_NODES: ", ".join(data[CONF_EXPECTED_NODES]),
            }
        return self.async_show_form(
            step_id=RADIO_WIFI_NODE,
            data_schema=self.add_suggested_values_to_schema(wifi_node_schema(), suggested),
            errors=errors,
            description_placeholders=range_placeholders(WIFI_NODE_LIMITS)
            | {"ha_port": str(HOME_ASSISTANT_PORT)},
        )

    # -- virtual gateway -------------------------------------------------------------

    def _virtual_networks(self) -> set[str]:
        return {
            str(entry.data.get(CONF_NETWORK))
            for entry in self._async_current_entries(include_ignore=False)
            if entry.data.get(CONF_RADIO_TYPE) == RADIO_VIRTUAL
        }

    async def async_step_virtual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        taken = self._virtual_networks()
        demo = VirtualNetworkSpec(network=free_network_name(taken))
        suggested: dict[str, Any] = {
            key: getattr(demo, key) for key in (CONF_NETWORK, CONF_SEED, *VIRTUAL_LIMITS)
        }
        placeholders = range_placeholders(VIRTUAL_LIMITS)
        if user_input is not None:
            data = {**user_input, CONF_NETWORK: str(user_input[CONF_NETWORK]).strip()}
            for key in (CONF_LIGHTS, CONF_SENSORS, CONF_SLEEPY_SENSORS, CONF_SEED):
                data[key] = int(data[key])
            errors = out_of_range_errors(data, VIRTUAL_LIMITS)
            network = data[CONF_NETWORK]
            if not network:
                errors[CONF_NETWORK] = "network_name_required"
            elif network in taken:
                errors[CONF_NETWORK] = "network_name_taken"
                placeholders |= {
                    "network": network,
                    "free_network": free_network_name(taken, base=network),
                }
            if not errors:
                await self.async_set_unique_id(f"{RADIO_VIRTUAL}:{network}")
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=f"Virtual gateway {network}",
                    data={CONF_RADIO_TYPE: RADIO_VIRTUAL, **data},
                )
            suggested = data
        return self.async_show_form(
            step_id="virtual",
            data_schema=self.add_suggested_values_to_schema(virtual_schema(), suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    # -- Zigbee radio: USB stick or network coordinator ------------------------------

    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        """A known Zigbee stick was plugged in."""
        await self.async_set_unique_id(f"{RADIO_ZIGBEE}:{discovery_info.device}")
        self._abort_if_unique_id_configured()
        self._discovered_path = discovery_info.device
        self.context["title_placeholders"] = {
            "name": discovery_info.description or discovery_info.device
        }
        return await self.async_step_zigbee()

    async def async_step_zigbee(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            path = str(user_input[CONF_DEVICE_PATH]).strip()
            library = RADIO_LIBRARIES[user_input[CONF_RADIO_LIBRARY]]
            baudrate = int(user_input.get(CONF_BAUDRATE) or library.default_baudrate)
            await self.async_set_unique_id(f"{RADIO_ZIGBEE}:{path}")
            self._abort_if_unique_id_configured()
            if path and entry_using_port(self.hass, path) is not None:
                return self.async_abort(reason="already_configured")
            placeholders = port_placeholders(library, path)
            errors = await radio_errors(self.hass, library, path, baudrate, CONF_DEVICE_PATH)
            if not errors:
                return self.async_create_entry(
                    title=f"{library.description} ({path})",
                    data=_zigbee_data(library, path, baudrate),
                )
        suggested = user_input or {CONF_DEVICE_PATH: self._discovered_path or ""}
        return self.async_show_form(
            step_id="zigbee",
            data_schema=self.add_suggested_values_to_schema(zigbee_schema(), suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A network coordinator announced itself."""
        try:
            coordinator = network_coordinator(discovery_info)
        except ValueError as exc:
            return self.async_abort(
                reason="unknown_radio_type", description_placeholders={"radio_type": str(exc)}
            )
        await self.async_set_unique_id(f"{RADIO_ZIGBEE}:{coordinator.identifier}")
        # A coordinator that moved to another address: follow it (the entry reloads).
        self._abort_if_unique_id_configured(updates={CONF_DEVICE_PATH: coordinator.path})
        if entry_using_port(self.hass, coordinator.path) is not None:
            return self.async_abort(reason="already_configured")
        self._coordinator = coordinator
        self.context["title_placeholders"] = {"name": coordinator.name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what was found, with its address and radio type filled in."""
        coordinator = self._coordinator
        assert coordinator is not None
        errors: dict[str, str] = {}
        placeholders = {"name": coordinator.name, "host": coordinator.host}
        if user_input is not None:
            path = str(user_input[CONF_DEVICE_PATH]).strip()
            library = RADIO_LIBRARIES[user_input[CONF_RADIO_LIBRARY]]
            baudrate = (
                coordinator.baudrate if library is coordinator.library else library.default_baudrate
            )
            if path and entry_using_port(self.hass, path) is not None:
                return self.async_abort(reason="already_configured")
            placeholders |= port_placeholders(library, path)
            errors = await radio_errors(self.hass, library, path, baudrate, CONF_DEVICE_PATH)
            if not errors:
                return self.async_create_entry(
                    title=coordinator.name, data=_zigbee_data(library, path, baudrate)
                )
        suggested = user_input or {
            CONF_RADIO_LIBRARY: coordinator.library.key,
            CONF_DEVICE_PATH: coordinator.path,
        }
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=self.add_suggested_values_to_schema(
                zigbee_schema(with_baudrate=False), suggested
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Replace radio: point a Zigbee gateway at its new stick. The gateway then finds
        the stick blank and restores itself from its newest snapshot (or asks to)."""
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_RADIO_TYPE] == RADIO_WIFI_NODE:
            return self.async_abort(reason="reconfigure_wifi_node")
        if entry.data[CONF_RADIO_TYPE] == RADIO_BLUETOOTH:
            return self.async_abort(reason="reconfigure_bluetooth")
        if entry.data[CONF_RADIO_TYPE] != RADIO_ZIGBEE:
            return self.async_abort(reason="reconfigure_virtual")
        library = RADIO_LIBRARIES[entry.data[CONF_RADIO_LIBRARY]]
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            path = str(user_input[CONF_DEVICE_PATH]).strip()
            baudrate = int(entry.data.get(CONF_BAUDRATE) or library.default_baudrate)
            placeholders = port_placeholders(library, path)
            user = entry_using_port(self.hass, path, except_for=(entry, CONF_DEVICE_PATH))
            if path and user is not None:
                errors = {CONF_DEVICE_PATH: "port_in_use"}
                placeholders["title"] = user.title
            else:
                errors = await radio_errors(self.hass, library, path, baudrate, CONF_DEVICE_PATH)
            if not errors:
                # Another radio is another radio: a discovered coordinator's identity
                # must not pull the entry back to it when it announces itself again.
                unique_id = (
                    entry.unique_id
                    if path == entry.data[CONF_DEVICE_PATH]
                    else f"{RADIO_ZIGBEE}:{path}"
                )
                return self.async_update_reload_and_abort(
                    entry, unique_id=unique_id, data_updates={CONF_DEVICE_PATH: path}
                )
        schema = vol.Schema({vol.Required(CONF_DEVICE_PATH): TextSelector()})
        suggested = user_input or {CONF_DEVICE_PATH: entry.data[CONF_DEVICE_PATH]}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )


# -- options -------------------------------------------------------------------------

# Numeric options, in groups: key -> (default, min, max, unit).
_HEALTH = HealthPolicy()
_AVAILABILITY = AvailabilityPolicy()
_FIRMWARE = UpdatePolicy()
_NumberOptions = dict[str, tuple[float, float, float, str]]
COMMAND_DEADLINE_OPTIONS: _NumberOptions = {
    "deadline_always_on": (DEFAULT_DEADLINES[SleepMode.ALWAYS_ON], 10, 3600, "s"),
}
SLEEPER_DEADLINE_OPTIONS: _NumberOptions = {
    "deadline_light_sleeper": (DEFAULT_DEADLINES[SleepMode.LIGHT_SLEEPER], 30, 7200, "s"),
    "deadline_sleepy": (DEFAULT_DEADLINES[SleepMode.SLEEPY], 60, 86400, "s"),
    "deadline_thermostat": (DEFAULT_KIND_DEADLINES[DeviceKind.THERMOSTAT], 60, 86400, "s"),
}
GATEWAY_OPTIONS: _NumberOptions = {
    CONF_SNAPSHOT_INTERVAL: (DEFAULT_SNAPSHOT_INTERVAL, 1, 720, "h"),
    CONF_SNAPSHOT_KEEP: (DEFAULT_SNAPSHOT_KEEP, 1, 100, ""),
    CONF_HEALTH_CHECK_INTERVAL: (_HEALTH.check_interval, 5, 3600, "s"),
    CONF_HEALTH_CHECK_TIMEOUT: (_HEALTH.check_timeout, 1, 120, "s"),
    CONF_MAINS_INTERVAL: (_AVAILABILITY.mains_interval, 60, 86400, "s"),
    CONF_BATTERY_INTERVAL: (_AVAILABILITY.battery_interval, 3600, 604800, "s"),
}
FIRMWARE_OPTIONS: _NumberOptions = {
    OPTION_DEADLINE: (_FIRMWARE.deadline / 60, 5, 1440, "min"),
    OPTION_RETRIES: (_FIRMWARE.retries, 0, 20, ""),
    OPTION_SHARE: (round(100 * _FIRMWARE.share), 5, 50, "%"),
}
# How long an idle connection is kept (proxies' connection slots are scarce).
BLUETOOTH_OPTIONS: _NumberOptions = {
    CONF_BLUETOOTH_KEEP_ALIVE: (ConnectionPolicy().keep_alive, 5, 600, "s"),
}
# What each kind of radio shows: firmware updates are Zigbee's (OTA); a Bluetooth LE
# entry is one always-listening device with no network to restore or fail over.
_NETWORK_OPTIONS = COMMAND_DEADLINE_OPTIONS | SLEEPER_DEADLINE_OPTIONS | GATEWAY_OPTIONS
RADIO_NUMBER_OPTIONS: dict[str, _NumberOptions] = {
    RADIO_ZIGBEE: _NETWORK_OPTIONS | FIRMWARE_OPTIONS,
    RADIO_VIRTUAL: _NETWORK_OPTIONS | FIRMWARE_OPTIONS,
    RADIO_WIFI_NODE: _NETWORK_OPTIONS,
    RADIO_BLUETOOTH: COMMAND_DEADLINE_OPTIONS | GATEWAY_OPTIONS | BLUETOOTH_OPTIONS,
}
RADIO_FLAG_OPTIONS: dict[str, tuple[str, ...]] = {
    RADIO_ZIGBEE: (CONF_AUTO_RESTORE,),
    RADIO_VIRTUAL: (CONF_AUTO_RESTORE, CONF_STANDBY_RADIO),  # (a simulated standby)
    RADIO_WIFI_NODE: (CONF_AUTO_RESTORE,),
    RADIO_BLUETOOTH: (),
}
OPTION_LIMITS: dict[str, tuple[float, float]] = {
    key: (low, high)
    for options in RADIO_NUMBER_OPTIONS.values()
    for key, (_, low, high, _) in options.items()
}
INTEGER_OPTIONS = frozenset({CONF_SNAPSHOT_KEEP, OPTION_RETRIES})


class ResilientGatewayOptionsFlow(OptionsFlowWithReload):
    """Deadlines, snapshots, recovery (automatic restore, a standby radio) and how soon
    a silent device counts as unavailable."""

    async def _standby_errors(self, standby: str, placeholders: dict[str, str]) -> dict[str, str]:
        """A new standby radio must be there and answer (the current one is not probed:
        the gateway may be running on it after a failover)."""
        entry = self.config_entry
        if not standby or standby == entry.options.get(CONF_STANDBY_PATH):
            return {}
        library = RADIO_LIBRARIES[entry.data[CONF_RADIO_LIBRARY]]
        placeholders |= port_placeholders(library, standby)
        if user := entry_using_port(self.hass, standby, except_for=(entry, CONF_STANDBY_PATH)):
            placeholders["title"] = user.title
            return {CONF_STANDBY_PATH: "port_in_use"}
        baudrate = int(entry.data.get(CONF_BAUDRATE) or library.default_baudrate)
        return await radio_errors(self.hass, library, standby, baudrate, CONF_STANDBY_PATH)

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        radio_type = self.config_entry.data[CONF_RADIO_TYPE]
        zigbee = radio_type == RADIO_ZIGBEE
        numbers = RADIO_NUMBER_OPTIONS[radio_type]
        flags = RADIO_FLAG_OPTIONS[radio_type]
        placeholders = range_placeholders(OPTION_LIMITS)
        if user_input is not None:
            errors = out_of_range_errors(user_input, OPTION_LIMITS)
            standby = str(user_input.get(CONF_STANDBY_PATH) or "").strip() if zigbee else ""
            errors |= await self._standby_errors(standby, placeholders)
            if not errors:
                data: dict[str, Any] = {
                    key: int(user_input[key]) if key in INTEGER_OPTIONS else float(user_input[key])
                    for key in numbers
                }
                data.update({key: bool(user_input.get(key)) for key in flags})
                if standby:
                    data[CONF_STANDBY_PATH] = standby
                if zigbee:
                    data[CONF_FIRMWARE_PROVIDERS] = [
                        kind
                        for kind in OTA_PROVIDER_KINDS
                        if kind in user_input.get(CONF_FIRMWARE_PROVIDERS, ())
                    ]
                if password := user_input.get(CONF_SNAPSHOT_PASSWORD):
                    data[CONF_SNAPSHOT_PASSWORD] = str(password)
                return self.async_create_entry(data=data)
        options = self.config_entry.options
        current: dict[str, Any] = {
            key: options.get(key, default) for key, (default, _, _, _) in numbers.items()
        }
        current.update({key: bool(options.get(key, False)) for key in flags})
        fields: dict[vol.Marker, Any] = {
            vol.Optional(key, default=current[key]): NumberSelector(
                NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX, unit_of_measurement=unit)
                if unit
                else NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX)
            )
            for key, (_, _, _, unit) in numbers.items()
        }
        fields.update({vol.Optional(key, default=current[key]): BooleanSelector() for key in flags})
        if zigbee:
            current[CONF_STANDBY_PATH] = options.get(CONF_STANDBY_PATH, "")
            fields[vol.Optional(CONF_STANDBY_PATH)] = TextSelector()
            # None by default: no network access is assumed.
            current[CONF_FIRMWARE_PROVIDERS] = list(options.get(CONF_FIRMWARE_PROVIDERS, ()))
            fields[vol.Optional(CONF_FIRMWARE_PROVIDERS)] = SelectSelector(
                SelectSelectorConfig(
                    options=list(OTA_PROVIDER_KINDS),
                    multiple=True,
                    translation_key=CONF_FIRMWARE_PROVIDERS,
                )
            )
        # Kept unless cleared (an empty field stores none); never logged.
        current[CONF_SNAPSHOT_PASSWORD] = options.get(CONF_SNAPSHOT_PASSWORD, "")
        fields[vol.Optional(CONF_SNAPSHOT_PASSWORD)] = TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), user_input or current
            ),
            errors=errors,
            description_placeholders=placeholders,
        )
