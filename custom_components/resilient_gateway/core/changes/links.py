"""What the change engine has learned of each device's link, to choose how to reach it.

Per device: how often it stayed silent through a groupcast's report window (it missed the
groupcast, or its report did not come back in time: either way it needed a unicast) and
how often a unicast to it needed more than one try. Per network: how long reports take
to come back after a groupcast and after a delivered unicast, so report windows close as
soon as the evidence is in instead of after a fixed wait, and how long a read's answer
takes, so a read whose answer was lost is sent again instead of waiting out the radio
library's reply timeout (zigpy: 5 s).

Counts decay (halved past ``_MAX_COUNT``), so an estimate follows the last few dozen
commands; everything survives restarts with the pending changes (``pending.py``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..model import DeviceDescription, DeviceId, SleepMode
from ..policy import ChangePolicy

_MAX_COUNT = 32.0  # past this many observations a device's counts are halved
_DELAY_SAMPLES = 64  # recent report delays kept per kind
MIN_DELAY_SAMPLES = 5  # fewer than this: the window's length is not known yet
MIN_NETWORK_GROUPCASTS = 10  # member outcomes before the network's miss rate counts
_PRIOR_MISS = 0.05  # a member's miss rate before anything was seen
_PRIOR_WEIGHT = 6.0  # how many observations the network's rate counts for, per member


@dataclass(slots=True)
class LinkStats:
    """One device's link, as counted (decayed counts, so floats)."""

    groupcasts: float = 0.0  # groupcasts it was expected to answer
    missed: float = 0.0  # ... of which it stayed silent through the report window
    unicasts: float = 0.0  # unicast operations delivered to it
    retries: float = 0.0  # ... extra tries they needed after delivery failures

    def add_groupcast(self, missed: bool) -> None:
        self.groupcasts += 1.0
        self.missed += 1.0 if missed else 0.0
        if self.groupcasts > _MAX_COUNT:
            self.groupcasts /= 2.0
            self.missed /= 2.0

    def add_unicast(self, tries: int) -> None:
        self.unicasts += 1.0
        self.retries += max(0, tries - 1)
        if self.unicasts > _MAX_COUNT:
            self.unicasts /= 2.0
            self.retries /= 2.0


class Delays:
    """The most recent delays of one kind, and their quantiles (sorted once per change)."""

    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=_DELAY_SAMPLES)
        self._sorted: list[float] | None = None

    def add(self, seconds: float) -> None:
        self.recent.append(max(0.0, seconds))
        self._sorted = None

    def window(self, quantile: float, margin: float) -> float | None:
        """The ``quantile`` of the recent delays plus ``margin`` (None: too few seen)."""
        if len(self.recent) < MIN_DELAY_SAMPLES:
            return None
        if self._sorted is None:
            self._sorted = sorted(self.recent)
        ordered = self._sorted
        index = min(len(ordered) - 1, max(0, math.ceil(quantile * len(ordered)) - 1))
        return ordered[index] + margin


