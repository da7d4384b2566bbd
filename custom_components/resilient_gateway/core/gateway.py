"""The gateway: one radio, what it knows about its devices, and who wants to hear of it.

Home-Assistant-free, so the benchmark drives exactly what Home Assistant drives. The Home
Assistant glue (``coordinator.py``) builds one per config entry and only adapts it. The
gateway wires its pieces (each given what it needs, never the gateway) and runs their
lifecycle: ``values.py`` (what devices showed), ``inventory.py`` (devices and groups),
``reconfirm.py`` (state reads), ``configuration.py`` (what devices must hold),
``scenes.py`` (scenes), ``snapshot_schedule.py`` (snapshots), ``run_control.py`` (pause
and resume), ``health.py`` (the radio's supervision) and ``restore.py`` (restores).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .availability import Availability, AvailabilityPolicy, AvailabilityTracker
from .background import Background
from .change_results import ChangeCounts, ChangeHandle, ChangeResult, GroupHandle, SyncState
from .changes import ChangeEngine
from .changes.pending import PendingStore
from .configuration import DeviceConfigurer
from .health import (
    HealthEvent,
    HealthPolicy,
    RadioRecovery,
    RadioStatus,
    RadioSupervisor,
    Supervision,
)
from .inventory import Inventory
from .model import AttributeValues, DeviceDescription, DeviceId, GroupDescription
from .policy import SCHEDULER_LIMITS, ChangePolicy
from .radio import (
    DeviceEvent,
    RadioIdentityError,
    RadioLink,
    RadioListener,
    RadioState,
    SnapshotSection,
)
from .reconfirm import Reconfirmation
from .restore import ProgressCallback, Restorer, RestoreReport
from .run_control import RunControl, RunStatus
from .scenes import GatewayScene, SceneBook, SceneKeeper
from .scheduler import SendScheduler
from .schemas import recover_changes, recover_scenes
from .snapshot import SnapshotInfo, SnapshotStore
from .snapshot_schedule import PAYLOAD_LAYOUT, SNAPSHOT_DEBOUNCE, SnapshotSchedule
from .storage import AtomicJsonFile, GatewayFileError, SetAside, load_start_file
from .values import DeviceValues

__all__ = [
    "PAYLOAD_LAYOUT",
    "SNAPSHOT_DEBOUNCE",
    "Gateway",
    "GatewayFileError",
    "GatewayListener",
    "RunStatus",
]

_LOGGER = logging.getLogger(__name__)

type Unsubscribe = Callable[[], None]


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

    def device_configured(self, device_id: DeviceId) -> None:
        """The device holds its groups, scene entries, bindings and reporting (written
        by a restore, or when a sleeper woke)."""

    def file_set_aside(self, event: SetAside) -> None:
        """A damaged start-up file was renamed out of the way (kept, never overwritten);
        the gateway started with what could be recovered from it."""

    def device_event(self, event: DeviceEvent) -> None:
        """A momentary event from a device (a button press), told once as it happened."""


class _Listeners(GatewayListener):
    """Tells every registered listener."""

    def __init__(self) -> None:
        self.registered: list[GatewayListener] = []

    def _all(self) -> tuple[GatewayListener, ...]:
        return tuple(self.registered)  # (a listener may leave while being told)

    def device_updated(self, device_id: DeviceId) -> None:
        for listener in self._all():
            listener.device_updated(device_id)

    def inventory_changed(self) -> None:
        for listener in self._all():
            listener.inventory_changed()

    def radio_state_changed(self, state: RadioState) -> None:
        for listener in self._all():
            listener.radio_state_changed(state)

    def health_changed(self, event: HealthEvent) -> None:
        for listener in self._all():
            listener.health_changed(event)

    def run_status_changed(self) -> None:
        for listener in self._all():
            listener.run_status_changed()

    def change_finished(self, result: ChangeResult) -> None:
        for listener in self._all():
            listener.change_finished(result)

    def counts_changed(self, counts: ChangeCounts) -> None:
        for listener in self._all():
            listener.counts_changed(counts)

    def snapshot_taken(self, info: SnapshotInfo) -> None:
        for listener in self._all():
            listener.snapshot_taken(info)

    def device_configured(self, device_id: DeviceId) -> None:
        for listener in self._all():
            listener.device_configured(device_id)

    def file_set_aside(self, event: SetAside) -> None:
        for listener in self._all():
            listener.file_set_aside(event)

    def device_event(self, event: DeviceEvent) -> None:
        for listener in self._all():
            listener.device_event(event)


@dataclass(frozen=True, slots=True)
class _EngineEvents:
    """What the gateway does when the engine tells (its EngineListener)."""

    device_changed: Callable[[DeviceId], None]
    change_finished: Callable[[ChangeResult], None]
    counts_changed: Callable[[ChangeCounts], None]


class _DeviceUpdates:
    """``device_updated`` to the listeners, once per radio event for the device it is
    about: whatever a report moves (its values, the change it verified, the sync state,
    the availability), the device's entities write their state once."""

    def __init__(self, listeners: GatewayListener) -> None:
        self._listeners = listeners
        self._handling: DeviceId | None = None
        self._moved = False

    def moved(self, device_id: DeviceId) -> None:
        if device_id == self._handling:
            self._moved = True  # told once, when the event is handled
        else:
            self._listeners.device_updated(device_id)

    @contextlib.contextmanager
    def once(self, device_id: DeviceId) -> Iterator[None]:
        """While the radio's event for ``device_id`` is handled."""
        self._handling, self._moved = device_id, False
        try:
            yield
        finally:
            self._handling = None
        if self._moved:
            self._listeners.device_updated(device_id)


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
        """Build it inside the running event loop; ``start`` takes the radio."""
        self.radio: RadioLink = radio_factory(self)
        self.name = name
        self._listeners = _Listeners()
        self._changes_file = changes_file
        self._pending = PendingStore(changes_file, self._export_pending)
        # changes.json is written only once it was read: a start that failed before
        # must not replace the pending changes it holds with nothing.
        self._changes_loaded = False
        self._policy = policy
        self._rng = rng or random.Random()  # (one stream: back-offs stay reproducible)
        self.scheduler = SendScheduler(self.radio, rng=self._rng, limits=SCHEDULER_LIMITS)
        self._engine: ChangeEngine | None = None
        self._background = Background(name, lambda: self.radio_up)
        self._stopping = False
        self._updates = _DeviceUpdates(self._listeners)

        self._values = DeviceValues()
        self.inventory = Inventory(self.radio, self._inventory_taken)
        self.reconfirmation = Reconfirmation(
            self.scheduler,
            lambda: self._engine,
            self.inventory,
            self._values,
            self._background.spawn,
            radio=self.radio,
            active=lambda: not self._stopping and self.radio_up,
        )
        self.configurer = DeviceConfigurer(
            self.radio,
            self.scheduler,
            self._background.spawn,
            on_configured=self._listeners.device_configured,
        )
        self.scene_keeper = SceneKeeper(
            scenes_file,
            self.scheduler,
            lambda: self.engine,
            self.inventory,
            self._values,
            on_stored=self._scenes_stored,
        )
        # Whoever opens, closes or exports the radio holds this: pause, resume, restores
        # and snapshots take turns (a snapshot never meets a radio a restore has closed).
        run_lock = asyncio.Lock()
        self.snapshot_schedule = SnapshotSchedule(
            snapshots,
            self.radio,
            self.inventory,
            self.scene_keeper.book,
            engine=lambda: self._engine,
            run_lock=run_lock,
            spawn=self._background.spawn,
            name=name,
            interval=snapshot_interval,
            password=snapshot_password,
            needs_restore=lambda: self.needs_restore,
            on_taken=self._listeners.snapshot_taken,
        )
        self.supervisor = RadioSupervisor(
            RadioRecovery(self.radio, self.snapshot_schedule.latest_section),
            health_policy or HealthPolicy(),
            on_event=self._health_event,
        )
        self.availability = AvailabilityTracker(
            self.reconfirmation.ping,
            availability_policy or AvailabilityPolicy(),
            on_change=self._availability_changed,
            on_returned=self.reconfirmation.returned,
        )
        self.supervision = Supervision(
            self.supervisor,
            self.availability,
            running=lambda: self.current_status is RunStatus.RUNNING,
            on_started=self.snapshot_schedule.start_periodic,
            on_back=lambda reconfirm: self._background.spawn(
                self._radio_started(pings_reconfirm=reconfirm)
            ),
        )
        self.run_control = RunControl(
            self.radio,
            self.supervision,
            run_lock,
            on_status_changed=self._listeners.run_status_changed,
            on_released=self._radio_released,
            on_taken_back=lambda: self._radio_started(pings_reconfirm=True),
        )
        self.restorer = Restorer(
            self,
            self.run_control,
            name=name,
            stopping=lambda: self._stopping,
            on_restored=self._restored,
        )

    @property
    def engine(self) -> ChangeEngine:
        if self._engine is None:
            raise RuntimeError("the gateway is not started")
        return self._engine

    # -- lifecycle ------------------------------------------------------------------------

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
        engine = ChangeEngine(
            self.scheduler,
            listener=_EngineEvents(
                self._updates.moved, self._listeners.change_finished, self._counts_changed
            ),
            describe=self.inventory.description,
            policy=self._policy,
            rng=self._rng,
        )
        self._engine = engine
        name, told = self.name, self._listeners.file_set_aside
        if (changes := self._changes_file) is not None:
            if saved := await load_start_file(changes, recover_changes, name, told):
                engine.restore(saved)
            self._changes_loaded = True
        scenes = self.scene_keeper.file
        if scenes and (saved_scenes := await load_start_file(scenes, recover_scenes, name, told)):
            self.scenes.load(saved_scenes)
        if form_new_network and self.snapshots is not None:
            form_new_network = await self.snapshots.async_newest() is None
        try:
            await self.radio.start(form_new_network=form_new_network)
        except RadioIdentityError as exc:
            _LOGGER.warning("%s: %s; restore a snapshot onto it", self.name, exc)
            self.supervisor.mark_needs_restore(str(exc))
            return
        await self._radio_started()
        self.supervision.start()
        if self.snapshots is not None:
            self._background.spawn(self.snapshot_schedule.take_automatic())

    async def _radio_started(self, *, pings_reconfirm: bool = False) -> None:
        """The radio runs (again): take its inventory in and re-confirm every device (by
        a state read, unless the availability tracker's pings read it anyway)."""
        self.inventory.take()
        self.reconfirmation.every_device(pings_reconfirm=pings_reconfirm)
        self.scheduler.retry_now()

    async def stop(self) -> None:
        """Stop following changes (they are saved and resume at the next start). The
        radio and its database are released whatever fails before (a full disk)."""
        self._stopping = True
        self._background.close()
        self._pending.stop()
        self.inventory.stop()
        self.snapshot_schedule.stop()
        try:
            await self.restorer.stop()
            await self.supervision.stop()
            await self._background.cancel()
            if self._engine is not None:
                await self._engine.stop()
            await self.scheduler.stop()
            if self._engine is not None:
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

    def _export_pending(self) -> dict[str, Any] | None:
        # changes.json is written only once it was read (see _changes_loaded).
        if self._engine is None or not self._changes_loaded:
            return None
        return self._engine.snapshot()

    async def flush(self) -> None:
        """Write the pending changes now (before a Home Assistant backup; a snapshot
        taken then carries a fresh network backup)."""
        await self._pending.save()

    # -- what the gateway tells -------------------------------------------------------

    def add_listener(self, listener: GatewayListener) -> Unsubscribe:
        self._listeners.registered.append(listener)
        return lambda: self._listeners.registered.remove(listener)

    def _every_device_updated(self) -> None:
        for device_id in self.devices:
            self._listeners.device_updated(device_id)

    def _counts_changed(self, counts: ChangeCounts) -> None:
        self._pending.save_soon()
        self._listeners.counts_changed(counts)

    # -- what the gateway knows -------------------------------------------------------

    @property
    def devices(self) -> dict[DeviceId, DeviceDescription]:
        return self.inventory.devices

    @property
    def groups(self) -> dict[int, GroupDescription]:
        return self.inventory.groups

    @property
    def scenes(self) -> SceneBook:
        return self.scene_keeper.book

    def values(self, device_id: DeviceId) -> dict[str, Any]:
        """The device's state as last seen from the device itself (never the commanded one)."""
        return self._values.get(device_id)

    def heard_within(self, device_id: DeviceId, seconds: float) -> bool:
        """Whether any frame came from the device in the last ``seconds``."""
        return self._values.heard_within(device_id, seconds)

    def sync_state(self, device_id: DeviceId) -> SyncState:
        """Whether the device shows what it was last told: pending or failed while a
        change is open or failed; otherwise verified, or unknown while the device has
        shown nothing since the start or the last radio outage."""
        state = self._engine.sync_state(device_id) if self._engine else None
        if state in (SyncState.PENDING, SyncState.FAILED):
            return state
        if not self._values.get(device_id):
            return SyncState.UNKNOWN
        return SyncState.VERIFIED

    def device_availability(self, device_id: DeviceId) -> Availability:
        """Online, offline, or unknown until a frame or a ping answer proves it."""
        if not self.radio_up:
            return Availability.UNKNOWN
        return self.availability.availability(device_id)

    @property
    def radio_up(self) -> bool:
        return self.radio.state is RadioState.UP

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

    # -- commands --------------------------------------------------------------------

    def set_state(
        self,
        device_id: DeviceId,
        values: AttributeValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> ChangeHandle:
        """Make ``values`` the device's desired state; the handle tells how it ended.
        UnsupportedValue, and nothing changes, for a value the radio cannot send."""
        self.radio.check_values(device_id, values)
        return self.engine.set_state(device_id, values, transition=transition, deadline=deadline)

    def set_group_state(
        self,
        group_id: int,
        values: AttributeValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> GroupHandle:
        """One groupcast, then every member verified and repaired by unicast.
        UnsupportedValue, and nothing changes, for a value the radio cannot send."""
        members = self.inventory.members(group_id)
        self.radio.check_values(None, values)
        return self.engine.set_group_state(
            group_id, members, values, transition=transition, deadline=deadline
        )

    async def store_scene(self, group_id: int, name: str) -> tuple[GatewayScene, list[DeviceId]]:
        """Make the members' current (device-reported) states a scene of the group
        (see ``SceneKeeper.store``)."""
        return await self.scene_keeper.store(group_id, name)

    def recall_scene(self, group_id: int, scene_id: int) -> GroupHandle:
        """Recall a scene, verified member by member (see ``SceneKeeper.recall``)."""
        return self.scene_keeper.recall(group_id, scene_id)

    def _scenes_stored(self) -> None:
        self._listeners.inventory_changed()
        self.snapshot_schedule.soon()

    # -- what the radio tells us -----------------------------------------------------

    def _heard(self, device_id: DeviceId, *, announced: bool = False) -> None:
        self._values.heard(device_id)
        # (An announce is a return by itself: availability.heard would report it twice.)
        if announced:
            self.availability.announced(device_id)
        else:
            self.availability.heard(device_id)

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        with self._updates.once(device_id):
            self._heard(device_id)
            if not values:
                return
            self._values.update(device_id, values)
            self._updates.moved(device_id)
            if self._engine is not None:
                self._engine.attributes_reported(device_id, values)
        self.reconfirmation.introduce(device_id)

    def device_seen(self, device_id: DeviceId) -> None:
        with self._updates.once(device_id):
            self._heard(device_id)
            if self._engine is None:
                return
            self._engine.device_seen(device_id)
        self.configurer.device_awake(device_id)
        self.reconfirmation.introduce(device_id)

    def device_announced(self, device_id: DeviceId) -> None:
        _LOGGER.debug("Device %s announced itself", device_id)
        with self._updates.once(device_id):
            self._heard(device_id, announced=True)
            if self._engine is not None:
                self._engine.device_announced(device_id)

    def device_event(self, event: DeviceEvent) -> None:
        self._listeners.device_event(event)

    def devices_changed(self) -> None:
        self.inventory.take_soon()

    def _inventory_taken(self, new_devices: set[DeviceId], changed: bool) -> None:
        self.availability.track(self.devices.values())
        if changed:  # a join, a leave, a new group member: worth a snapshot
            self.snapshot_schedule.soon()
        self._listeners.inventory_changed()
        self.reconfirmation.joined(new_devices)

    def radio_state_changed(self, state: RadioState) -> None:
        if state is RadioState.DOWN:
            # Nothing the devices showed before the outage can be trusted any more.
            self._forget_values()
            if self.target_status is RunStatus.RUNNING:
                self.supervision.link_lost()
        self._listeners.radio_state_changed(state)
        self._every_device_updated()

    def _forget_values(self, device_id: DeviceId | None = None) -> None:
        """What one device (or every device) showed can no longer be trusted: it must
        show it again, and a sleeper is introduced (read when awake) again."""
        self._values.forget(device_id)
        self.reconfirmation.forget(device_id)

    def _availability_changed(self, device_id: DeviceId, availability: Availability) -> None:
        if availability is not Availability.ONLINE:
            self._forget_values(device_id)
        self._updates.moved(device_id)

    # -- health ------------------------------------------------------------------------

    def _health_event(self, event: HealthEvent) -> None:
        self.supervision.health_changed(event)
        self._listeners.health_changed(event)

    # -- pause / resume (free the radio for other software) ---------------------------

    @property
    def target_status(self) -> RunStatus:
        return self.run_control.target_status

    @property
    def current_status(self) -> RunStatus:
        return self.run_control.current_status

    async def pause(self) -> None:
        """Release the radio (see ``RunControl.pause``)."""
        await self.run_control.pause()

    async def resume(self) -> None:
        """Take the radio back and deliver what was queued meanwhile."""
        await self.run_control.resume()

    def _radio_released(self) -> None:
        self._forget_values()
        self._every_device_updated()

    # -- snapshots ----------------------------------------------------------------------

    @property
    def snapshots(self) -> SnapshotStore | None:
        return self.snapshot_schedule.store

    @property
    def sections(self) -> Mapping[str, SnapshotSection]:
        """The extra snapshot sections, by name."""
        return self.snapshot_schedule.sections

    def register_section(self, section: SnapshotSection) -> None:
        """Keep ``section``'s data in every snapshot (and give it back on restore)."""
        self.snapshot_schedule.register_section(section)

    async def take_snapshot(self, *, password: str | None = None) -> SnapshotInfo:
        """Write a snapshot now (see ``SnapshotSchedule.take``)."""
        return await self.snapshot_schedule.take(password=password)

    # -- restore ------------------------------------------------------------------------

    async def restore(
        self,
        payload: Mapping[str, Any],
        *,
        force: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> RestoreReport:
        """Two-phase restore of a snapshot's payload (see ``Restorer.restore``)."""
        return await self.restorer.restore(payload, force=force, on_progress=on_progress)

    @property
    def restore_running(self) -> bool:
        return self.restorer.running

    def _restored(self) -> None:
        if self.snapshots is not None:
            self._background.spawn(self.snapshot_schedule.take_automatic())

    @property
    def keeps_radio_closed(self) -> bool:
        """A radio that holds no network of ours, or a stopping gateway's, stays closed."""
        return self.needs_restore or self._stopping
