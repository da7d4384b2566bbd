"""Restoring a gateway from a snapshot, in two phases (after Tuya's gateway replacement).

Phase 1 writes the network identity to the radio (frame counters raised) and starts it.
Phase 2 re-adopts the snapshot's devices and groups without interviewing them, makes
every device hold its group memberships, scene entries, bindings and reporting again
(through the send scheduler, so the radio budget holds; sleepers when they wake), reads
each device's state, and re-queues the snapshot's pending changes when this gateway has
none of its own. The report says, per device, what was restored, what still waits for a
sleeper and what failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from .changes import ChangeEngine
from .configuration import NOTHING, DeviceConfiguration, DeviceConfigurer, configurations
from .health import Supervision
from .inventory import Inventory
from .model import DeviceId, SleepMode
from .radio import RadioError, RadioLink, SnapshotSection
from .reconfirm import Reconfirmation
from .run_control import RunControl, RunStatus
from .scenes import GatewayScene, SceneKeeper
from .scheduler import Priority
from .schemas import check_payload
from .snapshot import SnapshotCorrupt

_LOGGER = logging.getLogger(__name__)

CONFIGURE_ATTEMPTS: Final = 3
CONFIGURE_RETRY_DELAY: Final = 5.0


class RestorePhase(StrEnum):
    NETWORK = "network"  # phase 1: identity onto the radio
    DEVICES = "devices"  # phase 2: devices, groups, scenes, reporting
    DONE = "done"


class DeviceRestoreStatus(StrEnum):
    RESTORED = "restored"
    PENDING = "pending"  # a sleeper: configured when it next wakes
    FAILED = "failed"


class SnapshotMismatch(RadioError):
    """The snapshot is for another kind of radio (it has no section for this one)."""


class SnapshotContentInvalid(SnapshotCorrupt):
    """The snapshot's file is intact but what it holds cannot be restored (a list where
    devices belong, a network section zigpy cannot read): refused before phase 1."""

    translation_key = "snapshot_invalid"


class RestoreInProgress(RadioError):
    """A restore of this gateway is already running: one at a time."""


class GatewayPausedError(RadioError):
    """The gateway is paused (or a pause waits): its radio stays released until resumed."""


@dataclass(slots=True)
class RestoreProgress:
    phase: RestorePhase
    done: int
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {"phase": str(self.phase), "done": self.done, "total": self.total}


@dataclass(slots=True)
class RestoreReport:
    """What a restore did, per device."""

    network_id: str | None = None
    adopted: list[DeviceId] = field(default_factory=list)
    devices: dict[DeviceId, DeviceRestoreStatus] = field(default_factory=dict)
    errors: dict[DeviceId, str] = field(default_factory=dict)
    changes_requeued: int = 0
    scenes_restored: int = 0

    def ids(self, status: DeviceRestoreStatus) -> list[DeviceId]:
        return sorted(d for d, s in self.devices.items() if s is status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "network_id": self.network_id,
            "restored": self.ids(DeviceRestoreStatus.RESTORED),
            "pending": self.ids(DeviceRestoreStatus.PENDING),
            "failed": {d: self.errors.get(d, "") for d in self.ids(DeviceRestoreStatus.FAILED)},
            "adopted": sorted(self.adopted),
            "changes_requeued": self.changes_requeued,
            "scenes_restored": self.scenes_restored,
        }


type ProgressCallback = Callable[[RestoreProgress], None]


class RestoreTarget(Protocol):
    """What a restore acts on: the gateway's radio and the pieces that know its devices."""

    @property
    def radio(self) -> RadioLink: ...

    @property
    def inventory(self) -> Inventory: ...

    @property
    def scene_keeper(self) -> SceneKeeper: ...

    @property
    def configurer(self) -> DeviceConfigurer: ...

    @property
    def reconfirmation(self) -> Reconfirmation: ...

    @property
    def supervision(self) -> Supervision: ...

    @property
    def engine(self) -> ChangeEngine: ...

    @property
    def sections(self) -> Mapping[str, SnapshotSection]:
        """The extra snapshot sections, by name."""
        ...

    @property
    def keeps_radio_closed(self) -> bool:
        """A radio a failed restore closed stays closed (no network of ours, stopping)."""
        ...


