"""The change engine's face: commands in, results, sync states and counts out.

Each command becomes a change per target device (``open_changes.py`` opens, times and
settles them; ``machine.py`` follows each device's state machine; ``groups.py`` the
groupcasts); this class takes the commands and what the radio hears, keeps the counts,
loads and exports the pending changes and tells its listener.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ..change_results import (
    ChangeCounts,
    ChangeHandle,
    ChangeResult,
    ChangeStatus,
    DeviceSyncStatus,
    GroupHandle,
    SyncState,
)
from ..matching import value_matches
from ..model import Attr, DeviceId, SleepMode
from ..policy import ChangePolicy
from ..scheduler import CommandValues, Priority, SendScheduler
from .groups import GroupVerifier
from .machine import DeviceLookup, DeviceMachines
from .open_changes import OpenChanges
from .pending import export_pending, read_pending
from .records import Change, Device, GroupOp, Phase


class EngineListener(Protocol):
    """Who hears what the engine does (the gateway): one object, given at construction."""

    def device_changed(self, device_id: DeviceId) -> None:
        """The device's desired values or sync state moved."""

    def change_finished(self, result: ChangeResult) -> None:
        """A change ended verified, failed or superseded (once per change)."""

    def counts_changed(self, counts: ChangeCounts) -> None:
        """The pending or failed counts moved."""


