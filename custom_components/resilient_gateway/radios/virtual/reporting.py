"""Attribute reporting of one device: what is configured and when each report is due.

ZCL semantics: a change of at least the reportable change (any change for discrete
attributes) is reported, but not sooner than ``min_interval`` after the last report; with
a non-zero ``max_interval`` the value is also reported at least that often. A
``max_interval`` of 0xFFFF switches reporting off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

type ReportKey = tuple[int, int, int]
"""(endpoint id, cluster id, attribute id)"""

REPORTING_OFF = 0xFFFF


@dataclass(slots=True)
class ReportConfig:
    min_interval: int
    max_interval: int
    change: float
    analog: bool
    last_value: Any
    last_time: float
    pending: bool = False

    def crossed(self, value: Any) -> bool:
        if not self.analog:
            return bool(value != self.last_value)
        try:
            return abs(float(value) - float(self.last_value)) >= max(self.change, 1e-9)
        except TypeError, ValueError:
            return bool(value != self.last_value)

    def due_at(self) -> float | None:
        times = []
        if self.pending:
            times.append(self.last_time + self.min_interval)
        if 0 < self.max_interval < REPORTING_OFF:
            times.append(self.last_time + max(self.max_interval, self.min_interval))
        return min(times) if times else None


class Reporter:
    """The reporting table of one device."""

    def __init__(self) -> None:
        self.configs: dict[ReportKey, ReportConfig] = {}

    def configure(
        self,
        key: ReportKey,
        *,
        min_interval: int,
        max_interval: int,
        change: float,
        analog: bool,
        value: Any,
        now: float,
    ) -> None:
        if max_interval == REPORTING_OFF:
            self.configs.pop(key, None)
            return
        self.configs[key] = ReportConfig(
            min_interval=min_interval,
            max_interval=max_interval,
            change=change,
            analog=analog,
            last_value=value,
            last_time=now,
        )

    def changed(self, key: ReportKey, value: Any) -> bool:
        """Note a new value; True if it now waits to be reported."""
        config = self.configs.get(key)
        if config is None:
            return False
        config.pending = config.crossed(value)
        return config.pending

    def due(self, now: float) -> list[ReportKey]:
        due = []
        for key, config in self.configs.items():
            when = config.due_at()
            if when is not None and when <= now + 1e-9:
                due.append(key)
        return due

    def reported(self, key: ReportKey, value: Any, now: float) -> None:
        config = self.configs[key]
        config.last_value = value
        config.last_time = now
        config.pending = False

    def next_due(self) -> float | None:
        times = [when for config in self.configs.values() if (when := config.due_at()) is not None]
        return min(times) if times else None

    def clear(self) -> None:
        self.configs.clear()

    def restart(self, now: float) -> None:
        """Count intervals from ``now`` (after a power cycle or a restart)."""
        for config in self.configs.values():
            config.last_time = now

    def as_list(self) -> list[dict[str, Any]]:
        return [
            {
                "endpoint": key[0],
                "cluster": key[1],
                "attribute": key[2],
                "min": config.min_interval,
                "max": config.max_interval,
                "change": config.change,
                "analog": config.analog,
                "last_value": config.last_value,
            }
            for key, config in sorted(self.configs.items())
        ]

    def load(self, items: list[dict[str, Any]], now: float) -> None:
        self.configs = {
            (item["endpoint"], item["cluster"], item["attribute"]): ReportConfig(
                min_interval=item["min"],
                max_interval=item["max"],
                change=item["change"],
                analog=item["analog"],
                last_value=item["last_value"],
                last_time=now,
            )
            for item in items
        }
