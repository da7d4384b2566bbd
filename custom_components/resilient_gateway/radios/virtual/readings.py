"""What a node's attributes mean in everyday units, and how its readings drift.

``describe`` is the ground truth a test or benchmark compares the gateway's view with;
``drift`` takes one seeded random-walk step of every sensor reading.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from zigpy.zcl.clusters import general, homeautomation, hvac, lighting, measurement, security

from ...core.model import SleepMode
from ..zigbee.attributes import xy_from_zcl
from .kinds import SimKind

if TYPE_CHECKING:
    from .device import SimDevice, SimEndpoint

_SYSTEM_MODES = {int(mode): mode.name.lower() for mode in hvac.SystemMode}


def init_device(device: SimDevice, rng: random.Random) -> None:
    """Per-device constants that readings depend on."""
    if device.kind is SimKind.SMART_PLUG:
        load = rng.randint(200, 1200)  # deci-watts drawn by what is plugged in
        device.extras["load_dw"] = load
        endpoint = device.endpoint
        on = bool(endpoint.get(general.OnOff, "on_off"))
        active_power = homeautomation.ElectricalMeasurement.find_attribute("active_power").id
        endpoint.attributes[homeautomation.ElectricalMeasurement.cluster_id][active_power] = (
            load if on else 0
        )


def on_off_changed(endpoint: SimEndpoint) -> None:
    """A plug's power follows its relay."""
    device = endpoint.device
    if device.kind is SimKind.SMART_PLUG:
        on = bool(endpoint.get(general.OnOff, "on_off"))
        load = int(device.extras.get("load_dw", 500))
        endpoint.set(homeautomation.ElectricalMeasurement, "active_power", load if on else 0)
        endpoint.set(
            homeautomation.ElectricalMeasurement, "rms_current", _current_ma(load) if on else 0
        )


def _current_ma(load_dw: int) -> int:
    return round(load_dw / 10 / 230 * 1000)


def thermostat_changed(endpoint: SimEndpoint) -> None:
    """The valve opens while the room is below the setpoint in heating mode."""
    mode = int(endpoint.get(hvac.Thermostat, "system_mode", 0))
    local = int(endpoint.get(hvac.Thermostat, "local_temperature", 2000))
    setpoint = int(endpoint.get(hvac.Thermostat, "occupied_heating_setpoint", 2000))
    heating = mode in (hvac.SystemMode.Heat, hvac.SystemMode.Auto) and local < setpoint
    endpoint.set(hvac.Thermostat, "pi_heating_demand", 100 if heating else 0)


def set_open(device: SimDevice, is_open: bool) -> bool:
    """Open or close a contact sensor; True if it changed."""
    endpoint = device.endpoint
    status = int(endpoint.get(security.IasZone, "zone_status", 0))
    new = (
        (status | security.ZoneStatus.Alarm_1)
        if is_open
        else (status & ~security.ZoneStatus.Alarm_1)
    )
    return endpoint.set(security.IasZone, "zone_status", int(new))


def _walk(rng: random.Random, value: int, step: int, low: int, high: int) -> int:
    return max(low, min(high, value + rng.randint(-step, step)))