class RestoreRun:
    """One restore of ``payload`` (a snapshot's payload) onto the gateway's radio."""

    def __init__(
        self,
        target: RestoreTarget,
        payload: Mapping[str, Any],
        *,
        force: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._target = target
        self._payload = payload
        self._force = force
        self._on_progress = on_progress or (lambda _: None)
        self.report = RestoreReport(network_id=payload.get("network_id"))

    def check(self) -> None:
        """Refuse a payload that cannot be restored as it is, before anything changes:
        SnapshotContentInvalid for a wrong shape anywhere (the whole document and the
        radio's own section), SnapshotMismatch when it has no section for this radio.
        It only reads the payload, so it may run in a worker thread."""
        if (problem := check_payload(self._payload)) is not None:
            raise SnapshotContentInvalid(
                f"the snapshot's content cannot be restored: {problem}", reason=problem
            )
        section = self._section()
        try:
            self._target.radio.check_section(section)
        except ValueError as exc:
            raise SnapshotContentInvalid(
                f"the snapshot's content cannot be restored: {exc}", reason=str(exc)
            ) from None

    def _section(self) -> Mapping[str, Any]:
        name = self._target.radio.section_name
        section = self._payload.get("sections", {}).get(name)
        if not isinstance(section, Mapping):
            raise SnapshotMismatch(f"the snapshot holds no {name} network")
        return section

    async def run(self) -> RestoreReport:
        """Phase 1 and phase 2; call ``check`` first."""
        section = self._section()
        target = self._target
        self._on_progress(RestoreProgress(RestorePhase.NETWORK, 0, 1))
        await self._write_network(section)
        self._on_progress(RestoreProgress(RestorePhase.NETWORK, 1, 1))
        self.report.adopted = await target.radio.adopt(section)
        target.inventory.take()
        self.report.scenes_restored = await target.scene_keeper.merge(
            [GatewayScene.from_dict(item) for item in self._payload.get("scenes", ())]
        )
        self.report.changes_requeued = self._requeue_changes()
        await self._configure_devices()
        for name, extra in target.sections.items():
            if (data := self._payload.get("sections", {}).get(name)) is not None:
                await extra.import_section(data)
        self._on_progress(RestoreProgress(RestorePhase.DONE, 1, 1))
        return self.report

    async def _write_network(self, section: Mapping[str, Any]) -> None:
        """Phase 1: stop the radio, write the network identity, start it again. If the
        radio refuses (another network, no force), it is started as it was."""
        target, radio = self._target, self._target.radio
        target.supervision.pause()
        await radio.stop()
        try:
            await radio.write_network_identity(section, force=self._force)
        except BaseException:
            if not target.keeps_radio_closed:
                await radio.start()
                target.supervision.resume()
            raise
        await radio.start()
        target.supervision.resume(network_written=True)

    def _requeue_changes(self) -> int:
        """The snapshot's desired states and pending changes, when the gateway has none
        of its own (a new machine); otherwise its own, newer ones stand."""
        saved = self._payload.get("changes")
        engine = self._target.engine
        if not saved or engine.counts.pending_changes or engine.has_desired_states():
            return 0
        engine.load_pending(saved)
        return len(saved.get("changes", ()))

    async def _configure_devices(self) -> None:
        target = self._target
        groups = {
            int(item["group_id"]): tuple(item.get("members", ()))
            for item in self._payload.get("groups", ())
        }
        for group in target.inventory.groups.values():
            groups.setdefault(group.group_id, group.members)
        wanted = configurations(groups, list(target.scene_keeper.book))
        devices = sorted(target.inventory.devices)
        total = len(devices)
        done = 0
        self._on_progress(RestoreProgress(RestorePhase.DEVICES, 0, total))

        async def configure(device_id: DeviceId) -> None:
            nonlocal done
            config = wanted.get(device_id, NOTHING)
            device = target.inventory.devices[device_id]
            if device.sleep_mode is SleepMode.SLEEPY:
                # It hears nothing until it wakes: configured then, in the background.
                target.configurer.when_awake(device_id, config)
                self.report.devices[device_id] = DeviceRestoreStatus.PENDING
            else:
                error = await self._configure(device_id, config)
                if error is None:
                    self.report.devices[device_id] = DeviceRestoreStatus.RESTORED
                    if not target.reconfirmation.knows_state(device_id):
                        target.reconfirmation.refresh(device_id)
                else:
                    self.report.devices[device_id] = DeviceRestoreStatus.FAILED
                    self.report.errors[device_id] = error
            done += 1
            self._on_progress(RestoreProgress(RestorePhase.DEVICES, done, total))

        await asyncio.gather(*(configure(device_id) for device_id in devices))

    async def _configure(self, device_id: DeviceId, config: DeviceConfiguration) -> str | None:
        """Configure one device, retrying a lost attempt; the last error, or None."""
        error = "not attempted"
        for attempt in range(CONFIGURE_ATTEMPTS):
            if attempt:
                await asyncio.sleep(CONFIGURE_RETRY_DELAY)
            try:
                await self._target.configurer.configure(device_id, config, Priority.REPAIR)
            except (RadioError, TimeoutError) as exc:
                error = str(exc) or type(exc).__name__
                _LOGGER.debug("Configuring %s failed: %s", device_id, error)
            else:
                return None
        return error


class Restorer:
    """Runs restores onto ``target``, one at a time, and never while the gateway is
    paused or a pause waits: the run status wins."""

    def __init__(
        self,
        target: RestoreTarget,
        run_control: RunControl,
        *,
        name: str,
        stopping: Callable[[], bool],
        on_restored: Callable[[], None],
    ) -> None:
        """``run_control``: its lock is held while the restore opens and closes the radio;
        ``on_restored``: a restore ended well (a snapshot is due)."""
        self._target = target
        self._run_control = run_control
        self._name = name
        self._stopping = stopping
        self._on_restored = on_restored
        self._task: asyncio.Task[RestoreReport] | None = None

    @property
    def running(self) -> bool:
        """Whether a restore runs now (another is refused)."""
        return self._task is not None

    async def restore(
        self,
        payload: Mapping[str, Any],
        *,
        force: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> RestoreReport:
        """Two-phase restore of a snapshot's payload onto the target's radio.

        The payload is checked whole before anything changes (SnapshotContentInvalid,
        SnapshotMismatch). One restore at a time (RestoreInProgress for another); none
        while the gateway is paused or a pause waits (GatewayPausedError): the run status
        wins. Pause, resume and snapshots asked for meanwhile wait until it ends. It runs
        to its end even if the caller stops waiting; ``stop`` ends it.
        """
        if self._task is not None:
            raise RestoreInProgress(f"a restore of {self._name} is already running")
        if self._stopping():
            raise RadioError(f"{self._name} is stopping")
        if self._run_control.target_status is RunStatus.PAUSED:
            raise GatewayPausedError(f"{self._name} is paused: resume it before restoring")
        run = RestoreRun(self._target, payload, force=force, on_progress=on_progress)
        task = asyncio.get_running_loop().create_task(self._restore(run))
        self._task = task
        task.add_done_callback(self._ended)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if task.cancelled() and not (caller is not None and caller.cancelling()):
                raise RadioError(f"{self._name} stopped during the restore") from None
            raise

    async def _restore(self, run: RestoreRun) -> RestoreReport:
        # The whole document, before anything changes (in a worker thread: some 40 ms for
        # 500 devices on a desktop, more on a small board).
        await asyncio.get_running_loop().run_in_executor(None, run.check)
        async with self._run_control.lock:
            if self._run_control.paused:
                # A pause came first (or a resume failed): the radio stays released.
                raise GatewayPausedError(f"{self._name} is paused: resume it before restoring")
            report = await run.run()
        self._on_restored()
        return report

    def _ended(self, task: asyncio.Task[RestoreReport]) -> None:
        self._task = None
        if not task.cancelled():
            task.exception()  # (the caller gets it; one that stopped waiting does not)

    async def stop(self) -> None:
        """End a restore under way (it must not start the radio again once it is closed)."""
        if (task := self._task) is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
