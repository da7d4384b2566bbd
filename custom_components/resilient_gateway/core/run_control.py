"""Pause and resume: the gateway releases its radio for other software and takes it back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from .health import Supervision, describe_failure
from .radio import RadioError, RadioIdentityError, RadioLink

_LOGGER = logging.getLogger(__name__)


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
        name: str,
        none_taken: Callable[[], Awaitable[bool]],
        on_status_changed: Callable[[], None],
        on_released: Callable[[], None],
        on_taken_back: Callable[[], Awaitable[None]],
    ) -> None:
        """``name``: the gateway's, for logs; ``none_taken``: no snapshot of the gateway
        exists; ``on_released``: the radio is closed (what devices showed is forgotten);
        ``on_taken_back``: the radio runs again (every device is re-confirmed)."""
        self._radio = radio
        self._name = name
        self._none_taken = none_taken
        self._on_status_changed = on_status_changed
        self._on_released = on_released
        self._on_taken_back = on_taken_back
        self._supervision = supervision
        self.lock = lock
        self.target_status = RunStatus.RUNNING
        self.current_status = RunStatus.RUNNING

    async def start(self, *, form_new_network: bool = False) -> bool:
        """Take the radio at the gateway's start; False when it does not hold the
        gateway's network (blank or replaced): supervision then waits for a restore.
        Other radio failures raise (the caller retries later).

        ``form_new_network``: the caller knows of no network this gateway ever had (Home
        Assistant: no device of the entry). A blank radio is formed into a new network
        only then, and only if no snapshot exists and the radio keeps no trace of an
        earlier network either: a gateway that had one is restored, never started anew.
        """
        if form_new_network:
            form_new_network = await self._none_taken()
        try:
            await self._radio.start(form_new_network=form_new_network)
        except RadioIdentityError as exc:
            _LOGGER.warning("%s: %s; restore a snapshot onto it", self._name, exc)
            self._supervision.supervisor.mark_needs_restore(str(exc))
            return False
        return True

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
