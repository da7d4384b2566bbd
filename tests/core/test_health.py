"""Radio health supervision: periodic checks, the recovery ladder, probation, identity faults."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import pytest

from custom_components.resilient_gateway.core.health import (
    HealthEvent,
    HealthPolicy,
    RadioHealth,
    RadioSupervisor,
    RecoveryStep,
    describe_failure,
    failure_cause,
)
from custom_components.resilient_gateway.core.radio import (
    BlankRadioError,
    ForeignNetworkError,
    RadioError,
)
from custom_components.resilient_gateway.core.virtual_time import run_virtual

from .frozen_clock import advance, run_frozen

LOGGER = logging.getLogger("tests.core.health")

OK = RadioHealth.OK
DEGRADED = RadioHealth.DEGRADED
RECOVERING = RadioHealth.RECOVERING
FAILED_OVER = RadioHealth.FAILED_OVER
FAILED = RadioHealth.FAILED
RETRY = RecoveryStep.RETRY
RECONNECT = RecoveryStep.RECONNECT
RESTART = RecoveryStep.RESTART
FAILOVER = RecoveryStep.FAILOVER
GIVE_UP = RecoveryStep.GIVE_UP

# With the default policy, a radio that stops answering at the check at 30 s is retried at
# 32 and 34, reconnected at 34, 36 and 40 (back-off 2 s, 4 s), restarted at 40 and 42.


class _Hang:
    """A scripted outcome: the call never returns (until cancelled)."""


HANG = _Hang()


@dataclass(frozen=True)
class Delay:
    """A scripted outcome: the call succeeds after ``seconds``."""

    seconds: float


def fail(message: str = "no answer") -> RadioError:
    return RadioError(message)


class FakeActions:
    """Scripted recovery actions that record every call with its loop time.

    Each action takes its scripted outcomes in order (None: success; an exception: raised;
    HANG; Delay); once a script is used up, every action fails while ``broken`` is set,
    except failover, which switches to a working standby when one is configured.
    """

    def __init__(self, *, standby: bool = False) -> None:
        self.calls: list[tuple[str, float]] = []
        self.cancelled: list[str] = []
        self.scripts: dict[str, deque[object]] = defaultdict(deque)
        self.broken = False
        self.standby = standby

    def script(self, action: str, *outcomes: object) -> None:
        self.scripts[action].extend(outcomes)

    def times(self, action: str) -> list[float]:
        return [at for name, at in self.calls if name == action]

    def count(self, action: str) -> int:
        return len(self.times(action))

    async def _act(self, action: str, default: object) -> object:
        self.calls.append((action, asyncio.get_running_loop().time()))
        script = self.scripts[action]
        outcome = script.popleft() if script else default
        try:
            if outcome is HANG:
                await asyncio.Event().wait()
            if isinstance(outcome, Delay):
                await asyncio.sleep(outcome.seconds)
                outcome = None
        except asyncio.CancelledError:
            self.cancelled.append(action)
            raise
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _fallback(self, action: str) -> object:
        return fail(f"{action}: radio gone") if self.broken else None

    async def probe(self) -> None:
        await self._act("probe", self._fallback("probe"))

    async def reconnect(self) -> None:
        await self._act("reconnect", self._fallback("reconnect"))

    async def restart(self) -> None:
        await self._act("restart", self._fallback("restart"))

    async def failover(self) -> bool:
        result = await self._act("failover", self.standby)
        if result is True:
            self.broken = False  # the standby answers
        return bool(result)

    def has_standby(self) -> bool:
        return self.standby


class Events:
    """on_event: records every event with the loop time it came at."""

    def __init__(self) -> None:
        self.timed: list[tuple[float, HealthEvent]] = []

    def __call__(self, event: HealthEvent) -> None:
        self.timed.append((asyncio.get_running_loop().time(), event))

    @property
    def events(self) -> list[HealthEvent]:
        return [event for _, event in self.timed]

    def steps(self) -> list[tuple[RadioHealth, RecoveryStep | None]]:
        return [(event.status, event.step) for event in self.events]


def _supervisor(actions: FakeActions, **policy: Any) -> tuple[RadioSupervisor, Events]:
    events = Events()
    supervisor = RadioSupervisor(actions, HealthPolicy(**policy), on_event=events, logger=LOGGER)
    return supervisor, events


def _logged(caplog: pytest.LogCaptureFixture) -> list[int]:
    """Levels of the supervisor's records at INFO and above, in order."""
    return [
        record.levelno
        for record in caplog.records
        if record.name == LOGGER.name and record.levelno >= logging.INFO
    ]


