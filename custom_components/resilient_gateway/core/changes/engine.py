"""The change engine: every command is followed until the device itself shows it.

A command becomes a *change* per target device: the values it wants and a deadline. Each
device with open changes runs one small state machine over the union of their values:

    send ──▶ waiting ──(report matches)──▶ verified
               │ silent                        ▲
               ▼                               │
             read ──(response matches)─────────┘
               │ wrong or no answer
               ▼
            back-off ──▶ send again …  until the change's deadline: failed

- Only values from the device (reports, read responses) verify, and only ones that
  arrived after the value was commanded.
- A newer change takes over the attributes it sets from older ones (those end
  ``superseded`` for them); one frame per device carries everything still open.
- Sleepy devices are sent to when they are heard from; nothing is lost while they sleep.
- Groups and scenes go out as one groupcast; members that stay silent or show the wrong
  values are repaired by unicast, and wrong scene-table entries are stored again. The
  report window after a groupcast closes once the members' reports stop coming in
  (``group_report_quiet`` after the last one), at the latest after ``group_report_wait``.

Every time-based step is a timer on the running loop; nothing compares clocks later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from ..change_results import (
    ChangeCounts,
    ChangeHandle,
    ChangeResult,
    ChangeStatus,
    DeviceSyncStatus,
    GroupHandle,
    GroupResult,
    SyncState,
    aggregate_status,
)
from ..matching import required_attributes, turned_off_supersedes, value_matches
from ..model import (
    Attr,
    DeviceDescription,
    DeviceId,
    DeviceKind,
    SleepMode,
)
from ..policy import ChangePolicy
from ..scheduler import (
    CommandValues,
    Priority,
    SchedulerStopped,
    SendScheduler,
    Ticket,
    values_dict,
)

_LOGGER = logging.getLogger(__name__)

PENDING_FORMAT = 1
"""Version of the exported pending changes (``changes.json``, a snapshot's ``changes``)."""

type Unsubscribe = Callable[[], None]
type DeviceLookup = Callable[[DeviceId], DeviceDescription | None]


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
class _SceneEntry:
    """Where a scene member's stored state lives, to store it again if it proved wrong."""

    group_id: int
    scene_id: int
    values: dict[str, Any]
    proved_wrong: bool = False


@dataclass(eq=False, slots=True)
class _Change:
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
    group: _GroupOp | None = None
    group_id: int | None = None  # (kept apart from ``group``, which a restart does not keep)
    scene: _SceneEntry | None = None
    future: asyncio.Future[ChangeResult] | None = None


@dataclass(eq=False, slots=True)
class _GroupOp:
    """One groupcast (a group set or a scene recall) and the member changes it stands for."""

    group_id: int
    scene_id: int | None
    values: dict[str, Any]  # what the groupcast sets (empty for a scene recall)
    transition: float | None
    changes: dict[DeviceId, _Change] = field(default_factory=dict)
    covered: set[DeviceId] = field(default_factory=set)  # members that hear groupcasts
    repaired: set[DeviceId] = field(default_factory=set)
    rewriting: set[DeviceId] = field(default_factory=set)
    rewritten: set[DeviceId] = field(default_factory=set)
    rewrite_failed: set[DeviceId] = field(default_factory=set)
    future: asyncio.Future[GroupResult] | None = None
    # The report window after the groupcast: it closes at its longest wait, or once
    # members that reported have stopped reporting for a while, whichever comes first.
    window_timer: asyncio.TimerHandle | None = None
    quiet_timer: asyncio.TimerHandle | None = None
    window_opens_at: float = 0.0  # (only to set timers: the end of the transition)


@dataclass(eq=False, slots=True)
class _Device:
    """The state machine of one device, over the union of its open changes."""

    device_id: DeviceId
    desired: dict[str, Any] = field(default_factory=dict)
    owners: dict[str, _Change] = field(default_factory=dict)  # open attribute -> its change
    observed: dict[str, tuple[Any, int]] = field(default_factory=dict)  # value, event seq
    failed: set[str] = field(default_factory=set)
    unsent: set[str] = field(default_factory=set)  # open, not yet on air in any frame
    phase: Phase = Phase.IDLE
    ticket: Ticket[Any] | None = None
    timer: asyncio.TimerHandle | None = None
    sent_seq: int = 0  # the last frame carrying the values went on air at this seq
    on_air: dict[str, Any] | None = None  # values of the unicast on air
    on_air_ticket: Ticket[Any] | None = None
    repairs: int = 0  # sends since the last new value, for back-off
    broadcast: _GroupOp | None = None  # the groupcast this device waits for or just got
    after_broadcast: bool = False
    awake: bool = False
    awake_timer: asyncio.TimerHandle | None = None
    silent: bool = False  # the last read got no answer
    sync: SyncState | None = None  # as last counted


class EngineStopped(RuntimeError):
    """The engine was stopped; it takes no more commands."""


class ChangeEngine:
    """Follows every command until verified, repaired or failed. One per radio.

    Create it inside the running event loop, on the radio's one ``scheduler`` (its owner
    stops it, after the engine). The gateway forwards what the radio hears to
    ``attributes_reported``, ``device_seen`` and ``device_announced``.
    """

    def __init__(
        self,
        scheduler: SendScheduler,
        *,
        describe: DeviceLookup | None = None,
        policy: ChangePolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._rng = rng or random.Random()
        self.scheduler = scheduler
        self.policy = policy or ChangePolicy()
        self._describe = describe or (lambda _: None)
        self._devices: dict[DeviceId, _Device] = {}
        self._open: dict[int, _Change] = {}
        self._next_id = 1
        self._seq = 0
        self._failed_total = 0
        self._stopped = False
        self._result_listeners: list[Callable[[ChangeResult], None]] = []
        self._counts_listeners: list[Callable[[ChangeCounts], None]] = []
        self._device_listeners: list[Callable[[DeviceId], None]] = []
        self._counts = ChangeCounts()
        self._devices_by_state = dict.fromkeys(SyncState, 0)
        self._tickets: set[Ticket[Any]] = set()

    @property
    def policy(self) -> ChangePolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: ChangePolicy) -> None:
        """New timing applies to new changes and to the next step of pending ones."""
        self._policy = policy
        self.scheduler.delivery_backoff = policy.delivery_backoff

    # ---- commands -------------------------------------------------------------------

    def set_state(
        self,
        device_id: DeviceId,
        values: CommandValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
        priority: Priority = Priority.USER,
    ) -> ChangeHandle:
        """Make ``values`` the desired state of one device and follow them until shown.

        ``deadline`` (seconds) overrides the policy's for this change.
        """
        self._check_running()
        device = self._device(device_id)
        change = self._new_change(
            device, values=values, transition=transition, deadline=deadline, priority=priority
        )
        self._kick(device)
        self._changed(device)
        return self._handle(change)

    def set_group_state(
        self,
        group_id: int,
        members: Iterable[DeviceId],
        values: CommandValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> GroupHandle:
        """One groupcast of ``values`` to a radio group, then every member verified."""
        self._check_running()
        op = _GroupOp(group_id, None, values_dict(values), transition)
        for member in dict.fromkeys(members):
            if shown := self._showable(member, values):
                self._join(op, member, shown, deadline)
        self._start_groupcast(
            op,
            lambda on_air: self.scheduler.send_group(
                group_id, op.values, transition=transition, on_attempt=on_air
            ),
        )
        return self._group_handle(op)

    def recall_scene(
        self,
        group_id: int,
        scene_id: int,
        member_states: Mapping[DeviceId, CommandValues],
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> GroupHandle:
        """One scene-recall groupcast, then every member checked against its stored state.

        Members that showed other values are repaired by unicast and, once verified, get
        their scene-table entry stored again (``GroupResult.rewritten``). ``transition`` is
        the scene's own transition time, to wait for.
        """
        self._check_running()
        op = _GroupOp(group_id, scene_id, {}, transition)
        for member, values in member_states.items():
            change = self._join(op, member, values, deadline)
            change.scene = _SceneEntry(group_id, scene_id, values_dict(values))
        self._start_groupcast(
            op,
            lambda on_air: self.scheduler.recall_scene(group_id, scene_id, on_attempt=on_air),
        )
        return self._group_handle(op)

    # ---- what the radio hears -------------------------------------------------------

    def attributes_reported(self, device_id: DeviceId, values: CommandValues) -> None:
        """Values the device reported or returned in a read response (remembered for every
        device: a later scene recall needs to know what it showed before)."""
        if self._stopped or not values:
            return
        self._observe(self._device(device_id), values)

    def device_seen(self, device_id: DeviceId) -> None:
        """Any frame from the device: a sleeper listens for a moment now."""
        if self._stopped:
            return
        description = self._description(device_id)
        if description.sleep_mode is SleepMode.ALWAYS_ON and device_id not in self._devices:
            return
        device = self._device(device_id)
        if description.sleep_mode is SleepMode.SLEEPY:
            self._set_awake(device)
        if device.phase is Phase.ASLEEP:
            self._send(device, Priority.USER)  # the listening moment is short
        elif device.phase is Phase.BACKOFF and (
            device.silent or description.sleep_mode is not SleepMode.ALWAYS_ON
        ):
            self._send(device, Priority.REPAIR)

    def device_announced(self, device_id: DeviceId) -> None:
        """The device (re)joined or powered on: whatever it was told may be lost."""
        if self._stopped:
            return
        self.device_seen(device_id)
        device = self._devices.get(device_id)
        if device is not None and device.phase in (Phase.WAITING, Phase.BACKOFF):
            device.unsent.update(device.owners)
            self._send(device, Priority.REPAIR)

    # ---- what the gateway shows -----------------------------------------------------

    def device_status(self, device_id: DeviceId) -> DeviceSyncStatus | None:
        """The device's sync state, or None when nothing was ever commanded to it."""
        device = self._devices.get(device_id)
        if device is None or not device.desired:
            return None
        return DeviceSyncStatus(
            device_id=device_id,
            state=self._sync_state(device),
            desired=dict(device.desired),
            actual={a: v for a, (v, _) in device.observed.items()},
            pending_attributes=frozenset(device.owners),
            failed_attributes=frozenset(device.failed),
            phase=device.phase.value,
        )

    def sync_state(self, device_id: DeviceId) -> SyncState | None:
        status = self.device_status(device_id)
        return None if status is None else status.state

    @property
    def counts(self) -> ChangeCounts:
        return self._counts

    def has_desired_states(self) -> bool:
        """Whether anything was ever commanded (a restore keeps this engine's own)."""
        return any(device.desired for device in self._devices.values())

    def reassert(self, device_id: DeviceId, shown: Mapping[str, Any]) -> ChangeHandle | None:
        """The device came back (power returned, it rejoined): where what it shows now
        differs from its last desired state and nothing is pending, set it again."""
        device = self._devices.get(device_id)
        if self._stopped or device is None or device.owners:
            return None
        tolerances = self.policy.tolerances
        desired = device.desired
        if desired.get(Attr.ON) is False:
            desired = {Attr.ON: False}  # the rest of an off light's state is not shown
        drifted = {
            attr: value
            for attr, value in desired.items()
            if attr in shown and not value_matches(attr, value, shown[attr], tolerances)
        }
        if not drifted:
            return None
        return self.set_state(device_id, drifted, priority=Priority.REPAIR)

    def add_result_listener(self, listener: Callable[[ChangeResult], None]) -> Unsubscribe:
        """Called once per change when it ends verified, failed or superseded."""
        return _subscribe(self._result_listeners, listener)

    def add_counts_listener(self, listener: Callable[[ChangeCounts], None]) -> Unsubscribe:
        """Called whenever the pending or failed counts change."""
        return _subscribe(self._counts_listeners, listener)

    def add_device_listener(self, listener: Callable[[DeviceId], None]) -> Unsubscribe:
        """Called when a device's desired values or sync state change."""
        return _subscribe(self._device_listeners, listener)

    # ---- persistence ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Desired states and pending changes, JSON-serialisable, deadlines as seconds left."""
        now = self._loop.time()
        devices = {
            device_id: {
                "desired": _to_json(device.desired),
                "failed": sorted(device.failed),
            }
            for device_id, device in self._devices.items()
            if device.desired
        }
        changes = []
        for change in sorted(self._open.values(), key=lambda c: c.seq):
            scene = change.scene
            changes.append(
                {
                    "change_id": change.change_id,
                    "device_id": change.device_id,
                    "values": _to_json(change.values),
                    "open": sorted(change.open),
                    "verified": sorted(change.verified),
                    "superseded": sorted(change.superseded),
                    "transition": change.transition,
                    "priority": int(change.priority),
                    "remaining": max(0.0, change.deadline_at - now),
                    "elapsed": now - change.started_at,
                    "attempts": change.attempts,
                    "reads": change.reads,
                    "group_id": change.group_id,
                    "scene": None
                    if scene is None
                    else {
                        "group_id": scene.group_id,
                        "scene_id": scene.scene_id,
                        "values": _to_json(scene.values),
                        "proved_wrong": scene.proved_wrong,
                    },
                }
            )
        return {"version": PENDING_FORMAT, "devices": devices, "changes": changes}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Resume from ``snapshot()`` data: pending changes go on, expired ones fail.

        Call before any command, after adding listeners (expired changes report at once).
        """
        self._check_running()
        if self._open:
            raise RuntimeError("restore() needs an engine without pending changes")
        if data.get("version") != PENDING_FORMAT:
            raise ValueError(f"unknown pending-changes format {data.get('version')}")
        now = self._loop.time()
        for device_id, saved in data.get("devices", {}).items():
            device = self._device(device_id)
            device.desired.update(_from_json(saved.get("desired", {})))
            device.failed.update(saved.get("failed", ()))
        expired: list[_Change] = []
        for saved in data.get("changes", []):
            device = self._device(saved["device_id"])
            values = _from_json(saved["values"])
            self._seq += 1
            change = _Change(
                change_id=int(saved["change_id"]),
                device_id=device.device_id,
                values=values,
                required=required_attributes(values),
                transition=saved.get("transition"),
                priority=Priority(saved.get("priority", Priority.REPAIR)),
                started_at=now - float(saved.get("elapsed", 0.0)),
                seq=self._seq,
                verified=set(saved.get("verified", ())),
                superseded=set(saved.get("superseded", ())),
                attempts=int(saved.get("attempts", 0)),
                reads=int(saved.get("reads", 0)),
                group_id=saved.get("group_id"),
                future=self._loop.create_future(),
            )
            if (scene := saved.get("scene")) is not None:
                change.scene = _SceneEntry(
                    scene["group_id"],
                    scene["scene_id"],
                    _from_json(scene["values"]),
                    bool(scene.get("proved_wrong")),
                )
            self._next_id = max(self._next_id, change.change_id + 1)
            self._open[change.change_id] = change
            for attr in saved.get("open", ()):
                if (older := device.owners.get(attr)) is not None:
                    older.open.discard(attr)  # (a snapshot never has two; be safe)
                    older.superseded.add(attr)
                change.open.add(attr)
                device.owners[attr] = change
                device.desired[attr] = values.get(attr)
                device.unsent.add(attr)
            remaining = float(saved.get("remaining", 0.0))
            if remaining <= 0:
                expired.append(change)
            else:
                self._arm_deadline(change, now + remaining)
        for change in expired:
            if change.status is ChangeStatus.PENDING:
                self._expire(change)
        for change in list(self._open.values()):
            if change.status is ChangeStatus.PENDING and not change.open:
                self._finish(change)
        for device in self._devices.values():
            if device.owners:
                self._send(device, Priority.REPAIR)
            self._recount(device)
        self._publish_counts()

    # ---- lifecycle ------------------------------------------------------------------

    async def stop(self) -> None:
        """Cancel every timer and operation; waiters get their pending results."""
        if self._stopped:
            return
        self._stopped = True
        for device in self._devices.values():
            _cancel(device.timer)
            _cancel(device.awake_timer)
            device.timer = device.awake_timer = None
            device.ticket = None
        for change in self._open.values():
            _cancel(change.deadline_timer)
            change.deadline_timer = None
        for ticket in list(self._tickets):
            ticket.cancel()
        groups: dict[int, _GroupOp] = {}
        for change in self._open.values():
            if change.future is not None and not change.future.done():
                change.future.set_result(self._result(change))
            if change.group is not None:
                groups[id(change.group)] = change.group
        for op in groups.values():
            self._close_group_window(op)
            if op.future is not None and not op.future.done():
                op.future.set_result(self._group_result(op))

    # ---- changes --------------------------------------------------------------------

    def _check_running(self) -> None:
        if self._stopped:
            raise EngineStopped("the change engine is stopped")

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _description(self, device_id: DeviceId) -> DeviceDescription:
        description = self._describe(device_id)
        if description is None:
            return DeviceDescription(device_id, device_id, DeviceKind.OTHER)
        return description

    def _showable(self, device_id: DeviceId, values: CommandValues) -> dict[str, Any]:
        """The part of a groupcast's ``values`` a member can show: an on/off bulb in a
        group that is dimmed turns on and ignores the level, so only ``on`` is followed."""
        description = self._describe(device_id)
        if description is None or not description.attributes:
            return values_dict(values)
        return {a: v for a, v in values_dict(values).items() if a in description.attributes}

    def _sleep_mode(self, device: _Device) -> SleepMode:
        return self._description(device.device_id).sleep_mode

    def _device(self, device_id: DeviceId) -> _Device:
        device = self._devices.get(device_id)
        if device is None:
            device = self._devices[device_id] = _Device(device_id)
        return device

    def _new_change(
        self,
        device: _Device,
        *,
        values: CommandValues,
        transition: float | None,
        deadline: float | None,
        priority: Priority,
        group: _GroupOp | None = None,
    ) -> _Change:
        if not values:
            raise ValueError("a change needs at least one value")
        values = values_dict(values)
        seq = self._next_seq()
        now = self._loop.time()
        change = _Change(
            change_id=self._next_id,
            device_id=device.device_id,
            values=values,
            required=required_attributes(values),
            transition=transition,
            priority=priority,
            started_at=now,
            seq=seq,
            group=group,
            group_id=group.group_id if group is not None else None,
            future=self._loop.create_future(),
        )
        self._next_id += 1
        # The newer wish takes over these attributes from older changes.
        superseded: list[_Change] = []
        for attr in {*values, *turned_off_supersedes(values)}:
            device.failed.discard(attr)
            device.unsent.discard(attr)
            older = device.owners.pop(attr, None)
            if older is not None:
                older.open.discard(attr)
                older.superseded.add(attr)
                if not older.open:
                    superseded.append(older)
        device.desired.update(values)
        for attr in change.required:
            device.owners[attr] = change
            device.unsent.add(attr)
        change.open = set(change.required)
        device.repairs = 0
        self._open[change.change_id] = change
        description = self._description(device.device_id)
        seconds = deadline if deadline is not None else self.policy.deadline_for(description)
        self._arm_deadline(change, now + seconds)
        for older in superseded:
            self._finish(older)
        return change

    def _arm_deadline(self, change: _Change, deadline_at: float) -> None:
        change.deadline_at = deadline_at
        change.deadline_timer = self._loop.call_at(deadline_at, self._expire, change)

    def _expire(self, change: _Change) -> None:
        """The deadline passed: what the device has not shown by now failed."""
        change.deadline_timer = None
        if change.status is not ChangeStatus.PENDING or self._stopped:
            return
        device = self._devices[change.device_id]
        for attr in change.open:
            if device.owners.get(attr) is change:
                del device.owners[attr]
            device.unsent.discard(attr)
            device.failed.add(attr)
            change.failed.add(attr)
        change.open.clear()
        self._finish(change)
        if not device.owners:
            self._go_idle(device)

    def _finish(self, change: _Change) -> None:
        if change.failed:
            change.status = ChangeStatus.FAILED
            self._failed_total += 1
        elif change.verified:
            change.status = ChangeStatus.VERIFIED
        else:
            change.status = ChangeStatus.SUPERSEDED
        change.finished_at = self._loop.time()
        _cancel(change.deadline_timer)
        change.deadline_timer = None
        self._open.pop(change.change_id, None)
        result = self._result(change)
        if change.future is not None and not change.future.done():
            change.future.set_result(result)
        scene = change.scene
        if scene is not None and scene.proved_wrong and change.status is ChangeStatus.VERIFIED:
            self._rewrite_scene(change, scene)
        if change.group is not None:
            self._check_group_done(change.group)
        self._changed(self._devices[change.device_id])
        for listener in tuple(self._result_listeners):
            listener(result)

    def _result(self, change: _Change) -> ChangeResult:
        device = self._devices.get(change.device_id)
        observed = device.observed if device is not None else {}
        end = change.finished_at if change.finished_at is not None else self._loop.time()
        return ChangeResult(
            change_id=change.change_id,
            device_id=change.device_id,
            status=change.status,
            desired=dict(change.values),
            actual={a: observed[a][0] for a in change.values if a in observed},
            failed_attributes=frozenset(change.failed),
            superseded_attributes=frozenset(change.superseded),
            attempts=change.attempts,
            reads=change.reads,
            elapsed=max(0.0, end - change.started_at),
            group_id=change.group_id,
            scene_id=change.scene.scene_id if change.scene else None,
        )

    def _handle(self, change: _Change) -> ChangeHandle:
        assert change.future is not None
        return ChangeHandle(
            change.change_id, change.device_id, change.future, lambda: self._result(change)
        )

    def _group_handle(self, op: _GroupOp) -> GroupHandle:
        assert op.future is not None
        members = {member: self._handle(change) for member, change in op.changes.items()}
        return GroupHandle(op.group_id, members, op.future, lambda: self._group_result(op))

    def _sync_state(self, device: _Device) -> SyncState:
        if device.owners:
            return SyncState.PENDING
        if device.failed:
            return SyncState.FAILED
        return SyncState.VERIFIED

    def _changed(self, device: _Device) -> None:
        self._recount(device)
        self._publish_counts()
        for listener in tuple(self._device_listeners):
            listener(device.device_id)

    def _recount(self, device: _Device) -> None:
        """Keep the per-state device counts current without walking every device."""
        state = self._sync_state(device) if device.desired else None
        if state is not device.sync:
            if device.sync is not None:
                self._devices_by_state[device.sync] -= 1
            if state is not None:
                self._devices_by_state[state] += 1
            device.sync = state

    def _publish_counts(self) -> None:
        counts = ChangeCounts(
            pending_changes=len(self._open),
            pending_devices=self._devices_by_state[SyncState.PENDING],
            failed_devices=self._devices_by_state[SyncState.FAILED],
            failed_total=self._failed_total,
        )
        if counts != self._counts:
            self._counts = counts
            for listener in tuple(self._counts_listeners):
                listener(counts)

    # ---- evidence -------------------------------------------------------------------

    def _observe(self, device: _Device, values: CommandValues) -> None:
        """Values from the device: verify what they show, remember the rest."""
        values = values_dict(values)
        window = device.broadcast
        if (
            window is not None
            and window.window_timer is not None
            and device.after_broadcast
            and device.phase is Phase.WAITING
        ):
            self._group_member_heard(window)
        seq = self._next_seq()
        finished: list[_Change] = []
        resolved = False
        tolerances = self.policy.tolerances
        on_air = device.on_air or {}
        for attr, value in values.items():
            device.observed[attr] = (value, seq)
            if attr not in device.desired:
                continue
            desired = device.desired[attr]
            if not value_matches(attr, desired, value, tolerances):
                continue
            if attr in on_air and not value_matches(attr, desired, on_air[attr], tolerances):
                # A frame with an older value is still on air and may land after this
                # report; only evidence from after it counts.
                continue
            change = device.owners.pop(attr, None)
            if change is not None:
                change.open.discard(attr)
                change.verified.add(attr)
                device.unsent.discard(attr)
                if not change.open:
                    finished.append(change)
            elif attr in device.failed:
                device.failed.discard(attr)  # late, but the device holds the value now
                resolved = True
        if not device.owners and device.phase is not Phase.IDLE:
            self._go_idle(device)
        for change in finished:
            self._finish(change)
        if resolved and not finished:
            self._changed(device)

    # ---- the device state machine ---------------------------------------------------

    def _kick(self, device: _Device) -> None:
        """New values are open: get them on air unless a frame is already on its way."""
        reading = device.ticket if device.phase is Phase.READING else None
        if not device.owners:
            self._go_idle(device)
        elif device.phase is Phase.ASLEEP:
            pass  # a sleeper is sent to when it is heard from
        elif reading is not None and reading.on_air:
            pass  # the answer comes soon and leads to a send of the new values
        elif (
            device.phase is Phase.GROUPCAST
            and device.broadcast is not None
            and all(device.owners[a].group is device.broadcast for a in device.unsent)
        ):
            pass
        else:
            self._send(device, self._priority_of_unsent(device))

    def _priority_of_unsent(self, device: _Device) -> Priority:
        owners = [device.owners[a] for a in device.unsent if a in device.owners]
        return min((c.priority for c in owners), default=Priority.REPAIR)

    def _values_to_send(self, device: _Device) -> tuple[dict[str, Any], float | None]:
        """Everything still open, plus what open changes set without needing it shown."""
        changes = sorted({id(c): c for c in device.owners.values()}.values(), key=lambda c: c.seq)
        values: dict[str, Any] = {}
        for change in changes:
            for attr in change.values:
                if attr in change.open or (
                    attr not in change.required and attr not in change.superseded
                ):
                    values[attr] = device.desired[attr]
        return values, changes[-1].transition if changes else None

    def _send(self, device: _Device, priority: Priority) -> None:
        """Queue one unicast with every open value (a queued one absorbs it)."""
        self._stop_timer(device)
        device.broadcast = None
        device.after_broadcast = False
        if self._sleep_mode(device) is SleepMode.SLEEPY and not device.awake:
            self._drop_ticket(device)
            device.phase = Phase.ASLEEP
            return
        values, transition = self._values_to_send(device)
        if not values:
            self._go_idle(device)
            return
        previous = device.ticket
        if previous is not None and not previous.on_air and not previous.done():
            previous.cancel()  # withdrawn, or merged with the new one while still queued
        holder: list[Ticket[None]] = []

        def on_air() -> None:
            if holder and device.ticket is holder[0]:
                self._on_air(device, holder[0], values)

        ticket = self.scheduler.send(
            device.device_id,
            values,
            transition=transition,
            priority=priority,
            on_attempt=on_air,
        )
        holder.append(ticket)
        self._track(ticket)
        device.ticket = ticket
        device.phase = Phase.SENDING
        ticket.add_done_callback(lambda t: self._send_done(device, t, values, transition))

    def _on_air(self, device: _Device, ticket: Ticket[None], values: Mapping[str, Any]) -> None:
        device.sent_seq = self._next_seq()
        device.unsent.difference_update(values)
        device.on_air = dict(values)
        device.on_air_ticket = ticket
        for change in {id(c): c for c in device.owners.values()}.values():
            if change.open & values.keys():
                change.attempts += 1

    def _send_done(
        self,
        device: _Device,
        ticket: Ticket[None],
        values: Mapping[str, Any],
        transition: float | None,
    ) -> None:
        if device.on_air_ticket is ticket:
            device.on_air = device.on_air_ticket = None
        if self._stopped or ticket is not device.ticket:
            return  # (the engine withdraws a ticket only after replacing or dropping it)
        device.ticket = None
        if not device.owners:
            self._go_idle(device)
            return
        if ticket.cancelled() or ticket.exception() is not None:
            # Cancelled by someone else (the scheduler stopping first) or failed: the values
            # may not have gone out, so they are sent again after a back-off.
            error = "cancelled" if ticket.cancelled() else repr(ticket.exception())
            _LOGGER.debug("send to %s failed: %s", device.device_id, error)
            self._back_off(device)
            return
        description = self._description(device.device_id)
        wait = self.policy.report_wait_for(description) + (transition or 0.0)
        self._wait_for_report(device, wait)

    def _wait_for_report(self, device: _Device, seconds: float) -> None:
        self._stop_timer(device)
        device.phase = Phase.WAITING
        device.timer = self._loop.call_later(seconds, self._report_window_over, device)

    def _report_window_over(self, device: _Device) -> None:
        """Nothing (or not everything) was verified by a report in time."""
        device.timer = None
        if self._stopped:
            return
        if not device.owners:
            self._go_idle(device)
            return
        if device.unsent:
            self._send(device, self._priority_of_unsent(device))
            return
        # Open attributes the device showed since the frame: all of them other values
        # (matching ones would have been verified on arrival).
        shown_wrong = [
            attr
            for attr in device.owners
            if device.observed.get(attr, (None, 0))[1] > device.sent_seq
        ]
        post_send_mismatch = bool(shown_wrong)
        if device.after_broadcast:
            # Values the recall should have changed but the device did not show: it missed
            # the groupcast, or its entry is wrong or gone (after an OTA update or a reset).
            # Rewriting costs one unicast and makes the next recall right either way.
            unchanged = [a for a in device.owners if not self._showed_before(device, a)]
            for attr in (*shown_wrong, *unchanged):
                if (scene := device.owners[attr].scene) is not None:
                    scene.proved_wrong = True
            if device.broadcast is not None:
                device.broadcast.repaired.add(device.device_id)
            # A unicast to a member that already shows the state is harmless and cheaper
            # than reading first.
            self._send(device, Priority.REPAIR)
            return
        if self._sleep_mode(device) is SleepMode.SLEEPY:
            if not device.awake:
                device.phase = Phase.ASLEEP
            elif post_send_mismatch:
                self._send(device, Priority.USER)
            else:
                self._read(device)
            return
        if post_send_mismatch:
            self._back_off(device)
        else:
            self._read(device)

    def _showed_before(self, device: _Device, attr: str) -> bool:
        """Whether the device's last known value of ``attr`` already was the desired one
        (then its silence is expected: nothing changed, nothing to report)."""
        seen = device.observed.get(attr)
        return seen is not None and value_matches(
            attr, device.desired[attr], seen[0], self.policy.tolerances
        )

    def _read(self, device: _Device) -> None:
        attributes = [Attr(a) if a in Attr else a for a in device.owners]
        holder: list[Ticket[dict[Attr, Any]]] = []

        def on_air() -> None:
            if holder and device.ticket is holder[0]:
                for change in {id(c): c for c in device.owners.values()}.values():
                    change.reads += 1

        priority = (
            Priority.USER if self._sleep_mode(device) is SleepMode.SLEEPY else Priority.REPAIR
        )
        ticket = self.scheduler.read(
            device.device_id,
            cast(list[Attr], attributes),  # custom attributes are plain names
            priority=priority,
            timeout=self.policy.read_timeout,
            on_attempt=on_air,
        )
        holder.append(ticket)
        self._track(ticket)
        device.ticket = ticket
        device.phase = Phase.READING
        ticket.add_done_callback(lambda t: self._read_done(device, t))

    def _read_done(self, device: _Device, ticket: Ticket[dict[Attr, Any]]) -> None:
        if self._stopped:
            return
        cancelled = ticket.cancelled()  # (by someone else if it is still the device's)
        error = None if cancelled else ticket.exception()
        if not cancelled and error is None:
            # From the device, so evidence even when the machine has moved on meanwhile.
            self._observe(device, ticket.result())
        if ticket is not device.ticket:
            return
        device.ticket = None
        if not cancelled:
            device.silent = error is not None
        if not device.owners:
            self._go_idle(device)
            return
        if device.unsent:
            self._send(device, self._priority_of_unsent(device))
        elif self._sleep_mode(device) is SleepMode.SLEEPY:
            if not cancelled and error is None and device.awake:
                self._send(device, Priority.USER)
            else:
                device.phase = Phase.ASLEEP
        else:
            self._back_off(device)

    def _back_off(self, device: _Device) -> None:
        self._stop_timer(device)
        if self._sleep_mode(device) is SleepMode.SLEEPY:
            device.phase = Phase.ASLEEP
            return
        delay = self.policy.repair_backoff.delay(device.repairs, self._rng)
        device.repairs += 1
        device.phase = Phase.BACKOFF
        device.timer = self._loop.call_later(delay, self._back_off_over, device)

    def _back_off_over(self, device: _Device) -> None:
        device.timer = None
        if self._stopped:
            return
        # (The scheduler stopped first: the change fails at its deadline.)
        with contextlib.suppress(SchedulerStopped):
            self._send(device, Priority.REPAIR)

    def _go_idle(self, device: _Device) -> None:
        self._stop_timer(device)
        self._drop_ticket(device)
        device.phase = Phase.IDLE
        device.broadcast = None
        device.after_broadcast = False
        device.unsent.clear()

    def _drop_ticket(self, device: _Device) -> None:
        ticket = device.ticket
        device.ticket = None
        if ticket is not None and not ticket.on_air and not ticket.done():
            ticket.cancel()

    def _track(self, ticket: Ticket[Any]) -> None:
        """Remember the ticket until it is done, so stop() can withdraw it."""
        self._tickets.add(ticket)
        ticket.add_done_callback(self._tickets.discard)

    def _stop_timer(self, device: _Device) -> None:
        _cancel(device.timer)
        device.timer = None

    # ---- sleepers -------------------------------------------------------------------

    def _set_awake(self, device: _Device) -> None:
        device.awake = True
        _cancel(device.awake_timer)
        device.awake_timer = self._loop.call_later(
            self.policy.awake_window, self._fell_asleep, device
        )

    def _fell_asleep(self, device: _Device) -> None:
        device.awake_timer = None
        device.awake = False
        if self._stopped:
            return
        ticket = device.ticket
        if (
            device.phase in (Phase.SENDING, Phase.READING)
            and ticket is not None
            and (not ticket.on_air)
        ):
            # Too late for this listening moment; the next one gets it.
            self._drop_ticket(device)
            device.phase = Phase.ASLEEP

    # ---- groups and scenes ----------------------------------------------------------

    def _join(
        self,
        op: _GroupOp,
        member: DeviceId,
        values: CommandValues,
        deadline: float | None,
    ) -> _Change:
        device = self._device(member)
        change = self._new_change(
            device,
            values=values,
            transition=op.transition,
            deadline=deadline,
            priority=Priority.USER,
            group=op,
        )
        op.changes[member] = change
        # Groupcasts reach only members that listen all the time.
        if self._sleep_mode(device) is SleepMode.ALWAYS_ON:
            op.covered.add(member)
        return change

    def _start_groupcast(
        self,
        op: _GroupOp,
        submit: Callable[[Callable[[], None]], Ticket[None]],
    ) -> None:
        op.future = self._loop.create_future()
        for member in op.changes:
            device = self._devices[member]
            if member in op.covered and all(device.owners[a].group is op for a in device.owners):
                self._stop_timer(device)
                self._drop_ticket(device)
                device.phase = Phase.GROUPCAST
                device.broadcast = op
                device.after_broadcast = False
            else:
                self._kick(device)
            self._changed(device)
        ticket = submit(lambda: self._groupcast_on_air(op))
        self._track(ticket)
        ticket.add_done_callback(lambda t: self._groupcast_done(op, t))
        self._check_group_done(op)

    def _groupcast_members(self, op: _GroupOp) -> list[_Device]:
        """Members the groupcast is for, in the order they were given (repairs go in it)."""
        return [
            device
            for member in op.changes
            if member in op.covered and (device := self._devices[member]).broadcast is op
        ]

    def _groupcast_on_air(self, op: _GroupOp) -> None:
        seq = self._next_seq()
        for device in self._groupcast_members(op):
            if device.phase is not Phase.GROUPCAST:
                continue
            device.sent_seq = seq
            change = op.changes[device.device_id]
            device.unsent.difference_update(change.values)
            if change.open:
                change.attempts += 1

    def _groupcast_done(self, op: _GroupOp, ticket: Ticket[None]) -> None:
        # (Cancelled by someone else, it may not have gone out: the window's end repairs.)
        if self._stopped:
            return
        waiting = False
        for device in self._groupcast_members(op):
            if device.phase is not Phase.GROUPCAST:
                continue
            if not device.owners:
                self._go_idle(device)
                continue
            self._stop_timer(device)
            device.after_broadcast = True
            device.phase = Phase.WAITING
            waiting = True
        if waiting:
            self._open_group_window(op)

    def _open_group_window(self, op: _GroupOp) -> None:
        """Wait for the members' reports: at most ``group_report_wait`` (after the
        transition), and no longer than ``group_report_quiet`` after the last report."""
        transition = op.transition or 0.0
        op.window_opens_at = self._loop.time() + transition
        op.window_timer = self._loop.call_later(
            transition + self.policy.group_report_wait, self._group_window_over, op
        )

    def _group_member_heard(self, op: _GroupOp) -> None:
        """A member waiting in the window reported: reports are still coming in."""
        if op.window_timer is None:
            return
        _cancel(op.quiet_timer)
        quiet = self.policy.group_report_quiet
        delay = max(quiet, op.window_opens_at - self._loop.time() + quiet)
        op.quiet_timer = self._loop.call_later(delay, self._group_window_over, op)

    def _close_group_window(self, op: _GroupOp) -> None:
        _cancel(op.window_timer)
        _cancel(op.quiet_timer)
        op.window_timer = op.quiet_timer = None

    def _group_window_over(self, op: _GroupOp) -> None:
        """Members still silent (or showing other values) after the window get repaired."""
        self._close_group_window(op)
        if self._stopped:
            return
        for device in self._groupcast_members(op):
            if device.phase is Phase.WAITING and device.after_broadcast and device.timer is None:
                self._report_window_over(device)

    def _rewrite_scene(self, change: _Change, scene: _SceneEntry) -> None:
        op = change.group
        member = change.device_id
        ticket = self.scheduler.store_scene(
            member, scene.group_id, scene.scene_id, scene.values, priority=Priority.REPAIR
        )
        self._track(ticket)
        if op is not None:
            op.rewriting.add(member)

        def done(ticket: Ticket[None]) -> None:
            if self._stopped or op is None:
                return
            op.rewriting.discard(member)
            if not ticket.cancelled() and ticket.exception() is None:
                op.rewritten.add(member)
            else:
                op.rewrite_failed.add(member)
            self._check_group_done(op)

        ticket.add_done_callback(done)

    def _check_group_done(self, op: _GroupOp) -> None:
        if op.future is None or op.future.done() or op.rewriting:
            return
        if all(c.status is not ChangeStatus.PENDING for c in op.changes.values()):
            self._close_group_window(op)
            op.future.set_result(self._group_result(op))

    def _group_result(self, op: _GroupOp) -> GroupResult:
        members = {d: self._result(c) for d, c in op.changes.items()}
        status = aggregate_status([r.status for r in members.values()])
        if op.rewriting:
            status = ChangeStatus.PENDING
        return GroupResult(
            group_id=op.group_id,
            scene_id=op.scene_id,
            status=status,
            members=members,
            repaired=frozenset(op.repaired),
            rewritten=frozenset(op.rewritten),
            rewrite_failed=frozenset(op.rewrite_failed),
        )


def _subscribe[T](listeners: list[T], listener: T) -> Unsubscribe:
    listeners.append(listener)

    def unsubscribe() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return unsubscribe


def _cancel(handle: asyncio.TimerHandle | None) -> None:
    if handle is not None:
        handle.cancel()


def _to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(a): list(v) if isinstance(v, tuple) else v for a, v in values.items()}


def _from_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Saved values with attribute names as ``Attr`` where known and pairs as tuples."""
    return values_dict({a: tuple(v) if isinstance(v, list) else v for a, v in values.items()})
