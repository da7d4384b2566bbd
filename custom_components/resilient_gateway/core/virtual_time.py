"""An asyncio event loop whose clock jumps to the next timer instead of waiting.

Everything that runs on it (zigpy's timeouts, the simulated air, the change engine) sees
consistent simulated time, so tests and benchmarks measure simulated seconds without real
waiting. Work handed to threads (executor jobs) is waited for in real time, and the clock
does not jump while any is outstanding, so file I/O never makes a timeout fire early.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that, instead of sleeping until the next timer, moves the clock there."""

    loop: VirtualTimeEventLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.loop.executor_jobs or timeout is None or timeout <= 0:
            return super().select(timeout)
        ready = super().select(0)
        if not ready:
            self.loop.advance(timeout)
        return ready


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop with simulated time (starts at 0.0 seconds)."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        selector.loop = self
        super().__init__(selector)
        self._now = 0.0
        self.executor_jobs = 0

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def run_in_executor[T](  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.executor_jobs += 1

        def _done(_: asyncio.Future[T]) -> None:
            self.executor_jobs -= 1

        future.add_done_callback(_done)
        return future

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        # Joining the executor's threads is real work in a thread of its own.
        self.executor_jobs += 1
        try:
            await super().shutdown_default_executor(timeout)
        finally:
            self.executor_jobs -= 1


def run_virtual[T](main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh virtual-time loop."""
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        return runner.run(main)
