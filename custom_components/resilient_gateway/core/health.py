"""Radio health supervision: periodic end-to-end checks, and an escalation ladder
(``recovery.py``) that brings a radio back.

Modelled on the SA Forum AMF as OpenClovis SAFplus implements it: a health check runs every
period, and a check with no answer within its maximum duration is a fault. A fault is
recovered along a ladder of ever heavier remedies: check again, reconnect the link, restart
the radio, fail over to a standby radio, give up. A fault that comes back within a probation
window after a recovery resumes the ladder above the remedy that did not last, so a flapping
radio escalates instead of being patched up the same way forever. zigpy never reopens a lost
link by itself; this supervisor is what brings a radio back.

A radio that answers but holds no network, or another one (``RadioIdentityError``), is not a
transient fault: checking again, reconnecting or restarting cannot fix it, so the ladder jumps
to failover or stops and asks for a restore.

After giving up it keeps reconnecting, a few seconds after the last attempt at first and
then ever less often (at most every ``give_up_retry_interval``), and ``retry_now`` cuts any
wait short: a USB port that appears may be the stick plugged back.

The only clock is the running loop's: periodic checks are ``loop.call_later`` timers (which a
test harness may fire early, as Home Assistant's does) and the recovery task waits with
``asyncio.timeout``, so everything runs unchanged on ``virtual_time``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .availability import AvailabilityTracker
from .radio import RadioIdentityError
from .recovery import (
    Escalation,
    FailureCause,
    HealthPolicy,
    RadioRecovery,
    RecoveryActions,
    RecoveryStep,
    check_health,
    describe_failure,
    failure_cause,
    heavier,
    step_after,
)

__all__ = [  # (the ladder's names, imported from here by the glue, stay importable here)
    "FailureCause",
    "HealthEvent",
    "HealthPolicy",
    "RadioHealth",
    "RadioRecovery",
    "RadioSupervisor",
    "RecoveryActions",
    "RecoveryStep",
    "Supervision",
    "describe_failure",
    "failure_cause",
]

_LOGGER = logging.getLogger(__name__)


class RadioHealth(StrEnum):
    """Where the radio stands on the supervisor's ladder (shown as the Radio status)."""

    OK = "ok"
    DEGRADED = "degraded"  # a health check failed; checking again before anything heavier
    RECOVERING = "recovering"  # reconnecting, restarting or switching to the standby radio
    FAILED_OVER = "failed_over"  # running on the standby radio
    FAILED = "failed"  # gave up; a human must act (the retries may still bring it back)


