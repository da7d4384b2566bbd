"""The engine's pending changes on disk: desired states and open changes (``changes.json``)
survive a restart and resume where they stood."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..storage import AtomicJsonFile

_LOGGER = logging.getLogger(__name__)

SAVE_DELAY = 1.0
"""Seconds to gather engine changes before writing them to disk (one write per burst)."""


class PendingStore:
    """Writes what ``export`` returns (None: nothing to write) to ``file`` a moment after
    it changed, at once when asked, one write at a time, and leaves nothing scheduled once
    it is stopped: the write its owner makes while stopping is the last."""

    def __init__(
        self,
        file: AtomicJsonFile | None,
        export: Callable[[], Mapping[str, Any] | None],
        *,
        delay: float = SAVE_DELAY,
    ) -> None:
        self._file = file
        self._export = export
        self._delay = delay
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._stopped = False

    def save_soon(self) -> None:
        """Something changed: write it once things have been quiet for ``delay``."""
        if self._file is None or self._stopped or self._timer is not None:
            return
        self._timer = asyncio.get_running_loop().call_later(self._delay, self._write_later)

    async def save(self) -> None:
        """Write now (after a write under way: the newer state is written last)."""
        if self._file is None:
            return
        async with self._lock:
            data = self._export()
            if data is not None:
                await self._file.save(data)

    def stop(self) -> None:
        """No write later any more (a save of the moment still writes)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _write_later(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.save())
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.warning("The pending changes could not be saved: %s", error)
