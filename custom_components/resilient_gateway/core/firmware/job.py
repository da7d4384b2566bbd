"""One firmware update as the updater and the device-facing server share it: its phase,
the device's offset, the events the two sides wake each other with, and how it ends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..model import DeviceId
from .contract import UpgradeEnd
from .images import FirmwareImage


class FailureReason(StrEnum):
    REFUSED = "device_refused"
    DOES_NOT_FIT = "image_does_not_fit"
    DEADLINE = "deadline_passed"
    NOT_BACK = "device_did_not_come_back"
    STALLED = "transfer_stalled"


class UpdateFailed(Exception):
    """An update did not complete; ``reason`` says why in one word."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Phase(StrEnum):
    SCHEDULED = "scheduled"  # waiting for a sleepy device to wake
    TRANSFERRING = "transferring"
    REBOOTING = "rebooting"
    VERIFYING = "verifying"


@dataclass(frozen=True, slots=True)
class UpdateProgress:
    device_id: DeviceId
    phase: Phase
    offset: int
    size: int
    remaining: float | None  # seconds, estimated from the rate so far
    version: int  # the version being installed

    @property
    def percent(self) -> int:
        return min(100, self.offset * 100 // self.size) if self.size else 0


@dataclass(frozen=True, slots=True)
class UpdateResult:
    device_id: DeviceId
    from_version: int | None
    to_version: int
    repaired: tuple[str, ...]  # what the device had lost and was given back


@dataclass(eq=False)
class Job:
    device_id: DeviceId
    image: FirmwareImage
    from_version: int | None
    deadline_at: float
    sleepy: bool
    phase: Phase = Phase.SCHEDULED
    offset: int = 0
    attempts: int = 0  # quiet spells without progress so far
    data: bytes | None = None
    version_seen: int | None = None
    # The groups the device is in, taken before the update: zigpy learns a device's
    # groups from the device itself, so once the update wiped them it forgets them too.
    groups: frozenset[int] | None = None
    started_at: float = 0.0
    rate_from: tuple[float, int] | None = None  # (time, offset) the rate is measured from
    last_percent: int = -1
    answering: set[int] = field(default_factory=set)
    ended: asyncio.Future[UpgradeEnd] | None = None
    woke: asyncio.Event = field(default_factory=asyncio.Event)
    progressed: asyncio.Event = field(default_factory=asyncio.Event)
    rebooted: asyncio.Event = field(default_factory=asyncio.Event)
    result: asyncio.Future[UpdateResult] | None = None
    task: asyncio.Task[None] | None = None

    def progress(self) -> UpdateProgress:
        remaining = None
        if self.rate_from is not None and self.phase is Phase.TRANSFERRING:
            since, from_offset = self.rate_from
            elapsed = asyncio.get_running_loop().time() - since
            done = self.offset - from_offset
            if elapsed > 0 and done > 0:
                remaining = (self.image.size - self.offset) * elapsed / done
        return UpdateProgress(
            device_id=self.device_id,
            phase=self.phase,
            offset=self.offset,
            size=self.image.size,
            remaining=remaining,
            version=self.image.version,
        )

    def refuse(self, reason: FailureReason, message: str) -> None:
        """End the transfer with a failure (the device refused or does not fit)."""
        assert self.ended is not None
        if not self.ended.done():
            self.ended.set_exception(UpdateFailed(reason, message))
            self.ended.add_done_callback(consume)
        self.progressed.set()
        self.woke.set()


def consume(future: asyncio.Future[Any]) -> None:
    """Nobody may await a result (an update started by the resume): mark it retrieved."""
    if not future.cancelled():
        future.exception()
