"""An asyncio event loop whose clock jumps to the next timer instead of waiting.

Everything that runs on it (zigpy's timeouts, the simulated air, the change engine) sees
consistent simulated time, so tests and benchmarks measure simulated seconds without real
waiting. Work handed to threads (executor jobs) is waited for in real time, and the clock
does not jump while any is outstanding, so file I/O never makes a timeout fire early.
A job's result is handed to its awaiter in the order the jobs were started, each once
nothing else is left to run at the current instant: when a thread finishes (real time)
then decides nothing about the order of simulated events.

Callbacks due at the same simulated instant run in the order they were scheduled. A real
loop keeps its timers in a heap that does not promise that, and there such ties are rare;
here they are common (a device's retries of two frames sent together fall due together),
and the heap's tie order depends on every other timer it ever held, including zigpy's
randomly delayed topology requests. Ordered ties make a seeded run the same every time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from contextvars import Context
from typing import Any


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that, instead of sleeping until the next timer, moves the clock there."""

    loop: VirtualTimeEventLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)  # (more to run at this instant)
        if self.loop.hand_over_executor_result():
            return super().select(0)
        if self.loop.executor_jobs or timeout is None:
            return super().select(timeout)
        ready = super().select(0)
        if not ready:
            self.loop.advance(timeout)
        return ready


class _OrderedTimerHandle(asyncio.TimerHandle):
    """A timer that sorts after every timer due at the same instant and set before it."""

    __slots__ = ("_key",)

    def __init__(self, order: int, *args: Any) -> None:
        super().__init__(*args)
        # Computed once: the loop's heap compares timers many times each.
        self._key = (self._when, order)  # type: ignore[attr-defined]

    def __lt__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key < other._key
        return super().__lt__(other)

    def __le__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key <= other._key
        return super().__le__(other)

    def __gt__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key > other._key
        return super().__gt__(other)

    def __ge__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key >= other._key
        return super().__ge__(other)


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop with simulated time (starts at 0.0 seconds)."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        selector.loop = self
        super().__init__(selector)
        self._now = 0.0
        self.executor_jobs = 0
        self._timer_order = itertools.count()
        # Executor jobs in the order they started: (the job, what its awaiter holds).
        self._handovers: deque[tuple[asyncio.Future[Any], asyncio.Future[Any]]] = deque()

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        # As the base loop's call_at, with a timer that keeps ties in order.
        self._check_closed()  # type: ignore[attr-defined]
        timer = _OrderedTimerHandle(next(self._timer_order), when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def run_in_executor[T](  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        job = super().run_in_executor(executor, func, *args)
        self.executor_jobs += 1
        result: asyncio.Future[T] = self.create_future()

        def _cancel_job(_: asyncio.Future[T]) -> None:
            if result.cancelled():
                job.cancel()

        result.add_done_callback(_cancel_job)
        self._handovers.append((job, result))
        return result

    def hand_over_executor_result(self) -> bool:
        """Give the oldest executor job's result to its awaiter, if that job is done
        (its awaiter runs next); False while it still runs or none is outstanding."""
        if not self._handovers or not self._handovers[0][0].done():
            return False
        job, result = self._handovers.popleft()
        self.executor_jobs -= 1
        if result.done():
            return True  # (its awaiter gave up)
        if job.cancelled():
            result.cancel()
        elif (error := job.exception()) is not None:
            result.set_exception(error)
        else:
            result.set_result(job.result())
        return True

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
