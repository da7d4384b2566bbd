"""How long the change engine waits, retries and keeps trying: one object the gateway sets.

Defaults follow what works on real meshes (deCONZ waits 5 s per step and 180 s per change,
an hour for sleepers) and stay editable from the integration's options.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .model import Attr, DeviceDescription, DeviceKind, SleepMode


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off with proportional jitter: delay(0) is about ``initial``."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.2  # +- this fraction of the delay, so retries of many devices spread
    immediate: int = 0  # the first this many retries go at once, without waiting

    def delay(self, retry: int, rng: random.Random) -> float:
        if retry < self.immediate:
            return 0.0
        retry -= self.immediate
        base = min(self.maximum, self.initial * self.factor ** max(0, retry))
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0)))


def _frozen[K, V](mapping: Mapping[K, V]) -> Mapping[K, V]:
    return MappingProxyType(dict(mapping))


DEFAULT_DEADLINES: Mapping[SleepMode, float] = _frozen(
    {
        SleepMode.ALWAYS_ON: 180.0,
        SleepMode.LIGHT_SLEEPER: 600.0,
        SleepMode.SLEEPY: 3600.0,
    }
)
"""Seconds a change may take before it fails, by how the device listens."""

DEFAULT_KIND_DEADLINES: Mapping[DeviceKind, float] = _frozen(
    {
        # Radiator valves apply setpoints slowly and report lazily.
        DeviceKind.THERMOSTAT: 900.0,
    }
)
"""Minimum deadlines by device kind (the longer of this and the sleep-mode one applies)."""

DEFAULT_REPORT_WAITS: Mapping[SleepMode, float] = _frozen(
    {
        SleepMode.ALWAYS_ON: 5.0,
        SleepMode.LIGHT_SLEEPER: 15.0,  # the frame waits for the next poll of the device
        # Shorter than the awake window, so a silent sleeper can still be read.
        SleepMode.SLEEPY: 2.0,
    }
)
"""Seconds to wait for a report after a unicast was delivered, before reading."""

DEFAULT_TOLERANCES: Mapping[str, float] = _frozen(
    {
        Attr.BRIGHTNESS: 1.0,
        Attr.COLOR_TEMP: 2.0,
        Attr.XY: 0.01,
        Attr.HEATING_SETPOINT: 0.05,
    }
)
"""Largest difference (per component) between desired and reported values that matches."""


@dataclass(frozen=True, slots=True)
class ChangePolicy:
    """Timing of the change engine and its scheduler."""

    deadlines: Mapping[SleepMode, float] = DEFAULT_DEADLINES
    kind_deadlines: Mapping[DeviceKind, float] = DEFAULT_KIND_DEADLINES
    report_waits: Mapping[SleepMode, float] = DEFAULT_REPORT_WAITS
    # After a groupcast, before repairing silent members: at most ``group_report_wait``.
    # Once the network's report delays are known (``changes/links.py``) the window lasts
    # their ``group_report_quantile`` plus ``group_report_margin``; until then it closes
    # when no member has reported for ``group_report_quiet``. It closes at once when
    # every member has reported.
    group_report_wait: float = 2.0
    group_report_quiet: float = 0.5
    group_report_quantile: float = 0.9
    group_report_margin: float = 0.03
    # After a delivered unicast the wait for the report is learned the same way, between
    # ``report_wait_floor`` and the report wait above (always-on devices; a device that
    # already showed the values reports nothing and is read at once).
    report_quantile: float = 0.97
    report_margin: float = 0.05
    report_wait_floor: float = 0.3  # a device's report retry comes about 0.2 s later
    # How a group command reaches its members: members this likely to stay silent
    # through the window get their unicast at once, with the groupcast; a group small
    # enough to unicast within the window, where a member is at least
    # ``small_group_miss`` likely to stay silent, gets unicasts only.
    unicast_at_once_miss: float = 0.7
    small_group_miss: float = 0.1
    read_timeout: float = 10.0  # guard around one read, in case a radio never answers
    # Once the answers' delays are known, a read of an always-on device is given up after
    # their ``read_quantile`` plus ``read_margin`` (about one more retry of the request
    # and of the answer), at least ``read_timeout_floor``, per frame of the read, and sent
    # again at once, up to ``read_retries_at_once`` times; the last of those waits as long
    # as the radio does (a device slower than the network still gets read), then the
    # engine backs off. (The quantile leaves out the few answers that only came after the
    # radio library's own retries, seconds later.)
    read_quantile: float = 0.9
    read_margin: float = 0.25
    read_timeout_floor: float = 0.4
    read_retries_at_once: int = 2
    awake_window: float = 5.0  # a sleeper still listens this long after a frame from it
    repair_backoff: Backoff = field(default_factory=Backoff)
    delivery_backoff: Backoff = field(
        # A delivery failure after the radio's own retries is a lossy link, not a busy
        # radio: the first two retries go at once (paced by the budget), then back off.
        default_factory=lambda: Backoff(
            initial=0.5, factor=2.0, maximum=30.0, jitter=0.25, immediate=2
        )
    )
    tolerances: Mapping[str, float] = DEFAULT_TOLERANCES

    def deadline_for(self, device: DeviceDescription) -> float:
        by_mode = self.deadlines.get(device.sleep_mode, DEFAULT_DEADLINES[device.sleep_mode])
        return max(by_mode, self.kind_deadlines.get(device.kind, 0.0))

    def report_wait_for(self, device: DeviceDescription) -> float:
        return self.report_waits.get(device.sleep_mode, DEFAULT_REPORT_WAITS[device.sleep_mode])

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ChangePolicy:
        """A policy from config-entry options; unknown keys are ignored, missing ones default.

        Keys (seconds): ``deadline_always_on``, ``deadline_light_sleeper``,
        ``deadline_sleepy``, ``deadline_thermostat``, ``report_wait``,
        ``report_wait_light_sleeper``, ``group_report_wait``, ``group_report_quiet``,
        ``retry_max``; tuning (benchmarks): ``group_report_quantile``,
        ``group_report_margin``, ``report_quantile``, ``report_margin``,
        ``report_wait_floor``, ``unicast_at_once_miss``, ``small_group_miss``,
        ``read_quantile``, ``read_margin``, ``read_timeout_floor``,
        ``read_retries_at_once``.
        """
        policy = cls()
        deadlines = dict(policy.deadlines)
        for mode in SleepMode:
            if (value := options.get(f"deadline_{mode.value}")) is not None:
                deadlines[mode] = float(value)
        kind_deadlines = dict(policy.kind_deadlines)
        if (value := options.get("deadline_thermostat")) is not None:
            kind_deadlines[DeviceKind.THERMOSTAT] = float(value)
        waits = dict(policy.report_waits)
        if (value := options.get("report_wait")) is not None:
            waits[SleepMode.ALWAYS_ON] = waits[SleepMode.SLEEPY] = float(value)
        if (value := options.get("report_wait_light_sleeper")) is not None:
            waits[SleepMode.LIGHT_SLEEPER] = float(value)
        repair = policy.repair_backoff
        if (value := options.get("retry_max")) is not None:
            repair = replace(repair, maximum=float(value))
        tuned: dict[str, Any] = {
            name: float(options[name]) for name in _TUNING if options.get(name) is not None
        }
        if (value := options.get("read_retries_at_once")) is not None:
            tuned["read_retries_at_once"] = int(value)
        return replace(
            policy,
            deadlines=_frozen(deadlines),
            kind_deadlines=_frozen(kind_deadlines),
            report_waits=_frozen(waits),
            group_report_wait=float(options.get("group_report_wait", policy.group_report_wait)),
            group_report_quiet=float(options.get("group_report_quiet", policy.group_report_quiet)),
            repair_backoff=repair,
            **tuned,
        )


_TUNING = (
    "group_report_quantile",
    "group_report_margin",
    "report_quantile",
    "report_margin",
    "report_wait_floor",
    "unicast_at_once_miss",
    "small_group_miss",
    "read_quantile",
    "read_margin",
    "read_timeout_floor",
)


REFRESH_READ_TIMEOUT = 30.0
"""Seconds a background state read may take before it is given up."""

SLEEPER = "sleeper"
"""The scheduler's class of operations for sleepers while they are awake (configuration,
the read of what they have not shown): tried once per wake, a few at a time."""

SCHEDULER_LIMITS = {SLEEPER: 2}
"""Operations of each limited class queued or on air at once: a sleeper that dozed off
holds its frame slot for the parent's 7.68 s, and awake devices must not wait behind a
crowd of those."""
