"""The gateway: one radio, what it knows about its devices, and who wants to hear of it.

Home-Assistant-free, so the benchmark drives exactly what Home Assistant drives. The Home
Assistant glue (``coordinator.py``) builds one per config entry and only adapts it. The
gateway wires its pieces (each given what it needs, never the gateway) and runs their
lifecycle: ``radio_events.py`` (what the radio hears, routed), ``values.py`` (what
devices showed), ``inventory.py`` (devices and groups), ``engine_host.py`` (the change
engine and changes.json), ``reconfirm.py`` (state reads), ``configuration.py`` (what
devices must hold), ``scenes.py`` (scenes), ``snapshot_schedule.py`` (snapshots),
``run_control.py`` (start, pause and resume), ``health.py`` (the radio's supervision),
``availability.py`` (each device's), ``restore.py`` (restores) and ``listeners.py`` (who
hears the gateway).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Any

from .availability import Availability, AvailabilityPolicy, AvailabilityTracker
from .background import Background
from .change_results import ChangeHandle, GroupHandle, SyncState
from .changes import ChangeEngine
from .configuration import DeviceConfigurer
from .engine_host import EngineHost
from .health import (
    HealthEvent,
    HealthPolicy,
    RadioHealth,
    RadioRecovery,
    RadioSupervisor,
    Supervision,
)
from .inventory import Inventory
from .listeners import GatewayListener, Listeners
from .model import AttributeValues, DeviceDescription, DeviceId, GroupDescription
from .policy import SCHEDULER_LIMITS, ChangePolicy
from .radio import (
    DeviceEvent,
    LinkState,
    RadioLink,
    RadioListener,
    SnapshotSection,
)
from .radio_events import DeviceUpdates, RadioEvents
from .reconfirm import Reconfirmation
from .restore import ProgressCallback, Restorer, RestoreReport
from .run_control import RunControl, RunStatus
from .scenes import GatewayScene, SceneBook, SceneKeeper
from .scheduler import SendScheduler
from .snapshot import SnapshotInfo, SnapshotStore
from .snapshot_schedule import PAYLOAD_LAYOUT, SNAPSHOT_DEBOUNCE, SnapshotSchedule
from .storage import AtomicJsonFile, GatewayFileError
from .values import DeviceValues

__all__ = [
    "PAYLOAD_LAYOUT",
    "SNAPSHOT_DEBOUNCE",
    "Gateway",
    "GatewayFileError",
    "GatewayListener",
    "RunStatus",
]

type Unsubscribe = Callable[[], None]


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
        self._listeners = Listeners()
        rng = rng or random.Random()  # (one stream: back-offs stay reproducible)
        self.scheduler = SendScheduler(self.radio, rng=rng, limits=SCHEDULER_LIMITS)
        self._background = Background(name, lambda: self.radio_up)
        self._stopping = False
        self._updates = DeviceUpdates(self._listeners)

        self._values = DeviceValues()
        # (The router of the radio's events, built last, hears the inventory and the
        # availability tracker: late-bound.)
        self.inventory = Inventory(
            self.radio,
            lambda new, changed: self.radio_events.inventory_taken(new, changed),  # noqa: PLW0108
        )
        self._engine_host = EngineHost(
            self.scheduler,
            self.inventory,
            self._values,
            listeners=self._listeners,
            device_changed=self._updates.moved,
            changes_file=changes_file,
            owner=name,
            policy=policy,
            rng=rng,
        )
        self.reconfirmation = Reconfirmation(
            self.scheduler,
            self._engine_host.current,
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
            engine=self._engine_host.current,
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
            on_change=lambda d, a: self.radio_events.availability_changed(d, a),  # noqa: PLW0108
            on_returned=self.reconfirmation.returned,
        )
        self.supervision = Supervision(
            self.supervisor,
            self.availability,
            running=lambda: self.current_status is RunStatus.RUNNING,
            on_started=self.snapshot_schedule.start_periodic,
            on_back=self.reconfirmation.radio_back,
        )
        self.radio_events = RadioEvents(
            self._values,
            self.availability,
            self.reconfirmation,
            inventory=self.inventory,
            configurer=self.configurer,
            supervision=self.supervision,
            engine=self._engine_host.current,
            listeners=self._listeners,
            updates=self._updates,
            supervised=lambda: self.target_status is RunStatus.RUNNING,
            snapshot_soon=self.snapshot_schedule.soon,
        )
        self.run_control = RunControl(
            self.radio,
            self.supervision,
            run_lock,
            name=name,
            none_taken=self.snapshot_schedule.none_taken,
            on_status_changed=self._listeners.run_status_changed,
            on_released=self.radio_events.radio_released,
            on_taken_back=lambda: self.reconfirmation.radio_started(pings_reconfirm=True),
        )
        self.restorer = Restorer(
            self,
            self.run_control,
            name=name,
            stopping=lambda: self._stopping,
            on_restored=self.snapshot_schedule.take_automatic_soon,
        )

    @property
    def engine(self) -> ChangeEngine:
        return self._engine_host.engine

    @property
    def scenes(self) -> SceneBook:
        return self.scene_keeper.book

    @property
    def snapshots(self) -> SnapshotStore | None:
        return self.snapshot_schedule.store

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, form_new_network: bool = False) -> None:
        """Resume the changes pending at the last stop, then start the radio (see
        ``RunControl.start``). A radio that does not hold this gateway's network does
        not raise: the gateway comes up with ``needs_restore`` set, queues commands, and
        waits for a restore."""
        await self._engine_host.start()
        await self.scene_keeper.load(self.name, self._listeners.file_set_aside)
        if not await self.run_control.start(form_new_network=form_new_network):
            return
        await self.reconfirmation.radio_started()
        self.supervision.start()
        self.snapshot_schedule.take_automatic_soon()

    async def stop(self) -> None:
        """Stop following changes (they are saved and resume at the next start). The
        radio and its database are released whatever fails before (a full disk)."""
        self._stopping = True
        self._background.close()
        self._engine_host.stop_saving()
        self.inventory.stop()
        self.snapshot_schedule.stop()
        try:
            await self.restorer.stop()
            await self.supervision.stop()
            await self._background.cancel()
            await self._engine_host.stop()
            await self.scheduler.stop()
            await self._engine_host.save_last()
        finally:
            await self.radio.stop()

    async def flush(self) -> None:
        """Write the pending changes now (before a Home Assistant backup; a snapshot
        taken then carries a fresh network backup)."""
        await self._engine_host.save()

    # -- what the gateway tells -------------------------------------------------------

    def add_listener(self, listener: GatewayListener) -> Unsubscribe:
        self._listeners.registered.append(listener)
        return lambda: self._listeners.registered.remove(listener)

    # -- what the gateway knows -------------------------------------------------------

    @property
    def devices(self) -> dict[DeviceId, DeviceDescription]:
        return self.inventory.devices

    @property
    def groups(self) -> dict[int, GroupDescription]:
        return self.inventory.groups

    def values(self, device_id: DeviceId) -> dict[str, Any]:
        """The device's state as last seen from the device itself (never the commanded one)."""
        return self._values.get(device_id)

    def heard_within(self, device_id: DeviceId, seconds: float) -> bool:
        """Whether any frame came from the device in the last ``seconds``."""
        return self._values.heard_within(device_id, seconds)

    def sync_state(self, device_id: DeviceId) -> SyncState | None:
        """Whether the device shows what it was last told: pending or failed while a
        change is open or failed; otherwise verified, or unknown while the device has
        shown nothing since the start or the last radio outage. None for a device never
        told anything (a sensor, a light nobody switched yet): there is nothing to be in
        sync with."""
        return self._engine_host.sync_state(device_id)

    def device_availability(self, device_id: DeviceId) -> Availability:
        """Online, offline, or unknown until a frame or a ping answer proves it."""
        if not self.radio_up:
            return Availability.UNKNOWN
        return self.availability.availability(device_id)

    @property
    def radio_up(self) -> bool:
        return self.radio.state is LinkState.UP

    @property
    def radio_status(self) -> RadioHealth:
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

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        self.radio_events.attributes_reported(device_id, values)

    def device_seen(self, device_id: DeviceId) -> None:
        self.radio_events.device_seen(device_id)

    def device_announced(self, device_id: DeviceId) -> None:
        self.radio_events.device_announced(device_id)

    def radio_state_changed(self, state: LinkState) -> None:
        self.radio_events.radio_state_changed(state)

    def device_event(self, event: DeviceEvent) -> None:
        self._listeners.device_event(event)

    def devices_changed(self) -> None:
        self.inventory.take_soon()

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

    # -- snapshots ----------------------------------------------------------------------

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

    @property
    def keeps_radio_closed(self) -> bool:
        """A radio that holds no network of ours, or a stopping gateway's, stays closed."""
        return self.needs_restore or self._stopping
