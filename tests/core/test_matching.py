"""When a value from a device counts as the commanded one."""

from __future__ import annotations

import pytest

from custom_components.resilient_gateway.core.matching import (
    required_attributes,
    turned_off_supersedes,
    value_matches,
)
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.core.policy import DEFAULT_TOLERANCES


@pytest.mark.parametrize(
    ("attr", "desired", "actual", "matches"),
    [
        (Attr.ON, True, True, True),
        (Attr.ON, True, False, False),
        (Attr.ON, True, 1, True),
        (Attr.ON, False, 0, True),
        (Attr.ON, True, "on", False),
        (Attr.BRIGHTNESS, 100, 101, True),
        (Attr.BRIGHTNESS, 100, 98, False),
        (Attr.COLOR_TEMP, 300, 302, True),
        (Attr.COLOR_TEMP, 300, 303, False),
        (Attr.XY, (0.3, 0.4), [0.309, 0.391], True),
        (Attr.XY, (0.3, 0.4), (0.3, 0.42), False),
        (Attr.XY, (0.3, 0.4), (0.3,), False),
        (Attr.HEATING_SETPOINT, 21.0, 21.04, True),
        (Attr.HEATING_SETPOINT, 21.0, 21.1, False),
        (Attr.HVAC_MODE, "heat", "heat", True),
        (Attr.HVAC_MODE, "heat", "auto", False),
        ("sensitivity", 3, 3, True),
        ("sensitivity", 3, 4, False),
        ("offset", 0.5, 0.5000000001, True),
        ("offset", 0.5, 0.51, False),
        (Attr.BRIGHTNESS, 100, None, False),
    ],
)
def test_value_matches(attr: str, desired: object, actual: object, matches: bool) -> None:
    assert value_matches(attr, desired, actual, DEFAULT_TOLERANCES) is matches


def test_a_light_commanded_off_needs_only_on_shown() -> None:
    off = {Attr.ON: False, Attr.BRIGHTNESS: 10, Attr.XY: (0.1, 0.1), "power_on": "off"}
    assert required_attributes(off) == {Attr.ON, "power_on"}
    assert set(turned_off_supersedes(off)) == {Attr.BRIGHTNESS, Attr.COLOR_TEMP, Attr.XY}
    on = {Attr.ON: True, Attr.BRIGHTNESS: 10}
    assert required_attributes(on) == {Attr.ON, Attr.BRIGHTNESS}
    assert list(turned_off_supersedes(on)) == []
