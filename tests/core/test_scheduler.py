"""The per-radio send scheduler: budget, no drops, priorities, coalescing, back-pressure."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Collection
from typing import Any

import pytest

from custom_components.resilient_gateway.core.model import Attr, DeviceId
from custom_components.resilient_gateway.core.policy import Backoff
from custom_components.resilient_gateway.core.radio import (
    DeliveryError,
    NoResponseError,
    RadioBudget,
)
from custom_components.resilient_gateway.core.scheduler import (
    ClassLimitReached,
    Priority,
    SchedulerStopped,
    SendScheduler,
    Ticket,
)

from .fake_radio import FakeDevice, FakeRadio, Frame
from .frozen_clock import advance, fire_timers, run_frozen

EPSILON = 1e-6


def _radio(count: int = 0, **kwargs: object) -> FakeRadio:
    radio = FakeRadio(**kwargs)  # type: ignore[arg-type]
    for index in range(count):
        radio.add(FakeDevice(f"light-{index}"))
    return radio


def _starts(frames: list[Frame]) -> list[float]:
    return [f.at for f in frames]


def _max_in_any_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0 - EPSILON) for start in times)


async def test_budget_is_never_exceeded_with_200_sends() -> None:
    budget = RadioBudget(unicasts_per_s=5.0, groupcasts_per_s=1.0, max_in_flight=2)
    radio = _radio(200, budget=budget, latency=0.3)

    scheduler = SendScheduler(radio, rng=random.Random(1))
    tickets = [scheduler.send(f"light-{i}", {Attr.ON: True}) for i in range(200)]
    tickets += [scheduler.send_group(i, {Attr.ON: False}) for i in range(5)]
    await asyncio.gather(*tickets)
    await scheduler.stop()
    elapsed = asyncio.get_running_loop().time()
    assert radio.violations == []
    assert radio.max_in_flight_seen <= 2
    unicasts = _starts(radio.sent("send"))
    groupcasts = _starts(radio.sent("group"))
    assert len(unicasts) == 200 and len(groupcasts) == 5
    assert min(b - a for a, b in itertools.pairwise(unicasts)) >= 0.2 - EPSILON
    assert _max_in_any_second(unicasts) <= 5
    assert min(b - a for a, b in itertools.pairwise(groupcasts)) >= 1 - EPSILON
    # Paced, not stalled: 200 unicasts at 5/s take about 40 s.
    assert 39.0 < elapsed < 45.0


async def test_delivery_errors_are_retried_with_backoff_and_counted() -> None:
    radio = _radio(1)
    radio.devices["light-0"].lose_next = 2

    scheduler = SendScheduler(radio, rng=random.Random(1))
    ticket = scheduler.send("light-0", {Attr.ON: True})
    await ticket
    await scheduler.stop()
    frames = radio.sent("send")
    assert len(frames) == 3
    assert ticket.attempts == 3
    assert radio.devices["light-0"].state[Attr.ON] is True
    # Back-off grows: about 0.5 s then about 1 s (plus jitter), not hammering the radio.
    gaps = [b.at - a.at for a, b in itertools.pairwise(frames)]
    assert 0.3 < gaps[0] < 0.8 and 0.7 < gaps[1] < 1.5


async def test_nothing_is_dropped_under_load_with_random_delivery_errors() -> None:
    budget = RadioBudget(unicasts_per_s=3.0, groupcasts_per_s=0.5, max_in_flight=1)
    radio = _radio(200, budget=budget, loss=0.3, seed=4)

    scheduler = SendScheduler(radio, rng=random.Random(2))
    tickets = [scheduler.send(f"light-{i}", {Attr.BRIGHTNESS: i + 1}) for i in range(200)]
    await asyncio.gather(*tickets)
    assert scheduler.stats.queued == 0
    assert scheduler.stats.delivery_failures == radio.delivery_failures > 0
    await scheduler.stop()
    assert radio.violations == []
    assert all(radio.devices[f"light-{i}"].state[Attr.BRIGHTNESS] == i + 1 for i in range(200))


async def test_user_commands_go_before_repairs_before_background_reads() -> None:
    budget = RadioBudget(unicasts_per_s=100.0, max_in_flight=1)
    radio = _radio(7, budget=budget, latency=1.0)

    scheduler = SendScheduler(radio, rng=random.Random(1))
    first = scheduler.send("light-0", {Attr.ON: True})  # occupies the only slot
    await asyncio.sleep(0.1)
    scheduler.read("light-1", [Attr.ON], priority=Priority.BACKGROUND)
    scheduler.send("light-2", {Attr.ON: True}, priority=Priority.REPAIR)
    scheduler.send("light-3", {Attr.ON: True}, priority=Priority.USER)
    scheduler.read("light-4", [Attr.ON], priority=Priority.REPAIR)
    last = scheduler.send("light-5", {Attr.ON: True}, priority=Priority.USER)
    await first
    await last
    await asyncio.sleep(5)
    await scheduler.stop()
    order = [f.target for f in radio.frames]
    assert order == ["light-0", "light-3", "light-5", "light-2", "light-4", "light-1"]


async def test_a_newer_set_for_a_queued_device_is_merged_into_it() -> None:
    budget = RadioBudget(unicasts_per_s=100.0, max_in_flight=1)
    radio = _radio(2, budget=budget, latency=1.0)

    scheduler = SendScheduler(radio, rng=random.Random(1))
    busy = scheduler.send("light-0", {Attr.ON: True})
    await asyncio.sleep(0.1)
    older = scheduler.send("light-1", {Attr.ON: True, Attr.BRIGHTNESS: 10})
    newer = scheduler.send(
        "light-1", {Attr.BRIGHTNESS: 200}, transition=2.0, priority=Priority.REPAIR
    )
    await asyncio.gather(busy, older, newer)
    assert scheduler.stats.coalesced == 1
    await scheduler.stop()
    frames = radio.sent("send", "light-1")
    assert len(frames) == 1
    assert frames[0].values == {Attr.ON: True, Attr.BRIGHTNESS: 200}
    assert radio.devices["light-1"].state[Attr.BRIGHTNESS] == 200


async def test_a_set_while_on_air_queues_behind_and_one_device_has_one_frame_on_air() -> None:
    radio = _radio(1, latency=1.0)

    scheduler = SendScheduler(radio, rng=random.Random(1))
    first = scheduler.send("light-0", {Attr.BRIGHTNESS: 10})
    await asyncio.sleep(0.1)
    read = scheduler.read("light-0", [Attr.BRIGHTNESS], priority=Priority.USER)
    second = scheduler.send("light-0", {Attr.BRIGHTNESS: 20})
    await asyncio.gather(first, second)
    assert (await read)[Attr.BRIGHTNESS] == 10  # read after the first, before the second
    await scheduler.stop()
    frames = radio.sent(target="light-0")
    assert [f.kind for f in frames] == ["send", "read", "send"]
    assert all(b.at - a.at >= 1.0 - EPSILON for a, b in itertools.pairwise(frames))


async def test_callers_wait_for_their_turn_instead_of_failing() -> None:
    budget = RadioBudget(unicasts_per_s=2.0, max_in_flight=8)
    radio = _radio(10, budget=budget)

    loop = asyncio.get_running_loop()
    scheduler = SendScheduler(radio, rng=random.Random(1))
    done_at: list[float] = []

    async def caller(index: int) -> None:
        await scheduler.send(f"light-{index}", {Attr.ON: True})
        done_at.append(loop.time())

    tasks = [asyncio.create_task(caller(i)) for i in range(10)]
    await asyncio.sleep(0.01)
    assert scheduler.stats.queued == 9  # queued, not refused
    await asyncio.gather(*tasks)
    await scheduler.stop()
    assert radio.violations == []
    assert max(done_at) == pytest.approx(4.5 + radio.latency)


async def test_a_cancelled_ticket_withdraws_its_queued_operation() -> None:
    budget = RadioBudget(unicasts_per_s=1.0, max_in_flight=1)
    radio = _radio(3, budget=budget)

    scheduler = SendScheduler(radio, rng=random.Random(1))
    first = scheduler.send("light-0", {Attr.ON: True})
    withdrawn = scheduler.send("light-1", {Attr.ON: True})
    kept = scheduler.send("light-2", {Attr.ON: True})
    withdrawn.cancel()
    await asyncio.gather(first, kept)
    assert withdrawn.cancelled()
    await scheduler.stop()
    assert [f.target for f in radio.frames] == ["light-0", "light-2"]


async def test_a_ticket_cancelled_as_soon_as_it_is_issued_never_goes_on_air() -> None:
    radio = _radio(1)

    scheduler = SendScheduler(radio, rng=random.Random(1))
    scheduler.send("light-0", {Attr.ON: True}).cancel()
    await asyncio.sleep(1.0)
    assert scheduler.stats.queued == 0
    await scheduler.stop()
    assert radio.frames == []


async def test_a_wait_the_radio_library_cancels_itself_is_retried_not_dropped() -> None:
    """A radio library cancels the confirmations it waits for when its link drops
    (zigpy-znp does on disconnect): a CancelledError the scheduler did not cause is a
    failed delivery, tried again, never taken for the scheduler being stopped."""
    radio = _radio(1)

    loop = asyncio.get_running_loop()
    scheduler = SendScheduler(radio, rng=random.Random(1))
    scheduler.delivery_backoff = Backoff(initial=1.0, maximum=1.0, jitter=0.0)
    confirmations: list[asyncio.Future[None]] = []

    async def send() -> str:
        if not confirmations:
            confirmations.append(loop.create_future())
            await confirmations[0]  # never confirmed: the library cancels it
        return "delivered"

    ticket = scheduler.call(send, device_id="light-0")
    await asyncio.sleep(0.1)
    confirmations[0].cancel()
    assert await ticket == "delivered"
    assert ticket.attempts == 2
    assert loop.time() == pytest.approx(1.1)  # after the delivery back-off
    assert scheduler.stats.delivery_failures == 1
    await scheduler.stop()


async def test_a_read_without_answer_fails_the_ticket_and_is_not_retried() -> None:
    radio = _radio(1)
    radio.devices["light-0"].online = False

    scheduler = SendScheduler(radio, rng=random.Random(1))
    with pytest.raises(NoResponseError):
        await scheduler.read("light-0", [Attr.ON], timeout=10.0)
    await scheduler.stop()
    assert len(radio.sent("read")) == 1


class _AcknowledgedReads(FakeRadio):
    """Reads fail with DeliveryError when the device does not acknowledge the request, as
    zigpy's do (an unpowered device acknowledges nothing)."""

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        self._begin("read", device_id, dict.fromkeys(attributes))
        try:
            device = await self._deliver(device_id)
            return {a: device.state[a] for a in attributes if a in device.state}
        finally:
            self.in_flight -= 1