def _live_timers() -> list[asyncio.TimerHandle]:
    loop = asyncio.get_running_loop()
    return [handle for handle in loop._scheduled if not handle.cancelled()]  # type: ignore[attr-defined]


async def test_a_healthy_radio_is_probed_every_interval_and_stays_ok() -> None:
    actions = FakeActions()

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(95)
    assert actions.times("probe") == [30.0, 60.0, 90.0]
    assert supervisor.status is OK
    assert events.timed == []  # passing checks are not events
    await supervisor.stop()
    assert actions.count("reconnect") == 0


async def test_a_probe_that_hangs_fails_after_check_timeout() -> None:
    actions = FakeActions()
    actions.script("probe", HANG)

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(39)
    assert supervisor.status is OK  # still within the check's 10 s
    await asyncio.sleep(50)
    await supervisor.stop()
    assert actions.cancelled == ["probe"]
    assert [(at, e.status, e.step) for at, e in events.timed] == [
        (40.0, DEGRADED, RETRY),
        (42.0, OK, RETRY),
    ]
    assert "no answer within 10 s" in events.events[0].reason
    # Checks go on from the recovery: 30 s after it.
    assert actions.times("probe") == [30.0, 42.0, 72.0]


async def test_a_transient_failure_fixed_by_a_retry_does_not_reconnect() -> None:
    actions = FakeActions()
    actions.script("probe", fail(), fail())

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(40)
    assert supervisor.status is OK
    await supervisor.stop()
    assert actions.times("probe") == [30.0, 32.0, 34.0]
    assert actions.count("reconnect") == 0
    assert events.steps() == [(DEGRADED, RETRY), (OK, RETRY)]
    assert events.events[-1].attempt == 2


async def test_a_reconnect_fixes_it_and_each_step_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER.name)
    actions = FakeActions()
    actions.script("probe", fail(), fail(), fail())
    actions.script("reconnect", fail("port busy"), fail("port busy"))

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(45)
    assert supervisor.status is OK
    await supervisor.stop()
    assert actions.times("reconnect") == [34.0, 36.0, 40.0]  # spaced 2 s, then 4 s
    assert actions.count("restart") == 0
    assert [(at, e.status, e.step) for at, e in events.timed] == [
        (30.0, DEGRADED, RETRY),
        (34.0, RECOVERING, RECONNECT),
        (40.0, OK, RECONNECT),
    ]
    # Two probe retries and three reconnects, yet one record per step entered.
    assert _logged(caplog) == [logging.WARNING, logging.WARNING, logging.INFO]


async def test_a_reconnect_that_hangs_is_bounded_by_the_action_timeout() -> None:
    actions = FakeActions()
    actions.script("probe", fail(), fail(), fail())
    actions.script("reconnect", HANG)

    supervisor, _ = _supervisor(actions, action_timeout=5.0)
    supervisor.start()
    await asyncio.sleep(45)
    assert supervisor.status is OK
    await supervisor.stop()
    assert actions.cancelled == ["reconnect"]
    assert actions.times("reconnect") == [34.0, 41.0]  # timed out at 39, then 2 s back-off


async def test_when_reconnects_and_restarts_fail_it_fails_over_and_stays_on_the_standby(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER.name)
    actions = FakeActions(standby=True)
    actions.broken = True

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(100)
    assert supervisor.status is FAILED_OVER
    await supervisor.stop()
    assert actions.times("reconnect") == [34.0, 36.0, 40.0]
    assert actions.times("restart") == [40.0, 42.0]
    assert actions.times("failover") == [42.0]
    assert events.steps() == [
        (DEGRADED, RETRY),
        (RECOVERING, RECONNECT),
        (RECOVERING, RESTART),
        (RECOVERING, FAILOVER),
        (FAILED_OVER, FAILOVER),
    ]
    # Checks go on, on the standby, without further events.
    assert actions.times("probe") == [30.0, 32.0, 34.0, 42.0, 72.0]
    assert _logged(caplog) == [logging.WARNING] * 4 + [logging.INFO]


