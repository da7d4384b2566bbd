"""The gateway: one radio, what it knows about its devices, and who wants to hear of it.

Home-Assistant-free, so the benchmark drives exactly what Home Assistant drives. The Home
Assistant glue (``coordinator.py``) builds one per config entry and only adapts it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from .availability import Availability, AvailabilityPolicy, AvailabilityTracker, is_pinged
from .change_results import ChangeCounts, ChangeHandle, ChangeResult, GroupHandle, SyncState
from .changes import ChangeEngine
from .changes.pending import PendingStore
from .health import HealthEvent, HealthPolicy, RadioStatus, RadioSupervisor, describe_failure
from .model import Attr, AttributeValues, DeviceDescription, DeviceId, GroupDescription, SleepMode
from .policy import ChangePolicy
from .radio import (
    RadioError,
    RadioIdentityError,
    RadioLink,
    RadioListener,
    RadioState,
    SnapshotSection,
)
from .restore import (
    DeviceConfiguration,
    GatewayPausedError,
    ProgressCallback,
    RestoreInProgress,
    RestoreReport,
    RestoreRun,
)
from .scenes import GatewayScene, SceneBook, scene_state
from .scheduler import ClassLimitReached, Priority, SendScheduler, Ticket
from .schemas import recover_changes, recover_scenes
from .snapshot import SnapshotInfo, SnapshotStore
from .storage import AtomicJsonFile, Recovery, SetAside

_LOGGER = logging.getLogger(__name__)

type Unsubscribe = Callable[[], None]


class GatewayFileError(Exception):
    """A file the gateway keeps cannot be read at all (permissions, an I/O error): its
    start fails, and nothing blames the radio."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"{path.name} cannot be read: {error.strerror or error}")
        self.path = path


class RunStatus(StrEnum):
    """Whether the gateway holds its radio (paused: released for other software)."""

    RUNNING = "running"
    PAUSED = "paused"


class GatewayListener:
    """What the gateway tells its users (entities, services, the benchmark); override
    what you need."""

    def device_updated(self, device_id: DeviceId) -> None:
        """The device's values, sync state or availability moved."""

    def inventory_changed(self) -> None:
        """Devices, groups or scenes were added or removed."""

    def radio_state_changed(self, state: RadioState) -> None:
        """The radio link went up or down."""

    def health_changed(self, event: HealthEvent) -> None:
        """The radio's status moved (ok, degraded, recovering, failed over, failed)."""

    def run_status_changed(self) -> None:
        """Pause or resume was asked for, or took effect."""

    def change_finished(self, result: ChangeResult) -> None:
        """A change verified, failed or was superseded."""

    def counts_changed(self, counts: ChangeCounts) -> None:
        """The number of pending or failed changes moved."""

    def snapshot_taken(self, info: SnapshotInfo) -> None:
        """A snapshot was written."""

    def file_set_aside(self, event: SetAside) -> None:
        """A damaged start-up file was renamed out of the way (kept, never overwritten);
        the gateway started with what could be recovered from it."""


REFRESH_READ_TIMEOUT = 30.0
"""Seconds a background state read may take before it is given up."""

INVENTORY_DEBOUNCE = 0.2
"""Seconds of quiet before inventory changes (joins, group members) are taken in."""

SLEEPER = "sleeper"
"""The scheduler's class of operations for sleepers while they are awake (configuration,
the read of what they have not shown): tried once per wake, a few at a time."""

SCHEDULER_LIMITS = {SLEEPER: 2}
"""Operations of each limited class queued or on air at once: a sleeper that dozed off
holds its frame slot for the parent's 7.68 s, and awake devices must not wait behind a
crowd of those."""

SNAPSHOT_DEBOUNCE = 60.0
"""Seconds of quiet after a meaningful change (join, leave, group, scene) before the
automatic snapshot, so pairing ten devices makes one snapshot, not ten."""

PAYLOAD_LAYOUT = 1
"""Version of the payload layout inside a snapshot file."""


