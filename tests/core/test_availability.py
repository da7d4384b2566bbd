"""Availability: pinged when silent, offline when unanswered or silent too long, never stale."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from custom_components.resilient_gateway.core.availability import (
    Availability,
    AvailabilityPolicy,
    AvailabilityTracker,
    is_pinged,
)
from custom_components.resilient_gateway.core.model import (
    DeviceDescription,
    DeviceId,
    DeviceKind,
    PowerSource,
    SleepMode,
)
from custom_components.resilient_gateway.core.policy import Backoff
from custom_components.resilient_gateway.core.radio import DeliveryError, NoResponseError

from .frozen_clock import advance, fire_timers, run_frozen

EPSILON = 1e-6
ONLINE = Availability.ONLINE
OFFLINE = Availability.OFFLINE
UNKNOWN = Availability.UNKNOWN


def _mains(device_id: DeviceId, sleep_mode: SleepMode = SleepMode.ALWAYS_ON) -> DeviceDescription:
    return DeviceDescription(device_id, device_id, DeviceKind.LIGHT, sleep_mode=sleep_mode)


def _battery(device_id: DeviceId, sleep_mode: SleepMode = SleepMode.SLEEPY) -> DeviceDescription:
    return DeviceDescription(
        device_id,
        device_id,
        DeviceKind.CONTACT_SENSOR,
        power_source=PowerSource.BATTERY,
        sleep_mode=sleep_mode,
    )


@dataclass
class Pinger:
    """Answers for devices in ``alive`` after ``latency``; others fail after ``timeout`` (the
    caller's timeout). Records every ping's start and whether two overlap for one device."""

    alive: set[DeviceId] = field(default_factory=set)
    latency: float = 0.05
    timeout: float = 5.0
    slow: dict[DeviceId, float] = field(default_factory=dict)  # per-device latency
    error: type[Exception] = NoResponseError
    starts: list[tuple[float, DeviceId]] = field(default_factory=list)
    cancelled: list[DeviceId] = field(default_factory=list)
    overlaps: list[DeviceId] = field(default_factory=list)
    _in_flight: set[DeviceId] = field(default_factory=set)

    async def __call__(self, device_id: DeviceId) -> None:
        self.starts.append((asyncio.get_running_loop().time(), device_id))
        if device_id in self._in_flight:
            self.overlaps.append(device_id)
        self._in_flight.add(device_id)
        try:
            if device_id in self.alive:
                await asyncio.sleep(self.slow.get(device_id, self.latency))
                return
            await asyncio.sleep(self.timeout)
            raise self.error(device_id)
        except asyncio.CancelledError:
            self.cancelled.append(device_id)
            raise
        finally:
            self._in_flight.discard(device_id)

    def times(self, device_id: DeviceId | None = None) -> list[float]:
        return [t for t, d in self.starts if device_id is None or d == device_id]


class Harness:
    """A tracker with a fake pinger, recording every change and return with its time."""

    def __init__(self, policy: AvailabilityPolicy | None = None, **pinger: object) -> None:
        self.loop = asyncio.get_running_loop()
        self.pinger = Pinger(**pinger)  # type: ignore[arg-type]
        self.changes: list[tuple[float, DeviceId, Availability]] = []
        self.returns: list[tuple[float, DeviceId]] = []
        self.tracker = AvailabilityTracker(
            self.pinger,
            policy or AvailabilityPolicy(),
            on_change=lambda d, a: self.changes.append((self.loop.time(), d, a)),
            on_returned=lambda d: self.returns.append((self.loop.time(), d)),
            rng=random.Random(1),
        )

    async def until(self, at: float) -> None:
        await asyncio.sleep(at - self.loop.time())

    def changes_of(self, device_id: DeviceId) -> list[tuple[float, Availability]]:
        return [(t, a) for t, d, a in self.changes if d == device_id]

    def returned(self, device_id: DeviceId) -> list[float]:
        return [t for t, d in self.returns if d == device_id]


def _max_in_any_second(times: Iterable[float]) -> int:
    times = list(times)
    return max(sum(1 for t in times if start <= t < start + 1.0 - EPSILON) for start in times)


def _live_timers(loop: asyncio.AbstractEventLoop) -> int:
    scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
    return sum(1 for handle in scheduled if not handle.cancelled())


async def test_silent_mains_device_is_pinged_and_stays_online_when_it_answers() -> None:
    h = Harness(alive={"lamp"})
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(301.0)
    h.tracker.heard("lamp")  # a frame postpones the next ping
    await h.until(2000.0)
    await h.tracker.stop()
    pings = h.pinger.times("lamp")
    assert len(pings) == 3
    assert pings[0] == pytest.approx(0.0)  # the re-confirmation after the start
    assert pings[1] == pytest.approx(901.0, abs=0.01)  # 600 s after the frame, not after 0
    assert pings[2] == pytest.approx(1501.05, abs=0.01)  # 600 s after the answer
    assert h.changes == [(pytest.approx(0.05), "lamp", ONLINE)]  # online throughout
    assert h.returns == []


async def test_unanswered_pings_make_a_device_offline_and_are_retried_ever_more_rarely() -> None:
    h = Harness(timeout=5.0)
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(20_000.0)
    await h.tracker.stop()
    assert h.changes == [(pytest.approx(5.0), "lamp", OFFLINE)]
    pings = h.pinger.times("lamp")
    gaps = [b - a - 5.0 for a, b in itertools.pairwise(pings)]  # back-off after each failure
    assert len(gaps) >= 6
    assert 540.0 <= gaps[0] <= 660.0  # about the mains interval, jittered
    assert gaps[1] > 1.5 * gaps[0] and gaps[2] > 1.5 * gaps[1]  # growing
    assert all(gap <= 3600.0 * 1.1 + EPSILON for gap in gaps)  # up to the maximum
    assert gaps[-1] > 3600.0 * 0.9
    assert h.tracker.availability("lamp") is OFFLINE
    assert h.returns == []


async def test_any_exception_from_ping_is_a_failed_ping() -> None:
    h = Harness(timeout=1.0, error=DeliveryError)
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(10.0)
    await h.tracker.stop()
    assert h.changes == [(pytest.approx(1.0), "lamp", OFFLINE)]


async def test_a_frame_from_an_offline_device_is_one_return() -> None:
    h = Harness(timeout=5.0)
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(1_000.0)  # two failed pings: the next one is over 1000 s away
    assert h.tracker.availability("lamp") is OFFLINE
    assert len(h.pinger.times("lamp")) == 2
    for _ in range(3):
        h.tracker.heard("lamp")
    await h.until(1_650.0)  # silent again: pinged at 1600, no answer
    h.tracker.heard("lamp")
    await h.until(1_660.0)
    await h.tracker.stop()
    assert [a for _, a in h.changes_of("lamp")] == [OFFLINE, ONLINE, OFFLINE, ONLINE]
    assert h.returned("lamp") == [pytest.approx(1_000.0), pytest.approx(1_650.0)]
    # The frame ended the back-off: the next ping is a mains interval after it, not later.
    assert h.pinger.times("lamp")[2:] == [pytest.approx(1_600.0)]


async def test_an_announce_is_a_return_even_when_online() -> None:
    h = Harness(alive={"lamp"})
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(50.0)
    h.tracker.heard("lamp")  # an online device's frame is no return
    h.tracker.announced("lamp")
    await h.until(60.0)
    h.tracker.announced("lamp")
    h.tracker.announced("stranger")  # not tracked: ignored
    await h.tracker.stop()
    assert h.returned("lamp") == [pytest.approx(50.0), pytest.approx(60.0)]
    assert [a for _, a in h.changes_of("lamp")] == [ONLINE]
    assert h.tracker.availability("stranger") is UNKNOWN


async def test_battery_devices_are_never_pinged_and_offline_after_25_hours_of_silence() -> None:
    h = Harness()
    h.tracker.track(
        [_battery("sensor"), _battery("remote", SleepMode.LIGHT_SLEEPER)],
        last_heard={"sensor": -10.0},
    )
    h.tracker.start()
    assert h.tracker.availability("sensor") is ONLINE  # its frame is recent enough
    assert h.tracker.availability("remote") is UNKNOWN
    await h.until(89_000.0)
    assert h.tracker.counts() == {UNKNOWN: 1, ONLINE: 1, OFFLINE: 0}
    await h.until(95_000.0)
    h.tracker.heard("sensor")
    await h.until(100_000.0)
    await h.tracker.stop()
    assert h.pinger.starts == []
    # The deadline counts from the frame known from before (at -10 s)...
    assert h.changes_of("sensor") == [
        (0.0, ONLINE),
        (pytest.approx(89_990.0), OFFLINE),
        (95_000.0, ONLINE),
    ]
    assert h.returned("sensor") == [95_000.0]
    # ...and for a device never heard, from the start.
    assert h.changes_of("remote") == [(pytest.approx(90_000.0), OFFLINE)]


async def test_devices_that_listen_at_any_time_are_pinged_and_sleepers_are_not() -> None:
    assert is_pinged(_mains("lamp"))
    assert is_pinged(_mains("dimmer", SleepMode.LIGHT_SLEEPER))
    assert is_pinged(_battery("siren", SleepMode.ALWAYS_ON))
    assert not is_pinged(_battery("valve", SleepMode.LIGHT_SLEEPER))
    assert not is_pinged(_battery("sensor", SleepMode.SLEEPY))

    h = Harness(alive={"dimmer", "siren", "valve"})
    h.tracker.track(
        [
            _mains("dimmer", SleepMode.LIGHT_SLEEPER),
            _battery("siren", SleepMode.ALWAYS_ON),
            _battery("valve", SleepMode.LIGHT_SLEEPER),
        ]
    )
    h.tracker.start()
    await h.until(700.0)
    await h.tracker.stop()
    assert sorted({d for _, d in h.pinger.starts}) == ["dimmer", "siren"]
    assert len(h.pinger.times("dimmer")) == 2  # re-confirmed, then pinged after 600 s


async def test_after_track_mains_devices_are_unknown_until_a_ping_answers() -> None:
    h = Harness(alive={"a", "b", "c"})
    # Frames from before this start: they order the re-confirmation, prove nothing.
    h.tracker.track([_mains("a"), _mains("b"), _mains("c")], {"a": -5, "b": -30, "c": -1})
    h.tracker.start()
    assert h.tracker.counts() == {UNKNOWN: 3, ONLINE: 0, OFFLINE: 0}
    await h.until(0.1)
    assert [h.tracker.availability(d) for d in "abc"] == [UNKNOWN, ONLINE, UNKNOWN]
    await h.until(1.0)
    assert h.tracker.counts() == {UNKNOWN: 0, ONLINE: 3, OFFLINE: 0}
    await h.tracker.stop()
    assert [d for _, d in h.pinger.starts] == ["b", "a", "c"]  # the silent longest first
    assert h.returns == []  # a start is no return: the gateway reads every device anyway


async def test_reconfirming_100_devices_is_rate_bounded_and_completes() -> None:
    policy = AvailabilityPolicy(reconfirm_rate=4.0)
    devices = [f"lamp-{i}" for i in range(100)]

    h = Harness(policy, alive=set(devices))
    h.tracker.track([_mains(d) for d in devices])
    h.tracker.start()
    await h.until(30.0)
    assert h.tracker.counts()[ONLINE] == 100
    await h.tracker.stop()
    times = h.pinger.times()
    assert sorted(d for _, d in h.pinger.starts) == sorted(devices)  # each once
    assert _max_in_any_second(times) <= 4
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.25 - EPSILON
    assert times[-1] == pytest.approx(99 * 0.25)  # bounded, not stalled


async def test_steady_state_pings_are_spaced_and_the_silent_longest_goes_first() -> None:
    devices = [f"lamp-{i}" for i in range(50)]

    h = Harness(alive=set(devices))
    h.tracker.track([_mains(d) for d in devices])
    h.tracker.start()
    await h.until(620.0)
    for device_id in devices[-10:]:
        h.tracker.heard(device_id)  # waiting in the ping queue: a frame is proof enough
    await h.until(2_500.0)
    await h.tracker.stop()
    reconfirmed = [d for t, d in h.pinger.starts if t < 100.0]
    steady = [(t, d) for t, d in h.pinger.starts if t >= 100.0]
    assert reconfirmed == devices
    times = [t for t, _ in steady]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 2.0 - EPSILON
    first_round = [d for t, d in steady if t < 800.0]
    # All fell silent within 12.5 s of each other; the queue takes them in that order.
    assert first_round == devices[:-10]
    assert times[0] == pytest.approx(600.05)
    assert len(steady) > 100  # and it keeps going, round after round


async def test_pause_stops_pings_and_resume_reconfirms_everything() -> None:
    h = Harness(alive={"a", "b", "slow"}, slow={"slow": 60.0})
    h.tracker.track([_mains("a"), _mains("b"), _mains("slow"), _battery("sensor")])
    h.tracker.heard("sensor")
    h.tracker.start()
    await h.until(10.0)
    h.tracker.pause()  # the slow device's ping is still in flight: given up
    await h.until(5_000.0)
    assert h.tracker.counts() == {UNKNOWN: 1, ONLINE: 3, OFFLINE: 0}  # nothing decided
    h.tracker.resume()
    assert h.tracker.counts() == {UNKNOWN: 4, ONLINE: 0, OFFLINE: 0}
    await h.until(5_100.0)
    assert h.tracker.counts() == {UNKNOWN: 1, ONLINE: 3, OFFLINE: 0}
    await h.until(100_000.0)
    await h.tracker.stop()
    assert h.pinger.cancelled == ["slow"]
    assert not [t for t in h.pinger.times() if 10.0 < t < 5_000.0]
    resumed = [t for t in h.pinger.times() if 5_000.0 <= t < 5_010.0]
    assert resumed == [pytest.approx(5_000.0 + 0.25 * i) for i in range(3)]
    # Heard again after the outage: returns, so the gateway re-reads them.
    assert sorted(d for t, d in h.returns if t < 5_100.0) == ["a", "b", "slow"]
    # The pause does not count against the sleeper: offline 25 h of listening after its frame.
    assert h.changes_of("sensor") == [
        (0.0, ONLINE),
        (5_000.0, UNKNOWN),
        (pytest.approx(90_000.0 + 4_990.0), OFFLINE),
    ]


async def test_a_ping_given_up_before_it_ran_is_sent_again_on_resume() -> None:
    """A pause at the very instant a ping starts cancels it before its first step (the
    link to a Bluetooth device released when its ping fell due): the device must still be
    re-confirmed when the radio is back, not left unknown."""
    h = Harness(alive={"lamp"}, latency=0.0)  # (answered at 0 s: next ping due at 600 s)
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(1.0)
    h.loop.call_at(600.0, h.tracker.pause)  # (set after the ping's own timer for 600 s)
    await h.until(700.0)
    assert h.pinger.times("lamp") == [pytest.approx(0.0)]  # the one at 600 never ran
    h.tracker.resume()
    await h.until(701.0)
    assert h.pinger.times("lamp")[1:] == [pytest.approx(700.0)]
    assert h.tracker.counts() == {UNKNOWN: 0, ONLINE: 1, OFFLINE: 0}
    await h.tracker.stop()


async def test_a_ping_in_flight_through_a_pause_and_resume_at_once_is_sent_again() -> None:
    """The radio back within the same instant it was lost (a reconnect that succeeds at
    once): the ping given up is replaced by a re-confirmation without waiting for anything
    else to wake the queue."""
    h = Harness(alive={"lamp"}, slow={"lamp": 30.0})
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(10.0)  # its first ping is still waiting for the slow answer
    h.tracker.pause()
    h.tracker.resume()
    await h.until(50.0)
    assert h.pinger.cancelled == ["lamp"]
    assert h.pinger.times("lamp") == [pytest.approx(0.0), pytest.approx(10.0)]
    assert h.tracker.counts() == {UNKNOWN: 0, ONLINE: 1, OFFLINE: 0}
    await h.tracker.stop()


async def test_reconfirm_all_makes_devices_unknown_but_keeps_silent_sleepers_offline() -> None:
    h = Harness(alive={"lamp"})
    h.tracker.track([_mains("lamp"), _battery("gone"), _battery("sensor")])
    h.tracker.start()
    await h.until(89_000.0)
    h.tracker.heard("sensor")
    await h.until(91_000.0)
    assert h.tracker.availability("gone") is OFFLINE
    h.tracker.reconfirm_all()
    assert h.tracker.counts() == {UNKNOWN: 2, ONLINE: 0, OFFLINE: 1}
    await h.until(200_000.0)
    await h.tracker.stop()
    assert [a for _, a in h.changes_of("gone")] == [OFFLINE]
    assert [a for _, a in h.changes_of("lamp")] == [ONLINE, UNKNOWN, ONLINE]
    assert h.returned("lamp") == [pytest.approx(91_000.05)]
    # The sleeper keeps its deadline from its last frame (no pause: the radio heard it all).
    assert h.changes_of("sensor") == [
        (89_000.0, ONLINE),
        (91_000.0, UNKNOWN),
        (pytest.approx(179_000.0), OFFLINE),
    ]


async def test_a_ping_sent_before_a_reconfirmation_does_not_count_when_it_fails() -> None:
    h = Harness(timeout=30.0)  # the radio is failing: no answers
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(10.0)
    h.pinger.alive.add("lamp")  # the radio recovered; the ping in flight will still fail
    h.tracker.reconfirm_all()
    await h.until(100.0)
    await h.tracker.stop()
    assert h.pinger.times("lamp") == [0.0, 30.0]  # re-confirmed once the old ping ended
    assert h.changes == [(pytest.approx(30.05), "lamp", ONLINE)]


async def test_a_failed_ping_does_not_count_when_a_frame_came_meanwhile() -> None:
    h = Harness(timeout=5.0)
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(2.0)
    h.tracker.heard("lamp")  # while the ping waits for its timeout
    await h.until(100.0)
    await h.tracker.stop()
    assert h.changes == [(2.0, "lamp", ONLINE)]


async def test_only_one_ping_in_flight_per_device() -> None:
    h = Harness(alive={"lamp"}, slow={"lamp": 1_500.0})
    h.tracker.track([_mains("lamp")])
    h.tracker.start()
    await h.until(10.0)
    h.tracker.heard("lamp")  # its silence deadline (610 s) passes with the ping in flight
    await h.until(2_200.0)
    await h.tracker.stop()
    assert h.pinger.overlaps == []
    assert h.pinger.times("lamp") == [0.0, pytest.approx(2_100.0)]


async def test_stop_leaves_nothing_running() -> None:
    devices = [f"lamp-{i}" for i in range(10)]

    loop = asyncio.get_running_loop()
    h = Harness(alive=set(devices), latency=30.0)
    h.tracker.track([*map(_mains, devices), _battery("sensor")], {"sensor": 0.0})
    h.tracker.start()
    await h.until(1.0)  # four pings in flight, the queue timer and a deadline set
    assert _live_timers(loop) > 0 and len(asyncio.all_tasks()) > 1
    await h.tracker.stop()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert _live_timers(loop) == 0
    started = len(h.pinger.starts)
    await h.until(200_000.0)
    assert len(h.pinger.starts) == started
    assert sorted(h.pinger.cancelled) == sorted(devices[:4])
    assert h.changes == [(0.0, "sensor", ONLINE)]  # no deadline passed after the stop


async def test_removing_a_device_stops_its_pings() -> None:
    h = Harness(timeout=5.0)
    h.tracker.track([_mains("a"), _mains("b")])
    h.tracker.start()
    await h.until(1.0)  # b's ping in flight
    h.tracker.track([_mains("a")])
    assert h.tracker.availability("b") is UNKNOWN
    assert h.tracker.counts() == {UNKNOWN: 1, ONLINE: 0, OFFLINE: 0}
    await h.until(20_000.0)
    await h.tracker.stop()
    assert h.pinger.cancelled == ["b"]
    assert h.pinger.times("b") == [0.25]
    assert len(h.pinger.times("a")) > 5
    assert [d for _, d, _ in h.changes] == ["a"]


async def test_frames_from_500_devices_cost_no_timers() -> None:
    devices = [f"lamp-{i}" for i in range(500)]

    loop = asyncio.get_running_loop()
    h = Harness(alive=set(devices))
    h.tracker.track([_mains(d) for d in devices])
    h.tracker.start()
    await h.until(130.0)
    assert h.tracker.counts()[ONLINE] == 500
    assert _live_timers(loop) <= 501  # a deadline per device and the ping queue's
    timers_set: list[object] = []
    call_at = loop.call_at

    def counting_call_at(
        when: float, callback: Any, *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        if getattr(callback, "__self__", None) is h.tracker:
            timers_set.append(callback)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counting_call_at  # type: ignore[method-assign, assignment]
    for _ in range(10):
        for device_id in devices:
            h.tracker.heard(device_id)
        await asyncio.sleep(1.0)
    assert timers_set == []  # frames move deadlines lazily, without new timers
    assert _live_timers(loop) <= 501
    await h.tracker.stop()


def test_timers_fired_early_by_a_test_harness_still_ping_and_time_out() -> None:
    # Home Assistant's harness runs due timers while loop.time() stands still.
    policy = AvailabilityPolicy(ping_backoff=Backoff(initial=900.0, maximum=3600.0, jitter=0.0))

    async def main() -> None:
        h = Harness(policy, alive={"lamp"}, latency=0.0, timeout=0.0)
        h.tracker.track([_mains("lamp"), _mains("dead"), _battery("sensor")])
        h.tracker.start()
        await advance(1.0)
        assert h.tracker.counts() == {UNKNOWN: 1, ONLINE: 1, OFFLINE: 1}
        await fire_timers(599.0)
        assert len(h.pinger.starts) == 2
        await fire_timers(600.0)  # the lamp's silence deadline: queued...
        await fire_timers(600.0)  # ...and pinged when the queue's timer fires
        assert h.pinger.times("lamp") == [1000.0, 1000.0]
        assert h.tracker.availability("lamp") is ONLINE
        await fire_timers(899.0)
        assert len(h.pinger.times("dead")) == 1
        await fire_timers(900.0)
        await fire_timers(900.0)
        assert len(h.pinger.times("dead")) == 2  # after its back-off
        assert h.tracker.availability("sensor") is UNKNOWN
        await fire_timers(90_000.0)
        assert h.tracker.availability("sensor") is OFFLINE
        await h.tracker.stop()

    run_frozen(main())


def test_policy_from_options() -> None:
    policy = AvailabilityPolicy.from_options({"mains_interval": 300, "battery_interval": "7200"})
    assert policy.mains_interval == 300.0 and policy.battery_interval == 7200.0
    assert policy.ping_backoff == Backoff(initial=300.0, factor=2.0, maximum=3600.0, jitter=0.1)
    assert AvailabilityPolicy.from_options({"other": 1}) == AvailabilityPolicy()
    with pytest.raises(ValueError):
        AvailabilityPolicy(ping_spacing=0.0)
    with pytest.raises(ValueError):
        AvailabilityPolicy(reconfirm_rate=-1.0)
