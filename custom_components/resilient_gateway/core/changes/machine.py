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

This module sends, takes in what devices show and follows sleepers; the report wait, the
reads and the back-off after a send are ``checks.py``'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from ..change_results import SyncState
from ..matching import value_matches
from ..model import DeviceDescription, DeviceId, DeviceKind, SleepMode
from ..policy import ChangePolicy
from ..scheduler import CommandValues, Priority, SendScheduler, Ticket, values_dict
from .checks import DeviceChecks
from .links import LinkBook
from .records import Change, Device, GroupOp, Phase, cancel

_LOGGER = logging.getLogger(__name__)

type DeviceLookup = Callable[[DeviceId], DeviceDescription | None]


class DeviceMachines:
    """Every device's state machine, on the radio's one scheduler: sends, what devices
    show, sleepers' wakes; its ``DeviceChecks`` wait for reports, read and back off. What
    settles a change, what moves a device's sync state and what a member in a group's
    report window said go to the engine that owns them (``on_finished``, ``on_changed``,
    ``on_member_heard``)."""

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
        self._on_finished = on_finished
        self._on_changed = on_changed
        self._on_member_heard = on_member_heard
        self.devices: dict[DeviceId, Device] = {}
        self.links = LinkBook()
        self._seq = 0
        self._tickets: set[Ticket[Any]] = set()
        self.stopped = False
        self._checks = DeviceChecks(self, scheduler, links=self.links, rng=rng)

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
            self._checks.back_off(device)
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
            self._checks.read(device)
            return
        wait = self.links.report_wait(self.policy, description) + (transition or 0.0)
        self._checks.wait_for_report(device, wait)
        device.delivered_at = self._loop.time() + (transition or 0.0)

    def report_window_over(self, device: Device) -> None:
        """Nothing (or not everything) was verified by a report in time."""
        self._checks.report_window_over(device)

    def showed_before(self, device: Device, attr: str) -> bool:
        """Whether the device's last known value of ``attr`` already was the desired one
        (then its silence is expected: nothing changed, nothing to report)."""
        seen = device.observed.get(attr)
        return seen is not None and value_matches(
            attr, device.desired[attr], seen[0], self.policy.tolerances
        )

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