async def test_a_read_without_delivery_retry_fails_at_the_first_delivery_failure() -> None:
    """A ping: one try, so an unpowered device fails it at once."""
    radio = _AcknowledgedReads()
    radio.add(FakeDevice("lamp", online=False))

    scheduler = SendScheduler(radio, rng=random.Random(1))
    with pytest.raises(DeliveryError):
        await scheduler.read("lamp", [Attr.ON], retry_delivery=False)
    await scheduler.stop()
    assert len(radio.sent("read")) == 1


async def test_a_ping_sharing_a_queued_read_fails_alone() -> None:
    """Coalesced with a read that wants its answer: the ping fails with the first delivery
    failure, the read is sent again and answered."""
    radio = _AcknowledgedReads()
    radio.add(FakeDevice("lamp", lose_next=1, state={Attr.ON: True}))

    scheduler = SendScheduler(radio, rng=random.Random(1))
    read = scheduler.read("lamp", [Attr.ON])
    ping = scheduler.read("lamp", [Attr.ON], retry_delivery=False)
    with pytest.raises(DeliveryError):
        await ping
    assert not read.done()
    assert await read == {Attr.ON: True}
    await scheduler.stop()
    assert len(radio.sent("read")) == 2


async def test_a_read_on_air_answers_a_read_of_what_it_asks_for() -> None:
    """Asked while a read of the whole state is on air: no second frame for the same
    answer; asking for more queues behind it."""
    radio = _radio()
    radio.add(FakeDevice("lamp", state={Attr.ON: True, Attr.BRIGHTNESS: 80}))

    scheduler = SendScheduler(radio, rng=random.Random(1))
    whole = scheduler.read("lamp", [Attr.ON, Attr.BRIGHTNESS])
    await asyncio.sleep(radio.latency / 2)
    assert whole.on_air
    attempts: list[float] = []
    part = scheduler.read("lamp", [Attr.ON], on_attempt=lambda: attempts.append(1.0))
    more = scheduler.read("lamp", [Attr.ON, "power_on_behavior"])  # type: ignore[list-item]
    assert await part == {Attr.ON: True, Attr.BRIGHTNESS: 80}
    assert attempts == [1.0]  # its answer went on air once
    assert await whole == {Attr.ON: True, Attr.BRIGHTNESS: 80}
    await more
    await scheduler.stop()
    assert [f.values.keys() for f in radio.sent("read")] == [
        {Attr.ON, Attr.BRIGHTNESS},
        {Attr.ON, "power_on_behavior"},
    ]


