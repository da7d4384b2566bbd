"""Background work of one gateway: kept until done, cancelled at its stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .radio import RadioError

_LOGGER = logging.getLogger(__name__)


class Background:
    """Tasks nobody awaits. A failure is logged: quietly when it met a radio that is
    down (the radio's status tells of the outage), as a warning otherwise."""

    def __init__(self, name: str, radio_up: Callable[[], bool]) -> None:
        self._name = name
        self._radio_up = radio_up
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background (not once closed: it is dropped)."""
        if self._closed:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def close(self) -> None:
        """Take no more work (the gateway is stopping)."""
        self._closed = True

    async def cancel(self) -> None:
        """Cancel what runs and wait until it ended."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (error := task.exception()) is None:
            return
        if isinstance(error, RadioError) and not self._radio_up():
            # (A snapshot meeting a dropped link: the radio's status tells of the outage.)
            _LOGGER.debug("%s: background work stopped, the radio is down: %s", self._name, error)
        else:
            _LOGGER.warning("%s: background work failed: %s", self._name, error)
