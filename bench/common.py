"""What the benchmarks share: running on simulated or real time, statistics, CPU accounting.

Benchmarks are never timed tests: they print a table (and with ``--json`` one JSON line)
for people and for the README, and they run on ``run_virtual`` by default, so simulated
seconds cost no wall time.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import statistics
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import probatio

from custom_components.resilient_gateway.core.virtual_time import run_virtual

# zigpy validates its configuration with probatio, which compiles a schema once it has
# validated 50 times, and zigpy's compiled schema fails ("name 'inf' is not defined"). The
# benchmarks start a zigpy app per run (hundreds for the matrix), so keep it interpreted,
# as tests/conftest.py does.
probatio.set_compile_policy(probatio.CompilePolicy.OFF)


def run[T](coroutine: Coroutine[Any, Any, T], *, real_time: bool = False) -> T:
    """Run on the virtual-time loop (default) or on a plain asyncio loop."""
    return asyncio.run(coroutine) if real_time else run_virtual(coroutine)


@dataclass(frozen=True, slots=True)
class Spread:
    """Minimum, mean and maximum of one measure over several runs."""

    min: float
    mean: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        items = list(values)
        if not items:
            return cls(float("nan"), float("nan"), float("nan"))
        return cls(min(items), statistics.fmean(items), max(items))

    def format(self, spec: str = ".2f") -> str:
        if self.min == self.max:
            return format(self.mean, spec)
        return f"{self.mean:{spec}} ({self.min:{spec}}-{self.max:{spec}})"

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        return {
            "min": round(self.min, digits),
            "mean": round(self.mean, digits),
            "max": round(self.max, digits),
        }


def parse_seeds(text: str) -> list[int]:
    """``"1-5"``, ``"1,2,7"`` or ``"3"`` as a list of seeds."""
    seeds: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if "-" in part[1:]:
            first, last = part[0] + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1]
            seeds.extend(range(int(first), int(last) + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f"no seeds in {text!r}")
    return seeds


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "  ") -> str:
    """Columns padded to their widest cell; the first left-aligned, the others right."""
    body = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    lines = []
    for row in body:
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


class CpuMeter:
    """CPU time (``time.process_time``) spent inside the methods of some classes.

    ``measure(*classes)`` wraps every plain method of the classes while it is active; only
    the outermost call is timed, so a method calling another is counted once. What the
    methods call synchronously (listeners, ``loop.call_later``) counts too; coroutines are
    not wrapped (the work they do between awaits runs in the methods they call). The
    wrappers' own cost is included, so the figure errs high.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._depth = 0

    @contextmanager
    def measure(self, *classes: type) -> Iterator[CpuMeter]:
        originals: list[tuple[type, str, Any]] = []
        for cls in classes:
            for name, member in list(vars(cls).items()):
                if not inspect.isfunction(member) or inspect.iscoroutinefunction(member):
                    continue
                originals.append((cls, name, member))
                setattr(cls, name, self._wrap(member))
        try:
            yield self
        finally:
            for cls, name, member in reversed(originals):
                setattr(cls, name, member)

    def _wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.process_time

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return function(*args, **kwargs)
            self._depth = 1
            self.calls += 1
            start = clock()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += clock() - start
                self._depth = 0

        return timed