async def test_a_read_under_way_is_joined_as_it_is() -> None:
    """Who only wants the answer of a read under way gets a ticket for it, queued or on
    air, and the read keeps its priority; with none under way there is nothing to join."""
    budget = RadioBudget(unicasts_per_s=1.0, max_in_flight=1)
    radio = _radio(3, budget=budget)

    scheduler = SendScheduler(radio, rng=random.Random(1))
    assert scheduler.read_under_way("light-1", [Attr.ON]) is None
    assert not scheduler.is_reading("light-1", [Attr.ON])
    background = scheduler.send("light-0", {Attr.ON: True}, priority=Priority.BACKGROUND)
    queued = scheduler.read("light-1", [Attr.ON], priority=Priority.BACKGROUND)
    joined = scheduler.read_under_way("light-1", [Attr.ON])
    assert joined is not None and scheduler.is_reading("light-1", [Attr.ON])
    assert scheduler.read_under_way("light-1", [Attr.ON, Attr.BRIGHTNESS]) is None
    repair = scheduler.send("light-2", {Attr.ON: True}, priority=Priority.REPAIR)
    assert await joined == await queued
    await asyncio.gather(background, repair)
    await scheduler.stop()
    # The repair first, then the background work in the order it came: the read was not
    # moved up by the ticket that joined it.
    assert [(f.kind, f.target) for f in radio.frames] == [
        ("send", "light-2"),
        ("send", "light-0"),
        ("read", "light-1"),
    ]


