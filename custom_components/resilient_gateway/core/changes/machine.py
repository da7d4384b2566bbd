"""The per-device state machine of the change engine, over the union of a device's open
changes:

    send ──▶ waiting ──(report matches)──▶ verified
               │ silent                        ▲
               ▼                               │
             read ──(response matches)─────────┘
               │ wrong or no answer
               ▼
            back-off ──▶ send again …  until the change's deadline: failed

- Only values from the device (reports, read responses) verify, and only ones that
  arrived after the value was commanded.
- One frame per device carries everything still open.
- Sleepy devices are sent to when they are heard from; nothing is lost while they sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from ..change_results import ChangeResult, ChangeStatus, GroupResult, SyncState
from ..matching import value_matches
from ..model import Attr, DeviceDescription, DeviceId, DeviceKind, SleepMode
from ..policy import ChangePolicy
from ..radio import NoResponseError
from ..scheduler import (
    CommandValues,
    Priority,
    SchedulerStopped,
    SendScheduler,
    Ticket,
    values_dict,
)
from .links import LinkBook

_LOGGER = logging.getLogger(__name__)

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


class DeviceMachines:
    """Every device's state machine, on the radio's one scheduler. What settles a change,
    what moves a device's sync state and what a member in a group's report window said
    go to the engine that owns them (``on_finished``, ``on_changed``, ``on_member_heard``).
    """

    def __init__(
        self,
        scheduler: SendScheduler,
        *,
        describe: DeviceLookup,
        policy: ChangePolicy,
        rng: random.Random,
        on_finished: Callable[[Change], None],
        on_changed: Callable[[Device], None],
        on_member_heard: Callable[[GroupOp, Device, bool], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._scheduler = scheduler
        self._describe = describe
        self.policy = policy
        self._rng = rng
        self._on_finished = on_finished
        self._on_changed = on_changed
        self._on_member_heard = on_member_heard
        self.devices: dict[DeviceId, Device] = {}
        self.links = LinkBook()
        self._seq = 0
        self._tickets: set[Ticket[Any]] = set()
        self.stopped = False

    def stop(self) -> None:
        """Cancel every device's timers and withdraw every operation it still waits for."""
        self.stopped = True
        for device in self.devices.values():
            cancel(device.timer)
            cancel(device.awake_timer)
            device.timer = device.awake_timer = None
            device.ticket = None
        for ticket in list(self._tickets):
            ticket.cancel()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def description(self, device_id: DeviceId) -> DeviceDescription:
        description = self._describe(device_id)
        if description is None:
            return DeviceDescription(device_id, device_id, DeviceKind.OTHER)
        return description

    def showable(self, device_id: DeviceId, values: CommandValues) -> dict[str, Any]:
        """The part of a groupcast's ``values`` a member can show: an on/off bulb in a
        group that is dimmed turns on and ignores the level, so only ``on`` is followed."""
        description = self._describe(device_id)
        if description is None or not description.attributes:
            return values_dict(values)
        return {a: v for a, v in values_dict(values).items() if a in description.attributes}

    def sleep_mode(self, device: Device) -> SleepMode:
        return self.description(device.device_id).sleep_mode

    def device(self, device_id: DeviceId) -> Device:
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = Device(device_id)
        return device

    def sync_state(self, device: Device) -> SyncState:
        if device.owners:
            return SyncState.PENDING
        if device.failed:
            return SyncState.FAILED
        return SyncState.VERIFIED

    def observe(self, device: Device, values: CommandValues) -> None:
        """Values from the device: verify what they show, remember the rest."""
        values = values_dict(values)
        window = device.broadcast
        phase = device.phase
        # A member answering the groupcast: waiting for it or after it, or one unicast at
        # once whose own frame is not on air yet.
        after_groupcast = (
            window is not None
            and window.on_air_at is not None
            and (
                phase is Phase.GROUPCAST
                or (phase is Phase.WAITING and device.after_broadcast)
                or (phase is Phase.SENDING and device.on_air is None)
            )
        )
        delivered_at = device.delivered_at if phase is Phase.WAITING else None
        unicast_on_air = phase is Phase.SENDING and device.on_air is not None
        seq = self.next_seq()
        finished: list[Change] = []
        resolved = False
        matched = False
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
                matched = True
                change.open.discard(attr)
                change.verified.add(attr)
                device.unsent.discard(attr)
                if not change.open:
                    finished.append(change)
            elif attr in device.failed:
                device.failed.discard(attr)  # late, but the device holds the value now
                resolved = True
        if matched and not after_groupcast:
            if delivered_at is not None and not device.after_broadcast:
                self.links.unicast_report_delay(self._loop.time() - delivered_at)
            elif unicast_on_air:
                self.links.unicast_report_delay(0.0)  # it came with the acknowledgement
        if not device.owners and device.phase is not Phase.IDLE:
            self.go_idle(device)
        for change in finished:
            self._on_finished(change)
        if resolved and not finished:
            self._on_changed(device)
        if after_groupcast and window is not None:
            self._on_member_heard(window, device, matched)

    def kick(self, device: Device) -> None:
        """New values are open: get them on air unless a frame is already on its way."""
        reading = device.ticket if device.phase is Phase.READING else None
        if not device.owners:
            self.go_idle(device)
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
            self.send(device, self.priority_of_unsent(device))

    def priority_of_unsent(self, device: Device) -> Priority:
        owners = [device.owners[a] for a in device.unsent if a in device.owners]
        return min((c.priority for c in owners), default=Priority.REPAIR)

    def _values_to_send(self, device: Device) -> tuple[dict[str, Any], float | None]:
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

    def send(self, device: Device, priority: Priority) -> None:
        """Queue one unicast with every open value (a queued one absorbs it)."""
        self.stop_timer(device)
        device.broadcast = None
        device.after_broadcast = False
        device.delivered_at = None
        if self.sleep_mode(device) is SleepMode.SLEEPY and not device.awake:
            self.drop_ticket(device)
            device.phase = Phase.ASLEEP
            return
        values, transition = self._values_to_send(device)
        if not values:
            self.go_idle(device)
            return
        previous = device.ticket
        if previous is not None and not previous.on_air and not previous.done():
            previous.cancel()  # withdrawn, or merged with the new one while still queued
        holder: list[Ticket[None]] = []

        def on_air() -> None:
            if holder and device.ticket is holder[0]:
                self._on_air(device, holder[0], values)

        ticket = self._scheduler.send(
            device.device_id,
            values,
            transition=transition,
            priority=priority,
            on_attempt=on_air,
        )
        holder.append(ticket)
        self.track(ticket)
        device.ticket = ticket
        device.phase = Phase.SENDING
        ticket.add_done_callback(lambda t: self._send_done(device, t, values, transition))

    def _on_air(self, device: Device, ticket: Ticket[None], values: Mapping[str, Any]) -> None:
        op = device.broadcast
        if op is not None and not device.after_broadcast:
            self._unicast_at_once_on_air(device, op)
        device.sent_seq = self.next_seq()
        device.unsent.difference_update(values)
        device.on_air = dict(values)
        device.on_air_ticket = ticket
        for change in {id(c): c for c in device.owners.values()}.values():
            if change.open & values.keys():
                change.attempts += 1

    def _unicast_at_once_on_air(self, device: Device, op: GroupOp) -> None:
        """A member's unicast sent with the groupcast goes on air: it counts as a repair,
        and as a miss when the member stayed silent for a whole window after the groupcast
        (earlier, its silence says nothing yet)."""
        device.broadcast = None
        op.at_once.discard(device.device_id)
        op.repaired.add(device.device_id)
        window = self.group_window()
        if op.on_air_at is not None and window is not None:
            silent_for = self._loop.time() - op.on_air_at - (op.transition or 0.0)
            if silent_for >= window:
                self.links.groupcast_outcome(device.device_id, missed=True)

    def group_window(self) -> float | None:
        """The learned length of the report window after a groupcast (None: not known)."""
        policy = self.policy
        window = self.links.group_window(policy.group_report_quantile, policy.group_report_margin)
        return None if window is None else min(window, policy.group_report_wait)

    def _send_done(
        self,
        device: Device,
        ticket: Ticket[None],
        values: Mapping[str, Any],
        transition: float | None,
    ) -> None:
        if device.on_air_ticket is ticket:
            device.on_air = device.on_air_ticket = None
        if self.stopped or ticket is not device.ticket:
            return  # (the engine withdraws a ticket only after replacing or dropping it)
        device.ticket = None
        if not device.owners:
            self.go_idle(device)
            return
        if ticket.cancelled() or ticket.exception() is not None:
            # Cancelled by someone else (the scheduler stopping first) or failed: the values
            # may not have gone out, so they are sent again after a back-off.
            error = "cancelled" if ticket.cancelled() else repr(ticket.exception())
            _LOGGER.debug("send to %s failed: %s", device.device_id, error)
            self._back_off(device)
            return
        self.links.unicast_delivered(device.device_id, ticket.attempts)
        description = self.description(device.device_id)
        if (
            description.sleep_mode is SleepMode.ALWAYS_ON
            and not device.unsent
            and all(self.showed_before(device, attr) for attr in device.owners)
        ):
            # It already showed every value: it has nothing to report, so only a read
            # can tell that the command did not change it back.
            self._read(device)
            return
        wait = self.links.report_wait(self.policy, description) + (transition or 0.0)
        self._wait_for_report(device, wait)
        device.delivered_at = self._loop.time() + (transition or 0.0)

    def _wait_for_report(self, device: Device, seconds: float) -> None:
        self.stop_timer(device)
        device.phase = Phase.WAITING
        device.timer = self._loop.call_later(seconds, self.report_window_over, device)

    def report_window_over(self, device: Device) -> None:
        """Nothing (or not everything) was verified by a report in time."""
        device.timer = None
        if self.stopped:
            return
        if not device.owners:
            self.go_idle(device)
            return
        if device.unsent:
            self.send(device, self.priority_of_unsent(device))
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
            unchanged = [a for a in device.owners if not self.showed_before(device, a)]
            for attr in (*shown_wrong, *unchanged):
                if (scene := device.owners[attr].scene) is not None:
                    scene.proved_wrong = True
            if device.broadcast is not None:
                device.broadcast.repaired.add(device.device_id)
            # A unicast to a member that already shows the state is harmless and cheaper
            # than reading first.
            self.send(device, Priority.REPAIR)
            return
        if self.sleep_mode(device) is SleepMode.SLEEPY:
            if not device.awake:
                device.phase = Phase.ASLEEP
            elif post_send_mismatch:
                self.send(device, Priority.USER)
            else:
                self._read(device)
            return
        if post_send_mismatch:
            self._back_off(device)
        else:
            self._read(device)

    def showed_before(self, device: Device, attr: str) -> bool:
        """Whether the device's last known value of ``attr`` already was the desired one
        (then its silence is expected: nothing changed, nothing to report)."""
        seen = device.observed.get(attr)
        return seen is not None and value_matches(
            attr, device.desired[attr], seen[0], self.policy.tolerances
        )

    def _read(self, device: Device) -> None:
        attributes = [Attr(a) if a in Attr else a for a in device.owners]
        holder: list[Ticket[dict[Attr, Any]]] = []
        frames = self._scheduler.frames_to_read(cast(list[Attr], attributes))
        always_on = self.sleep_mode(device) is SleepMode.ALWAYS_ON
        learned = None  # (the last of the reads sent again at once waits for the radio)
        if always_on and device.quick_rereads < self.policy.read_retries_at_once:
            learned = self.links.read_timeout(self.policy, frames)
        on_air_at: list[float] = []

        def on_air() -> None:
            if holder and device.ticket is holder[0]:
                on_air_at[:] = [self._loop.time()]
                for change in {id(c): c for c in device.owners.values()}.values():
                    change.reads += 1

        priority = Priority.USER if self.sleep_mode(device) is SleepMode.SLEEPY else Priority.REPAIR
        ticket = self._scheduler.read(
            device.device_id,
            cast(list[Attr], attributes),  # custom attributes are plain names
            priority=priority,
            timeout=self.policy.read_timeout if learned is None else learned,
            on_attempt=on_air,
        )
        holder.append(ticket)
        self.track(ticket)
        device.ticket = ticket
        device.phase = Phase.READING

        def done(ticket: Ticket[dict[Attr, Any]]) -> None:
            answered = not ticket.cancelled() and ticket.exception() is None
            if answered and on_air_at and always_on:
                self.links.read_delay((self._loop.time() - on_air_at[0]) / frames)
            self._read_done(device, ticket, learned is not None)

        ticket.add_done_callback(done)

    def _read_done(
        self, device: Device, ticket: Ticket[dict[Attr, Any]], learned_timeout: bool
    ) -> None:
        if self.stopped:
            return
        cancelled = ticket.cancelled()  # (by someone else if it is still the device's)
        error = None if cancelled else ticket.exception()
        if not cancelled and error is None:
            # From the device, so evidence even when the machine has moved on meanwhile.
            self.observe(device, ticket.result())
        if ticket is not device.ticket:
            return
        device.ticket = None
        if not cancelled:
            device.silent = error is not None
        if not device.owners:
            self.go_idle(device)
            return
        if device.unsent:
            self.send(device, self.priority_of_unsent(device))
        elif self.sleep_mode(device) is SleepMode.SLEEPY:
            if not cancelled and error is None and device.awake:
                self.send(device, Priority.USER)
            else:
                device.phase = Phase.ASLEEP
        elif learned_timeout and isinstance(error, NoResponseError):
            # Its answer was lost (answers come sooner than this): ask again at once.
            device.quick_rereads += 1
            self._read(device)
        else:
            device.quick_rereads = 0
            self._back_off(device)

    def _back_off(self, device: Device) -> None:
        self.stop_timer(device)
        if self.sleep_mode(device) is SleepMode.SLEEPY:
            device.phase = Phase.ASLEEP
            return
        delay = self.policy.repair_backoff.delay(device.repairs, self._rng)
        device.repairs += 1
        device.phase = Phase.BACKOFF
        device.timer = self._loop.call_later(delay, self._back_off_over, device)

    def _back_off_over(self, device: Device) -> None:
        device.timer = None
        if self.stopped:
            return
        # (The scheduler stopped first: the change fails at its deadline.)
        with contextlib.suppress(SchedulerStopped):
            self.send(device, Priority.REPAIR)

    def go_idle(self, device: Device) -> None:
        self.stop_timer(device)
        self.drop_ticket(device)
        device.phase = Phase.IDLE
        device.broadcast = None
        device.after_broadcast = False
        device.delivered_at = None
        device.unsent.clear()

    def drop_ticket(self, device: Device) -> None:
        ticket = device.ticket
        device.ticket = None
        if ticket is not None and not ticket.on_air and not ticket.done():
            ticket.cancel()

    def track(self, ticket: Ticket[Any]) -> None:
        """Remember the ticket until it is done, so stop() can withdraw it."""
        self._tickets.add(ticket)
        ticket.add_done_callback(self._tickets.discard)

    def stop_timer(self, device: Device) -> None:
        cancel(device.timer)
        device.timer = None

    def set_awake(self, device: Device) -> None:
        device.awake = True
        cancel(device.awake_timer)
        device.awake_timer = self._loop.call_later(
            self.policy.awake_window, self._fell_asleep, device
        )

    def _fell_asleep(self, device: Device) -> None:
        device.awake_timer = None
        device.awake = False
        if self.stopped:
            return
        ticket = device.ticket
        if (
            device.phase in (Phase.SENDING, Phase.READING)
            and ticket is not None
            and (not ticket.on_air)
        ):
            # Too late for this listening moment; the next one gets it.
            self.drop_ticket(device)
            device.phase = Phase.ASLEEP


def cancel(handle: asyncio.TimerHandle | None) -> None:
    if handle is not None:
        handle.cancel()
