"""The simulated device kinds: what each one is made of and what it holds when new.

A kind fixes the endpoint (profile, device type, server and client clusters), how the
node sleeps, and the attribute values a freshly made device starts with. Attribute
values are kept as JSON-friendly Python values (int, bool, str) keyed by ZCL ids; the
ZCL engine converts them through zigpy's own attribute definitions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from zigpy.profiles import zha
from zigpy.zcl import Cluster
from zigpy.zcl.clusters import general, homeautomation, hvac, lighting, measurement, security

from ...core.model import SleepMode

MANUFACTURER: Final = "Resilient Sim"
MANUFACTURER_CODE: Final = 0x1337
FIRMWARE_VERSION: Final = 0x01000000
ENDPOINT_ID: Final = 1

# Colour temperature range every colour light supports (mireds).
MIREDS_MIN: Final = 153
MIREDS_MAX: Final = 500


class SimKind(StrEnum):
    ON_OFF_LIGHT = "on_off_light"
    DIMMABLE_LIGHT = "dimmable_light"
    COLOR_TEMP_LIGHT = "color_temp_light"
    COLOR_LIGHT = "color_light"
    SMART_PLUG = "smart_plug"
    CLIMATE_SENSOR = "climate_sensor"
    CONTACT_SENSOR = "contact_sensor"
    THERMOSTAT = "thermostat"


type AttributeTable = dict[int, dict[int, Any]]
"""Attribute values of one endpoint: cluster id -> attribute id -> value."""


@dataclass(frozen=True, slots=True)
class KindProfile:
    kind: SimKind
    label: str  # the start of a device's name ("Light 3")
    model: str
    device_type: int
    in_clusters: tuple[int, ...]
    out_clusters: tuple[int, ...]
    sleep: SleepMode
    battery: bool
    initial: Callable[[random.Random], Mapping[type[Cluster], Mapping[str, Any]]]
    image_type: int = 0  # the OTA image type its firmware files carry
    update_wipes_scenes: bool = False  # a firmware update empties its scene table

    @property
    def is_light(self) -> bool:
        return self.kind in LIGHT_KINDS

    @property
    def is_router(self) -> bool:
        return self.sleep is SleepMode.ALWAYS_ON

    def initial_attributes(self, rng: random.Random) -> AttributeTable:
        """Attribute values of a device of this kind fresh from the factory."""
        table: AttributeTable = {}
        for cluster, values in self.initial(rng).items():
            attrs = table.setdefault(cluster.cluster_id, {})
            for name, value in values.items():
                attrs[cluster.find_attribute(name).id] = value
        return table


LIGHT_KINDS: Final = frozenset(
    {
        SimKind.ON_OFF_LIGHT,
        SimKind.DIMMABLE_LIGHT,
        SimKind.COLOR_TEMP_LIGHT,
        SimKind.COLOR_LIGHT,
    }
)


def _basic(model: str, battery: bool) -> dict[str, Any]:
    return {
        "zcl_version": 8,
        "app_version": 1,
        "stack_version": 0,
        "hw_version": 1,
        "manufacturer": MANUFACTURER,
        "model": model,
        "date_code": "20250101",
        "power_source": 3 if battery else 1,
        "sw_build_id": "1.0.0",
    }


def _identify() -> dict[str, Any]:
    return {"identify_time": 0}


def _groups() -> dict[str, Any]:
    return {"name_support": int(general.Groups.NameSupport.Supported)}


def _scenes() -> dict[str, Any]:
    return {
        "count": 0,
        "current_scene": 0,
        "current_group": 0,
        "scene_valid": False,
        "name_support": int(general.Scenes.NameSupport.Supported),
    }


def _on_off(rng: random.Random, start_up: int) -> dict[str, Any]:
    return {
        "on_off": rng.random() < 0.5,
        "global_scene_control": True,
        "on_time": 0,
        "off_wait_time": 0,
        "start_up_on_off": start_up,
    }


def _level(rng: random.Random) -> dict[str, Any]:
    return {
        "current_level": rng.randint(40, 254),
        "remaining_time": 0,
        "min_level": 1,
        "max_level": 254,
        "options": 0,
        "on_off_transition_time": 0,
        "on_level": 0xFF,
        "start_up_current_level": 0xFF,  # previous
    }


def _color(rng: random.Random, xy: bool) -> dict[str, Any]:
    capabilities = lighting.Color.ColorCapabilities.Color_temperature
    if xy:
        capabilities |= lighting.Color.ColorCapabilities.XY_attributes
    mode = lighting.Color.ColorMode.X_and_Y if xy else lighting.Color.ColorMode.Color_temperature
    values: dict[str, Any] = {
        "color_temperature": rng.randint(250, 454),
        "color_mode": int(mode),
        "enhanced_color_mode": int(mode),
        "color_capabilities": int(capabilities),
        "color_temp_physical_min": MIREDS_MIN,
        "color_temp_physical_max": MIREDS_MAX,
        "start_up_color_temperature": 0xFFFF,  # previous
        "remaining_time": 0,
        "options": 0,
        "num_primaries": 0,
    }
    if xy:
        values["current_x"] = rng.randint(15000, 30000)
        values["current_y"] = rng.randint(15000, 30000)
    return values


def _ota() -> dict[str, Any]:
    return {
        "current_file_version": FIRMWARE_VERSION,
        "file_offset": 0,
        "image_upgrade_status": 0,
    }


def _battery(rng: random.Random) -> dict[str, Any]:
    return {"battery_voltage": 30, "battery_percentage_remaining": rng.randint(140, 200)}


def _light(
    kind: SimKind,
) -> Callable[[random.Random], Mapping[type[Cluster], Mapping[str, Any]]]:
    def initial(rng: random.Random) -> Mapping[type[Cluster], Mapping[str, Any]]:
        values: dict[type[Cluster], Mapping[str, Any]] = {
            general.Basic: _basic(PROFILES[kind].model, battery=False),
            general.Identify: _identify(),
            general.Groups: _groups(),
            general.Scenes: _scenes(),
            general.OnOff: _on_off(rng, start_up=int(general.OnOff.StartUpOnOff.On)),
            general.Ota: _ota(),
        }
        if kind is not SimKind.ON_OFF_LIGHT:
            values[general.LevelControl] = _level(rng)
        if kind in (SimKind.COLOR_TEMP_LIGHT, SimKind.COLOR_LIGHT):
            values[lighting.Color] = _color(rng, xy=kind is SimKind.COLOR_LIGHT)
        return values

    return initial


def _plug(rng: random.Random) -> Mapping[type[Cluster], Mapping[str, Any]]:
    on = rng.random() < 0.5
    return {
        general.Basic: _basic(PROFILES[SimKind.SMART_PLUG].model, battery=False),
        general.Identify: _identify(),
        general.Groups: _groups(),
        general.Scenes: _scenes(),
        general.OnOff: _on_off(rng, start_up=int(general.OnOff.StartUpOnOff.PreviousValue))
        | {"on_off": on},
        homeautomation.ElectricalMeasurement: {
            "measurement_type": 0x00000008,  # AC phase A
            "rms_voltage": 230,
            "rms_current": 0,
            "active_power": rng.randint(200, 1200) if on else 0,  # deci-watts
            "ac_voltage_multiplier": 1,
            "ac_voltage_divisor": 1,
            "ac_current_multiplier": 1,
            "ac_current_divisor": 1000,
            "ac_power_multiplier": 1,
            "ac_power_divisor": 10,
        },
        general.Ota: _ota(),
    }


def _climate_sensor(rng: random.Random) -> Mapping[type[Cluster], Mapping[str, Any]]:
    return {
        general.Basic: _basic(PROFILES[SimKind.CLIMATE_SENSOR].model, battery=True),
        general.PowerConfiguration: _battery(rng),
        general.Identify: _identify(),
        measurement.TemperatureMeasurement: {
            "measured_value": rng.randint(1900, 2300),
            "min_measured_value": -4000,
            "max_measured_value": 12500,
        },
        measurement.RelativeHumidity: {
            "measured_value": rng.randint(3500, 6000),
            "min_measured_value": 0,
            "max_measured_value": 10000,
        },
        general.Ota: _ota(),
    }


def _contact_sensor(rng: random.Random) -> Mapping[type[Cluster], Mapping[str, Any]]:
    return {
        general.Basic: _basic(PROFILES[SimKind.CONTACT_SENSOR].model, battery=True),
        general.PowerConfiguration: _battery(rng),
        general.Identify: _identify(),
        security.IasZone: {
            "zone_state": 0,  # not enrolled
            "zone_type": int(security.ZoneType.Contact_Switch),
            "zone_status": 0,  # closed
            "cie_addr": "00:00:00:00:00:00:00:00",
            "zone_id": 0xFF,
        },
        general.Ota: _ota(),
    }


def _thermostat(rng: random.Random) -> Mapping[type[Cluster], Mapping[str, Any]]:
    return {
        general.Basic: _basic(PROFILES[SimKind.THERMOSTAT].model, battery=True),
        general.PowerConfiguration: _battery(rng),
        general.Identify: _identify(),
        # Quarter seconds: checks in every hour, polls its parent every 5 s.
        general.PollControl: {
            "checkin_interval": 14400,
            "long_poll_interval": 20,
            "short_poll_interval": 2,
            "fast_poll_timeout": 40,
        },
        hvac.Thermostat: {
            "local_temperature": rng.randint(1800, 2200),
            "abs_min_heat_setpoint_limit": 500,
            "abs_max_heat_setpoint_limit": 3000,
            "occupied_cooling_setpoint": 2600,
            "occupied_heating_setpoint": 2000,
            "min_heat_setpoint_limit": 500,
            "max_heat_setpoint_limit": 3000,
            "ctrl_sequence_of_oper": int(hvac.ControlSequenceOfOperation.Heating_Only),
            "system_mode": int(hvac.SystemMode.Heat),
            "pi_heating_demand": 0,
        },
        general.Ota: _ota(),
    }


_LIGHT_IN = (
    general.Basic.cluster_id,
    general.Identify.cluster_id,
    general.Groups.cluster_id,
    general.Scenes.cluster_id,
    general.OnOff.cluster_id,
)
_OTA_OUT = (general.Ota.cluster_id,)

PROFILES: Final[dict[SimKind, KindProfile]] = {
    SimKind.ON_OFF_LIGHT: KindProfile(
        kind=SimKind.ON_OFF_LIGHT,
        image_type=0x0101,
        label="On/off light",
        model="Sim OnOff Light",
        device_type=zha.DeviceType.ON_OFF_LIGHT,
        in_clusters=_LIGHT_IN,
        out_clusters=_OTA_OUT,
        sleep=SleepMode.ALWAYS_ON,
        battery=False,
        initial=_light(SimKind.ON_OFF_LIGHT),
    ),
    SimKind.DIMMABLE_LIGHT: KindProfile(
        kind=SimKind.DIMMABLE_LIGHT,
        image_type=0x0102,
        label="Dimmable light",
        model="Sim Dimmable Light",
        device_type=zha.DeviceType.DIMMABLE_LIGHT,
        in_clusters=(*_LIGHT_IN, general.LevelControl.cluster_id),
        out_clusters=_OTA_OUT,
        sleep=SleepMode.ALWAYS_ON,
        battery=False,
        initial=_light(SimKind.DIMMABLE_LIGHT),
    ),
    SimKind.COLOR_TEMP_LIGHT: KindProfile(
        kind=SimKind.COLOR_TEMP_LIGHT,
        image_type=0x0103,
        label="White ambiance light",
        model="Sim Color Temperature Light",
        device_type=zha.DeviceType.COLOR_TEMPERATURE_LIGHT,
        in_clusters=(*_LIGHT_IN, general.LevelControl.cluster_id, lighting.Color.cluster_id),
        out_clusters=_OTA_OUT,
        sleep=SleepMode.ALWAYS_ON,
        battery=False,
        initial=_light(SimKind.COLOR_TEMP_LIGHT),
    ),
    SimKind.COLOR_LIGHT: KindProfile(
        kind=SimKind.COLOR_LIGHT,
        image_type=0x0104,
        update_wipes_scenes=True,  # (the seed's bulbs lost their scenes so)
        label="Colour light",
        model="Sim Color Light",
        device_type=zha.DeviceType.EXTENDED_COLOR_LIGHT,
        in_clusters=(*_LIGHT_IN, general.LevelControl.cluster_id, lighting.Color.cluster_id),
        out_clusters=_OTA_OUT,
        sleep=SleepMode.ALWAYS_ON,
        battery=False,
        initial=_light(SimKind.COLOR_LIGHT),
    ),
    SimKind.SMART_PLUG: KindProfile(
        kind=SimKind.SMART_PLUG,
        image_type=0x0201,
        label="Smart plug",
        model="Sim Smart Plug",
        device_type=zha.DeviceType.SMART_PLUG,
        in_clusters=(*_LIGHT_IN, homeautomation.ElectricalMeasurement.cluster_id),
        out_clusters=_OTA_OUT,
        sleep=SleepMode.ALWAYS_ON,
        battery=False,
        initial=_plug,
    ),
    SimKind.CLIMATE_SENSOR: KindProfile(
        kind=SimKind.CLIMATE_SENSOR,
        image_type=0x0301,
        label="Climate sensor",
        model="Sim Climate Sensor",
        device_type=zha.DeviceType.TEMPERATURE_SENSOR,
        in_clusters=(
            general.Basic.cluster_id,
            general.PowerConfiguration.cluster_id,
            general.Identify.cluster_id,
            measurement.TemperatureMeasurement.cluster_id,
            measurement.RelativeHumidity.cluster_id,
        ),
        out_clusters=_OTA_OUT,
        sleep=SleepMode.SLEEPY,
        battery=True,
        initial=_climate_sensor,
    ),
    SimKind.CONTACT_SENSOR: KindProfile(
        kind=SimKind.CONTACT_SENSOR,
        image_type=0x0302,
        label="Contact sensor",
        model="Sim Contact Sensor",
        device_type=zha.DeviceType.IAS_ZONE,
        in_clusters=(
            general.Basic.cluster_id,
            general.PowerConfiguration.cluster_id,
            general.Identify.cluster_id,
            security.IasZone.cluster_id,
        ),
        out_clusters=_OTA_OUT,
        sleep=SleepMode.SLEEPY,
        battery=True,
        initial=_contact_sensor,
    ),
    SimKind.THERMOSTAT: KindProfile(
        kind=SimKind.THERMOSTAT,
        image_type=0x0303,
        label="Thermostat",
        model="Sim Thermostat",
        device_type=zha.DeviceType.THERMOSTAT,
        in_clusters=(
            general.Basic.cluster_id,
            general.PowerConfiguration.cluster_id,
            general.Identify.cluster_id,
            general.PollControl.cluster_id,  # how a coordinator tells a light sleeper
            hvac.Thermostat.cluster_id,
        ),
        out_clusters=_OTA_OUT,
        sleep=SleepMode.LIGHT_SLEEPER,
        battery=True,
        initial=_thermostat,
    ),
}

# Reporting a device does without being asked (battery devices report their readings).
DEFAULT_REPORTING: Final[dict[SimKind, tuple[tuple[type[Cluster], str, int, int, int], ...]]] = {
    SimKind.CLIMATE_SENSOR: (
        (measurement.TemperatureMeasurement, "measured_value", 30, 3600, 50),
        (measurement.RelativeHumidity, "measured_value", 30, 3600, 100),
        (general.PowerConfiguration, "battery_percentage_remaining", 3600, 43200, 2),
    ),
    SimKind.CONTACT_SENSOR: (
        (general.PowerConfiguration, "battery_percentage_remaining", 3600, 43200, 2),
    ),
    SimKind.THERMOSTAT: (
        (hvac.Thermostat, "local_temperature", 30, 3600, 50),
        (general.PowerConfiguration, "battery_percentage_remaining", 3600, 43200, 2),
    ),
}