async def test_without_a_standby_it_gives_up_and_retries_soon_then_ever_less_often(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER.name)
    actions = FakeActions(standby=False)
    actions.broken = True

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(400)
    assert supervisor.status is FAILED
    actions.broken = False  # the stick was plugged back in
    await asyncio.sleep(300)
    assert supervisor.status is OK
    await supervisor.stop()
    assert actions.count("failover") == 0
    # Three reconnects on the ladder, then, after giving up at 42, reconnects 5, 10, 20,
    # 40, 80 and 160 s apart, and then every 300 s.
    assert actions.times("reconnect") == [
        34.0,
        36.0,
        40.0,
        47.0,
        57.0,
        77.0,
        117.0,
        197.0,
        357.0,
        657.0,
    ]
    assert [(at, e.status, e.step) for at, e in events.timed][-2:] == [
        (42.0, FAILED, GIVE_UP),
        (657.0, OK, GIVE_UP),
    ]
    assert not any(e.needs_restore for e in events.events)
    assert actions.times("probe")[-2:] == [657.0, 687.0]  # checks resumed
    # The failed retries after giving up are not logged: one error, when giving up.
    assert _logged(caplog).count(logging.ERROR) == 1


async def test_a_port_that_appears_is_tried_at_once() -> None:
    """retry_now() (a USB port appeared) ends the wait of a recovery: the stick plugged
    back is used at once; after a failed try the waits start short again."""
    actions = FakeActions(standby=False)
    actions.broken = True

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(250)  # gave up at 42; next reconnect due at 357
    supervisor.retry_now("a USB port appeared")  # another stick: the radio is still gone
    await asyncio.sleep(1)
    supervisor.retry_now("a USB port appeared")  # during the wait that follows
    await asyncio.sleep(100)
    assert supervisor.status is FAILED
    actions.broken = False  # now it is the radio
    supervisor.retry_now("a USB port appeared")
    await asyncio.sleep(0)
    assert supervisor.status is OK
    supervisor.retry_now("a USB port appeared")  # nothing to do: it works
    await asyncio.sleep(10)
    await supervisor.stop()
    # Woken at 250 and 251 (both fail), the waits start at 5 s again; woken at 351: fixed.
    assert actions.times("reconnect")[-8:] == [
        197.0,
        250.0,
        251.0,
        256.0,
        266.0,
        286.0,
        326.0,
        351.0,
    ]
    assert [(at, e.status, e.step) for at, e in events.timed][-1:] == [(351.0, OK, GIVE_UP)]
    assert actions.times("probe")[-1:] == [351.0]


async def test_a_stopped_or_working_supervisor_ignores_retry_now() -> None:
    actions = FakeActions()

    supervisor, _ = _supervisor(actions)
    supervisor.retry_now("before start")
    supervisor.start()
    supervisor.retry_now("while working")
    await asyncio.sleep(1)
    await supervisor.stop()
    supervisor.retry_now("after stop")
    assert actions.calls == []


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (FileNotFoundError(2, "No such file or directory: '/dev/ttyUSB0'"), "port_missing"),
        (OSError(errno.ENODEV, "No such device"), "port_missing"),
        (PermissionError(13, "Permission denied: '/dev/ttyUSB0'"), "port_refused"),
        (OSError(errno.EBUSY, "Device or resource busy"), "port_refused"),
        (TimeoutError("no answer within 10 s"), "no_answer"),
        (ConnectionRefusedError("the radio does not answer"), "no_answer"),
        (BrokenPipeError("broken pipe"), "connection_lost"),
        (BlankRadioError("the radio holds no network"), "wrong_network"),
        (RadioError("status NCP_ERROR"), "radio_error"),
    ],
)
def test_failure_causes_are_told_in_plain_words(error: Exception, cause: str) -> None:
    """Radio libraries wrap what went wrong in their own errors, often without a message
    (zigpy's TransientConnectionError): the cause is found below, and the reason names
    no exception class."""

    class TransientConnectionError(Exception):
        pass

    try:
        try:
            raise error
        except Exception as inner:
            raise TransientConnectionError from inner
    except TransientConnectionError as wrapped:
        assert failure_cause(wrapped) == cause
        reason = describe_failure(wrapped)
    assert "Error" not in reason
    assert str(error) in reason


