"""Groups and scenes in the change engine: one groupcast (a group set or a scene recall)
stands for a change per member; members that stay silent or show the wrong values are
repaired by unicast, and wrong scene-table entries are stored again.

How a group set reaches its members is chosen per command from what was learned of
their links (``links.py``) and the radio's budget: members likely to stay silent get
their unicast at once, right after the groupcast (withdrawn if their report comes
first); a group small enough to be unicast within the report window, on air where a
member is likely to miss, gets unicasts only, and so does a group where the groupcast
would save less than its own frame.

The report window after a groupcast closes as soon as every member has reported, else
after the network's learned report delay (until that is known: once reports stop coming
in for ``group_report_quiet``), at the latest after ``group_report_wait``."""

from __future__ import annotations

import asyncio
import math
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
from .machine import DeviceMachines
from .records import Change, Device, GroupOp, Phase, SceneEntry, cancel


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
        at_once, groupcast = self._plan(op)
        self._start(
            op,
            (
                lambda on_air: self._scheduler.send_group(
                    group_id, op.values, transition=transition, on_attempt=on_air
                )
            )
            if groupcast
            else None,
            at_once,
        )
        return self._handle(op)

    def _plan(self, op: GroupOp) -> tuple[list[DeviceId], bool]:
        """Which members get their unicast at once (most likely to miss first), and
        whether the groupcast goes out at all."""
        covered = [member for member in op.changes if member in op.covered]
        links = self._machines.links
        network = links.network_miss_rate()
        rates = {member: links.miss_rate(member, network) for member in covered}
        policy = self._machines.policy
        by_rate = sorted(covered, key=lambda member: -rates[member])
        at_once = [member for member in by_rate if rates[member] >= policy.unicast_at_once_miss]
        if not covered or network is None:
            return at_once, True  # nothing learned yet: the groupcast, then the window
        # (Few members ever report where most miss: then the quiet spell stands for it.)
        window = self._machines.group_window() or policy.group_report_quiet
        per_second = self._scheduler.budget.unicasts_per_s
        any_miss = 1.0 - math.prod(1.0 - rate for rate in rates.values())
        if (len(covered) - 1) / per_second <= window and any_miss >= policy.small_group_miss:
            # Every member's unicast is on air before the window would close: waiting
            # for reports would only delay the members that missed.
            return covered, False
        # Members the groupcast would spare a unicast: those not sent one at once, and
        # those whose unicast queues long enough for the groupcast's report to come first.
        head = 1 + int(per_second * window)
        chosen = set(at_once)
        spared = sum(1.0 - rates[m] for m in covered if m not in chosen)
        spared += sum(1.0 - rates[m] for m in at_once[head:])
        if spared < 1.0:
            return covered, False  # the groupcast would cost more than it saves
        return at_once, True

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
        # (Every member gets the recall: it also checks the members' scene tables.)
        self._start(
            op,
            lambda on_air: self._scheduler.recall_scene(group_id, scene_id, on_attempt=on_air),
            [],
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
        submit: Callable[[Callable[[], None]], Ticket[None]] | None,
        at_once: list[DeviceId],
    ) -> None:
        """Send the groupcast (``submit``; None: none), then the unicasts: ``at_once``
        first, in that order (after the groupcast, so the members it reaches still come
        on together), then the members it cannot reach."""
        op.future = self._loop.create_future()
        if submit is None:
            op.covered.clear()
        op.covered.difference_update(at_once)
        unicast = [*at_once, *(m for m in op.changes if m not in op.covered and m not in at_once)]
        for member in op.changes:
            device = self._machines.devices[member]
            if member in op.covered and all(device.owners[a].group is op for a in device.owners):
                self._machines.stop_timer(device)
                self._machines.drop_ticket(device)
                device.phase = Phase.GROUPCAST
                device.broadcast = op
                device.after_broadcast = False
                op.unheard.add(member)
            elif member in op.covered:
                unicast.append(member)
        if submit is not None:
            ticket = submit(lambda: self._on_air(op))
            self._machines.track(ticket)
            ticket.add_done_callback(lambda t: self._done(op, t))
        for member in unicast:
            device = self._machines.devices[member]
            self._machines.kick(device)
            if submit is not None and member in at_once and device.phase is Phase.SENDING:
                device.broadcast = op  # its report may still come from the groupcast
                op.at_once.add(member)
        for member in op.changes:
            self._on_changed(self._machines.devices[member])
        self.check_done(op)

    def _members(self, op: GroupOp) -> list[Device]:
        """Members the groupcast is for, in the order they were given (repairs go in it)."""
        return [
            device
            for member in op.changes
            if member in op.covered and (device := self._machines.devices[member]).broadcast is op
        ]

    def _on_air(self, op: GroupOp) -> None:
        op.on_air_at = self._loop.time()
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
        """Wait for the members' reports: the learned report delay after the groupcast
        (and its transition) when known, at most ``group_report_wait``."""
        now = self._loop.time()
        transition = op.transition or 0.0
        op.window_opens_at = now + transition
        sent_at = op.on_air_at if op.on_air_at is not None else now
        learned = self._machines.group_window()
        op.learned = learned is not None
        wait = self._machines.policy.group_report_wait if learned is None else learned
        op.window_ends_at = max(now, sent_at + transition + wait)
        op.window_timer = self._loop.call_at(op.window_ends_at, self._window_over, op)
        if self._all_reported(op):
            self._window_over(op)

    def member_heard(self, op: GroupOp, device: Device, matched: bool) -> None:
        """A member answered the groupcast (``matched``: with the values it carried)."""
        member = device.device_id
        first = member not in op.reported
        op.reported.add(member)
        op.unheard.discard(member)
        if matched and first and op.on_air_at is not None:
            links = self._machines.links
            links.group_report_delay(self._loop.time() - op.on_air_at - (op.transition or 0.0))
            links.groupcast_outcome(member, missed=False)
        if op.window_timer is None:
            return
        if self._all_reported(op):
            self._window_over(op)  # every member has answered: nothing more to wait for
            return
        if not op.learned and (learned := self._machines.group_window()) is not None:
            # The reports so far tell how long the rest may take.
            op.learned = True
            cancel(op.quiet_timer)
            op.quiet_timer = None
            sent_at = op.on_air_at if op.on_air_at is not None else self._loop.time()
            ends_at = sent_at + (op.transition or 0.0) + learned
            if ends_at < op.window_ends_at:
                cancel(op.window_timer)
                op.window_ends_at = max(self._loop.time(), ends_at)
                op.window_timer = self._loop.call_at(op.window_ends_at, self._window_over, op)
            return
        if op.learned:
            return
        cancel(op.quiet_timer)
        quiet = self._machines.policy.group_report_quiet
        delay = max(quiet, op.window_opens_at - self._loop.time() + quiet)
        op.quiet_timer = self._loop.call_later(delay, self._window_over, op)

    def _all_reported(self, op: GroupOp) -> bool:
        """Every member the window waits for has reported (a member that left it for
        another reason, a newer command, keeps it to its timer)."""
        return not op.unheard

    def close_window(self, op: GroupOp) -> None:
        cancel(op.window_timer)
        cancel(op.quiet_timer)
        op.window_timer = op.quiet_timer = None

    def _window_over(self, op: GroupOp) -> None:
        """Members still silent (or showing other values) after the window get repaired."""
        self.close_window(op)
        if self._machines.stopped:
            return
        machines = self._machines
        for device in self._members(op):
            if device.phase is Phase.WAITING and device.after_broadcast and device.timer is None:
                if device.device_id not in op.reported and not all(
                    machines.showed_before(device, attr) for attr in device.owners
                ):
                    # Silent, although the groupcast should have changed it.
                    machines.links.groupcast_outcome(device.device_id, missed=True)
                machines.report_window_over(device)

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
