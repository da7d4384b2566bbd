"""Pause and resume: the gateway releases its radio for other software and takes it back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum

from .health import Supervision, describe_failure
from .radio import RadioError, RadioLink


class RunStatus(StrEnum):
    """Whether the gateway holds its radio (paused: released for other software)."""

    RUNNING = "running"
    PAUSED = "paused"


class RunControl:
    """The run status asked for (``target_status``) and in effect (``current_status``).

    Whoever opens, closes or exports the radio holds ``lock``: pause, resume, restores
    and snapshots take turns (a snapshot never meets a radio a restore has closed).
    """

    def __init__(
        self,
        radio: RadioLink,
        supervision: Supervision,
        lock: asyncio.Lock,
        *,
        on_status_changed: Callable[[], None],
        on_released: Callable[[], None],
        on_taken_back: Callable[[], Awaitable[None]],
    ) -> None:
        """``on_released``: the radio is closed (what devices showed is forgotten);
        ``on_taken_back``: the radio runs again (every device is re-confirmed)."""
        self._radio = radio
        self._on_status_changed = on_status_changed
        self._on_released = on_released
        self._on_taken_back = on_taken_back
        self._supervision = supervision
        self.lock = lock
        self.target_status = RunStatus.RUNNING
        self.current_status = RunStatus.RUNNING

    @property
    def paused(self) -> bool:
        """Paused, or a pause waits (a resume that failed leaves the radio released)."""
        return RunStatus.PAUSED in (self.target_status, self.current_status)

    async def pause(self) -> None:
        """Release the radio (its port is free once this returns); commands queue.

        The run status wins over a restore: a restore under way ends first (this waits for
        it, showing ``paused`` as the target meanwhile), then the radio is released, and
        no restore starts while the gateway is paused or a pause waits.
        """
        self.target_status = RunStatus.PAUSED
        self._on_status_changed()
        async with self.lock:
            if self.target_status is not RunStatus.PAUSED:
                return  # resumed while this waited
            if self.current_status is RunStatus.PAUSED:
                return
            self._supervision.pause()
            await self._radio.stop()
            self.current_status = RunStatus.PAUSED
            self._on_status_changed()
            self._on_released()

    async def resume(self) -> None:
        """Take the radio back and deliver what was queued meanwhile."""
        self.target_status = RunStatus.RUNNING
        self._on_status_changed()
        async with self.lock:
            if self.target_status is not RunStatus.RUNNING:
                return  # paused again while this waited
            if self.current_status is RunStatus.RUNNING:
                return
            try:
                await self._radio.start()
            except RadioError:
                raise
            except Exception as exc:
                raise RadioError(f"the radio did not start: {describe_failure(exc)}") from exc
            self.current_status = RunStatus.RUNNING
            self._on_status_changed()
            self._supervision.resume()
            await self._on_taken_back()
