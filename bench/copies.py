"""Run strategies on exact copies of one built house: build it once, then fork.

Building a house (every light joined, interviewed by zigpy and its reporting configured)
costs far more than a run on it: about 4.6 s of CPU for 500 lights against 0.5 s for the
engine's run. Each strategy must still start from a fresh house, so that nothing carries
over from another strategy's run (the radio budget, the engine's and the gateway's state,
the air's queues). So the house is built once per process, the event loop is stopped in
between runs, and each run happens in a child process forked at that moment: an exact
copy of the built house, the same simulated instant, the same full budgets. The child
sends its ``Run`` back through a pipe and exits; the parent's house stays untouched.

Without ``os.fork`` (or with threads in the process, which a fork would not copy), each run
builds its own house instead (``measure_fresh``): the same figures, more slowly.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import threading
import traceback
from collections.abc import Sequence
from dataclasses import asdict

from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.virtual_time import VirtualTimeEventLoop
from custom_components.resilient_gateway.radios.virtual import VirtualAir

from .changes import Run, Settings, _network, measure, measure_fresh
from .common import run


class RunFailed(RuntimeError):
    """A run in a forked copy raised; the message holds its traceback."""


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def run_on_copies(
    settings: Settings, runs: Sequence[tuple[int, str]], *, cpu_repeats: int = 1
) -> list[Run]:
    """Each (seed, strategy) of ``runs`` on its own copy of the house of ``settings``.

    A run that measures the engine's CPU is made ``cpu_repeats`` times, each on a fresh
    copy, and keeps the least CPU of them: every copy runs exactly the same simulated run
    (the same figures), so all that differs between them is what the machine did meanwhile
    (other processes on the cores, caches), which only ever adds. A cell of a few lights
    makes a few changes, a few milliseconds of CPU in all, where one such interruption
    would otherwise be the figure."""
    if not can_fork():
        return [run(measure_fresh(settings, seed, strategy)) for seed, strategy in runs]
    loop = VirtualTimeEventLoop()
    try:
        air, gateway = loop.run_until_complete(_network(settings))
        # The built house out of the collector's sight while the copies run: a copy's
        # collection would otherwise walk (and so copy, page by page) the whole house,
        # milliseconds of CPU that landed in whichever engine method allocated then.
        gc.collect()
        gc.freeze()
        try:
            return [
                _least_cpu(loop, air, gateway, seed, strategy, repeats=cpu_repeats)
                for seed, strategy in runs
            ]
        finally:
            gc.unfreeze()
            loop.run_until_complete(gateway.stop())
            loop.run_until_complete(air.stop())
    finally:
        loop.close()


def _least_cpu(
    loop: VirtualTimeEventLoop,
    air: VirtualAir,
    gateway: Gateway,
    seed: int,
    strategy: str,
    *,
    repeats: int,
) -> Run:
    first = _in_copy(loop, air, gateway, seed, strategy)
    if first.cpu_ms_per_change is None:
        return first
    for _ in range(repeats - 1):
        again = _in_copy(loop, air, gateway, seed, strategy)
        if _figures(again) != _figures(first):
            raise RunFailed(f"{strategy} (seed {seed}) measured differently on a second copy")
        first.cpu_ms_per_change = _least(first.cpu_ms_per_change, again.cpu_ms_per_change)
        first.stack_cpu_ms_per_change = _least(
            first.stack_cpu_ms_per_change, again.stack_cpu_ms_per_change
        )
    return first


_MACHINE = ("wall_s", "cpu_ms_per_change", "stack_cpu_ms_per_change")


def _figures(run_: Run) -> dict[str, object]:
    """What the simulated run measured (not what the machine did meanwhile)."""
    return {k: v for k, v in asdict(run_).items() if k not in _MACHINE}


def _least(one: float | None, other: float | None) -> float | None:
    return min((v for v in (one, other) if v is not None), default=None)


def _in_copy(
    loop: VirtualTimeEventLoop, air: VirtualAir, gateway: Gateway, seed: int, strategy: str
) -> Run:
    sys.stdout.flush()
    sys.stderr.flush()
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy: run, answer, and leave without running anyone's clean-up
        os.close(readable)
        status = 0
        # One full collection now, outside the run: it writes to every object the
        # collector tracks, so this copy has its own pages of the house before the run
        # (the copy-on-write page faults, a cost of forking and not of the engine, would
        # otherwise be counted in whichever method touched a page first).
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        try:
            result: Run | RunFailed = loop.run_until_complete(measure(air, gateway, seed, strategy))
        except BaseException:
            result = RunFailed(traceback.format_exc())
            status = 1
        try:
            payload = pickle.dumps(result)
            with os.fdopen(writable, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(status)
    os.close(writable)
    with os.fdopen(readable, "rb") as pipe:
        payload = pipe.read()
    os.waitpid(pid, 0)
    if not payload:
        raise RunFailed(f"the copy running {strategy} (seed {seed}) died without an answer")
    result = pickle.loads(payload)
    if isinstance(result, RunFailed):
        raise result
    assert isinstance(result, Run)
    return result
