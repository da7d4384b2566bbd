"""Firmware updates of the gateway's devices: one transfer per device, answered within the
radio's budget, resumable, bounded, and checked afterwards.

- Every answer goes through the send scheduler at background priority (user commands
  and repairs go first) and through the transfers' own token bucket, ``share`` of the
  radio's unicast rate: the transfers never take more of the budget than that, whatever
  the devices ask.
- The device drives the download (it asks for the block at its offset), so a lost frame,
  a radio outage or a restart costs nothing but time: the device asks again, or is told
  to ask (Image Notify) when it went quiet for ``stall_timeout``; each quiet spell without
  progress spends one of ``retries``. The updates under way persist atomically
  (``firmware.json`` beside ``changes.json``) and resume after a restart.
- Each update has a deadline; failures carry a reason (``FailureReason``).
- A sleepy device's update is scheduled: it starts when the device is next heard (a
  report, a poll answer, its own image query) and is paced to its polls.
- Afterwards the new version is read back from the device, and its group memberships,
  scene entries, bindings and reporting are verified and repaired through the gateway's
  device configuration (``FirmwareHooks.configure``); the device's announce after its
  reboot has the gateway re-read its state and re-apply the desired one.

This module runs the jobs (start, resume, notify, wait, verify, persist); ``serving.py``
answers the devices, ``job.py`` holds the state the two share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from ..changes.pending import PendingStore
from ..model import DeviceId
from ..radio import RadioError
from ..scheduler import Priority
from ..storage import AtomicJsonFile
from .contract import FirmwareRadio, FirmwareTarget
from .images import FirmwareCatalog, FirmwareImage
from .job import (
    FailureReason,
    Job,
    Phase,
    UpdateFailed,
    UpdateProgress,
    UpdateResult,
    consume,
)
from .serving import FirmwareServer, ServingHooks

_LOGGER = logging.getLogger(__name__)

FIRMWARE_FORMAT: Final = 1
"""Version of ``firmware.json``."""

OPTION_DEADLINE: Final = "firmware_deadline"
OPTION_RETRIES: Final = "firmware_retries"
OPTION_SHARE: Final = "firmware_share"


@dataclass(frozen=True, slots=True)
class UpdatePolicy:
    deadline: float = 3600.0
    """Seconds an update of an awake device may take, from install to verified."""
    sleepy_deadline: float = 7 * 86400.0
    """The same for a sleepy device (it starts only when the device wakes)."""
    retries: int = 3
    """Quiet spells without progress (the device is told again each time) before failing."""
    stall_timeout: float = 60.0
    """Seconds without a request from the device before it is told again."""
    share: float = 0.2
    """Of the radio's unicast rate, what the transfers together may take (measured by
    ``scripts/bench ota``: the scheduler holds one unicast token, so each block answer
    leaves the next user command a gap to wait out; on air with 20 % loss a command
    took 1.24x as long to verify while transfers ran at 0.25, within 1.2x at 0.2)."""
    reboot_timeout: float = 120.0
    """Seconds after the upgrade end for the device to come back on the new version."""
    version_read_interval: float = 10.0
    """Seconds between reads of the version while waiting for the reboot."""
    parallel: int = 4
    """Transfers under way at once; more wait their turn (each device then gets its
    blocks often enough not to time out while the share is split)."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> UpdatePolicy:
        """A policy from config-entry options; unknown keys are ignored, missing ones
        default. Keys: ``firmware_deadline`` (minutes, an awake device's update),
        ``firmware_retries``, ``firmware_share`` (percent of the radio's unicast rate)."""
        policy = cls()
        return replace(
            policy,
            deadline=60.0 * float(options.get(OPTION_DEADLINE, policy.deadline / 60.0)),
            retries=int(options.get(OPTION_RETRIES, policy.retries)),
            share=float(options.get(OPTION_SHARE, 100.0 * policy.share)) / 100.0,
        )


