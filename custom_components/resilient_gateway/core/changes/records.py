"""What the change engine keeps: a change (one command's wish for one device), a
groupcast and the member changes it stands for, and each device's state machine with the
phase it is in. ``machine.py`` moves the devices through their phases."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..change_results import ChangeResult, ChangeStatus, GroupResult, SyncState
from ..model import DeviceId
from ..scheduler import Priority, Ticket


class Phase(StrEnum):
    """What a device's state machine is doing."""

    IDLE = "idle"  # nothing open
    ASLEEP = "asleep"  # waiting for a sleeper to be heard from
    GROUPCAST = "groupcast"  # waiting for a groupcast that carries the values
    SENDING = "sending"  # a unicast is queued or on air
    WAITING = "waiting"  # delivered; waiting for the device to report
    READING = "reading"  # the device stayed silent; a read is queued or on air
    BACKOFF = "backoff"  # the device showed other values; waiting before sending again


@dataclass(eq=False, slots=True)
class SceneEntry:
    """Where a scene member's stored state lives, to store it again if it proved wrong."""

    group_id: int
    scene_id: int
    values: dict[str, Any]
    proved_wrong: bool = False


@dataclass(eq=False, slots=True)
class Change:
    """One command's wish for one device."""

    change_id: int
    device_id: DeviceId
    values: dict[str, Any]
    required: frozenset[str]
    transition: float | None
    priority: Priority
    started_at: float
    seq: int
    open: set[str] = field(default_factory=set)  # required, not yet shown by the device
    verified: set[str] = field(default_factory=set)
    superseded: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    status: ChangeStatus = ChangeStatus.PENDING
    attempts: int = 0
    reads: int = 0
    deadline_at: float = 0.0
    deadline_timer: asyncio.TimerHandle | None = None
    finished_at: float | None = None
    group: GroupOp | None = None
    group_id: int | None = None  # (kept apart from ``group``, which a restart does not keep)
    scene: SceneEntry | None = None
    future: asyncio.Future[ChangeResult] | None = None


@dataclass(eq=False, slots=True)
class GroupOp:
    """One groupcast (a group set or a scene recall) and the member changes it stands for."""

    group_id: int
    scene_id: int | None
    values: dict[str, Any]  # what the groupcast sets (empty for a scene recall)
    transition: float | None
    changes: dict[DeviceId, Change] = field(default_factory=dict)
    covered: set[DeviceId] = field(default_factory=set)  # members that hear groupcasts
    repaired: set[DeviceId] = field(default_factory=set)
    rewriting: set[DeviceId] = field(default_factory=set)
    rewritten: set[DeviceId] = field(default_factory=set)
    rewrite_failed: set[DeviceId] = field(default_factory=set)
    future: asyncio.Future[GroupResult] | None = None
    # Members unicast at once, with the groupcast (likely to miss it), until theirs is on air.
    at_once: set[DeviceId] = field(default_factory=set)
    reported: set[DeviceId] = field(default_factory=set)  # members heard since the groupcast
    unheard: set[DeviceId] = field(default_factory=set)  # members waiting, not heard yet
    on_air_at: float | None = None  # when the groupcast went on air
    # The report window after the groupcast: it closes once every member has reported,
    # at its learned length (``learned``) or, until that is known, once members that
    # reported have stopped reporting for a while; at its longest wait at the latest.
    window_timer: asyncio.TimerHandle | None = None
    quiet_timer: asyncio.TimerHandle | None = None
    window_ends_at: float = 0.0
    learned: bool = False
    window_opens_at: float = 0.0  # (only to set timers: the end of the transition)


@dataclass(eq=False, slots=True)
class Device:
    """The state machine of one device, over the union of its open changes."""

    device_id: DeviceId
    desired: dict[str, Any] = field(default_factory=dict)
    owners: dict[str, Change] = field(default_factory=dict)  # open attribute -> its change
    observed: dict[str, tuple[Any, int]] = field(default_factory=dict)  # value, event seq
    failed: set[str] = field(default_factory=set)
    unsent: set[str] = field(default_factory=set)  # open, not yet on air in any frame
    phase: Phase = Phase.IDLE
    ticket: Ticket[Any] | None = None
    timer: asyncio.TimerHandle | None = None
    sent_seq: int = 0  # the last frame carrying the values went on air at this seq
    delivered_at: float | None = None  # its unicast was acknowledged then (report delays)
    on_air: dict[str, Any] | None = None  # values of the unicast on air
    on_air_ticket: Ticket[Any] | None = None
    repairs: int = 0  # sends since the last new value, for back-off
    broadcast: GroupOp | None = None  # the groupcast this device waits for or just got
    after_broadcast: bool = False
    awake: bool = False
    awake_timer: asyncio.TimerHandle | None = None
    silent: bool = False  # the last read got no answer
    quick_rereads: int = 0  # reads sent again at once after a learned timeout, in a row
    sync: SyncState | None = None  # as last counted


def cancel(handle: asyncio.TimerHandle | None) -> None:
    if handle is not None:
        handle.cancel()