class LinkBook:
    """Every device's ``LinkStats`` and the network's recent report delays."""

    def __init__(self) -> None:
        self.devices: dict[DeviceId, LinkStats] = {}
        self.group_delays = Delays()
        self.report_delays = Delays()
        self.read_delays = Delays()

    def stats(self, device_id: DeviceId) -> LinkStats:
        stats = self.devices.get(device_id)
        if stats is None:
            stats = self.devices[device_id] = LinkStats()
        return stats

    # ---- what the engine saw --------------------------------------------------------

    def groupcast_outcome(self, device_id: DeviceId, *, missed: bool) -> None:
        self.stats(device_id).add_groupcast(missed)

    def unicast_delivered(self, device_id: DeviceId, tries: int) -> None:
        self.stats(device_id).add_unicast(tries)

    def group_report_delay(self, seconds: float) -> None:
        """A member's report came ``seconds`` after the groupcast (and its transition)."""
        self.group_delays.add(seconds)

    def unicast_report_delay(self, seconds: float) -> None:
        """A device's report came ``seconds`` after its unicast was acknowledged."""
        self.report_delays.add(seconds)

    def read_delay(self, seconds: float) -> None:
        """A read's answer came ``seconds`` (per frame of the read) after it went on air."""
        self.read_delays.add(seconds)

    # ---- estimates ------------------------------------------------------------------

    def network_miss_rate(self) -> float | None:
        """The share of members silent through a groupcast's window, over the network
        (None until ``MIN_NETWORK_GROUPCASTS`` member outcomes were seen)."""
        groupcasts = sum(s.groupcasts for s in self.devices.values())
        if groupcasts < MIN_NETWORK_GROUPCASTS:
            return None
        return sum(s.missed for s in self.devices.values()) / groupcasts

    def miss_rate(self, device_id: DeviceId, network: float | None) -> float:
        """How likely the device stays silent through the next groupcast's window: its own
        counts, drawn towards the network's rate while it has few of them."""
        prior = _PRIOR_MISS if network is None else network
        stats = self.devices.get(device_id)
        if stats is None:
            return prior
        return (stats.missed + _PRIOR_WEIGHT * prior) / (stats.groupcasts + _PRIOR_WEIGHT)

    def unicast_tries(self, device_id: DeviceId) -> float:
        """Operations it takes to deliver one unicast to the device (1: never failed)."""
        stats = self.devices.get(device_id)
        if stats is None or stats.unicasts == 0:
            return 1.0
        return 1.0 + stats.retries / stats.unicasts

    def group_window(self, quantile: float, margin: float) -> float | None:
        """Seconds after a groupcast by which members that heard it have reported (None:
        too few reports seen to say)."""
        return self.group_delays.window(quantile, margin)

    def report_window(self, quantile: float, margin: float) -> float | None:
        """Seconds after an acknowledged unicast by which its report has come (None: too
        few seen)."""
        return self.report_delays.window(quantile, margin)

    def read_window(self, quantile: float, margin: float) -> float | None:
        """Seconds per frame after which a read's answer will not come any more (None:
        too few answers seen)."""
        return self.read_delays.window(quantile, margin)

    def report_wait(self, policy: ChangePolicy, description: DeviceDescription) -> float:
        """How long to wait for the report of a delivered unicast before reading."""
        longest = policy.report_wait_for(description)
        if description.sleep_mode is not SleepMode.ALWAYS_ON:
            return longest
        learned = self.report_window(policy.report_quantile, policy.report_margin)
        if learned is None:
            return longest
        return min(longest, max(policy.report_wait_floor, learned))

    def read_timeout(self, policy: ChangePolicy, frames: int) -> float | None:
        """How long a read of an always-on device of ``frames`` frames waits for its
        answer, once enough answers were seen (None: not known, or no shorter than the
        policy's guard): an answer that did not come by then was lost, and the read is
        sent again rather than waiting out the radio library's reply timeout."""
        per_frame = self.read_window(policy.read_quantile, policy.read_margin)
        if per_frame is None:
            return None
        timeout = max(policy.read_timeout_floor, per_frame) * frames
        return timeout if timeout < policy.read_timeout else None

    # ---- persistence ----------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "devices": {
                device_id: [
                    round(s.groupcasts, 3),
                    round(s.missed, 3),
                    round(s.unicasts, 3),
                    round(s.retries, 3),
                ]
                for device_id, s in self.devices.items()
            },
            "group_delays": [round(d, 4) for d in self.group_delays.recent],
            "report_delays": [round(d, 4) for d in self.report_delays.recent],
            "read_delays": [round(d, 4) for d in self.read_delays.recent],
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """What ``export`` wrote; entries that do not fit are left out (a damaged file
        costs what was learned, nothing else)."""
        devices = data.get("devices")
        if isinstance(devices, Mapping):
            for device_id, counts in devices.items():
                numbers = _numbers(counts)
                if isinstance(device_id, str) and len(numbers) == 4:
                    groupcasts, missed, unicasts, retries = numbers
                    self.devices[device_id] = LinkStats(
                        groupcasts, min(missed, groupcasts), unicasts, retries
                    )
        for delay in _numbers(data.get("group_delays")):
            self.group_delays.add(delay)
        for delay in _numbers(data.get("report_delays")):
            self.report_delays.add(delay)
        for delay in _numbers(data.get("read_delays")):
            self.read_delays.add(delay)


def _numbers(values: Any) -> list[float]:
    if not isinstance(values, list):
        return []
    return [
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    ]
