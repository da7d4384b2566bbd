"""The escalation ladder that brings a radio back: retry → reconnect → restart → failover →
give up, its policy, the failure causes in plain words, what each step does to a radio
(``RadioRecovery``) and one recovery's climb (``Escalation``).

A fault is recovered along the ladder of ever heavier remedies; a radio that answers but
holds no network, or another one (``RadioIdentityError``), skips what cannot fix it (check
again, reconnect, restart) and fails over or stops and asks for a restore. After giving up
it keeps reconnecting, ever less often, and ``retry_now`` cuts any wait short. The
supervisor (``health.py``) decides when a recovery starts and what its status is.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from .policy import Backoff
from .radio import RadioError, RadioIdentityError, RadioLink


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


LADDER: tuple[RecoveryStep, ...] = tuple(RecoveryStep)


def step_after(step: RecoveryStep) -> RecoveryStep:
    """The next heavier step (giving up is the last)."""
    return LADDER[min(LADDER.index(step) + 1, len(LADDER) - 1)]


def heavier(a: RecoveryStep, b: RecoveryStep) -> RecoveryStep:
    """The heavier of two steps."""
    return max(a, b, key=LADDER.index)


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


async def bounded[T](action: Callable[[], Awaitable[T]], limit: float, what: str) -> T:
    """``action()``, given up with a TimeoutError that says what after ``limit`` s."""
    guard = asyncio.timeout(limit)
    try:
        async with guard:
            return await action()
    except TimeoutError as err:
        if guard.expired():
            raise TimeoutError(f"{what}: no answer within {limit:g} s") from err
        raise


async def check_health(actions: RecoveryActions, policy: HealthPolicy) -> None:
    """One end-to-end health check, failed when the radio does not answer in time."""
    await bounded(actions.probe, policy.check_timeout, "health check")


class Escalation:
    """One recovery: climbs the ladder from a step, trying each step's remedies (each
    followed by a health check) until the radio answers, and says which step fixed it.

    ``on_step(step, reason)`` hears each step as the climb reaches it; ``on_failed_over``
    hears that the standby radio took over (even if its check then failed).
    """

    def __init__(
        self,
        actions: RecoveryActions,
        policy: HealthPolicy,
        *,
        reason: str,
        cause: FailureCause,
        identity_lost: bool,
        rng: random.Random,
        log: logging.Logger,
        on_step: Callable[[RecoveryStep, str], None],
        on_failed_over: Callable[[], None],
    ) -> None:
        self._actions = actions
        self._policy = policy
        self._rng = rng
        self._log = log
        self._on_step = on_step
        self._on_failed_over = on_failed_over
        self._wake = asyncio.Event()  # set by retry_now(): a wait ends early
        self.attempts = 0  # remedies tried so far (probes, reconnects, restarts, failovers)
        self.identity_lost = identity_lost
        self.last_error = reason
        self.last_cause = cause
        self._failover_tried = False

    def retry_now(self) -> None:
        """Try the next remedy at once; after giving up, the waits start short again."""
        self._wake.set()

    def available(self, step: RecoveryStep) -> RecoveryStep:
        """The first step from ``step`` up that has something left to try."""
        policy = self._policy
        for candidate in LADDER[LADDER.index(step) :]:
            match candidate:
                case RecoveryStep.RETRY if policy.retries == 0:
                    continue
                case RecoveryStep.RECONNECT if policy.reconnects == 0:
                    continue
                case RecoveryStep.RESTART if policy.restarts == 0:
                    continue
                case RecoveryStep.FAILOVER if (
                    self._failover_tried or not self._actions.has_standby()
                ):
                    continue
            return candidate
        return RecoveryStep.GIVE_UP

    async def climb(self, step: RecoveryStep) -> RecoveryStep | None:
        """From ``step`` (entered already) up; the step that fixed the radio, or None when
        it lost its network and nothing left can bring that back (it needs a restore)."""
        while True:
            try:
                fixed = await self._try(step)
            except RadioIdentityError as err:
                self.identity_lost = True
                self.last_error = describe_failure(err)
                self.last_cause = FailureCause.WRONG_NETWORK
                fixed = False
            if fixed:
                return step
            if self.identity_lost and step is not RecoveryStep.FAILOVER:
                # Nothing below a failover can fix a radio that lost its network.
                step = self.available(RecoveryStep.FAILOVER)
            else:
                step = self.available(step_after(step))
            if self.identity_lost and step is RecoveryStep.GIVE_UP:
                return None
            self.enter(step, self.last_error)

    def enter(self, step: RecoveryStep, reason: str) -> None:
        """Log a step once, when the climb reaches it, and tell it."""
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
                    self._policy.give_up_delay(0),
                    self._policy.give_up_retry_interval,
                )
        self._on_step(step, reason)

    async def _try(self, step: RecoveryStep) -> bool:
        """Every attempt of one step; True once the radio answers again."""
        policy = self._policy
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
        self.attempts += 1
        timeout = self._policy.action_timeout
        try:
            match step:
                case RecoveryStep.RECONNECT | RecoveryStep.GIVE_UP:
                    await bounded(self._actions.reconnect, timeout, "reconnect")
                case RecoveryStep.RESTART:
                    await bounded(self._actions.restart, timeout, "restart")
                case RecoveryStep.FAILOVER:
                    if not await bounded(self._actions.failover, timeout, "failover"):
                        self.last_error = "no standby radio to fail over to"
                        return False
                    self._on_failed_over()
            await check_health(self._actions, self._policy)
        except RadioIdentityError:
            raise
        except Exception as err:  # a failed remedy is what the ladder expects
            self.last_error = f"{step}: {describe_failure(err)}"
            self.last_cause = failure_cause(err)
            self._log.debug("Radio recovery attempt %d failed: %s", self.attempts, err)
            return False
        return True
