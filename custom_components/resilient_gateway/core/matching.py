"""When a value from a device counts as the value that was commanded."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from .model import Attr

LIGHT_APPEARANCE: frozenset[str] = frozenset({Attr.BRIGHTNESS, Attr.COLOR_TEMP, Attr.XY})
"""What a light shows only while it is on: a light commanded off is verified on ``on``."""

_REL_FLOAT_TOLERANCE = 1e-6

type _Values = Mapping[Attr, Any] | Mapping[str, Any]


def required_attributes(values: _Values) -> frozenset[str]:
    """The attributes whose reported values decide whether ``values`` hold on a device."""
    if values.get(Attr.ON) is False:
        return frozenset(values) - LIGHT_APPEARANCE
    return frozenset(values)


def turned_off_supersedes(values: _Values) -> Collection[str]:
    """Attributes of older changes that ``values`` make moot (brightness of a light turned off)."""
    return LIGHT_APPEARANCE if values.get(Attr.ON) is False else ()


def value_matches(attr: str, desired: Any, actual: Any, tolerances: Mapping[str, float]) -> bool:
    """Whether ``actual`` (from the device) counts as ``desired``, within ``attr``'s tolerance."""
    tolerance = tolerances.get(attr)
    return _matches(desired, actual, tolerance)


def _matches(desired: Any, actual: Any, tolerance: float | None) -> bool:
    if isinstance(desired, bool) or isinstance(actual, bool):
        # Some radios hand on/off over as 0/1.
        return actual in (0, 1) and desired in (0, 1) and bool(desired) is bool(actual)
    if isinstance(desired, (int, float)) and isinstance(actual, (int, float)):
        if tolerance is not None:
            return abs(desired - actual) <= tolerance + 1e-9
        if isinstance(desired, float) or isinstance(actual, float):
            return math.isclose(desired, actual, rel_tol=_REL_FLOAT_TOLERANCE, abs_tol=1e-9)
        return desired == actual
    if isinstance(desired, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(desired) == len(actual) and all(
            _matches(d, a, tolerance) for d, a in zip(desired, actual, strict=True)
        )
    return bool(desired == actual)