_STATUS_DURING: Mapping[RecoveryStep, RadioHealth] = {
    RecoveryStep.RETRY: RadioHealth.DEGRADED,
    RecoveryStep.RECONNECT: RadioHealth.RECOVERING,
    RecoveryStep.RESTART: RadioHealth.RECOVERING,
    RecoveryStep.FAILOVER: RadioHealth.RECOVERING,
    RecoveryStep.GIVE_UP: RadioHealth.FAILED,
}


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A status change, or a step change while recovering.

    ``step`` is the step just entered; in the event that ends a recovery (status OK or
    FAILED_OVER) it is the step that fixed the radio; None outside recovery (a reset, a
    check that passed after a pause). ``attempt`` counts the remedies tried so far in this
    recovery (probes, reconnects, restarts, failovers). ``needs_restore`` is set when the
    radio does not hold this gateway's network and only a restore can bring it back.
    ``reason`` is for logs; ``cause`` (None when nothing failed) is what a person can act on.
    """

    status: RadioHealth
    step: RecoveryStep | None
    reason: str
    attempt: int
    needs_restore: bool = False
    cause: FailureCause | None = None


class RadioSupervisor:
    """Checks one radio periodically and walks the recovery ladder when it fails.

    One recovery (an ``Escalation``) runs at a time. Call ``start()`` inside the running event loop.
    """

    def __init__(
        self,
        actions: RecoveryActions,
        policy: HealthPolicy | None = None,
        *,
        on_event: Callable[[HealthEvent], None],
        logger: logging.Logger | None = None,
    ) -> None:
        self._actions = actions
        self.policy = policy or HealthPolicy()
        self._on_event = on_event
        self._log = logger or _LOGGER
        self._rng = random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._stopped = False
        self._paused = False
        self._status = RadioHealth.OK
        self._needs_restore = False
        self._on_standby = False
        self._timer: asyncio.TimerHandle | None = None
        self._check: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The current (or last) recovery; None before the first and after a reset.
        self._escalation: Escalation | None = None
        # The last recovery that fixed the radio, for probation.
        self._fixed_by: RecoveryStep | None = None
        self._fixed_at = 0.0

    # ---- public ---------------------------------------------------------------------

    @property
    def status(self) -> RadioHealth:
        return self._status

    @property
    def needs_restore(self) -> bool:
        """The radio does not hold this gateway's network; nothing is tried until reset()."""
        return self._needs_restore

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def recovering(self) -> bool:
        return self._recovery is not None

    def start(self) -> None:
        """Schedule the periodic checks, the first one interval from now."""
        if self._stopped:
            raise RuntimeError("a stopped RadioSupervisor cannot start again")
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._schedule_check(self.policy.check_interval)

    async def stop(self) -> None:
        """Cancel the timer, the running check and the running recovery, and wait for them."""
        self._stopped = True
        self._cancel_timer()
        self._check = self._recovery = None
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def report_failure(
        self, reason: str, cause: FailureCause = FailureCause.CONNECTION_LOST
    ) -> None:
        """The radio lost its link: recover now instead of waiting for the next check.

        Ignored while a recovery runs, while paused, once stopped and while a restore is
        needed. A lost link cannot answer a probe, so the ladder starts with a reconnect.
        """
        if not self._active() or self._recovery is not None or self._needs_restore:
            self._log.debug("Radio failure report ignored (%s)", reason)
            return
        self._cancel_check()  # the recovery probes the radio itself
        self._begin_recovery(reason, RecoveryStep.RECONNECT, cause=cause)

    def retry_now(self, reason: str) -> None:
        """Something says the radio may answer now (a USB port appeared: perhaps its stick
        plugged back): a recovery under way tries its next remedy at once instead of
        after its wait, and after giving up the waits start short again.

        Ignored unless a recovery runs (a working radio needs nothing; one that needs a
        restore waits for the restore).
        """
        if not self._active() or self._recovery is None or self._needs_restore:
            return
        self._log.info("%s; trying the radio now", reason)
        if self._escalation is not None:
            self._escalation.retry_now()

    def reset(self) -> None:
        """The radio was restored by hand: back to OK, counters cleared, checks resumed."""
        self._cancel_timer()
        self._cancel_check()
        self._cancel_recovery()
        self._needs_restore = False
        self._on_standby = False
        self._escalation = None
        self._fixed_by = None
        self._log.info("Radio supervision reset")
        if self._status is not RadioHealth.OK:
            self._set_status(RadioHealth.OK, None, "reset after a restore")
        if self._active():
            self._schedule_check(self.policy.check_interval)

    def mark_needs_restore(self, reason: str) -> None:
        """The radio was found not to hold this gateway's network (at start, say).

        Status FAILED with ``needs_restore``; nothing is checked or tried until ``reset()``.
        Works before ``start()`` too.
        """
        self._cancel_timer()
        self._cancel_check()
        self._cancel_recovery()
        self._escalation = None
        self._fail_needing_restore(reason)

    async def check_now(self) -> RadioHealth:
        """Run one health check now (a failing one starts recovery); returns the status.

        Does nothing while paused, recovering, waiting for a restore, before start() and
        after stop(). The periodic checks continue one interval after this one.
        """
        if not self._active() or self._recovery is not None or self._needs_restore:
            return self._status
        check = self._check
        if check is None:
            self._cancel_timer()
            check = self._check = self._spawn(self._run_check(), "radio health check")
        # wait() neither raises the check's cancellation here nor cancels the shared check
        # when this caller is cancelled.
        await asyncio.wait({check})
        return self._status

    def pause(self) -> None:
        """Leave the radio alone (the user freed it for other software): no checks, no recovery."""
        if self._paused:
            return
        self._paused = True
        self._cancel_timer()
        self._cancel_check()
        self._cancel_recovery()
        self._log.info("Radio supervision paused")

    def resume(self) -> None:
        """Supervise again, starting with a check at once."""
        if not self._paused:
            return
        self._paused = False
        self._log.info("Radio supervision resumed")
        if self._active() and not self._needs_restore:
            self._check = self._spawn(self._run_check(), "radio health check")

    # ---- checks ---------------------------------------------------------------------

    def _active(self) -> bool:
        return self._started and not self._stopped and not self._paused

    def _now(self) -> float:
        assert self._loop is not None, "start() first"
        return self._loop.time()

    def _schedule_check(self, delay: float) -> None:
        self._cancel_timer()
        if not self._active() or self._needs_restore:
            return
        assert self._loop is not None
        self._timer = self._loop.call_later(max(0.0, delay), self._on_check_timer)

    def _on_check_timer(self) -> None:
        # The harness may fire this early: a fired timer means "check now", whatever the time.
        self._timer = None
        if not self._active() or self._check is not None or self._recovery is not None:
            return
        self._check = self._spawn(self._run_check(), "radio health check")

    async def _run_check(self) -> None:
        started = self._now()
        try:
            await check_health(self._actions, self.policy)
        except RadioIdentityError as err:
            self._begin_recovery(
                describe_failure(err),
                RecoveryStep.FAILOVER,
                identity_lost=True,
                cause=FailureCause.WRONG_NETWORK,
            )
            return
        except Exception as err:  # any failure of the probe is a failed check
            self._begin_recovery(
                f"health check failed: {describe_failure(err)}",
                self._first_step(RecoveryStep.RETRY),
                cause=failure_cause(err),
            )
            return
        if self._status not in (RadioHealth.OK, RadioHealth.FAILED_OVER):
            # Only after a pause that interrupted a recovery.
            self._log.info("Radio answers health checks again")
            self._set_status(self._settled_status(), None, "health check passed")
        self._schedule_check(started + self.policy.check_interval - self._now())

    # ---- recovery -------------------------------------------------------------------

    def _first_step(self, lightest: RecoveryStep) -> RecoveryStep:
        """Where a new recovery starts: above the last fix while that one is on probation."""
        if self._fixed_by is not None and self._now() - self._fixed_at < self.policy.probation:
            return heavier(lightest, step_after(self._fixed_by))
        return lightest

    def _begin_recovery(
        self,
        reason: str,
        step: RecoveryStep,
        *,
        cause: FailureCause,
        identity_lost: bool = False,
    ) -> None:
        if not self._active():
            return
        self._cancel_timer()
        escalation = self._escalation = Escalation(
            self._actions,
            self.policy,
            reason=reason,
            cause=cause,
            identity_lost=identity_lost,
            rng=self._rng,
            log=self._log,
            on_step=self._step_entered,
            on_failed_over=self._failed_over,
        )
        step = escalation.available(step)
        if identity_lost and step is RecoveryStep.GIVE_UP:
            self._fail_needing_restore(reason)
            return
        # Entered here, not in the task, so the status is current as soon as this returns.
        escalation.enter(step, reason)
        self._recovery = self._spawn(self._recover(escalation, step), "radio recovery")

    async def _recover(self, escalation: Escalation, step: RecoveryStep) -> None:
        fixed = await escalation.climb(step)
        if fixed is None:
            self._fail_needing_restore(escalation.last_error)
        else:
            self._recovered(fixed)

    def _step_entered(self, step: RecoveryStep, reason: str) -> None:
        assert self._escalation is not None
        self._set_status(_STATUS_DURING[step], step, reason, self._escalation.last_cause)

    def _failed_over(self) -> None:
        self._on_standby = True

    def _recovered(self, step: RecoveryStep) -> None:
        self._recovery = None
        self._fixed_by = step
        self._fixed_at = self._now()
        status = self._settled_status()
        self._log.info("Radio recovered by %s after %d attempt(s)", step, self._attempts())
        self._set_status(status, step, f"recovered by {step}")
        self._schedule_check(self.policy.check_interval)

    def _fail_needing_restore(self, reason: str) -> None:
        self._recovery = None
        self._needs_restore = True
        self._cancel_timer()
        self._log.error(
            "Radio does not hold this gateway's network (%s); it needs a restore", reason
        )
        self._set_status(
            RadioHealth.FAILED, RecoveryStep.GIVE_UP, reason, FailureCause.WRONG_NETWORK
        )

    def _settled_status(self) -> RadioHealth:
        return RadioHealth.FAILED_OVER if self._on_standby else RadioHealth.OK

    def _attempts(self) -> int:
        return 0 if self._escalation is None else self._escalation.attempts

    def _set_status(
        self,
        status: RadioHealth,
        step: RecoveryStep | None,
        reason: str,
        cause: FailureCause | None = None,
    ) -> None:
        """``cause``: why the radio fails (only while it does)."""
        self._status = status
        event = HealthEvent(status, step, reason, self._attempts(), self._needs_restore, cause)
        try:
            self._on_event(event)
        except Exception:
            # A listener's bug must not stop the supervision of the radio.
            self._log.exception("Radio health listener failed on %s", event)

    # ---- tasks and timers -----------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._loop is not None
        task = self._loop.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._check is task:
            self._check = None
        if self._recovery is task:
            self._recovery = None
        if not task.cancelled() and (err := task.exception()) is not None:
            self._log.error("Radio supervision failed", exc_info=err)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cancel_check(self) -> None:
        # The task stays in _tasks until it has unwound, so stop() still waits for it.
        if self._check is not None:
            self._check.cancel()
            self._check = None

    def _cancel_recovery(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            self._recovery = None


class Supervision:
    """The radio's supervisor and each device's availability run together: paused while
    the radio is deliberately closed, told when the link drops, and, when the radio is
    back, every device proven again."""

    def __init__(
        self,
        supervisor: RadioSupervisor,
        availability: AvailabilityTracker,
        *,
        running: Callable[[], bool],
        on_started: Callable[[], None],
        on_back: Callable[[bool], None],
    ) -> None:
        """``running``: the gateway holds its radio (not paused); ``on_started``:
        supervision began; ``on_back(pings_reconfirm)``: the radio is back from an
        outage, re-confirm every device (by a read unless the pings read it anyway)."""
        self.supervisor = supervisor
        self.availability = availability
        self._running = running
        self._on_started = on_started
        self._on_back = on_back
        self._started = False

    def start(self) -> None:
        self._started = True
        self.supervisor.start()
        self.availability.start()
        self._on_started()

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.availability.stop()

    def pause(self) -> None:
        """No health checks and no pings while the radio is deliberately closed."""
        self.supervisor.pause()
        self.availability.pause()

    def resume(self, *, network_written: bool = False) -> None:
        """Health checks and pings again (``network_written``: the radio holds a restored
        network now; the ladder starts afresh, and supervision starts if it never did)."""
        if network_written:
            self.supervisor.reset()
        self.supervisor.resume()
        self.availability.resume()
        if network_written and not self._started:
            self.start()

    def link_lost(self) -> None:
        """No pings while nothing can answer; the recovery re-confirms every device."""
        self.availability.pause()
        self.supervisor.report_failure("the radio link was lost")

    def health_changed(self, event: HealthEvent) -> None:
        """The supervisor's event, before the gateway's listeners hear of it."""
        if event.status in (RadioHealth.OK, RadioHealth.FAILED_OVER):
            # Back from an outage: whatever happened meanwhile, every device is proven
            # again, and one that drifted from its desired state gets it re-applied.
            running = self._running()
            if running:
                # Re-confirms every device if it was paused (the link was lost); if not,
                # the link stayed up and nothing shown was lost.
                self.availability.resume()
            self._on_back(running)
        elif event.status in (RadioHealth.RECOVERING, RadioHealth.FAILED):
            # A ping now would fail for the radio's sake, not the device's.
            self.availability.pause()
