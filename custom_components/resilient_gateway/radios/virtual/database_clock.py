"""Simulated time and zigpy's database.

zigpy keeps its database with aiosqlite, which works in a thread of its own. The
virtual-time loop (``core/virtual_time.py``) does not jump while executor jobs run, but it
cannot see that thread: while an app awaits its database, the clock would race through
simulated minutes, firing the air's timers and request timeouts early and starving the
thread of the GIL. Inside ``clock_waits_for_database`` every database operation counts as
an executor job, so database work takes no simulated time. Real loops are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiosqlite.core

from ...core.virtual_time import VirtualTimeEventLoop

# Every way aiosqlite waits for its thread: queries and commits, opening, closing.
_OPERATIONS = ("_execute", "_connect", "close")


def _counted(operation: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(operation)
    async def run(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualTimeEventLoop):
            return await operation(*args, **kwargs)
        loop.executor_jobs += 1
        try:
            return await operation(*args, **kwargs)
        finally:
            loop.executor_jobs -= 1

    return run


@contextlib.contextmanager
def clock_waits_for_database() -> Iterator[None]:
    """Inside, the virtual clock stands still while zigpy's database works."""
    connection = aiosqlite.core.Connection
    originals = {name: vars(connection)[name] for name in _OPERATIONS}
    for name, operation in originals.items():
        setattr(connection, name, _counted(operation))
    try:
        yield
    finally:
        for name, operation in originals.items():
            setattr(connection, name, operation)