class UpdateListener(Protocol):
    def update_progress(self, progress: UpdateProgress) -> None: ...

    def update_finished(
        self, device_id: DeviceId, result: UpdateResult | None, failure: UpdateFailed | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Configuration:
    groups: frozenset[int]
    scenes: tuple[tuple[int, int, Mapping[str, Any]], ...]


class FirmwareHooks(ServingHooks, Protocol):
    """The narrow view of the gateway the updater needs."""

    def is_sleepy(self, device_id: DeviceId) -> bool: ...

    def configuration(self, device_id: DeviceId) -> Configuration:
        """The groups and scene entries the device must hold."""

    async def configure(self, device_id: DeviceId, configuration: Configuration) -> None:
        """Make the device hold them, and its bindings and reporting (repair priority)."""


class FirmwareUpdater:
    """Runs the firmware updates of one gateway's devices."""

    def __init__(
        self,
        radio: FirmwareRadio,
        hooks: FirmwareHooks,
        catalog: FirmwareCatalog,
        *,
        file: AtomicJsonFile | None = None,
        policy: UpdatePolicy | None = None,
    ) -> None:
        self._radio = radio
        self._hooks = hooks
        self.catalog = catalog
        self.policy = policy or UpdatePolicy()
        self._file = file
        self._store = PendingStore(file, self.export)
        self._jobs: dict[DeviceId, Job] = {}
        self._listeners: list[UpdateListener] = []
        self._server = FirmwareServer(
            radio, hooks, self._jobs, self._changed, share=self.policy.share
        )
        self._slots = asyncio.Semaphore(self.policy.parallel)
        self._had_jobs = False  # (since the start: the file is written only then)

    @property
    def answers_sent(self) -> int:
        """Image blocks answered (the benchmark's count)."""
        return self._server.answers_sent

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Listen to the radio and resume the updates that were under way."""
        self._radio.set_firmware_listener(self._server)
        if self._file is None:
            return
        try:
            saved = await self._file.load()
        except (OSError, ValueError) as exc:  # (not JSON: the updates start afresh)
            _LOGGER.warning("%s could not be read (%s); no update resumes", self._file.path, exc)
            return
        if not isinstance(saved, dict) or saved.get("format") != FIRMWARE_FORMAT:
            return
        self._had_jobs = bool(saved.get("updates"))
        loop = asyncio.get_running_loop()
        for item in saved.get("updates", ()):
            try:
                device_id = str(item["device_id"])
                image = self.catalog.get(str(item["image"]))
                remaining = float(item["remaining"])
            except KeyError, TypeError, ValueError:
                continue
            if image is None:
                _LOGGER.warning(
                    "The firmware update of %s cannot resume: its image %s is gone",
                    device_id,
                    item.get("image"),
                )
                continue
            job = self._new_job(device_id, image, item.get("from_version"), loop.time() + remaining)
            job.offset = int(item.get("offset", 0))
            job.attempts = int(item.get("attempts", 0))
            job.groups = frozenset(int(g) for g in item.get("groups", ()))
            self._launch(job)

    async def stop(self) -> None:
        """Stop (updates under way are saved and resume at the next start)."""
        self._store.stop()
        self._radio.set_firmware_listener(None)
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        for task in tasks:
            task.cancel()
        await self._server.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._store.save_last(
            "The firmware updates under way", "they do not resume after the restart"
        )

    def add_listener(self, listener: UpdateListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- what callers ask -----------------------------------------------------------

    def target(self, device_id: DeviceId) -> FirmwareTarget | None:
        return self._radio.firmware_target(device_id)

    def images_for(self, device_id: DeviceId) -> list[FirmwareImage]:
        target = self.target(device_id)
        return self.catalog.for_target(target) if target is not None else []

    def progress(self, device_id: DeviceId) -> UpdateProgress | None:
        job = self._jobs.get(device_id)
        return job.progress() if job is not None else None

    def running(self) -> list[DeviceId]:
        return sorted(self._jobs)

    async def install(self, device_id: DeviceId, image_key: str | None = None) -> UpdateResult:
        """Update the device to ``image_key`` (default: the newest image that fits) and
        return once it runs it, verified; ``UpdateFailed`` says why not."""
        return await (await self.schedule(device_id, image_key))

    async def schedule(
        self, device_id: DeviceId, image_key: str | None = None
    ) -> asyncio.Future[UpdateResult]:
        """Start (or, for a sleepy device, schedule) an update; the future of its result.
        An image that does not fit raises ``UpdateFailed`` at once; an update already
        under way for the device is joined."""
        if (job := self._jobs.get(device_id)) is not None:
            assert job.result is not None
            return job.result
        target = await self.read_target(device_id, Priority.USER)
        if target is None:
            raise UpdateFailed(
                FailureReason.DOES_NOT_FIT, f"{device_id} has no firmware upgrade client"
            )
        image = self.catalog.get(image_key) if image_key else self.catalog.newest(target)
        if image is None:
            raise UpdateFailed(
                FailureReason.DOES_NOT_FIT,
                f"no image fits {device_id}" if not image_key else f"no image {image_key}",
            )
        if not image.fits(target):
            raise UpdateFailed(
                FailureReason.DOES_NOT_FIT,
                f"{image.key} is for manufacturer 0x{image.manufacturer_code:04x} image type"
                f" 0x{image.image_type:04x}, {device_id} is 0x{target.manufacturer_code:04x}"
                f" / 0x{target.image_type:04x}",
            )
        if (job := self._jobs.get(device_id)) is not None:  # (started while we read)
            assert job.result is not None
            return job.result
        sleepy = self._hooks.is_sleepy(device_id)
        deadline = self.policy.sleepy_deadline if sleepy else self.policy.deadline
        loop = asyncio.get_running_loop()
        job = self._new_job(device_id, image, target.version, loop.time() + deadline)
        self._launch(job)
        assert job.result is not None
        return job.result

    def has_client(self, device_id: DeviceId) -> bool:
        return self._radio.has_client(device_id)

    async def read_target(
        self, device_id: DeviceId, priority: Priority = Priority.BACKGROUND
    ) -> FirmwareTarget | None:
        """What the radio knows of the device's firmware, read from an awake device when
        its version is not known yet (a sleepy one tells it in its next image query)."""
        target = self._radio.firmware_target(device_id)
        if (target is None or target.version is None) and not self._hooks.is_sleepy(device_id):
            with contextlib.suppress(RadioError, TimeoutError):
                async with asyncio.timeout(self.policy.version_read_interval):
                    target = await self._hooks.scheduler.call(
                        lambda: self._radio.read_firmware_target(device_id),
                        device_id=device_id,
                        priority=priority,
                        retry_delivery=False,
                    )
        return target

    def _new_job(
        self, device_id: DeviceId, image: FirmwareImage, from_version: Any, deadline_at: float
    ) -> Job:
        loop = asyncio.get_running_loop()
        job = Job(
            device_id=device_id,
            image=image,
            from_version=from_version if isinstance(from_version, int) else None,
            deadline_at=deadline_at,
            sleepy=self._hooks.is_sleepy(device_id),
            started_at=loop.time(),
        )
        job.ended = loop.create_future()
        job.result = loop.create_future()
        job.result.add_done_callback(consume)
        return job

    def _launch(self, job: Job) -> None:
        self._had_jobs = True
        if job.groups is None:
            job.groups = self._hooks.configuration(job.device_id).groups
        self._jobs[job.device_id] = job
        self._radio.hold(job.device_id, True)
        job.task = asyncio.get_running_loop().create_task(self._run(job))
        self._changed(job)

    # -- one update -----------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        try:
            try:
                async with asyncio.timeout_at(job.deadline_at) as deadline:
                    job.data = await job.image.load()
                    await self._transfer(job)
                    version = await self._await_reboot(job)
                    job.phase = Phase.VERIFYING
                    self._changed(job)
                    repaired = await self._verify(job)
            except TimeoutError as exc:
                if not deadline.expired():
                    raise
                raise UpdateFailed(
                    FailureReason.DEADLINE,
                    f"the update of {job.device_id} did not finish in time"
                    f" ({job.phase}, {job.offset} of {job.image.size} bytes)",
                ) from exc
        except asyncio.CancelledError:
            raise  # stopping: the update resumes at the next start
        except UpdateFailed as failure:
            self._end(job)
            _LOGGER.warning("Firmware update of %s failed: %s", job.device_id, failure)
            assert job.result is not None
            if not job.result.done():
                job.result.set_exception(failure)
            for listener in tuple(self._listeners):
                listener.update_finished(job.device_id, None, failure)
            return
        except Exception as exc:
            self._end(job)
            assert job.result is not None
            if not job.result.done():
                job.result.set_exception(exc)
            raise
        self._end(job)
        result = UpdateResult(job.device_id, job.from_version, version, tuple(repaired))
        _LOGGER.info(
            "Firmware of %s updated from %s to %s in %.0f s%s",
            job.device_id,
            job.from_version,
            version,
            loop.time() - job.started_at,
            f"; repaired: {', '.join(repaired)}" if repaired else "",
        )
        assert job.result is not None
        job.result.set_result(result)
        for listener in tuple(self._listeners):
            listener.update_finished(job.device_id, result, None)

    def _end(self, job: Job) -> None:
        if self._jobs.get(job.device_id) is job:
            del self._jobs[job.device_id]
            self._radio.hold(job.device_id, False)
        self._store.save_soon()

    async def _transfer(self, job: Job) -> None:
        """Until the device has the whole image and said so (its Upgrade End)."""
        assert job.ended is not None
        while True:
            if job.sleepy and job.phase is Phase.SCHEDULED:
                await job.woke.wait()  # (its next report, poll answer or image query)
            offset_before = job.offset
            async with self._slots:
                told = await self._attempt(job)
            if job.ended.done():
                end = job.ended.result()  # (raises UpdateFailed for a refusal)
                if end.ok:
                    return
            if job.offset == offset_before and (told or not job.sleepy):
                # (A sleeper that dozed off before it was told costs no retry.)
                job.attempts += 1
                if job.attempts > self.policy.retries:
                    raise UpdateFailed(
                        FailureReason.STALLED,
                        f"{job.device_id} stopped asking for the image at {job.offset} of"
                        f" {job.image.size} bytes ({job.attempts} times)",
                    )
            if job.sleepy:
                job.phase = Phase.SCHEDULED  # (told again when next heard)
                job.woke.clear()
            self._changed(job)

    async def _attempt(self, job: Job) -> bool:
        """Tell the device, then serve it until it ends or goes quiet; whether the
        device was told."""
        assert job.ended is not None
        job.progressed.clear()
        told = True
        try:
            # Bounded: a device that is off (or a radio that is down) is a quiet spell
            # too, and spends a retry; unbounded, only the deadline would end it.
            async with asyncio.timeout(self.policy.stall_timeout):
                await self._hooks.scheduler.call(
                    lambda: self._radio.notify_image(job.device_id),
                    device_id=job.device_id,
                    priority=Priority.USER if job.sleepy else Priority.BACKGROUND,
                    retry_delivery=not job.sleepy,
                )
        except RadioError, TimeoutError:
            told = False
        while not job.ended.done():
            job.progressed.clear()
            try:
                async with asyncio.timeout(self.policy.stall_timeout):
                    await job.progressed.wait()
            except TimeoutError:
                break
        return told

    async def _await_reboot(self, job: Job) -> int:
        """The version the device runs once it is back (read from it, or from its query)."""
        loop = asyncio.get_running_loop()
        job.phase = Phase.REBOOTING
        job.offset = job.image.size
        self._changed(job)
        give_up_at = loop.time() + self.policy.reboot_timeout
        reported: int | None = None
        while True:
            if job.version_seen is not None:
                reported = job.version_seen
                if reported == job.image.version:
                    return reported
            job.rebooted.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.version_read_interval):
                    await job.rebooted.wait()
            if job.version_seen is None and not job.sleepy:
                with contextlib.suppress(RadioError, TimeoutError):
                    async with asyncio.timeout(self.policy.version_read_interval):
                        reported = await self._hooks.scheduler.call(
                            lambda: self._radio.read_firmware_version(job.device_id),
                            device_id=job.device_id,
                            priority=Priority.REPAIR,
                            retry_delivery=False,
                        )
                    if reported == job.image.version:
                        return reported
            if loop.time() >= give_up_at:
                shown = "nothing" if reported is None else f"version {reported}"
                raise UpdateFailed(
                    FailureReason.NOT_BACK,
                    f"{job.device_id} did not come back on version {job.image.version}"
                    f" (it reports {shown})",
                )

    async def _verify(self, job: Job) -> list[str]:
        """Groups and scenes the device lost, given back (with bindings and reporting)."""
        device_id = job.device_id
        now = self._hooks.configuration(device_id)
        configuration = Configuration(now.groups | (job.groups or frozenset()), now.scenes)
        repaired: list[str] = []
        groups = set(configuration.groups) | {g for g, _, _ in configuration.scenes}
        if groups:
            held_groups, held_scenes = await self._hooks.scheduler.call(
                lambda: self._radio.held_tables(device_id, sorted(groups)),
                device_id=device_id,
                priority=Priority.REPAIR,
                frames=1 + len(groups),
            )
            repaired += [f"group 0x{g:04x}" for g in sorted(configuration.groups - held_groups)]
            repaired += [
                f"scene 0x{g:04x}/{s}"
                for g, s, _ in sorted(configuration.scenes, key=lambda e: (e[0], e[1]))
                if (g, s) not in held_scenes
            ]
        await self._hooks.configure(device_id, configuration)
        self._radio.groups_restored(device_id, configuration.groups)
        return repaired

    # -- helpers --------------------------------------------------------------------

    def _changed(self, job: Job) -> None:
        self._store.save_soon()
        progress = job.progress()
        for listener in tuple(self._listeners):
            listener.update_progress(progress)

    # -- persistence ----------------------------------------------------------------

    def export(self) -> dict[str, Any] | None:
        """The updates under way (None: there never were any, nothing to write)."""
        if not self._jobs and not self._had_jobs:
            return None
        now = asyncio.get_running_loop().time()
        return {
            "format": FIRMWARE_FORMAT,
            "updates": [
                {
                    "device_id": job.device_id,
                    "image": job.image.key,
                    "version": job.image.version,
                    "from_version": job.from_version,
                    "remaining": max(0.0, job.deadline_at - now),
                    "offset": job.offset,
                    "attempts": job.attempts,
                    "phase": str(job.phase),
                    "groups": sorted(job.groups or ()),
                }
                for job in self._jobs.values()
            ],
        }
