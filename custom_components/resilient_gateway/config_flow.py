"""Config flow: pick a radio kind, then the radio; one entry per radio."""

from __future__ import annotations

from typing import Any

import probatio as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import callback
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

from .const import (
    CONF_AUTO_RESTORE,
    CONF_BATTERY_INTERVAL,
    CONF_BAUDRATE,
    CONF_DEVICE_PATH,
    CONF_HEALTH_CHECK_INTERVAL,
    CONF_HEALTH_CHECK_TIMEOUT,
    CONF_LIGHTS,
    CONF_MAINS_INTERVAL,
    CONF_NETWORK,
    CONF_RADIO_LIBRARY,
    CONF_RADIO_TYPE,
    CONF_SEED,
    CONF_SENSORS,
    CONF_SLEEPY_SENSORS,
    CONF_SNAPSHOT_INTERVAL,
    CONF_SNAPSHOT_KEEP,
    CONF_SNAPSHOT_PASSWORD,
    CONF_STANDBY_PATH,
    CONF_STANDBY_RADIO,
    DEFAULT_SNAPSHOT_INTERVAL,
    DEFAULT_SNAPSHOT_KEEP,
    DOMAIN,
    LOGGER,
    RADIO_VIRTUAL,
    RADIO_ZIGBEE,
    VIRTUAL_LIMITS,
)
from .core.availability import AvailabilityPolicy
from .core.health import HealthPolicy
from .core.model import DeviceKind, SleepMode
from .core.policy import DEFAULT_DEADLINES, DEFAULT_KIND_DEADLINES
from .radios.virtual import VirtualNetworkSpec
from .radios.zigbee.libraries import RADIO_LIBRARIES


def _number(step: float) -> NumberSelector:
    # No min/max here: out-of-range input must reach virtual_field_errors, which answers
    # with a translated form error on the field instead of a generic schema error.
    return NumberSelector(NumberSelectorConfig(step=step, mode=NumberSelectorMode.BOX))


def virtual_schema() -> vol.Schema:
    fields: dict[vol.Marker, Any] = {vol.Required(CONF_NETWORK): TextSelector()}
    for key, (_, high) in VIRTUAL_LIMITS.items():
        fields[vol.Required(key)] = _number(0.01 if isinstance(high, float) else 1)
    fields[vol.Required(CONF_SEED)] = _number(1)
    return vol.Schema(fields)


def virtual_field_errors(data: dict[str, Any]) -> dict[str, str]:
    """Form errors for a virtual network's settings (the UI limits can be bypassed)."""
    errors = {
        key: "out_of_range"
        for key, (low, high) in VIRTUAL_LIMITS.items()
        if not low <= data[key] <= high
    }
    if not data[CONF_NETWORK]:
        errors[CONF_NETWORK] = "network_name_required"
    return errors


class ResilientGatewayConfigFlow(ConfigFlow, domain=DOMAIN):
    """Adds a Zigbee serial radio or a virtual gateway."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> ResilientGatewayOptionsFlow:
        return ResilientGatewayOptionsFlow()

    def __init__(self) -> None:
        self._discovered_path: str | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="user", menu_options=[RADIO_ZIGBEE, RADIO_VIRTUAL])

    # -- virtual gateway -------------------------------------------------------------

    async def async_step_virtual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        demo = VirtualNetworkSpec(network="demo")
        defaults: dict[str, Any] = {
            key: getattr(demo, key) for key in (CONF_NETWORK, CONF_SEED, *VIRTUAL_LIMITS)
        }
        if user_input is not None:
            data = {**user_input, CONF_NETWORK: str(user_input[CONF_NETWORK]).strip()}
            for key in (CONF_LIGHTS, CONF_SENSORS, CONF_SLEEPY_SENSORS, CONF_SEED):
                data[key] = int(data[key])
            errors = virtual_field_errors(data)
            if not errors:
                await self.async_set_unique_id(f"{RADIO_VIRTUAL}:{data[CONF_NETWORK]}")
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=f"Virtual gateway {data[CONF_NETWORK]}",
                    data={CONF_RADIO_TYPE: RADIO_VIRTUAL, **data},
                )
            defaults = data
        return self.async_show_form(
            step_id="virtual",
            data_schema=self.add_suggested_values_to_schema(virtual_schema(), defaults),
            errors=errors,
        )

    # -- Zigbee serial radio ---------------------------------------------------------

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
        if user_input is not None:
            path = user_input[CONF_DEVICE_PATH].strip()
            library = RADIO_LIBRARIES[user_input[CONF_RADIO_LIBRARY]]
            baudrate = int(user_input.get(CONF_BAUDRATE) or library.default_baudrate)
            await self.async_set_unique_id(f"{RADIO_ZIGBEE}:{path}")
            self._abort_if_unique_id_configured()
            if await self._probe(library.key, path, baudrate):
                return self.async_create_entry(
                    title=f"{library.description} ({path})",
                    data={
                        CONF_RADIO_TYPE: RADIO_ZIGBEE,
                        CONF_RADIO_LIBRARY: library.key,
                        CONF_DEVICE_PATH: path,
                        CONF_BAUDRATE: baudrate,
                    },
                )
            errors["base"] = "cannot_connect"
        schema = vol.Schema(
            {
                vol.Required(CONF_RADIO_LIBRARY, default="ezsp"): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=lib.key, label=lib.description)
                            for lib in RADIO_LIBRARIES.values()
                        ],
                        translation_key=CONF_RADIO_LIBRARY,
                    )
                ),
                vol.Required(CONF_DEVICE_PATH, default=self._discovered_path or ""): str,
                vol.Optional(CONF_BAUDRATE): vol.Coerce(int),
            }
        )
        return self.async_show_form(step_id="zigbee", data_schema=schema, errors=errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Replace radio: point a Zigbee gateway at its new stick. The gateway then finds
        the stick blank and restores itself from its newest snapshot (or asks to)."""
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_RADIO_TYPE] != RADIO_ZIGBEE:
            return self.async_abort(reason="reconfigure_virtual")
        errors: dict[str, str] = {}
        if user_input is not None:
            path = user_input[CONF_DEVICE_PATH].strip()
            library = RADIO_LIBRARIES[entry.data[CONF_RADIO_LIBRARY]]
            baudrate = int(entry.data.get(CONF_BAUDRATE) or library.default_baudrate)
            if await self._probe(library.key, path, baudrate):
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_DEVICE_PATH: path}
                )
            errors["base"] = "cannot_connect"
        schema = vol.Schema(
            {vol.Required(CONF_DEVICE_PATH, default=entry.data[CONF_DEVICE_PATH]): str}
        )
        return self.async_show_form(step_id="reconfigure", data_schema=schema, errors=errors)

    async def _probe(self, library_key: str, path: str, baudrate: int) -> bool:
        """Whether the radio library can talk to a radio on this port."""
        controller = RADIO_LIBRARIES[library_key].controller_class()
        try:
            return bool(await controller.probe({"path": path, "baudrate": baudrate}))
        except Exception:
            LOGGER.debug("Probing %s on %s failed", library_key, path, exc_info=True)
            return False