class _Unheard:
    """The listener of an engine nobody listens to."""

    def device_changed(self, device_id: DeviceId) -> None:
        pass

    def change_finished(self, result: ChangeResult) -> None:
        pass

    def counts_changed(self, counts: ChangeCounts) -> None:
        pass


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
        listener: EngineListener | None = None,
        describe: DeviceLookup | None = None,
        policy: ChangePolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.scheduler = scheduler
        self._machines = DeviceMachines(
            scheduler,
            describe=describe or (lambda _: None),
            policy=policy or ChangePolicy(),
            rng=rng or random.Random(),
            on_finished=self._finish,
            on_changed=self._changed,
            on_member_heard=self._member_heard,
        )
        self._changes = OpenChanges(self._machines, on_settled=self._settled)
        self._groups = GroupVerifier(
            self._machines,
            scheduler,
            new_change=self._changes.open_member,
            on_changed=self._changed,
            result_of=self._changes.result,
            handle_of=self._changes.handle,
        )
        self.policy = self._machines.policy
        self._stopped = False
        self._listener: EngineListener = listener or _Unheard()
        self._tally = _Tally()

    @property
    def policy(self) -> ChangePolicy:
        return self._machines.policy

    @policy.setter
    def policy(self, policy: ChangePolicy) -> None:
        """New timing applies to new changes and to the next step of pending ones."""
        self._machines.policy = policy
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
        device = self._machines.device(device_id)
        change = self._changes.open(
            device, values=values, transition=transition, deadline=deadline, priority=priority
        )
        self._machines.kick(device)
        self._changed(device)
        return self._changes.handle(change)

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
        return self._groups.set_state(
            group_id, members, values, transition=transition, deadline=deadline
        )

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
        return self._groups.recall(
            group_id, scene_id, member_states, transition=transition, deadline=deadline
        )

    # ---- what the radio hears -------------------------------------------------------

    def attributes_reported(self, device_id: DeviceId, values: CommandValues) -> None:
        """Values the device reported or returned in a read response (remembered for every
        device: a later scene recall needs to know what it showed before)."""
        if self._stopped or not values:
            return
        self._machines.observe(self._machines.device(device_id), values)

    def device_seen(self, device_id: DeviceId) -> None:
        """Any frame from the device: a sleeper listens for a moment now."""
        if self._stopped:
            return
        machines = self._machines
        description = machines.description(device_id)
        if description.sleep_mode is SleepMode.ALWAYS_ON and device_id not in machines.devices:
            return
        device = machines.device(device_id)
        if description.sleep_mode is SleepMode.SLEEPY:
            machines.set_awake(device)
        if device.phase is Phase.ASLEEP:
            machines.send(device, Priority.USER)  # the listening moment is short
        elif device.phase is Phase.BACKOFF and (
            device.silent or description.sleep_mode is not SleepMode.ALWAYS_ON
        ):
            machines.send(device, Priority.REPAIR)

    def device_announced(self, device_id: DeviceId) -> None:
        """The device (re)joined or powered on: whatever it was told may be lost."""
        if self._stopped:
            return
        self.device_seen(device_id)
        device = self._machines.devices.get(device_id)
        if device is not None and device.phase in (Phase.WAITING, Phase.BACKOFF):
            device.unsent.update(device.owners)
            self._machines.send(device, Priority.REPAIR)

    # ---- what the gateway shows -----------------------------------------------------

    def device_status(self, device_id: DeviceId) -> DeviceSyncStatus | None:
        """The device's sync state, or None when nothing was ever commanded to it."""
        device = self._machines.devices.get(device_id)
        if device is None or not device.desired:
            return None
        return DeviceSyncStatus(
            device_id=device_id,
            state=self._machines.sync_state(device),
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
        return self._tally.counts

    def has_desired_states(self) -> bool:
        """Whether anything was ever commanded (a restore keeps this engine's own)."""
        return any(device.desired for device in self._machines.devices.values())

    def reassert(self, device_id: DeviceId, shown: Mapping[str, Any]) -> ChangeHandle | None:
        """The device came back (power returned, it rejoined): where what it shows now
        differs from its last desired state and nothing is pending, set it again."""
        device = self._machines.devices.get(device_id)
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

    # ---- persistence ----------------------------------------------------------------

    def export_pending(self) -> dict[str, Any]:
        """Desired states and pending changes, JSON-serialisable, deadlines as seconds left."""
        machines = self._machines
        return export_pending(
            machines.devices, self._changes.values(), self._loop.time(), machines.links
        )

    def load_pending(self, data: Mapping[str, Any]) -> None:
        """Resume from ``snapshot()`` data: pending changes go on, expired ones fail.

        Call before any command (expired changes report at once, to the listener).
        """
        self._check_running()
        if self._changes:
            raise RuntimeError("restore() needs an engine without pending changes")
        now = self._loop.time()
        saved_devices, saved_changes = read_pending(
            data, now=now, next_seq=self._machines.next_seq, new_future=self._loop.create_future
        )
        if isinstance(links := data.get("links"), Mapping):
            self._machines.links.load(links)
        for device_id, (desired, failed) in saved_devices.items():
            device = self._machines.device(device_id)
            device.desired.update(desired)
            device.failed.update(failed)
        self._changes.reopen(saved_changes, now)
        for device in self._machines.devices.values():
            if device.owners:
                self._machines.send(device, Priority.REPAIR)
            self._recount(device)
        self._publish_counts()

    # ---- lifecycle ------------------------------------------------------------------

    async def stop(self) -> None:
        """Cancel every timer and operation; waiters get their pending results."""
        if self._stopped:
            return
        self._stopped = True
        self._machines.stop()
        for op in self._changes.stop():
            self._groups.close_window(op)
            if op.future is not None and not op.future.done():
                op.future.set_result(self._groups.result(op))

    # ---- changes --------------------------------------------------------------------

    def _check_running(self) -> None:
        if self._stopped:
            raise EngineStopped("the change engine is stopped")

    def _settled(self, change: Change, result: ChangeResult) -> None:
        """A change ended: its scene entry or group may be due, the counts moved."""
        if change.status is ChangeStatus.FAILED:
            self._tally.failed_total += 1
        scene = change.scene
        if scene is not None and scene.proved_wrong and change.status is ChangeStatus.VERIFIED:
            self._groups.rewrite_scene(change, scene)
        if change.group is not None:
            self._groups.check_done(change.group)
        self._changed(self._machines.devices[change.device_id])
        self._listener.change_finished(result)

    def _finish(self, change: Change) -> None:
        self._changes.finish(change)

    def _member_heard(self, op: GroupOp, device: Device, matched: bool) -> None:
        self._groups.member_heard(op, device, matched)

    def _changed(self, device: Device) -> None:
        self._recount(device)
        self._publish_counts()
        self._listener.device_changed(device.device_id)

    def _recount(self, device: Device) -> None:
        self._tally.recount(device, self._machines.sync_state(device) if device.desired else None)

    def _publish_counts(self) -> None:
        if self._tally.moved(len(self._changes)):
            self._listener.counts_changed(self._tally.counts)


class _Tally:
    """The counts callers see, kept current without walking every device."""

    def __init__(self) -> None:
        self.counts = ChangeCounts()
        self.failed_total = 0
        self._devices = dict.fromkeys(SyncState, 0)

    def recount(self, device: Device, state: SyncState | None) -> None:
        """The device's sync state is ``state`` now (None: nothing commanded)."""
        if state is not device.sync:
            if device.sync is not None:
                self._devices[device.sync] -= 1
            if state is not None:
                self._devices[state] += 1
            device.sync = state

    def moved(self, pending_changes: int) -> bool:
        """Bring the counts up to date; whether they changed."""
        counts = ChangeCounts(
            pending_changes=pending_changes,
            pending_devices=self._devices[SyncState.PENDING],
            failed_devices=self._devices[SyncState.FAILED],
            failed_total=self.failed_total,
        )
        if counts == self.counts:
            return False
        self.counts = counts
        return True