@pytest.mark.parametrize("probation", [300.0, 10.0])
async def test_a_fault_within_probation_resumes_the_ladder_above_the_last_fix(
    probation: float,
) -> None:
    actions = FakeActions()
    # Fails at 30, fixed by the retry at 32; fails again at the check at 62, ...
    actions.script("probe", fail(), None, fail())

    supervisor, events = _supervisor(actions, probation=probation)
    supervisor.start()
    await asyncio.sleep(70)
    if probation > 30:
        # ... fixed by the reconnect at 62; a third fault, at 92, goes on to a restart.
        actions.script("probe", fail())
        await asyncio.sleep(30)
    await supervisor.stop()
    if probation > 30:
        assert events.steps() == [
            (DEGRADED, RETRY),
            (OK, RETRY),
            (RECOVERING, RECONNECT),
            (OK, RECONNECT),
            (RECOVERING, RESTART),
            (OK, RESTART),
        ]
        assert actions.times("reconnect") == [62.0]
        assert actions.times("restart") == [92.0]
        assert 64.0 not in actions.times("probe")  # no retry on the second fault
    else:
        assert events.steps() == [(DEGRADED, RETRY), (OK, RETRY)] * 2
        assert actions.count("reconnect") == 0
        assert 64.0 in actions.times("probe")


async def test_a_blank_radio_is_not_restarted_and_waits_for_a_restore() -> None:
    actions = FakeActions()
    actions.script("probe", fail(), fail(), fail())
    actions.script("reconnect", BlankRadioError("radio holds no network"))

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(40)
    assert supervisor.status is FAILED and supervisor.needs_restore
    calls = list(actions.calls)
    # No retrying, no checks: not a slow retry, not a report, not a manual check.
    supervisor.report_failure("link lost")
    assert await supervisor.check_now() is FAILED
    await asyncio.sleep(2000)
    assert actions.calls == calls
    assert _live_timers() == []
    # A restore, then reset(): supervised again.
    supervisor.reset()
    assert supervisor.status is OK and not supervisor.needs_restore
    await asyncio.sleep(31)
    assert actions.times("probe")[-1] == pytest.approx(2040.0 + 30.0)
    await supervisor.stop()
    assert actions.count("restart") == 0
    assert actions.count("failover") == 0
    assert events.steps() == [
        (DEGRADED, RETRY),
        (RECOVERING, RECONNECT),
        (FAILED, GIVE_UP),
        (OK, None),
    ]
    assert [e.needs_restore for e in events.events] == [False, False, True, False]
    assert "does not hold this gateway's network" in events.events[2].reason
    assert events.events[2].cause == "wrong_network"


async def test_a_foreign_network_fails_over_when_a_standby_exists() -> None:
    actions = FakeActions(standby=True)
    actions.script("probe", fail(), fail(), fail())
    actions.script("reconnect", ForeignNetworkError("another network"))

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(40)
    assert supervisor.status is FAILED_OVER
    await supervisor.stop()
    assert actions.count("restart") == 0
    assert actions.times("failover") == [34.0]
    assert events.steps() == [
        (DEGRADED, RETRY),
        (RECOVERING, RECONNECT),
        (RECOVERING, FAILOVER),
        (FAILED_OVER, FAILOVER),
    ]
    assert not any(e.needs_restore for e in events.events)


async def test_a_probe_finding_a_blank_radio_skips_the_retries() -> None:
    actions = FakeActions()
    actions.script("probe", BlankRadioError("radio holds no network"))

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(100)
    await supervisor.stop()
    assert actions.calls == [("probe", 30.0)]
    assert events.steps() == [(FAILED, GIVE_UP)]
    assert events.events[0].needs_restore


async def test_a_reported_failure_starts_recovery_at_once_and_only_once() -> None:
    actions = FakeActions()
    actions.script("reconnect", Delay(1.0))

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(5)
    supervisor.report_failure("serial port closed")
    assert supervisor.status is RECOVERING  # at once, not at the next check
    await asyncio.sleep(0.5)
    supervisor.report_failure("serial port closed again")  # ignored: recovering
    await asyncio.sleep(31)
    await supervisor.stop()
    assert actions.times("reconnect") == [5.0]
    # No probe retries on a lost link; the check at 30 did not happen during recovery.
    assert actions.times("probe") == [6.0, 36.0]
    assert [(at, e.status, e.step) for at, e in events.timed] == [
        (5.0, RECOVERING, RECONNECT),
        (6.0, OK, RECONNECT),
    ]
    assert events.events[0].reason == "serial port closed"