# Numeric options: key -> (default, min, max, unit). Deadlines per kind of device, then
# snapshots, radio health and device availability.
_HEALTH = HealthPolicy()
_AVAILABILITY = AvailabilityPolicy()
NUMBER_OPTIONS: dict[str, tuple[float, float, float, str]] = {
    "deadline_always_on": (DEFAULT_DEADLINES[SleepMode.ALWAYS_ON], 10, 3600, "s"),
    "deadline_light_sleeper": (DEFAULT_DEADLINES[SleepMode.LIGHT_SLEEPER], 30, 7200, "s"),
    "deadline_sleepy": (DEFAULT_DEADLINES[SleepMode.SLEEPY], 60, 86400, "s"),
    "deadline_thermostat": (DEFAULT_KIND_DEADLINES[DeviceKind.THERMOSTAT], 60, 86400, "s"),
    CONF_SNAPSHOT_INTERVAL: (DEFAULT_SNAPSHOT_INTERVAL, 1, 720, "h"),
    CONF_SNAPSHOT_KEEP: (DEFAULT_SNAPSHOT_KEEP, 1, 100, ""),
    CONF_HEALTH_CHECK_INTERVAL: (_HEALTH.check_interval, 5, 3600, "s"),
    CONF_HEALTH_CHECK_TIMEOUT: (_HEALTH.check_timeout, 1, 120, "s"),
    CONF_MAINS_INTERVAL: (_AVAILABILITY.mains_interval, 60, 86400, "s"),
    CONF_BATTERY_INTERVAL: (_AVAILABILITY.battery_interval, 3600, 604800, "s"),
}
INTEGER_OPTIONS = frozenset({CONF_SNAPSHOT_KEEP})


class ResilientGatewayOptionsFlow(OptionsFlowWithReload):
    """Deadlines, snapshots, recovery (automatic restore, a standby radio) and how soon
    a silent device counts as unavailable."""

    def _flags(self) -> list[str]:
        """The on/off options: a virtual gateway's standby is simulated, a Zigbee
        gateway's is a second port."""
        if self.config_entry.data[CONF_RADIO_TYPE] == RADIO_VIRTUAL:
            return [CONF_AUTO_RESTORE, CONF_STANDBY_RADIO]
        return [CONF_AUTO_RESTORE]

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        zigbee = self.config_entry.data[CONF_RADIO_TYPE] == RADIO_ZIGBEE
        if user_input is not None:
            errors = {
                key: "out_of_range"
                for key, (_, low, high, _) in NUMBER_OPTIONS.items()
                if not low <= float(user_input[key]) <= high
            }
            if not errors:
                data: dict[str, Any] = {
                    key: int(user_input[key]) if key in INTEGER_OPTIONS else float(user_input[key])
                    for key in NUMBER_OPTIONS
                }
                data.update({key: bool(user_input.get(key)) for key in self._flags()})
                if zigbee and (standby := str(user_input.get(CONF_STANDBY_PATH) or "").strip()):
                    data[CONF_STANDBY_PATH] = standby
                if password := user_input.get(CONF_SNAPSHOT_PASSWORD):
                    data[CONF_SNAPSHOT_PASSWORD] = str(password)
                return self.async_create_entry(data=data)
        options = self.config_entry.options
        current: dict[str, Any] = {
            key: options.get(key, default) for key, (default, _, _, _) in NUMBER_OPTIONS.items()
        }
        current.update({key: bool(options.get(key, False)) for key in self._flags()})
        fields: dict[vol.Marker, Any] = {
            vol.Optional(key, default=current[key]): NumberSelector(
                NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX, unit_of_measurement=unit)
                if unit
                else NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX)
            )
            for key, (_, _, _, unit) in NUMBER_OPTIONS.items()
        }
        fields.update(
            {vol.Optional(key, default=current[key]): BooleanSelector() for key in self._flags()}
        )
        if zigbee:
            current[CONF_STANDBY_PATH] = options.get(CONF_STANDBY_PATH, "")
            fields[vol.Optional(CONF_STANDBY_PATH)] = TextSelector()
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
        )
