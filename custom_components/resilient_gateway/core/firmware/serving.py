"""The device's side of a firmware transfer: what the radio hears from a held device
(image queries, block requests, upgrade ends, any frame) is answered here, each answer
through the send scheduler and, for image blocks, paced by the transfers' own token bucket
(``share`` of the radio's unicast rate). The updater's job runner waits on the events
these answers set (``Job.woke``, ``progressed``, ``rebooted``, ``ended``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ..model import DeviceId
from ..radio import RadioBudget, RadioError
from ..scheduler import Priority, SendScheduler
from ..token_bucket import TokenBucket
from .contract import BlockRequest, FirmwareRadio, ImageQuery, ServedImage, UpgradeEnd
from .job import FailureReason, Job, Phase

_LOGGER = logging.getLogger(__name__)


class ServingHooks(Protocol):
    """The narrow view of the gateway the answers need."""

    @property
    def scheduler(self) -> SendScheduler: ...

    @property
    def budget(self) -> RadioBudget: ...


class FirmwareServer:
    """Answers the devices whose update is under way (the radio's ``FirmwareListener``)."""

    def __init__(
        self,
        radio: FirmwareRadio,
        hooks: ServingHooks,
        jobs: Mapping[DeviceId, Job],
        changed: Callable[[Job], None],
        *,
        share: float,
    ) -> None:
        """``jobs``: the updates under way, by device; ``changed``: called when a job's
        phase or progress changed (saved, told to the listeners)."""
        self._radio = radio
        self._hooks = hooks
        self._jobs = jobs
        self._changed = changed
        self._share = share
        self._bucket: TokenBucket | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self.answers_sent = 0  # image blocks answered (the benchmark's count)

    async def stop(self) -> None:
        """Answer nothing more; the answers under way are cancelled."""
        self._stopped = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- what the radio tells -------------------------------------------------------

    def device_heard(self, device_id: DeviceId) -> None:
        job = self._jobs.get(device_id)
        if job is not None:
            job.woke.set()

    def image_queried(self, device_id: DeviceId, query: ImageQuery) -> None:
        job = self._jobs.get(device_id)
        if job is None:
            return
        job.woke.set()
        image = job.image
        offer: ServedImage | None = None
        if job.phase in (Phase.REBOOTING, Phase.VERIFYING) or query.version == image.version:
            # Back on the new image (or already there after a restart): nothing to offer.
            job.version_seen = query.version
            job.rebooted.set()
            if job.ended is not None and not job.ended.done() and query.version == image.version:
                job.ended.set_result(
                    UpgradeEnd(
                        query.tsn,
                        True,
                        "success",
                        image.manufacturer_code,
                        image.image_type,
                        image.version,
                    )
                )
                job.progressed.set()
        elif (query.manufacturer_code, query.image_type) != (
            image.manufacturer_code,
            image.image_type,
        ):
            job.refuse(
                FailureReason.DOES_NOT_FIT,
                f"{device_id} is manufacturer 0x{query.manufacturer_code:04x} image type"
                f" 0x{query.image_type:04x}; {image.key} does not fit it",
            )
        else:
            offer = image.served
            job.phase = Phase.TRANSFERRING
            job.progressed.set()
            self._changed(job)
        self._answer(
            job,
            lambda: self._radio.answer_query(device_id, query, offer),
            Priority.USER if job.sleepy else Priority.BACKGROUND,
        )

    def block_requested(self, device_id: DeviceId, request: BlockRequest) -> None:
        job = self._jobs.get(device_id)
        if job is None or job.phase in (Phase.REBOOTING, Phase.VERIFYING):
            return  # (a late duplicate: the device has the whole image)
        job.woke.set()
        image = job.image
        if (request.manufacturer_code, request.image_type, request.version) != (
            image.manufacturer_code,
            image.image_type,
            image.version,
        ) or request.offset >= image.size:
            self._answer(job, lambda: self._radio.abort_block(device_id, request), Priority.REPAIR)
            return
        if job.phase is not Phase.TRANSFERRING:
            job.phase = Phase.TRANSFERRING  # (resuming: it asks before it is told)
        if request.offset > job.offset or job.rate_from is None:
            self._advance(job, request.offset)
        job.progressed.set()
        if job.data is None or request.offset in job.answering:
            return  # (it asks again if this answer is lost)
        size = min(request.max_size, self._radio.max_block_size)
        data = job.data[request.offset : request.offset + size]
        job.answering.add(request.offset)

        async def answer() -> None:
            try:
                await self._paced()
                await self._hooks.scheduler.call(
                    lambda: self._radio.answer_block(device_id, request, image.served, data),
                    device_id=device_id,
                    priority=Priority.BACKGROUND,
                    retry_delivery=False,  # (the device asks again: a fresher request)
                )
                self.answers_sent += 1
            finally:
                job.answering.discard(request.offset)

        self._spawn(answer())

    def upgrade_ended(self, device_id: DeviceId, end: UpgradeEnd) -> None:
        job = self._jobs.get(device_id)
        if job is None or job.ended is None:
            return
        job.woke.set()
        if not end.ok:
            reason = (
                FailureReason.DOES_NOT_FIT
                if end.status == "invalid_image"
                else FailureReason.REFUSED
            )
            job.refuse(reason, f"{device_id} refused the image ({end.status})")
            return
        if not job.ended.done():
            job.ended.set_result(end)
        job.progressed.set()
        self._answer(
            job,
            lambda: self._radio.answer_upgrade_end(device_id, end, job.image.served),
            Priority.REPAIR,
        )

    # -- helpers --------------------------------------------------------------------

    def _advance(self, job: Job, offset: int) -> None:
        now = asyncio.get_running_loop().time()
        if job.rate_from is None:
            job.rate_from = (now, offset)
        job.offset = offset
        percent = job.offset * 100 // job.image.size
        if percent != job.last_percent:
            job.last_percent = percent
            self._changed(job)

    async def _paced(self) -> None:
        """Wait for a token of the transfers' share of the radio's unicast rate."""
        loop = asyncio.get_running_loop()
        rate = max(0.1, self._share * self._hooks.budget.unicasts_per_s)
        if self._bucket is None or self._bucket.rate != rate:
            self._bucket = TokenBucket(rate, 1.0, loop.time())
        while True:
            now = loop.time()
            if self._bucket.has_token(now):
                self._bucket.take(now)
                return
            await asyncio.sleep(self._bucket.next_token_at(now) - now)

    def _answer(
        self, job: Job, operation: Callable[[], Awaitable[None]], priority: Priority
    ) -> None:
        async def send() -> None:
            with contextlib.suppress(RadioError):
                await self._hooks.scheduler.call(
                    operation, device_id=job.device_id, priority=priority, retry_delivery=False
                )

        self._spawn(send())

    def _spawn(self, coro: Awaitable[None]) -> None:
        if self._stopped:
            close = getattr(coro, "close", None)
            if close is not None:
                close()
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.debug("Firmware answer failed: %r", error)