async def test_pause_stops_checks_and_resume_checks_at_once() -> None:
    actions = FakeActions()

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(35)
    supervisor.pause()
    supervisor.report_failure("port taken by another program")  # ignored while paused
    assert await supervisor.check_now() is OK
    await asyncio.sleep(100)
    assert actions.times("probe") == [30.0]
    assert actions.count("reconnect") == 0
    assert _live_timers() == []
    supervisor.resume()
    await asyncio.sleep(31)
    assert actions.times("probe") == [30.0, 135.0, 165.0]
    assert events.timed == []
    await supervisor.stop()


async def test_pause_cancels_a_recovery_and_a_passing_check_after_resume_settles() -> None:
    actions = FakeActions()
    actions.broken = True

    supervisor, events = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(35)  # reconnecting since 34
    supervisor.pause()
    await asyncio.sleep(500)
    assert actions.times("reconnect") == [34.0]
    actions.broken = False
    supervisor.resume()
    await asyncio.sleep(0)
    assert supervisor.status is OK
    await supervisor.stop()
    assert events.steps() == [(DEGRADED, RETRY), (RECOVERING, RECONNECT), (OK, None)]
    assert actions.times("probe")[-1] == 535.0


async def test_stop_cancels_a_recovery_in_progress_leaving_no_tasks_or_timers() -> None:
    actions = FakeActions()
    actions.script("probe", fail(), fail(), fail())
    actions.script("reconnect", HANG)

    supervisor, _ = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(40)
    assert supervisor.recovering
    async with asyncio.timeout(1):  # a stop() that waited for the hung reconnect
        await supervisor.stop()
    assert actions.cancelled == ["reconnect"]
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert _live_timers() == []
    calls = list(actions.calls)
    supervisor.report_failure("after stop")
    await asyncio.sleep(1000)
    assert actions.calls == calls


async def test_check_now_probes_at_once_and_moves_the_next_check() -> None:
    actions = FakeActions()

    supervisor, _ = _supervisor(actions)
    supervisor.start()
    await asyncio.sleep(10)
    assert await supervisor.check_now() is OK
    actions.script("probe", fail())
    await asyncio.sleep(30)
    assert actions.times("probe") == [10.0, 40.0]
    actions.broken = True
    assert await supervisor.check_now() is DEGRADED  # the recovery started
    await supervisor.stop()


async def test_a_radio_known_to_need_a_restore_is_not_checked_until_reset() -> None:
    actions = FakeActions()

    supervisor, events = _supervisor(actions)
    supervisor.mark_needs_restore("radio holds no network")
    supervisor.start()
    await asyncio.sleep(100)
    assert actions.calls == []
    supervisor.reset()
    await asyncio.sleep(30)
    assert actions.times("probe") == [130.0]
    await supervisor.stop()
    assert [(e.status, e.needs_restore) for e in events.events] == [(FAILED, True), (OK, False)]


def test_a_failing_listener_does_not_stop_recovery() -> None:
    actions = FakeActions()
    actions.script("probe", fail())

    def broken_listener(event: HealthEvent) -> None:
        raise RuntimeError("listener bug")

    async def main() -> RadioHealth:
        supervisor = RadioSupervisor(
            actions, HealthPolicy(), on_event=broken_listener, logger=LOGGER
        )
        supervisor.start()
        await asyncio.sleep(33)
        status = supervisor.status
        await supervisor.stop()
        return status

    assert run_virtual(main()) is OK
    assert actions.times("probe") == [30.0, 32.0]


def test_timers_fired_early_by_a_frozen_clock_harness_drive_the_ladder() -> None:
    # Home Assistant's test harness fires timers without moving loop.time().
    actions = FakeActions()
    actions.script("probe", fail(), fail(), fail())

    async def main() -> Events:
        supervisor, events = _supervisor(actions)
        supervisor.start()
        await advance(30)
        await advance(10)
        status = supervisor.status
        await supervisor.stop()
        assert status is OK
        return events

    events = run_frozen(main())
    assert events.steps() == [(DEGRADED, RETRY), (RECOVERING, RECONNECT), (OK, RECONNECT)]


def test_policy_from_options_and_validation() -> None:
    policy = HealthPolicy.from_options(
        {"health_check_interval": "60", "health_check_timeout": 5, "unrelated": 1}
    )
    assert (policy.check_interval, policy.check_timeout) == (60.0, 5.0)
    assert policy.retries == HealthPolicy().retries
    assert HealthPolicy.from_options({}) == HealthPolicy()
    with pytest.raises(ValueError, match="check_interval"):
        HealthPolicy(check_interval=0)
    with pytest.raises(ValueError, match="restarts"):
        HealthPolicy(restarts=-1)