async def test_a_limited_class_takes_no_more_than_its_limit_queued_or_on_air() -> None:
    """Sleepers' operations, two at a time: the third is refused at once (its caller tries
    at the device's next wake), a place frees up when one ends, and other work is not
    held back."""
    budget = RadioBudget(unicasts_per_s=100.0, max_in_flight=8)
    radio = _radio(1, budget=budget)

    loop = asyncio.get_running_loop()
    scheduler = SendScheduler(radio, rng=random.Random(1), limits={"sleeper": 2})
    running: list[int] = []

    async def dozed_off() -> None:
        running.append(1)
        await asyncio.sleep(7.68)  # the parent holds the frame, then drops it
        raise NoResponseError("did not poll in time")

    def configure(device_id: str) -> Ticket[None]:
        return scheduler.call(dozed_off, device_id=device_id, retry_delivery=False, limit="sleeper")

    first, second = configure("sensor-1"), configure("sensor-2")
    with pytest.raises(ClassLimitReached):
        configure("sensor-3")
    await scheduler.send("light-0", {Attr.ON: True})  # not behind the sleepers
    assert loop.time() < 1.0
    with pytest.raises(ClassLimitReached):
        configure("sensor-3")  # queued or on air, they count
    for ticket in (first, second):
        with pytest.raises(NoResponseError):
            await ticket
    assert len(running) == 2  # not tried again
    third = configure("sensor-3")
    with pytest.raises(NoResponseError):
        await third
    with pytest.raises(ValueError, match="no limit"):
        scheduler.call(dozed_off, limit="mystery")
    await scheduler.stop()


async def test_stop_cancels_queued_work_and_leaves_no_timers() -> None:
    budget = RadioBudget(unicasts_per_s=1.0, max_in_flight=1)
    radio = _radio(5, budget=budget, latency=0.5)

    loop = asyncio.get_running_loop()
    scheduler = SendScheduler(radio, rng=random.Random(1))
    tickets = [scheduler.send(f"light-{i}", {Attr.ON: True}) for i in range(5)]
    radio.devices["light-4"].lose_next = 100
    await asyncio.sleep(1.2)
    await scheduler.stop()
    assert all(t.done() for t in tickets)
    assert [t for t in tickets if t.cancelled()]
    pending = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert pending == []
    assert asyncio.all_tasks() == {asyncio.current_task()}
    with pytest.raises(SchedulerStopped):
        scheduler.send("light-0", {Attr.ON: False})


def test_pacing_follows_fired_timers_even_when_the_clock_stands_still() -> None:
    budget = RadioBudget(unicasts_per_s=2.0, max_in_flight=4)
    radio = _radio(6, budget=budget, enforce_budget=False)

    async def main() -> None:
        scheduler = SendScheduler(radio, rng=random.Random(1))
        tickets = [scheduler.send(f"light-{i}", {Attr.ON: True}) for i in range(6)]
        await advance(0.2, step=0.1)
        assert len(radio.frames) == 1  # one token; the next is due in 0.5 s
        # Each firing of the pacing timer (due 0.5 s after the last frame) frees one token;
        # new timers are set from the loop's clock, so they never run ahead of the harness.
        await advance(1.0, step=0.25)  # fires at +0.5, +0.75 and +1.0
        assert len(radio.frames) == 4
        await advance(10.0)
        assert all(t.done() for t in tickets)
        await scheduler.stop()

    run_frozen(main())
    assert len(radio.frames) == 6