def drift(device: SimDevice, rng: random.Random) -> None:
    """One random-walk step of the readings of a powered, joined device."""
    endpoint = device.endpoint
    if endpoint.has(general.PowerConfiguration) and rng.random() < 0.002:
        battery = int(endpoint.get(general.PowerConfiguration, "battery_percentage_remaining", 200))
        endpoint.set(
            general.PowerConfiguration, "battery_percentage_remaining", max(0, battery - 1)
        )
    if device.kind is SimKind.CLIMATE_SENSOR:
        temperature = int(endpoint.get(measurement.TemperatureMeasurement, "measured_value", 2000))
        endpoint.set(
            measurement.TemperatureMeasurement,
            "measured_value",
            _walk(rng, temperature, 15, 1500, 2800),
        )
        humidity = int(endpoint.get(measurement.RelativeHumidity, "measured_value", 5000))
        endpoint.set(
            measurement.RelativeHumidity, "measured_value", _walk(rng, humidity, 40, 2500, 7500)
        )
    elif device.kind is SimKind.THERMOSTAT:
        local = int(endpoint.get(hvac.Thermostat, "local_temperature", 2000))
        setpoint = int(endpoint.get(hvac.Thermostat, "occupied_heating_setpoint", 2000))
        heating = int(endpoint.get(hvac.Thermostat, "pi_heating_demand", 0)) > 0
        target = setpoint if heating else 1800
        pull = max(-10, min(10, target - local))
        endpoint.set(hvac.Thermostat, "local_temperature", _walk(rng, local + pull, 5, 500, 3500))
        thermostat_changed(endpoint)
    elif device.kind is SimKind.SMART_PLUG and endpoint.get(general.OnOff, "on_off"):
        load = int(device.extras.get("load_dw", 500))
        device.extras["load_dw"] = _walk(rng, load, 5, 50, 2000)
        power = int(endpoint.get(homeautomation.ElectricalMeasurement, "active_power", 0))
        endpoint.set(
            homeautomation.ElectricalMeasurement,
            "active_power",
            _walk(rng, (power + device.extras["load_dw"]) // 2, 10, 0, 30000),
        )


def has_readings(device: SimDevice) -> bool:
    return device.kind in (
        SimKind.CLIMATE_SENSOR,
        SimKind.CONTACT_SENSOR,
        SimKind.THERMOSTAT,
        SimKind.SMART_PLUG,
    )


def describe(device: SimDevice) -> dict[str, Any]:
    """The device's state in everyday units (ground truth)."""
    endpoint = device.endpoint
    state: dict[str, Any] = {}
    if endpoint.has(general.OnOff):
        state["on"] = bool(endpoint.get(general.OnOff, "on_off"))
    if endpoint.has(general.LevelControl):
        state["level"] = int(endpoint.get(general.LevelControl, "current_level", 0))
    if endpoint.has(lighting.Color):
        state["color_temp_mireds"] = int(endpoint.get(lighting.Color, "color_temperature", 0))
        capabilities = int(endpoint.get(lighting.Color, "color_capabilities", 0))
        if capabilities & lighting.ColorCapabilities.XY_attributes:
            state["xy"] = list(
                xy_from_zcl(
                    endpoint.get(lighting.Color, "current_x", 0),
                    endpoint.get(lighting.Color, "current_y", 0),
                )
            )
            mode = endpoint.get(lighting.Color, "color_mode")
            state["color_mode"] = "xy" if mode == lighting.ColorMode.X_and_Y else "color_temp"
    if endpoint.has(homeautomation.ElectricalMeasurement):
        power = int(endpoint.get(homeautomation.ElectricalMeasurement, "active_power", 0))
        multiplier = int(
            endpoint.get(homeautomation.ElectricalMeasurement, "ac_power_multiplier", 1)
        )
        divisor = int(endpoint.get(homeautomation.ElectricalMeasurement, "ac_power_divisor", 1))
        state["power"] = round(power * multiplier / max(divisor, 1), 1)
    if endpoint.has(measurement.TemperatureMeasurement):
        value = int(endpoint.get(measurement.TemperatureMeasurement, "measured_value", 0))
        state["temperature"] = round(value / 100, 2)
    if endpoint.has(measurement.RelativeHumidity):
        value = int(endpoint.get(measurement.RelativeHumidity, "measured_value", 0))
        state["humidity"] = round(value / 100, 2)
    if endpoint.has(security.IasZone):
        status = int(endpoint.get(security.IasZone, "zone_status", 0))
        state["open"] = bool(status & security.ZoneStatus.Alarm_1)
        state["enrolled"] = int(endpoint.get(security.IasZone, "zone_state", 0)) == 1
    if endpoint.has(hvac.Thermostat):
        local = int(endpoint.get(hvac.Thermostat, "local_temperature", 0))
        setpoint = int(endpoint.get(hvac.Thermostat, "occupied_heating_setpoint", 0))
        mode = int(endpoint.get(hvac.Thermostat, "system_mode", 0))
        state["local_temperature"] = round(local / 100, 2)
        state["heating_setpoint"] = round(setpoint / 100, 2)
        state["system_mode"] = _SYSTEM_MODES.get(mode, str(mode))
    if endpoint.has(general.PowerConfiguration):
        battery = int(endpoint.get(general.PowerConfiguration, "battery_percentage_remaining", 0))
        state["battery"] = battery / 2
    return state


def sleep_label(device: SimDevice) -> str:
    return str(SleepMode(device.sleep))
