"""What the change engine tells its callers: outcomes of changes, groups and device sync,
and the handles to wait for them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .model import DeviceId


class ChangeStatus(StrEnum):
    PENDING = "pending"  # still being sent, checked or repaired
    VERIFIED = "verified"  # the device itself showed every commanded value
    FAILED = "failed"  # the deadline passed with some value not shown by the device
    SUPERSEDED = "superseded"  # newer commands replaced every value of this one


class SyncState(StrEnum):
    """Whether a device holds what was last commanded to it."""

    VERIFIED = "verified"
    PENDING = "pending"
    FAILED = "failed"
    # Nothing open, but the device has shown nothing since the start or the last radio
    # outage: what it holds cannot be verified.
    UNKNOWN = "unknown"


_SYNC_PRECEDENCE = (SyncState.FAILED, SyncState.PENDING, SyncState.UNKNOWN)


def combined_sync(states: Iterable[SyncState]) -> SyncState:
    """One sync state for many devices (a group): the worst of them."""
    present = set(states)
    return next((state for state in _SYNC_PRECEDENCE if state in present), SyncState.VERIFIED)


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """The outcome (or, while pending, the progress) of one change on one device."""

    change_id: int
    device_id: DeviceId
    status: ChangeStatus
    desired: Mapping[str, Any]
    actual: Mapping[str, Any]  # latest values from the device for the desired attributes
    failed_attributes: frozenset[str] = frozenset()
    superseded_attributes: frozenset[str] = frozenset()
    attempts: int = 0  # frames that carried the values (unicast or groupcast, failures too)
    reads: int = 0
    elapsed: float = 0.0  # seconds from the command to the outcome (or to now)
    group_id: int | None = None
    scene_id: int | None = None


def aggregate_status(statuses: list[ChangeStatus]) -> ChangeStatus:
    """One status for many changes: pending or failed if any is, superseded if all are."""
    if ChangeStatus.PENDING in statuses:
        return ChangeStatus.PENDING
    if ChangeStatus.FAILED in statuses:
        return ChangeStatus.FAILED
    if statuses and all(s is ChangeStatus.SUPERSEDED for s in statuses):
        return ChangeStatus.SUPERSEDED
    return ChangeStatus.VERIFIED


@dataclass(frozen=True, slots=True)
class GroupResult:
    """Per-member outcomes of a group command or scene recall, plus the aggregate."""

    group_id: int
    scene_id: int | None
    status: ChangeStatus
    members: Mapping[DeviceId, ChangeResult]
    repaired: frozenset[DeviceId] = frozenset()  # members that needed a unicast after all
    rewritten: frozenset[DeviceId] = frozenset()  # scene entries stored again (scenes only)
    rewrite_failed: frozenset[DeviceId] = frozenset()

    def members_with(self, status: ChangeStatus) -> frozenset[DeviceId]:
        return frozenset(d for d, r in self.members.items() if r.status is status)


@dataclass(frozen=True, slots=True)
class DeviceSyncStatus:
    """What an entity shows about a device's commanded state."""

    device_id: DeviceId
    state: SyncState
    desired: Mapping[str, Any]
    actual: Mapping[str, Any]
    pending_attributes: frozenset[str] = frozenset()
    failed_attributes: frozenset[str] = frozenset()
    phase: str = "idle"  # what the device's state machine is doing


@dataclass(frozen=True, slots=True)
class ChangeCounts:
    pending_changes: int = 0
    pending_devices: int = 0
    failed_devices: int = 0
    failed_total: int = 0  # changes that failed since the engine started


class _Handle[R]:
    """A caller's view of work that ends in a result of type ``R``."""

    def __init__(self, outcome: asyncio.Future[R], progress: Callable[[], R]) -> None:
        self._outcome = outcome
        self._progress = progress

    def result(self) -> R:
        """The outcome, or the progress so far while it is pending."""
        return self._progress()

    async def wait(self, timeout: float | None = None) -> R:  # noqa: ASYNC109
        """The outcome; the progress so far (``pending``) if ``timeout`` passes first.

        The work goes on either way; cancelling the waiter does not cancel it.
        """
        if not self._outcome.done():
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._outcome)
            except TimeoutError:
                pass
        return self.result()


class ChangeHandle(_Handle[ChangeResult]):
    """One change on one device."""

    def __init__(
        self,
        change_id: int,
        device_id: DeviceId,
        outcome: asyncio.Future[ChangeResult],
        progress: Callable[[], ChangeResult],
    ) -> None:
        super().__init__(outcome, progress)
        self.change_id = change_id
        self.device_id = device_id

    @property
    def done(self) -> bool:
        return self.result().status is not ChangeStatus.PENDING


class GroupHandle(_Handle[GroupResult]):
    """One group command or scene recall, with a handle per member."""

    def __init__(
        self,
        group_id: int,
        members: Mapping[DeviceId, ChangeHandle],
        outcome: asyncio.Future[GroupResult],
        progress: Callable[[], GroupResult],
    ) -> None:
        super().__init__(outcome, progress)
        self.group_id = group_id
        self.members = dict(members)

    @property
    def done(self) -> bool:
        return self.result().status is not ChangeStatus.PENDING