async def test_other_operations_are_paced_and_retry_now_skips_the_backoff() -> None:
    budget = RadioBudget(unicasts_per_s=1.0, max_in_flight=1)
    radio = _radio(1, budget=budget)
    radio.devices["light-0"].lose_next = 1

    loop = asyncio.get_running_loop()
    scheduler = SendScheduler(radio, rng=random.Random(1))
    calls: list[float] = []

    async def ping() -> str:
        calls.append(loop.time())
        return "pong"

    answers = [scheduler.call(ping) for _ in range(3)]
    assert [await a for a in answers] == ["pong"] * 3
    assert calls == pytest.approx([0.0, 1.0, 2.0])
    scheduler.delivery_backoff = Backoff(initial=60.0, maximum=60.0, jitter=0.0)
    ticket = scheduler.send("light-0", {Attr.ON: True})
    await asyncio.sleep(3.5)
    assert not ticket.done() and ticket.attempts == 1
    retried_at = loop.time()
    scheduler.retry_now()  # e.g. the radio came back
    await ticket
    assert loop.time() == pytest.approx(retried_at + radio.latency)
    await scheduler.stop()


async def test_an_operation_of_several_frames_spends_a_token_per_frame() -> None:
    """A device configuration (checks, binds, reporting: 5 frames here) keeps the radio's
    unicast budget on average, whatever the number of operations in flight."""
    budget = RadioBudget(unicasts_per_s=10.0, max_in_flight=8)
    radio = _radio(0, budget=budget)

    loop = asyncio.get_running_loop()
    scheduler = SendScheduler(radio, rng=random.Random(1))
    started: list[float] = []

    async def configure() -> None:
        started.append(loop.time())

    await asyncio.gather(*(scheduler.call(configure, frames=5) for _ in range(20)))
    await scheduler.stop()
    # 100 frames at 10 per second: about 10 s from the first operation to the last (less
    # the bucket's first burst), and never more than a burst and a second's worth of
    # frames in any one second (charged per operation, they would all start at once).
    assert started[-1] - started[0] >= 8.0
    per_second = max(sum(1 for t in started if s <= t < s + 1.0) for s in started)
    assert per_second * 5 <= 25


async def test_reads_and_sends_are_charged_the_frames_the_radio_needs_for_them() -> None:
    """A radio that reads a colour light's state in three requests (one per cluster) gets
    a third as many such reads per second as single-frame ones."""
    budget = RadioBudget(unicasts_per_s=6.0, max_in_flight=8)
    radio = _radio(10, budget=budget)
    radio.frames_to_read = len  # type: ignore[method-assign]  # one frame per attribute
    radio.frames_to_send = len  # type: ignore[method-assign]

    scheduler = SendScheduler(radio, rng=random.Random(1))
    reads = [
        scheduler.read(f"light-{i}", [Attr.ON, Attr.BRIGHTNESS, Attr.COLOR_TEMP]) for i in range(5)
    ]
    sends = [
        scheduler.send(f"light-{i}", {Attr.ON: True, Attr.BRIGHTNESS: 9}) for i in range(5, 10)
    ]
    await asyncio.gather(*reads, *sends)
    await scheduler.stop()
    starts = _starts(radio.sent("read")) + _starts(radio.sent("send"))
    frames = 5 * 3 + 5 * 2
    # 25 frames at 6 per second: about 4 s, not the 10 operations' 1.7 s.
    assert max(starts) - min(starts) >= (frames - 3) / 6 - EPSILON


async def test_an_operation_sends_at_least_one_frame() -> None:
    scheduler = SendScheduler(_radio(0), rng=random.Random(1))
    with pytest.raises(ValueError, match="at least one frame"):
        scheduler.call(asyncio.sleep, frames=0)
    await scheduler.stop()


def test_a_harness_firing_at_a_constant_offset_still_drains_the_queue() -> None:
    # Home Assistant tests often fire "now + N seconds" again and again while the loop's
    # clock stands still: timers must be set from the loop's clock, not run ahead of it.
    budget = RadioBudget(unicasts_per_s=2.0, max_in_flight=4)
    radio = _radio(20, budget=budget, enforce_budget=False)
    radio.devices["light-3"].lose_next = 3

    async def main() -> None:
        scheduler = SendScheduler(radio, rng=random.Random(1))
        tickets = [scheduler.send(f"light-{i}", {Attr.ON: True}) for i in range(20)]
        for _ in range(60):
            await fire_timers(5.0)
        assert all(t.done() and t.exception() is None for t in tickets)
        await scheduler.stop()

    run_frozen(main())
