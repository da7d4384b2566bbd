"""Radio health supervision: periodic end-to-end checks and an escalation ladder that brings a
radio back.

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
import errno
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from .availability import AvailabilityTracker
from .policy import Backoff
from .radio import RadioError, RadioIdentityError, RadioLink

_LOGGER = logging.getLogger(__name__)


class RadioHealth(StrEnum):
    """Where the radio stands on the supervisor's ladder (shown as the Radio status)."""

    OK = "ok"
    DEGRADED = "degraded"  # a health check failed; checking again before anything heavier
    RECOVERING = "recovering"  # reconnecting, restarting or switching to the standby radio
    FAILED_OVER = "failed_over"  # running on the standby radio
    FAILED = "failed"  # gave up; a human must act (the retries may still bring it back)


class RecoveryStep(StrEnum):
    """The escalation ladder, lightest remedy first."""

    RETRY = "retry"  # check again, a few seconds apart
    RECONNECT = "reconnect"  # re-open the link to the radio
    RESTART = "restart"  # reset the radio and restart its network
    FAILOVER = "failover"  # switch to the standby radio
    GIVE_UP = "give_up"  # report failure; keep reconnecting slowly


class FailureCause(StrEnum):
    """Why the radio does not work, in terms a person can act on (Home Assistant's repair
    issue says which, in plain words)."""

    PORT_MISSING = "port_missing"  # its port does not exist: unplugged, or renamed
    PORT_REFUSED = "port_refused"  # its port exists but cannot be opened (in use, no access)
    NO_ANSWER = "no_answer"  # the radio does not answer
    CONNECTION_LOST = "connection_lost"  # the link to the radio broke or could not be made
    WRONG_NETWORK = "wrong_network"  # it holds no network or another one: restore it
    RADIO_ERROR = "radio_error"  # the radio or its library reported another error


_CAUSE_WORDS: Mapping[FailureCause, str] = {
    FailureCause.PORT_MISSING: "the radio's port is missing",
    FailureCause.PORT_REFUSED: "the radio's port cannot be opened",
    FailureCause.NO_ANSWER: "the radio does not answer",
    FailureCause.CONNECTION_LOST: "the connection to the radio is lost",
    FailureCause.WRONG_NETWORK: "the radio does not hold this gateway's network",
    FailureCause.RADIO_ERROR: "the radio reported an error",
}

