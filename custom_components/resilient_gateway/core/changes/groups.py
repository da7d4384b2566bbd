"""Groups and scenes in the change engine: one groupcast (a group set or a scene recall)
stands for a change per member; members that stay silent or show the wrong values are
repaired by unicast, and wrong scene-table entries are stored again. The report window
after a groupcast closes once the members' reports stop coming in (``group_report_quiet``
after the last one), at the latest after ``group_report_wait``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

from ..change_results import (
    ChangeHandle,
    ChangeResult,
    ChangeStatus,
    GroupHandle,
    GroupResult,
    aggregate_status,
)
from ..model import DeviceId, SleepMode
from ..scheduler import CommandValues, Priority, SendScheduler, Ticket, values_dict
from .machine import Change, Device, DeviceMachines, GroupOp, Phase, SceneEntry, cancel


class GroupVerifier:
    """Sends each groupcast and follows its members through the device machines; the
    engine opens the members' changes (``new_change``), hears of the devices moved
    (``on_changed``) and gives a change's result and handle."""

    def __init__(
        self,
        machines: DeviceMachines,
        scheduler: SendScheduler,
        *,
        new_change: Callable[[Device, CommandValues, GroupOp, float | None], Change],
        on_changed: Callable[[Device], None],
        result_of: Callable[[Change], ChangeResult],
        handle_of: Callable[[Change], ChangeHandle],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._machines = machines
        self._scheduler = scheduler
        self._new_change = new_change
        self._on_changed = on_changed
        self._result_of = result_of
        self._handle_of = handle_of

    def set_state(
        self,
        group_id: int,
        members: Iterable[DeviceId],
        values: CommandValues,
        *,
        transition: float | None,
        deadline: float | None,
    ) -> GroupHandle:
        op = GroupOp(group_id, None, values_dict(values), transition)
        for member in dict.fromkeys(members):
            if shown := self._machines.showable(member, values):
                self._join(op, member, shown, deadline)
        self._start(
            op,
            lambda on_air: self._scheduler.send_group(
                group_id, op.values, transition=transition, on_attempt=on_air
            ),
        )
        return self._handle(op)

    def recall(
        self,
        group_id: int,
        scene_id: int,
        member_states: Mapping[DeviceId, CommandValues],
        *,
        transition: float | None,
        deadline: float | None,
    ) -> GroupHandle:
        op = GroupOp(group_id, scene_id, {}, transition)
        for member, values in member_states.items():
            change = self._join(op, member, values, deadline)
            change.scene = SceneEntry(group_id, scene_id, values_dict(values))
        self._start(
            op,
            lambda on_air: self._scheduler.recall_scene(group_id, scene_id, on_attempt=on_air),
        )
        return self._handle(op)

    def _join(
        self, op: GroupOp, member: DeviceId, values: CommandValues, deadline: float | None
    ) -> Change:
        device = self._machines.device(member)
        change = self._new_change(device, values, op, deadline)
        op.changes[member] = change
        # Groupcasts reach only members that listen all the time.
        if self._machines.sleep_mode(device) is SleepMode.ALWAYS_ON:
            op.covered.add(member)
        return change

    def _start(
        self,
        op: GroupOp,
        submit: Callable[[Callable[[], None]], Ticket[None]],
    ) -> None:
        op.future = self._loop.create_future()
        for member in op.changes:
            device = self._machines.devices[member]
            if member in op.covered and all(device.owners[a].group is op for a in device.owners):
                self._machines.stop_timer(device)
                self._machines.drop_ticket(device)
                device.phase = Phase.GROUPCAST
                device.broadcast = op
                device.after_broadcast = False
            else:
                self._machines.kick(device)
            self._on_changed(device)
        ticket = submit(lambda: self._on_air(op))
        self._machines.track(ticket)
        ticket.add_done_callback(lambda t: self._done(op, t))
        self.check_done(op)

    def _members(self, op: GroupOp) -> list[Device]:
        """Members the groupcast is for, in the order they were given (repairs go in it)."""
        return [
            device
            for member in op.changes
            if member in op.covered and (device := self._machines.devices[member]).broadcast is op
        ]

    def _on_air(self, op: GroupOp) -> None:
        seq = self._machines.next_seq()
        for device in self._members(op):
            if device.phase is not Phase.GROUPCAST:
                continue
            device.sent_seq = seq
            change = op.changes[device.device_id]
            device.unsent.difference_update(change.values)
            if change.open:
                change.attempts += 1

    def _done(self, op: GroupOp, ticket: Ticket[None]) -> None:
        # (Cancelled by someone else, it may not have gone out: the window's end repairs.)
        if self._machines.stopped:
            return
        waiting = False
        for device in self._members(op):
            if device.phase is not Phase.GROUPCAST:
                continue
            if not device.owners:
                self._machines.go_idle(device)
                continue
            self._machines.stop_timer(device)
            device.after_broadcast = True
            device.phase = Phase.WAITING
            waiting = True
        if waiting:
            self._open_window(op)

    def _open_window(self, op: GroupOp) -> None:
        """Wait for the members' reports: at most ``group_report_wait`` (after the
        transition), and no longer than ``group_report_quiet`` after the last report."""
        transition = op.transition or 0.0
        op.window_opens_at = self._loop.time() + transition
        op.window_timer = self._loop.call_later(
            transition + self._machines.policy.group_report_wait, self._window_over, op
        )

    def member_heard(self, op: GroupOp) -> None:
        """A member waiting in the window reported: reports are still coming in."""
        if op.window_timer is None:
            return
        cancel(op.quiet_timer)
        quiet = self._machines.policy.group_report_quiet
        delay = max(quiet, op.window_opens_at - self._loop.time() + quiet)
        op.quiet_timer = self._loop.call_later(delay, self._window_over, op)

    def close_window(self, op: GroupOp) -> None:
        cancel(op.window_timer)
        cancel(op.quiet_timer)
        op.window_timer = op.quiet_timer = None

    def _window_over(self, op: GroupOp) -> None:
        """Members still silent (or showing other values) after the window get repaired."""
        self.close_window(op)
        if self._machines.stopped:
            return
        for device in self._members(op):
            if device.phase is Phase.WAITING and device.after_broadcast and device.timer is None:
                self._machines.report_window_over(device)

    def rewrite_scene(self, change: Change, scene: SceneEntry) -> None:
        op = change.group
        member = change.device_id
        ticket = self._scheduler.store_scene(
            member, scene.group_id, scene.scene_id, scene.values, priority=Priority.REPAIR
        )
        self._machines.track(ticket)
        if op is not None:
            op.rewriting.add(member)

        def done(ticket: Ticket[None]) -> None:
            if self._machines.stopped or op is None:
                return
            op.rewriting.discard(member)
            if not ticket.cancelled() and ticket.exception() is None:
                op.rewritten.add(member)
            else:
                op.rewrite_failed.add(member)
            self.check_done(op)

        ticket.add_done_callback(done)

    def check_done(self, op: GroupOp) -> None:
        if op.future is None or op.future.done() or op.rewriting:
            return
        if all(c.status is not ChangeStatus.PENDING for c in op.changes.values()):
            self.close_window(op)
            op.future.set_result(self.result(op))

    def result(self, op: GroupOp) -> GroupResult:
        members = {d: self._result_of(c) for d, c in op.changes.items()}
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

    def _handle(self, op: GroupOp) -> GroupHandle:
        assert op.future is not None
        members = {member: self._handle_of(change) for member, change in op.changes.items()}
        return GroupHandle(op.group_id, members, op.future, lambda: self.result(op))
