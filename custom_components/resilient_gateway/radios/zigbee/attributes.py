"""How neutral attributes map onto ZCL clusters and attributes, both ways."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zigpy.zcl.clusters.general import LevelControl, OnOff, PowerConfiguration
from zigpy.zcl.clusters.homeautomation import ElectricalMeasurement
from zigpy.zcl.clusters.hvac import Thermostat
from zigpy.zcl.clusters.lighting import Color
from zigpy.zcl.clusters.measurement import RelativeHumidity, TemperatureMeasurement
from zigpy.zcl.clusters.security import IasZone

from ...core.model import Attr

XY_SCALE = 65536
"""ZCL colour: x = CurrentX / 65536, y = CurrentY / 65536."""
XY_MAX = 0xFEFF
"""The largest CurrentX / CurrentY (and scene xy) the Color cluster allows."""
HVAC_MODE_TO_SYSTEM_MODE = {"off": 0x00, "auto": 0x01, "heat": 0x04}
SYSTEM_MODE_TO_HVAC_MODE = {value: mode for mode, value in HVAC_MODE_TO_SYSTEM_MODE.items()}


def xy_to_zcl(xy: Sequence[float]) -> tuple[int, int]:
    """CurrentX and CurrentY for the colour ``xy`` (kept in the cluster's range)."""
    x, y = (min(max(round(float(v) * XY_SCALE), 0), XY_MAX) for v in xy)
    return x, y


def xy_from_zcl(x: Any, y: Any) -> tuple[float, float]:
    """The colour of CurrentX and CurrentY."""
    return round(int(x) / XY_SCALE, 4), round(int(y) / XY_SCALE, 4)


@dataclass(frozen=True, slots=True)
class ZclAttribute:
    """One ZCL attribute that carries (part of) a neutral attribute."""

    attr: Attr
    cluster_id: int
    name: str
    decode: Callable[[Any], Any]
    # Reporting configuration asked of the device: min s, max s, reportable change.
    reporting: tuple[int, int, int]
    # The cluster's multiplier and divisor attributes, where the raw value is in units the
    # device chose (ElectricalMeasurement: a plug reporting 976 with divisor 10 draws 97.6 W).
    scale: tuple[str, str] | None = None

    def value(self, raw: Any, cached: Callable[[str], Any]) -> Any:
        """The neutral value of ``raw``; ``cached`` gives the cluster's cached attributes."""
        value = self.decode(raw)
        if self.scale is None:
            return value
        multiplier, divisor = (cached(name) for name in self.scale)
        return round(value * int(multiplier or 1) / max(int(divisor or 1), 1), 2)


def _hundredths(raw: Any) -> float:
    return round(int(raw) / 100, 2)


def _system_mode(raw: Any) -> str:
    return SYSTEM_MODE_TO_HVAC_MODE.get(int(raw), "heat")


ZCL_ATTRIBUTES: tuple[ZclAttribute, ...] = (
    ZclAttribute(Attr.ON, OnOff.cluster_id, "on_off", bool, (0, 900, 1)),
    ZclAttribute(Attr.BRIGHTNESS, LevelControl.cluster_id, "current_level", int, (1, 900, 1)),
    ZclAttribute(Attr.COLOR_TEMP, Color.cluster_id, "color_temperature", int, (1, 900, 1)),
    ZclAttribute(Attr.XY, Color.cluster_id, "current_x", int, (1, 900, 10)),
    ZclAttribute(Attr.XY, Color.cluster_id, "current_y", int, (1, 900, 10)),
    ZclAttribute(
        Attr.TEMPERATURE,
        TemperatureMeasurement.cluster_id,
        "measured_value",
        _hundredths,
        (30, 900, 10),
    ),
    ZclAttribute(
        Attr.HUMIDITY,
        RelativeHumidity.cluster_id,
        "measured_value",
        _hundredths,
        (30, 900, 50),
    ),
    ZclAttribute(
        Attr.BATTERY,
        PowerConfiguration.cluster_id,
        "battery_percentage_remaining",
        lambda raw: int(raw) // 2,
        (3600, 43200, 2),
    ),
    ZclAttribute(
        Attr.OPEN,
        IasZone.cluster_id,
        "zone_status",
        lambda raw: bool(int(raw) & 0x1),
        (0, 900, 1),
    ),
    ZclAttribute(
        Attr.POWER,
        ElectricalMeasurement.cluster_id,
        "active_power",
        float,
        (5, 900, 1),
        scale=("ac_power_multiplier", "ac_power_divisor"),
    ),
    ZclAttribute(
        Attr.LOCAL_TEMPERATURE,
        Thermostat.cluster_id,
        "local_temperature",
        _hundredths,
        (30, 900, 10),
    ),
    ZclAttribute(
        Attr.HEATING_SETPOINT,
        Thermostat.cluster_id,
        "occupied_heating_setpoint",
        _hundredths,
        (0, 900, 1),
    ),
    ZclAttribute(Attr.HVAC_MODE, Thermostat.cluster_id, "system_mode", _system_mode, (0, 900, 1)),
)

BY_CLUSTER_AND_NAME: dict[tuple[int, str], ZclAttribute] = {
    (zcl.cluster_id, zcl.name): zcl for zcl in ZCL_ATTRIBUTES
}
BY_ATTR: dict[Attr, tuple[ZclAttribute, ...]] = {}
for _zcl in ZCL_ATTRIBUTES:
    BY_ATTR[_zcl.attr] = (*BY_ATTR.get(_zcl.attr, ()), _zcl)