_PORT_MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO})
_PORT_REFUSED_ERRNOS = frozenset({errno.EACCES, errno.EBUSY, errno.EPERM})


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and what it was raised from, outermost first (radio libraries wrap the
    operating system's error in their own, often without a message)."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def failure_cause(err: BaseException) -> FailureCause:
    """The cause of a failed check or remedy, from the first error in its chain that
    tells one."""
    for exc in _chain(err):
        if isinstance(exc, RadioIdentityError):
            return FailureCause.WRONG_NETWORK
        code = exc.errno if isinstance(exc, OSError) else None
        if isinstance(exc, FileNotFoundError) or code in _PORT_MISSING_ERRNOS:
            return FailureCause.PORT_MISSING
        if isinstance(exc, PermissionError) or code in _PORT_REFUSED_ERRNOS:
            return FailureCause.PORT_REFUSED
        if isinstance(exc, (TimeoutError, ConnectionRefusedError)):
            return FailureCause.NO_ANSWER
        if isinstance(exc, OSError):  # ConnectionError included
            return FailureCause.CONNECTION_LOST
    return FailureCause.RADIO_ERROR


def describe_failure(err: BaseException) -> str:
    """Plain words for a failure plus the first message its chain carries (never a class
    name: ``TransientConnectionError`` tells a person nothing)."""
    words = _CAUSE_WORDS[failure_cause(err)]
    detail = next((text for exc in _chain(err) if (text := str(exc))), "")
    return f"{words}: {detail}" if detail else words


_LADDER: tuple[RecoveryStep, ...] = tuple(RecoveryStep)

_STATUS_DURING: Mapping[RecoveryStep, RadioHealth] = {
    RecoveryStep.RETRY: RadioHealth.DEGRADED,
    RecoveryStep.RECONNECT: RadioHealth.RECOVERING,
    RecoveryStep.RESTART: RadioHealth.RECOVERING,
    RecoveryStep.FAILOVER: RadioHealth.RECOVERING,
    RecoveryStep.GIVE_UP: RadioHealth.FAILED,
}


def _step_after(step: RecoveryStep) -> RecoveryStep:
    return _LADDER[min(_LADDER.index(step) + 1, len(_LADDER) - 1)]


def _heavier(a: RecoveryStep, b: RecoveryStep) -> RecoveryStep:
    return max(a, b, key=_LADDER.index)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """How often the radio is checked and how hard the supervisor tries to bring it back."""

    check_interval: float = 30.0  # seconds from the start of one check to the next
    check_timeout: float = 10.0  # a probe with no answer within this is a failed check
    retries: int = 2  # probes repeated before reconnecting
    retry_delay: float = 2.0
    reconnects: int = 3
    restarts: int = 2
    # Spacing of reconnect and restart attempts. No jitter: there is one radio, not a crowd.
    backoff: Backoff = field(
        default_factory=lambda: Backoff(initial=2.0, factor=2.0, maximum=30.0, jitter=0.0)
    )
    # Guard around one reconnect, restart or failover, so a serial port that never opens
    # cannot hold the ladder. Generous: a restart may form or restore a network.
    action_timeout: float = 120.0
    # A fault within this long after a recovery resumes the ladder above the step that fixed
    # the previous one instead of starting again with a retry.
    probation: float = 300.0
    # After giving up, a reconnect is tried ``give_up_first_retry`` s after the last attempt,
    # then ever less often (doubling) up to every ``give_up_retry_interval`` s, so a stick
    # plugged back soon is used again soon, one plugged back tomorrow costs little meanwhile.
    give_up_first_retry: float = 5.0
    give_up_retry_interval: float = 300.0

    def __post_init__(self) -> None:
        positive = {
            "check_interval": self.check_interval,
            "check_timeout": self.check_timeout,
            "action_timeout": self.action_timeout,
            "give_up_first_retry": self.give_up_first_retry,
            "give_up_retry_interval": self.give_up_retry_interval,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        for name, count in (
            ("retries", self.retries),
            ("reconnects", self.reconnects),
            ("restarts", self.restarts),
        ):
            if count < 0:
                raise ValueError(f"{name} must not be negative, not {count!r}")
        if self.retry_delay < 0 or self.probation < 0:
            raise ValueError("retry_delay and probation must not be negative")

    def give_up_delay(self, attempt: int) -> float:
        """Seconds before the ``attempt``-th reconnect (from 0) after giving up."""
        return min(self.give_up_retry_interval, self.give_up_first_retry * 2.0 ** min(attempt, 30))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HealthPolicy:
        """A policy from config-entry options; unknown keys are ignored, missing ones default.

        Keys (seconds): ``health_check_interval``, ``health_check_timeout``.
        """
        policy = cls()
        return replace(
            policy,
            check_interval=float(options.get("health_check_interval", policy.check_interval)),
            check_timeout=float(options.get("health_check_timeout", policy.check_timeout)),
        )


class RecoveryActions(Protocol):
    """What the supervisor may do to a radio. Any of these may raise RadioIdentityError."""

    async def probe(self) -> None:
        """An end-to-end health check (a request the radio must answer); raises on failure."""

    async def reconnect(self) -> None:
        """Close and re-open the link to the radio."""

    async def restart(self) -> None:
        """Reset the radio and restart its network."""

    async def failover(self) -> bool:
        """Switch to the standby radio: False when none is configured; raises when it failed."""

    def has_standby(self) -> bool:
        """Whether a standby radio is configured."""


class RadioRecovery:
    """The ladder's steps on a radio link; a failover brings the standby radio up from
    the radio's section of the latest snapshot (``latest_section``)."""

    def __init__(
        self,
        radio: RadioLink,
        latest_section: Callable[[], Awaitable[Mapping[str, Any] | None]],
    ) -> None:
        self._radio = radio
        self._latest_section = latest_section

    async def probe(self) -> None:
        await self._radio.probe()

    async def reconnect(self) -> None:
        await self._radio.reconnect()

    async def restart(self) -> None:
        await self._radio.restart()

    async def failover(self) -> bool:
        if not self._radio.has_standby:
            return False
        section = await self._latest_section()
        if section is None:
            raise RadioError("no snapshot to bring the standby radio up from")
        await self._radio.failover(section)
        return True

    def has_standby(self) -> bool:
        return self._radio.has_standby


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

    One recovery runs at a time. Call ``start()`` inside the running event loop.
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
        self._wake = asyncio.Event()  # set by retry_now(): the recovery's wait ends early
        self._tasks: set[asyncio.Task[None]] = set()
        # The current recovery.
        self._attempts = 0
        self._failover_tried = False
        self._identity_lost = False
        self._last_error = ""
        self._last_cause = FailureCause.RADIO_ERROR
        # The last recovery, for probation.
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
        self._wake.set()

    def reset(self) -> None:
        """The radio was restored by hand: back to OK, counters cleared, checks resumed."""
        self._cancel_timer()
        self._cancel_check()
        self._cancel_recovery()
        self._needs_restore = False
        self._on_standby = False
        self._attempts = 0
        self._failover_tried = self._identity_lost = False
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
        self._attempts = 0
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
            await self._probe()
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

    async def _probe(self) -> None:
        await self._bounded(self._actions.probe, self.policy.check_timeout, "health check")

    async def _bounded[T](self, action: Callable[[], Awaitable[T]], limit: float, what: str) -> T:
        guard = asyncio.timeout(limit)
        try:
            async with guard:
                return await action()
        except TimeoutError as err:
            if guard.expired():
                raise TimeoutError(f"{what}: no answer within {limit:g} s") from err
            raise

    # ---- recovery -------------------------------------------------------------------

    def _first_step(self, lightest: RecoveryStep) -> RecoveryStep:
        """Where a new recovery starts: above the last fix while that one is on probation."""
        if self._fixed_by is not None and self._now() - self._fixed_at < self.policy.probation:
            return _heavier(lightest, _step_after(self._fixed_by))
        return lightest

    def _available(self, step: RecoveryStep) -> RecoveryStep:
        """The first step from ``step`` up that has something left to try."""
        for candidate in _LADDER[_LADDER.index(step) :]:
            match candidate:
                case RecoveryStep.RETRY if self.policy.retries == 0:
                    continue
                case RecoveryStep.RECONNECT if self.policy.reconnects == 0:
                    continue
                case RecoveryStep.RESTART if self.policy.restarts == 0:
                    continue
                case RecoveryStep.FAILOVER if (
                    self._failover_tried or not self._actions.has_standby()
                ):
                    continue
            return candidate
        return RecoveryStep.GIVE_UP

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
        self._wake.clear()
        self._attempts = 0
        self._failover_tried = False
        self._identity_lost = identity_lost
        self._last_error = reason
        self._last_cause = cause
        step = self._available(step)
        if identity_lost and step is RecoveryStep.GIVE_UP:
            self._fail_needing_restore(reason)
            return
        # Entered here, not in the task, so the status is current as soon as this returns.
        self._enter(step, reason)
        self._recovery = self._spawn(self._recover(step), "radio recovery")

    async def _recover(self, step: RecoveryStep) -> None:
        while True:
            try:
                fixed = await self._try(step)
            except RadioIdentityError as err:
                self._identity_lost = True
                self._last_error = describe_failure(err)
                self._last_cause = FailureCause.WRONG_NETWORK
                fixed = False
            if fixed:
                self._recovered(step)
                return
            if self._identity_lost and step is not RecoveryStep.FAILOVER:
                # Nothing below a failover can fix a radio that lost its network.
                step = self._available(RecoveryStep.FAILOVER)
            else:
                step = self._available(_step_after(step))
            if self._identity_lost and step is RecoveryStep.GIVE_UP:
                self._fail_needing_restore(self._last_error)
                return
            self._enter(step, self._last_error)

    async def _try(self, step: RecoveryStep) -> bool:
        """Every attempt of one step; True once the radio answers again."""
        policy = self.policy
        match step:
            case RecoveryStep.RETRY:
                for _ in range(policy.retries):
                    await self._wait(policy.retry_delay)
                    if await self._attempt(step):
                        return True
            case RecoveryStep.RECONNECT | RecoveryStep.RESTART:
                count = policy.reconnects if step is RecoveryStep.RECONNECT else policy.restarts
                for attempt in range(count):
                    if attempt:
                        await self._wait(policy.backoff.delay(attempt - 1, self._rng))
                    if await self._attempt(step):
                        return True
            case RecoveryStep.FAILOVER:
                self._failover_tried = True
                return await self._attempt(step)
            case RecoveryStep.GIVE_UP:
                attempt = 0
                while True:
                    # Woken: something changed, so the waits start short again.
                    attempt = 0 if await self._wait(policy.give_up_delay(attempt)) else attempt + 1
                    if await self._attempt(step):
                        return True
        return False

    async def _wait(self, delay: float) -> bool:
        """Wait ``delay`` s, or until ``retry_now()``; True when it was cut short."""
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            return False
        self._wake.clear()
        return True

    async def _attempt(self, step: RecoveryStep) -> bool:
        """One remedy followed by a probe; failures are expected and logged at debug only."""
        self._attempts += 1
        timeout = self.policy.action_timeout
        try:
            match step:
                case RecoveryStep.RECONNECT | RecoveryStep.GIVE_UP:
                    await self._bounded(self._actions.reconnect, timeout, "reconnect")
                case RecoveryStep.RESTART:
                    await self._bounded(self._actions.restart, timeout, "restart")
                case RecoveryStep.FAILOVER:
                    if not await self._bounded(self._actions.failover, timeout, "failover"):
                        self._last_error = "no standby radio to fail over to"
                        return False
                    self._on_standby = True
            await self._probe()
        except RadioIdentityError:
            raise
        except Exception as err:  # a failed remedy is what the ladder expects
            self._last_error = f"{step}: {describe_failure(err)}"
            self._last_cause = failure_cause(err)
            self._log.debug("Radio recovery attempt %d failed: %s", self._attempts, err)
            return False
        return True

    def _enter(self, step: RecoveryStep, reason: str) -> None:
        """Log a step once, when the ladder reaches it, and report it."""
        match step:
            case RecoveryStep.RETRY:
                self._log.warning("Radio health check failed (%s); checking again", reason)
            case RecoveryStep.RECONNECT:
                self._log.warning("Radio not answering (%s); reconnecting", reason)
            case RecoveryStep.RESTART:
                self._log.warning("Radio still not answering (%s); restarting it", reason)
            case RecoveryStep.FAILOVER:
                self._log.warning("Radio not usable (%s); switching to the standby radio", reason)
            case RecoveryStep.GIVE_UP:
                self._log.error(
                    "Radio did not recover (%s); giving up: reconnecting in %g s, then ever "
                    "less often, up to every %g s",
                    reason,
                    self.policy.give_up_delay(0),
                    self.policy.give_up_retry_interval,
                )
        self._set_status(_STATUS_DURING[step], step, reason)

    def _recovered(self, step: RecoveryStep) -> None:
        self._recovery = None
        self._fixed_by = step
        self._fixed_at = self._now()
        status = self._settled_status()
        self._log.info("Radio recovered by %s after %d attempt(s)", step, self._attempts)
        self._set_status(status, step, f"recovered by {step}")
        self._schedule_check(self.policy.check_interval)

    def _fail_needing_restore(self, reason: str) -> None:
        self._recovery = None
        self._needs_restore = True
        self._last_cause = FailureCause.WRONG_NETWORK
        self._cancel_timer()
        self._log.error(
            "Radio does not hold this gateway's network (%s); it needs a restore", reason
        )
        self._set_status(RadioHealth.FAILED, RecoveryStep.GIVE_UP, reason)

    def _settled_status(self) -> RadioHealth:
        return RadioHealth.FAILED_OVER if self._on_standby else RadioHealth.OK

    def _set_status(self, status: RadioHealth, step: RecoveryStep | None, reason: str) -> None:
        self._status = status
        failing = status in (RadioHealth.DEGRADED, RadioHealth.RECOVERING, RadioHealth.FAILED)
        event = HealthEvent(
            status,
            step,
            reason,
            self._attempts,
            self._needs_restore,
            self._last_cause if failing else None,
        )
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
