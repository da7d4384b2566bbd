"""The changes under way: each opened for one device (taking over the attributes it sets
from older ones), held to its deadline, and settled verified, failed or superseded, with
the result and handle callers see. What a settled change means for its group and for the
counts is the engine's (``on_settled``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, ValuesView

from ..change_results import ChangeHandle, ChangeResult, ChangeStatus
from ..matching import required_attributes, turned_off_supersedes
from ..scheduler import CommandValues, Priority, values_dict
from .machine import DeviceMachines
from .pending import SavedChange
from .records import Change, Device, GroupOp, cancel


class OpenChanges:
    """The open changes of one engine, by change id, over its device machines."""

    def __init__(
        self,
        machines: DeviceMachines,
        *,
        on_settled: Callable[[Change, ChangeResult], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._machines = machines
        self._on_settled = on_settled
        self._open: dict[int, Change] = {}
        self._next_id = 1
        self._stopped = False

    def __len__(self) -> int:
        return len(self._open)

    def values(self) -> ValuesView[Change]:
        return self._open.values()

    def open(
        self,
        device: Device,
        *,
        values: CommandValues,
        transition: float | None,
        deadline: float | None,
        priority: Priority,
        group: GroupOp | None = None,
    ) -> Change:
        """A new change: ``values`` become the device's desired ones, due by ``deadline``
        (seconds; the policy's for the device when None)."""
        if not values:
            raise ValueError("a change needs at least one value")
        values = values_dict(values)
        seq = self._machines.next_seq()
        now = self._loop.time()
        change = Change(
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
        superseded: list[Change] = []
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
        description = self._machines.description(device.device_id)
        policy = self._machines.policy
        seconds = deadline if deadline is not None else policy.deadline_for(description)
        self._arm_deadline(change, now + seconds)
        for older in superseded:
            self.finish(older)
        return change

    def open_member(
        self, device: Device, values: CommandValues, op: GroupOp, deadline: float | None
    ) -> Change:
        """A group member's change, carried by the groupcast ``op``."""
        return self.open(
            device,
            values=values,
            transition=op.transition,
            deadline=deadline,
            priority=Priority.USER,
            group=op,
        )

    def reopen(self, saved_changes: Iterable[SavedChange], now: float) -> None:
        """Take up changes saved before a restart: pending ones go on, expired ones fail."""
        expired: list[Change] = []
        for saved in saved_changes:
            change = saved.change
            device = self._machines.device(change.device_id)
            self._next_id = max(self._next_id, change.change_id + 1)
            self._open[change.change_id] = change
            for attr in saved.open:
                if (older := device.owners.get(attr)) is not None:
                    older.open.discard(attr)  # (a snapshot never has two; be safe)
                    older.superseded.add(attr)
                change.open.add(attr)
                device.owners[attr] = change
                device.desired[attr] = change.values.get(attr)
                device.unsent.add(attr)
            if saved.remaining <= 0:
                expired.append(change)
            else:
                self._arm_deadline(change, now + saved.remaining)
        for change in expired:
            if change.status is ChangeStatus.PENDING:
                self._expire(change)
        for change in list(self._open.values()):
            if change.status is ChangeStatus.PENDING and not change.open:
                self.finish(change)

    def _arm_deadline(self, change: Change, deadline_at: float) -> None:
        change.deadline_at = deadline_at
        change.deadline_timer = self._loop.call_at(deadline_at, self._expire, change)

    def _expire(self, change: Change) -> None:
        """The deadline passed: what the device has not shown by now failed."""
        change.deadline_timer = None
        if change.status is not ChangeStatus.PENDING or self._stopped:
            return
        device = self._machines.devices[change.device_id]
        for attr in change.open:
            if device.owners.get(attr) is change:
                del device.owners[attr]
            device.unsent.discard(attr)
            device.failed.add(attr)
            change.failed.add(attr)
        change.open.clear()
        self.finish(change)
        if not device.owners:
            self._machines.go_idle(device)

    def finish(self, change: Change) -> None:
        """Settle the change: failed, verified or superseded, by what became of its
        attributes; its waiters get the result."""
        if change.failed:
            change.status = ChangeStatus.FAILED
        elif change.verified:
            change.status = ChangeStatus.VERIFIED
        else:
            change.status = ChangeStatus.SUPERSEDED
        change.finished_at = self._loop.time()
        cancel(change.deadline_timer)
        change.deadline_timer = None
        self._open.pop(change.change_id, None)
        result = self.result(change)
        if change.future is not None and not change.future.done():
            change.future.set_result(result)
        self._on_settled(change, result)

    def result(self, change: Change) -> ChangeResult:
        device = self._machines.devices.get(change.device_id)
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

    def handle(self, change: Change) -> ChangeHandle:
        assert change.future is not None
        return ChangeHandle(
            change.change_id, change.device_id, change.future, lambda: self.result(change)
        )

    def stop(self) -> list[GroupOp]:
        """No more deadlines; waiters get their pending results. The groupcasts of the
        open changes, to be closed by their owner."""
        self._stopped = True
        for change in self._open.values():
            cancel(change.deadline_timer)
            change.deadline_timer = None
        groups: dict[int, GroupOp] = {}
        for change in self._open.values():
            if change.future is not None and not change.future.done():
                change.future.set_result(self.result(change))
            if change.group is not None:
                groups[id(change.group)] = change.group
        return list(groups.values())
