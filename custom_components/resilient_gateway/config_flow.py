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
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from .const import (
    CONF_BAUDRATE,
    CONF_DEVICE_PATH,
    CONF_LIGHTS,
    CONF_NETWORK,
    CONF_RADIO_LIBRARY,
    CONF_RADIO_TYPE,
    CONF_SEED,
    CONF_SENSORS,
    CONF_SLEEPY_SENSORS,
    DOMAIN,
    LOGGER,
    RADIO_VIRTUAL,
    RADIO_ZIGBEE,
    VIRTUAL_LIMITS,
)
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

    async def _probe(self, library_key: str, path: str, baudrate: int) -> bool:
        """Whether the radio library can talk to a radio on this port."""
        controller = RADIO_LIBRARIES[library_key].controller_class()
        try:
            return bool(await controller.probe({"path": path, "baudrate": baudrate}))
        except Exception:
            LOGGER.debug("Probing %s on %s failed", library_key, path, exc_info=True)
            return False


# Change deadlines per kind of device, in seconds (option key -> (default, min, max)).
DEADLINE_OPTIONS: dict[str, tuple[float, float, float]] = {
    "deadline_always_on": (DEFAULT_DEADLINES[SleepMode.ALWAYS_ON], 10, 3600),
    "deadline_light_sleeper": (DEFAULT_DEADLINES[SleepMode.LIGHT_SLEEPER], 30, 7200),
    "deadline_sleepy": (DEFAULT_DEADLINES[SleepMode.SLEEPY], 60, 86400),
    "deadline_thermostat": (DEFAULT_KIND_DEADLINES[DeviceKind.THERMOSTAT], 60, 86400),
}


class ResilientGatewayOptionsFlow(OptionsFlowWithReload):
    """How long a command may take before it counts as failed, per kind of device."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = {
                key: "out_of_range"
                for key, (_, low, high) in DEADLINE_OPTIONS.items()
                if not low <= float(user_input[key]) <= high
            }
            if not errors:
                return self.async_create_entry(
                    data={key: float(user_input[key]) for key in DEADLINE_OPTIONS}
                )
        current = {
            key: self.config_entry.options.get(key, default)
            for key, (default, _, _) in DEADLINE_OPTIONS.items()
        }
        schema = vol.Schema(
            {
                vol.Required(key): NumberSelector(
                    NumberSelectorConfig(
                        step=1,
                        mode=NumberSelectorMode.BOX,
                        unit_of_measurement="s",
                    )
                )
                for key in DEADLINE_OPTIONS
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
        )