class Gateway(RadioListener):
    """Runs one radio, follows every command with the change engine, keeps the last
    values each device itself reported, supervises the radio's health and each device's
    availability, and snapshots and restores itself."""

    def __init__(
        self,
        radio_factory: Callable[[RadioListener], RadioLink],
        *,
        name: str = "gateway",
        changes_file: AtomicJsonFile | None = None,
        scenes_file: AtomicJsonFile | None = None,
        snapshots: SnapshotStore | None = None,
        snapshot_interval: float | None = None,
        snapshot_password: str | None = None,
        policy: ChangePolicy | None = None,
        health_policy: HealthPolicy | None = None,
        availability_policy: AvailabilityPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.radio: RadioLink = radio_factory(self)
        self.name = name
        self.devices: dict[DeviceId, DeviceDescription] = {}
        self.groups: dict[int, GroupDescription] = {}
        self._values: dict[DeviceId, dict[str, Any]] = {}
        self._last_heard: dict[DeviceId, float] = {}
        self._listeners: list[GatewayListener] = []
        self._changes_file = changes_file
        self._pending = PendingStore(changes_file, self._export_pending)
        self._scenes_file = scenes_file
        self.snapshots = snapshots
        self._snapshot_interval = snapshot_interval
        # Encrypts automatic snapshots, and every snapshot written or read without one.
        self._snapshot_password = snapshot_password or None
        self._sections: dict[str, SnapshotSection] = {}
        self.scenes = SceneBook()
        self._policy = policy
        self._rng = rng
        self._scheduler: SendScheduler | None = None
        self._engine: ChangeEngine | None = None
        self._inventory_timer: asyncio.TimerHandle | None = None
        self._snapshot_timer: asyncio.TimerHandle | None = None
        self._periodic_snapshot_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._latest_section: Mapping[str, Any] | None = None
        self._awaiting_wake: dict[DeviceId, DeviceConfiguration] = {}
        # Sleepers read (or being read) since their values were last cleared: a sleeper is
        # read once when first heard, as it is never pinged or refreshed (see _introduce).
        self._introduced: set[DeviceId] = set()
        self.supervisor = RadioSupervisor(
            _RecoveryActions(self), health_policy or HealthPolicy(), on_event=self._health_event
        )
        self.availability = AvailabilityTracker(
            self._ping,
            availability_policy or AvailabilityPolicy(),
            on_change=self._availability_changed,
            on_returned=self._device_returned,
        )
        self._stopping = False
        self._supervising = False
        self.target_status = RunStatus.RUNNING
        self.current_status = RunStatus.RUNNING
        # Whoever opens, closes or exports the radio holds this: pause, resume, restores
        # and snapshots take turns (a snapshot never meets a radio a restore has closed).
        self._run_lock = asyncio.Lock()
        self._restore_task: asyncio.Task[RestoreReport] | None = None
        # changes.json is written only once it was read: a start that failed before
        # must not replace the pending changes it holds with nothing.
        self._changes_loaded = False

    @property
    def engine(self) -> ChangeEngine:
        if self._engine is None:
            raise RuntimeError("the gateway is not started")
        return self._engine

    @property
    def scheduler(self) -> SendScheduler:
        """The radio's one send queue: the engine's commands and the gateway's own reads,
        pings and configurations."""
        if self._scheduler is None:
            raise RuntimeError("the gateway is not started")
        return self._scheduler

    def register_section(self, section: SnapshotSection) -> None:
        """Keep ``section``'s data in every snapshot (and give it back on restore)."""
        self._sections[section.name] = section

    async def start(self, *, form_new_network: bool = False) -> None:
        """Resume the changes pending at the last stop, then start the radio.

        A radio that does not hold this gateway's network (blank or replaced) does not
        raise: the gateway comes up with ``needs_restore`` set, queues commands, and waits
        for a restore. Other radio failures raise (the caller retries later).

        ``form_new_network``: the caller knows of no network this gateway ever had (Home
        Assistant: no device of the entry). A blank radio is formed into a new network
        only then, and only if no snapshot exists and the radio keeps no trace of an
        earlier network either: a gateway that had one is restored, never started anew.
        """
        rng = self._rng or random.Random()  # (one stream: back-offs stay reproducible)
        self._scheduler = SendScheduler(self.radio, rng=rng, limits=SCHEDULER_LIMITS)
        engine = ChangeEngine(
            self._scheduler, describe=self.description, policy=self._policy, rng=rng
        )
        self._engine = engine
        engine.add_device_listener(self._sync_changed)
        engine.add_result_listener(self._change_finished)
        engine.add_counts_listener(self._counts_changed)
        if self._changes_file is not None:
            if saved := await self._load_start_file(self._changes_file, recover_changes):
                engine.restore(saved)
            self._changes_loaded = True
        scenes_file = self._scenes_file
        if scenes_file and (scenes := await self._load_start_file(scenes_file, recover_scenes)):
            self.scenes.load(scenes)
        if form_new_network and self.snapshots is not None:
            form_new_network = await self.snapshots.async_newest() is None
        try:
            await self.radio.start(form_new_network=form_new_network)
        except RadioIdentityError as exc:
            _LOGGER.warning("%s: %s; restore a snapshot onto it", self.name, exc)
            self.supervisor.mark_needs_restore(str(exc))
            return
        await self._radio_started()
        self._start_supervision()
        if self.snapshots is not None:
            self._spawn(self._take_automatic_snapshot())

    async def _load_start_file[T](self, file: AtomicJsonFile, recover: Recovery[T]) -> T | None:
        """What a start-up file holds; a damaged one (not JSON, or of the wrong shape) is
        renamed aside, named in a warning and to the listeners, and what could be
        recovered from it is used."""
        try:
            data, set_aside = await file.load_recovering(recover)
        except OSError as exc:
            raise GatewayFileError(file.path, exc) from exc
        if set_aside is not None:
            _LOGGER.warning(
                "%s: %s could not be used (%s); it was kept as %s and the gateway starts"
                " with what could be recovered from it",
                self.name,
                set_aside.path,
                set_aside.problem,
                set_aside.aside.name,
            )
            for listener in tuple(self._listeners):
                listener.file_set_aside(set_aside)
        return data

    def _start_supervision(self) -> None:
        self._supervising = True
        self.supervisor.start()
        self.availability.start()
        self._schedule_periodic_snapshot()

    async def _radio_started(self, *, pings_reconfirm: bool = False) -> None:
        """The radio runs (again): take its inventory in and re-confirm every device (by
        a state read, unless the availability tracker's pings read it anyway)."""
        self.take_inventory()
        for device in self.devices.values():
            if not (pings_reconfirm and is_pinged(device)):
                self.refresh_state(device.device_id)
        self.scheduler.retry_now()

    async def stop(self) -> None:
        """Stop following changes (they are saved and resume at the next start). The
        radio and its database are released whatever fails before (a full disk)."""
        self._stopping = True
        self._pending.stop()
        for timer in (
            self._inventory_timer,
            self._snapshot_timer,
            self._periodic_snapshot_timer,
        ):
            if timer is not None:
                timer.cancel()
        self._inventory_timer = None
        self._snapshot_timer = self._periodic_snapshot_timer = None
        try:
            if (restore := self._restore_task) is not None:
                # (It must not start the radio again once this closed it.)
                restore.cancel()
                await asyncio.gather(restore, return_exceptions=True)
            await self.supervisor.stop()
            await self.availability.stop()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._engine is not None:
                await self._engine.stop()
                await self.scheduler.stop()
                try:
                    await self._pending.save()
                except OSError as exc:
                    _LOGGER.error(
                        "%s: the pending changes could not be saved (%s); they are lost",
                        self.name,
                        exc,
                    )
        finally:
            await self.radio.stop()

    def _spawn(self, coro: Any) -> None:
        if self._stopping:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (error := task.exception()) is None:
            return
        if isinstance(error, RadioError) and not self.radio_up:
            # (A snapshot meeting a dropped link: the radio's status tells of the outage.)
            _LOGGER.debug("%s: background work stopped, the radio is down: %s", self.name, error)
        else:
            _LOGGER.warning("%s: background work failed: %s", self.name, error)

    def _export_pending(self) -> dict[str, Any] | None:
        # changes.json is written only once it was read (see _changes_loaded).
        if self._engine is None or not self._changes_loaded:
            return None
        return self._engine.snapshot()

    async def flush(self) -> None:
        """Write the pending changes now (before a Home Assistant backup; a snapshot
        taken then carries a fresh network backup)."""
        await self._pending.save()

    def sync_state(self, device_id: DeviceId) -> SyncState | None:
        """Whether the device shows what it was last told: pending or failed while a
        change is open or failed; otherwise verified, or unknown while the device has
        shown nothing since the start or the last radio outage. None for a device never
        told anything (a sensor, a light nobody switched yet): there is nothing to be in
        sync with."""
        state = self.engine.sync_state(device_id) if self._engine else None
        if state is None or state in (SyncState.PENDING, SyncState.FAILED):
            return state
        if not self._values.get(device_id):
            return SyncState.UNKNOWN
        return SyncState.VERIFIED

    def _sync_changed(self, device_id: DeviceId) -> None:
        for listener in tuple(self._listeners):
            listener.device_updated(device_id)

    def _change_finished(self, result: ChangeResult) -> None:
        for listener in tuple(self._listeners):
            listener.change_finished(result)

    def _counts_changed(self, counts: ChangeCounts) -> None:
        self._pending.save_soon()
        for listener in tuple(self._listeners):
            listener.counts_changed(counts)

    def add_listener(self, listener: GatewayListener) -> Unsubscribe:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def radio_up(self) -> bool:
        return self.radio.state is RadioState.UP

    def values(self, device_id: DeviceId) -> dict[str, Any]:
        """The device's state as last seen from the device itself (never the commanded one)."""
        return self._values.get(device_id, {})

    # -- commands --------------------------------------------------------------------

    def set_state(
        self,
        device_id: DeviceId,
        values: AttributeValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> ChangeHandle:
        """Make ``values`` the device's desired state; the handle tells how it ended."""
        return self.engine.set_state(device_id, values, transition=transition, deadline=deadline)

    def set_group_state(
        self,
        group_id: int,
        values: AttributeValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> GroupHandle:
        """One groupcast, then every member verified and repaired by unicast."""
        members = [m for m in self.groups[group_id].members if m in self.devices]
        return self.engine.set_group_state(
            group_id, members, values, transition=transition, deadline=deadline
        )

    async def store_scene(self, group_id: int, name: str) -> tuple[GatewayScene, list[DeviceId]]:
        """Make the members' current (device-reported) states a scene of the group.

        Each member's scene table gets its own entry with explicit values (an Add Scene
        per member, not one Store Scene groupcast that some would miss). Returns the scene
        and the members whose table could not be written; a recall repairs those anyway.
        """
        members = [m for m in self.groups[group_id].members if m in self.devices]
        existing = self.scenes.find(group_id, name)
        scene_id = existing.scene_id if existing else self.scenes.next_scene_id(group_id)
        states = {member: scene_state(self.values(member)) for member in members}
        tickets = [
            self.scheduler.store_scene(member, group_id, scene_id, state, priority=Priority.USER)
            for member, state in states.items()
        ]
        outcomes = await asyncio.gather(*tickets, return_exceptions=True)
        not_written = [
            member
            for member, outcome in zip(states, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        scene = GatewayScene(group_id, scene_id, name, states)
        self.scenes.put(scene)
        await self._save_scenes()
        for listener in tuple(self._listeners):
            listener.inventory_changed()
        self._snapshot_soon()
        return scene, not_written

    async def _save_scenes(self) -> None:
        if self._scenes_file is not None:
            await self._scenes_file.save(self.scenes.as_list())

    def recall_scene(self, group_id: int, scene_id: int) -> GroupHandle:
        """One scene-recall groupcast, then every member checked against the scene's
        states, repaired by unicast, and its scene entry rewritten where it proved wrong."""
        scene = self.scenes.get(group_id, scene_id)
        if scene is None:
            raise KeyError(f"no scene {scene_id} in group 0x{group_id:04x}")
        members = {m: v for m, v in scene.member_states.items() if m in self.devices}
        return self.engine.recall_scene(group_id, scene_id, members)

    # -- what the radio tells us -----------------------------------------------------

    def heard_within(self, device_id: DeviceId, seconds: float) -> bool:
        """Whether any frame came from the device in the last ``seconds``."""
        heard = self._last_heard.get(device_id)
        return heard is not None and heard >= asyncio.get_running_loop().time() - seconds

    def _heard(self, device_id: DeviceId, *, announced: bool = False) -> None:
        self._last_heard[device_id] = asyncio.get_running_loop().time()
        # (An announce is a return by itself: availability.heard would report it twice.)
        if announced:
            self.availability.announced(device_id)
        else:
            self.availability.heard(device_id)

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        self._heard(device_id)
        if not values:
            return
        self._values.setdefault(device_id, {}).update(values)
        if self._engine is not None:
            self._engine.attributes_reported(device_id, values)
        self._device_updated(device_id)
        self._introduce(device_id)

    def device_seen(self, device_id: DeviceId) -> None:
        self._heard(device_id)
        if self._engine is not None:
            self._engine.device_seen(device_id)
            if (config := self._awaiting_wake.pop(device_id, None)) is not None:
                self._spawn(self._configure_awake(device_id, config))
            self._introduce(device_id)

    def _introduce(self, device_id: DeviceId) -> None:
        """A sleeper heard for the first time since the start, its join or the last radio
        outage: read what it has not shown yet while it is awake. Sleepers report their
        readings only when they change and their battery only hourly, so without this
        they would show nothing for up to hours (and they are never pinged or read at a
        start). One read per sleeper and occasion; one that dozed off is tried again at
        its next wake."""
        device = self.devices.get(device_id)
        if (
            device is None
            or device.sleep_mode is not SleepMode.SLEEPY
            or device_id in self._introduced
            or self._engine is None
            or self._stopping
            or not self.radio_up
        ):
            return
        missing = device.attributes - self._values.get(device_id, {}).keys()
        if missing and self.scheduler.is_reading(device_id, missing):
            return  # (its answer brings them)
        self._introduced.add(device_id)
        if missing:
            self._spawn(self._read_awake_sleeper(device_id, sorted(missing)))

    async def _read_awake_sleeper(self, device_id: DeviceId, attributes: list[Attr]) -> None:
        # Like a sleeper's configuration: urgent while it is awake, tried once per wake,
        # by a few sleepers at a time (one that dozed off holds a frame slot meanwhile).
        try:
            await self.scheduler.read(
                device_id,
                attributes,
                priority=Priority.USER,
                timeout=REFRESH_READ_TIMEOUT,
                retry_delivery=False,
                limit=SLEEPER,
            )
        except ClassLimitReached:
            self._introduced.discard(device_id)  # its next wake, then
        except RadioError as exc:
            _LOGGER.debug("Reading %s while awake failed: %s", device_id, exc)
            self._introduced.discard(device_id)

    def device_announced(self, device_id: DeviceId) -> None:
        _LOGGER.debug("Device %s announced itself", device_id)
        self._heard(device_id, announced=True)
        if self._engine is not None:
            self._engine.device_announced(device_id)

    def devices_changed(self) -> None:
        # A network start or a join brings a burst of these (one per device and group
        # member): describe the whole inventory once per burst, not once per event.
        if self._inventory_timer is None and not self._stopping:
            self._inventory_timer = asyncio.get_running_loop().call_later(
                INVENTORY_DEBOUNCE, self._inventory_settled
            )

    def _inventory_settled(self) -> None:
        self._inventory_timer = None
        self.take_inventory()

    def take_inventory(self) -> None:
        """Describe the radio's devices and groups now and tell the listeners if that
        changed anything (a join, a leave, a new group member: worth a snapshot)."""
        before = (set(self.devices), self.groups)
        # Replaced as a whole, never updated in place: see ``description``.
        self.devices = {device.device_id: device for device in self.radio.devices()}
        self.groups = {group.group_id: group for group in self.radio.groups()}
        self.availability.track(self.devices.values())
        if (set(self.devices), self.groups) != before:
            self._snapshot_soon()
        for listener in tuple(self._listeners):
            listener.inventory_changed()
        if self._engine is not None and self.radio_up:
            # A device that just joined has shown little (reports come on change, battery
            # hourly): read its whole state once. (Sleepers: when they are next heard.)
            for device_id in self.devices.keys() - before[0]:
                self.refresh_state(device_id)

    def radio_state_changed(self, state: RadioState) -> None:
        if state is RadioState.DOWN:
            # Nothing the devices showed before the outage can be trusted any more.
            self._forget_values()
            if self.target_status is RunStatus.RUNNING:
                # No pings while nothing can answer; the recovery re-confirms every device.
                self.availability.pause()
                self.supervisor.report_failure("the radio link was lost")
        for listener in tuple(self._listeners):
            listener.radio_state_changed(state)
        for device_id in self.devices:
            self._device_updated(device_id)

    def _device_updated(self, device_id: DeviceId) -> None:
        for listener in tuple(self._listeners):
            listener.device_updated(device_id)

    # -- state and availability -------------------------------------------------------

    def device_availability(self, device_id: DeviceId) -> Availability:
        """Online, offline, or unknown until a frame or a ping answer proves it."""
        if not self.radio_up:
            return Availability.UNKNOWN
        return self.availability.availability(device_id)

    def refresh_state(self, device_id: DeviceId) -> None:
        """Ask an awake device for its state, in the background (sleepers report by
        themselves when they wake)."""
        device = self.devices.get(device_id)
        if device is None or device.sleep_mode is SleepMode.SLEEPY or not device.attributes:
            return
        if self.scheduler.is_reading(device_id, device.attributes):
            return  # one is under way
        ticket = self.scheduler.read(
            device.device_id,
            device.attributes,
            priority=Priority.BACKGROUND,
            timeout=REFRESH_READ_TIMEOUT,
        )
        ticket.add_done_callback(_log_failed_refresh)

    def _forget_values(self, device_id: DeviceId | None = None) -> None:
        """What one device (or every device) showed can no longer be trusted: it must
        show it again, and a sleeper is introduced (read when awake) again."""
        if device_id is None:
            self._values.clear()
            self._introduced.clear()
        else:
            self._values.pop(device_id, None)
            self._introduced.discard(device_id)

    def knows_state(self, device_id: DeviceId) -> bool:
        """Whether the device has shown its whole state since it (or the radio) was last
        away: values are cleared then, so these came since."""
        device = self.devices.get(device_id)
        return device is not None and device.attributes <= self._values.get(device_id, {}).keys()

    async def _ping(self, device_id: DeviceId) -> None:
        """Availability's question: a state read where there is state (so a returning
        device's state is re-confirmed with the same frame), else the radio's ping."""
        # Tried once: an unpowered device (which acknowledges nothing) must fail its ping.
        device = self.devices.get(device_id)
        if device is not None and device.attributes:
            # (The answer reaches the gateway as attribute events, as every read does.)
            await self.scheduler.read(
                device_id, device.attributes, timeout=REFRESH_READ_TIMEOUT, retry_delivery=False
            )
        else:
            await self.scheduler.call(
                lambda: self.radio.ping(device_id), device_id=device_id, retry_delivery=False
            )

    def _availability_changed(self, device_id: DeviceId, availability: Availability) -> None:
        if availability is not Availability.ONLINE:
            self._forget_values(device_id)
        self._device_updated(device_id)

    def _device_returned(self, device_id: DeviceId) -> None:
        """Back after silence or a power loss: read its state and, once known, re-apply
        the desired state where the device drifted (lights come back on after power)."""
        device = self.devices.get(device_id)
        if device is None or self._engine is None or not device.attributes:
            return
        if device.sleep_mode is SleepMode.SLEEPY:
            # Asleep again before a read could reach it; it reports what it shows, and the
            # engine sends it what it must change when it next wakes.
            return

        def reassert(done: Ticket[Any]) -> None:
            if done.cancelled() or done.exception() is not None or self._engine is None:
                return
            self._engine.reassert(device_id, self.values(device_id))

        # A read under way (a ping, a re-confirmation) is waited for, not repeated: its
        # answer arrives cluster by cluster, and the first cluster is what brought it back.
        if (under_way := self.scheduler.read_under_way(device_id, device.attributes)) is not None:
            under_way.add_done_callback(reassert)
            return
        if self.knows_state(device_id):
            self.engine.reassert(device_id, self.values(device_id))
            return
        ticket = self.scheduler.read(
            device_id, device.attributes, priority=Priority.REPAIR, timeout=REFRESH_READ_TIMEOUT
        )
        ticket.add_done_callback(reassert)

    # -- health (the supervisor's ladder acts through these) --------------------------

    @property
    def radio_status(self) -> RadioStatus:
        return self.supervisor.status

    @property
    def needs_restore(self) -> bool:
        """The radio does not hold this gateway's network (blank or another one)."""
        return self.supervisor.needs_restore

    @property
    def runs_its_network(self) -> bool:
        """The radio is up and holds this gateway's network (snapshots make sense)."""
        return self.radio_up and not self.needs_restore

    def _health_event(self, event: HealthEvent) -> None:
        if event.status in (RadioStatus.OK, RadioStatus.FAILED_OVER):
            # Back from an outage: whatever happened meanwhile, every device is proven
            # again, and one that drifted from its desired state gets it re-applied.
            running = self.current_status is RunStatus.RUNNING
            if running:
                # Re-confirms every device if it was paused (the link was lost); if not,
                # the link stayed up and nothing shown was lost.
                self.availability.resume()
            self._spawn(self._radio_started(pings_reconfirm=running))
        elif event.status in (RadioStatus.RECOVERING, RadioStatus.FAILED):
            # A ping now would fail for the radio's sake, not the device's.
            self.availability.pause()
        for listener in tuple(self._listeners):
            listener.health_changed(event)

    async def _failover(self) -> bool:
        if not self.radio.has_standby:
            return False
        section = self._latest_section
        if section is None and self.snapshots is not None:
            newest = await self.snapshots.async_newest()
            if newest is not None:
                snapshot = await self.snapshots.async_read(newest.path, self._snapshot_password)
                section = snapshot.payload.get("sections", {}).get(self.radio.section_name)
        if section is None:
            raise RadioError("no snapshot to bring the standby radio up from")
        await self.radio.failover(section)
        return True

    # -- pause / resume (free the radio for other software) ---------------------------

    async def pause(self) -> None:
        """Release the radio (its port is free once this returns); commands queue.

        The run status wins over a restore: a restore under way ends first (this waits for
        it, showing ``paused`` as the target meanwhile), then the radio is released, and
        no restore starts while the gateway is paused or a pause waits.
        """
        self.target_status = RunStatus.PAUSED
        self._run_status_changed()
        async with self._run_lock:
            if self.target_status is not RunStatus.PAUSED:
                return  # resumed while this waited
            if self.current_status is RunStatus.PAUSED:
                return
            self._pause_supervision()
            await self.radio.stop()
            self._forget_values()
            self.current_status = RunStatus.PAUSED
            self._run_status_changed()
            for device_id in self.devices:
                self._device_updated(device_id)

    async def resume(self) -> None:
        """Take the radio back and deliver what was queued meanwhile."""
        self.target_status = RunStatus.RUNNING
        self._run_status_changed()
        async with self._run_lock:
            if self.target_status is not RunStatus.RUNNING:
                return  # paused again while this waited
            if self.current_status is RunStatus.RUNNING:
                return
            try:
                await self.radio.start()
            except RadioError:
                raise
            except Exception as exc:
                raise RadioError(f"the radio did not start: {describe_failure(exc)}") from exc
            self.current_status = RunStatus.RUNNING
            self._run_status_changed()
            self._resume_supervision()
            await self._radio_started(pings_reconfirm=True)

    def _run_status_changed(self) -> None:
        for listener in tuple(self._listeners):
            listener.run_status_changed()

    # -- snapshots ----------------------------------------------------------------------

    async def snapshot_payload(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything needed to rebuild this gateway, and a summary that is not secret."""
        section = await self.radio.export_section()
        sections: dict[str, Any] = {self.radio.section_name: section}
        for name, extra in self._sections.items():
            sections[name] = dict(await extra.export_section())
        payload = {
            "format": PAYLOAD_LAYOUT,
            "network_id": self.radio.network_id(),
            "devices": [_description_dict(d) for d in self.devices.values()],
            "groups": [
                {"group_id": g.group_id, "name": g.name, "members": list(g.members)}
                for g in self.groups.values()
            ],
            "scenes": self.scenes.as_list(),
            "changes": self.engine.snapshot(),
            "sections": sections,
        }
        summary = {
            "name": self.name,
            "radio_kind": self.radio.section_name,
            "network_id": self.radio.network_id(),
            "device_count": len(self.devices),
            "group_count": len(self.groups),
            "scene_count": len(self.scenes),
        }
        self._latest_section = section
        return payload, summary

    async def take_snapshot(self, *, password: str | None = None) -> SnapshotInfo:
        """Write a snapshot now, encrypted with ``password`` (default: the stored snapshot
        password, if any). One at a time, and after a restore, pause or resume under way;
        RadioError when the radio is not running then, OSError when the disk refuses."""
        if self.snapshots is None:
            raise RuntimeError("this gateway keeps no snapshots")
        async with self._run_lock:
            if not self.radio_up:
                raise RadioError("the radio is not running")
            return await self._write_snapshot(self.snapshots, password)

    async def _take_automatic_snapshot(self) -> None:
        """A snapshot nobody waits for, once the others are done with the radio: skipped
        when the radio holds no network of ours; RadioError (logged quietly by
        ``_task_done``) when the radio is down by then."""
        async with self._run_lock:
            if self.snapshots is None or self._stopping or self.needs_restore:
                return
            if not self.radio_up:
                raise RadioError("the radio is not running")
            await self._write_snapshot(self.snapshots, None)

    async def _write_snapshot(self, store: SnapshotStore, password: str | None) -> SnapshotInfo:
        # (The caller holds the run lock.)
        if self._snapshot_timer is not None:  # this snapshot covers the pending one
            self._snapshot_timer.cancel()
            self._snapshot_timer = None
        payload, summary = await self.snapshot_payload()
        info = await store.async_write(
            payload, summary, password=password or self._snapshot_password
        )
        _LOGGER.debug("%s: snapshot %s written", self.name, info.path.name)
        for listener in tuple(self._listeners):
            listener.snapshot_taken(info)
        return info

    def _snapshot_soon(self) -> None:
        """A meaningful change happened: snapshot once things have been quiet a while."""
        if self.snapshots is None or self._engine is None or self._stopping:
            return
        if self._snapshot_timer is not None:
            self._snapshot_timer.cancel()
        self._snapshot_timer = asyncio.get_running_loop().call_later(
            SNAPSHOT_DEBOUNCE, self._automatic_snapshot
        )

    def _automatic_snapshot(self) -> None:
        self._snapshot_timer = None
        if self.runs_its_network:
            self._spawn(self._take_automatic_snapshot())

    def _schedule_periodic_snapshot(self) -> None:
        if not self._snapshot_interval or self._stopping:
            return

        def fire() -> None:
            self._automatic_snapshot()
            self._schedule_periodic_snapshot()

        self._periodic_snapshot_timer = asyncio.get_running_loop().call_later(
            self._snapshot_interval, fire
        )

    # -- restore ------------------------------------------------------------------------

    async def restore(
        self,
        payload: Mapping[str, Any],
        *,
        force: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> RestoreReport:
        """Two-phase restore of a snapshot's payload onto this gateway's radio.

        The payload is checked whole before anything changes (SnapshotContentInvalid,
        SnapshotMismatch). One restore at a time (RestoreInProgress for another); none
        while the gateway is paused or a pause waits (GatewayPausedError): the run status
        wins. Pause, resume and snapshots asked for meanwhile wait until it ends. It runs
        to its end even if the caller stops waiting; stopping the gateway ends it.
        """
        if self._restore_task is not None:
            raise RestoreInProgress(f"a restore of {self.name} is already running")
        if self._stopping:
            raise RadioError(f"{self.name} is stopping")
        if self.target_status is RunStatus.PAUSED:
            raise GatewayPausedError(f"{self.name} is paused: resume it before restoring")
        run = RestoreRun(self, payload, force=force, on_progress=on_progress)
        task = asyncio.get_running_loop().create_task(self._restore(run, payload))
        self._restore_task = task
        task.add_done_callback(self._restore_ended)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if task.cancelled() and not (caller is not None and caller.cancelling()):
                raise RadioError(f"{self.name} stopped during the restore") from None
            raise

    @property
    def restore_running(self) -> bool:
        """Whether a restore runs now (another is refused)."""
        return self._restore_task is not None

    async def _restore(self, run: RestoreRun, payload: Mapping[str, Any]) -> RestoreReport:
        # The whole document, before anything changes (in a worker thread: some 40 ms for
        # 500 devices on a desktop, more on a small board).
        await asyncio.get_running_loop().run_in_executor(None, run.check)
        async with self._run_lock:
            if RunStatus.PAUSED in (self.target_status, self.current_status):
                # A pause came first (or a resume failed): the radio stays released.
                raise GatewayPausedError(f"{self.name} is paused: resume it before restoring")
            report = await run.run()
            for name, extra in self._sections.items():
                if (data := payload.get("sections", {}).get(name)) is not None:
                    await extra.import_section(data)
        if self.snapshots is not None:
            self._spawn(self._take_automatic_snapshot())
        return report

    def _restore_ended(self, task: asyncio.Task[RestoreReport]) -> None:
        self._restore_task = None
        if not task.cancelled():
            task.exception()  # (the caller gets it; one that stopped waiting does not)

    async def restore_network(self, section: Mapping[str, Any], *, force: bool) -> None:
        """Phase 1: stop the radio, write the network identity, start it again. If the
        radio refuses (another network, no force), it is started as it was."""
        self._pause_supervision()
        await self.radio.stop()
        try:
            await self.radio.restore_network(section, force=force)
        except BaseException:
            if not self.needs_restore and not self._stopping:
                await self.radio.start()
                self._resume_supervision()
            raise
        await self.radio.start()
        self.supervisor.reset()
        self._resume_supervision()
        if not self._supervising:
            self._start_supervision()

    def _pause_supervision(self) -> None:
        """No health checks and no pings while the radio is deliberately closed."""
        self.supervisor.pause()
        self.availability.pause()

    def _resume_supervision(self) -> None:
        self.supervisor.resume()
        self.availability.resume()

    async def merge_scenes(self, scenes: list[GatewayScene]) -> int:
        """Scenes of a snapshot this gateway does not have; returns how many were added."""
        added = 0
        for scene in scenes:
            if self.scenes.get(scene.group_id, scene.scene_id) is None:
                self.scenes.put(scene)
                added += 1
        if added:
            await self._save_scenes()
        return added

    def requeue_changes(self, saved: Mapping[str, Any] | None) -> int:
        """A snapshot's desired states and pending changes, when this gateway has none of
        its own (a new machine); otherwise its own, newer ones stand."""
        if not saved or self.engine.counts.pending_changes or self.engine.has_desired_states():
            return 0
        self.engine.restore(saved)
        return len(saved.get("changes", ()))

    async def configure_device(
        self,
        device_id: DeviceId,
        config: DeviceConfiguration,
        priority: Priority,
        *,
        retry_delivery: bool = True,
        limit: str | None = None,
    ) -> None:
        """Make the device hold its groups, scenes, bindings and reporting (paced; in the
        scheduler's ``limit`` class if given)."""
        scenes = [(g, s, dict(v)) for g, s, v in config.scenes]
        await self.scheduler.call(
            lambda: self.radio.configure_device(device_id, config.groups, scenes),
            device_id=device_id,
            priority=priority,
            retry_delivery=retry_delivery,
            frames=self.radio.configuration_frames(device_id, config.groups, len(scenes)),
            limit=limit,
        )

    def configure_when_awake(self, device_id: DeviceId, config: DeviceConfiguration) -> None:
        self._awaiting_wake[device_id] = config

    async def _configure_awake(self, device_id: DeviceId, config: DeviceConfiguration) -> None:
        # Urgent (it is awake only briefly) but tried once per wake, by a few at a time: a
        # sleeper that dozed off again holds its frame slot until the parent drops the
        # frame, and the awake devices must not wait behind a crowd of those.
        try:
            await self.configure_device(
                device_id, config, Priority.USER, retry_delivery=False, limit=SLEEPER
            )
        except ClassLimitReached:
            self._awaiting_wake.setdefault(device_id, config)  # the next wake, then
        except RadioError as exc:
            _LOGGER.debug("Configuring %s while awake failed: %s", device_id, exc)
            self._awaiting_wake.setdefault(device_id, config)

    def description(self, device_id: DeviceId) -> DeviceDescription | None:
        """The device as last inventoried (the inventory is replaced as a whole, so the
        engine looks it up here, never in a dict it kept)."""
        return self.devices.get(device_id)


class _RecoveryActions:
    """The supervisor's ladder, acting on the gateway's radio."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def probe(self) -> None:
        await self._gateway.radio.probe()

    async def reconnect(self) -> None:
        await self._gateway.radio.reconnect()

    async def restart(self) -> None:
        await self._gateway.radio.restart()

    async def failover(self) -> bool:
        return await self._gateway._failover()

    def has_standby(self) -> bool:
        return self._gateway.radio.has_standby


def _description_dict(device: DeviceDescription) -> dict[str, Any]:
    data = dataclasses.asdict(device)
    data["attributes"] = sorted(device.attributes)
    return data


def _log_failed_refresh(ticket: Ticket[dict[Attr, Any]]) -> None:
    if not ticket.cancelled() and (error := ticket.exception()) is not None:
        _LOGGER.debug("Background state read failed: %s", error)
