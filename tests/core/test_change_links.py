"""The change engine learns each device's link and chooses how to reach it: a member known
to miss groupcasts gets its unicast at once, a small group on lossy air gets unicasts only,
report windows close on evidence, and what was learned survives a restart."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.changes import ChangeEngine
from custom_components.resilient_gateway.core.changes.links import LinkBook
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.core.policy import Backoff, ChangePolicy
from custom_components.resilient_gateway.core.scheduler import SendScheduler

from .fake_radio import FakeDevice, FakeRadio

ON = Attr.ON
GROUP = 5


def _engine(radio: FakeRadio, **kwargs: Any) -> ChangeEngine:
    rng = random.Random(3)
    engine = ChangeEngine(SendScheduler(radio, rng=rng), describe=radio.describe, rng=rng, **kwargs)
    radio.listener = engine
    return engine


def _group(radio: FakeRadio, count: int) -> list[str]:
    names = [f"m{i}" for i in range(count)]
    for name in names:
        radio.add(FakeDevice(name, groups={GROUP}))
    return names


def _learned(
    members: list[str], *, misses: dict[str, int] | None = None, groupcasts: int = 10
) -> dict[str, Any]:
    """A saved engine (``changes.json``) that has seen ``groupcasts`` groupcasts to each
    member, ``misses`` of them missed, and reports 0.12 s after each groupcast."""
    misses = misses or {}
    return {
        "version": 1,
        "devices": {},
        "changes": [],
        "links": {
            "devices": {m: [groupcasts, misses.get(m, 0), 0, 0] for m in members},
            "group_delays": [0.12] * 10,
            "report_delays": [0.0] * 10,
        },
    }


async def test_a_member_known_to_miss_groupcasts_gets_its_unicast_at_once() -> None:
    radio = FakeRadio()  # frames land 0.02 s after going on air, reports 0.1 s later
    members = _group(radio, 30)
    radio.devices["m7"].miss_next_groupcasts = 1

    engine = _engine(radio)
    engine.load_pending(_learned(members, misses={"m7": 20}, groupcasts=20))
    result = await engine.set_group_state(GROUP, members, {ON: True}).wait()
    assert result.status is ChangeStatus.VERIFIED
    assert result.repaired == {"m7"}
    await engine.stop()
    groupcast, repair = radio.sent("group")[0], radio.sent("send")[0]
    # The groupcast first (the members it reaches come on together), the unicast to the
    # member that always misses it right after, long before any report could come back.
    assert repair.target == "m7"
    assert groupcast.at <= repair.at < radio.latency + radio.report_delay
    assert len(radio.sent("send")) == 1  # nobody else was sent a unicast


async def test_a_small_group_on_lossy_air_gets_unicasts_only() -> None:
    radio = FakeRadio()
    members = _group(radio, 3)

    engine = _engine(radio)
    # One groupcast in three missed, by every member: a member is likely to miss.
    engine.load_pending(_learned(members, misses=dict.fromkeys(members, 4), groupcasts=12))
    result = await engine.set_group_state(GROUP, members, {ON: True}).wait()
    assert result.status is ChangeStatus.VERIFIED
    await engine.stop()
    # Three unicasts are on air (20 per second) before a groupcast's report could say
    # who missed it: no groupcast at all.
    assert radio.sent("group") == []
    assert [f.target for f in radio.sent("send")] == members


async def test_a_group_on_clean_air_gets_one_groupcast() -> None:
    radio = FakeRadio()
    members = _group(radio, 3)

    engine = _engine(radio)
    engine.load_pending(_learned(members))  # never a miss
    result = await engine.set_group_state(GROUP, members, {ON: True}).wait()
    assert result.status is ChangeStatus.VERIFIED
    await engine.stop()
    assert len(radio.sent("group")) == 1
    assert radio.sent("send") == []


async def test_a_group_whose_members_all_reported_closes_its_window_at_once() -> None:
    radio = FakeRadio()  # frames land 0.02 s after going on air, reports 0.1 s later
    members = _group(radio, 3)
    radio.devices["m0"].miss_next_groupcasts = 1
    policy = ChangePolicy(group_report_wait=3.0)  # nothing learned: up to 3 s

    engine = _engine(radio, policy=policy)
    handle = engine.set_group_state(GROUP, members, {ON: True})
    # The member that missed the groupcast says so: it reports "off".
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, engine.attributes_reported, "m0", {ON: False})
    result = await handle.wait()
    assert result.status is ChangeStatus.VERIFIED
    assert result.repaired == {"m0"}
    await engine.stop()
    (repair,) = radio.sent("send")
    # Not after 3 s, nor a quiet spell after the last report (0.5 s): as soon as the
    # last member had answered (0.12 s).
    assert repair.at == pytest.approx(radio.latency + radio.report_delay)


async def test_link_learning_survives_a_restart() -> None:
    radio = FakeRadio(group_miss=0.5, seed=4)
    members = _group(radio, 8)

    engine = _engine(radio)
    for on in (True, False, True):
        await engine.set_group_state(GROUP, members, {ON: on}).wait()
    saved: dict[str, Any] = json.loads(json.dumps(engine.export_pending()))
    await engine.stop()
    restored = _engine(radio)
    restored.load_pending(saved)
    again: dict[str, Any] = json.loads(json.dumps(restored.export_pending()))
    await restored.stop()
    assert again["links"] == saved["links"]
    links = saved["links"]
    counts = links["devices"]
    assert set(counts) == set(members)
    assert all(groupcasts == 3 for groupcasts, *_ in counts.values())
    assert sum(missed for _, missed, *_ in counts.values()) > 0  # half of them miss
    assert len(links["group_delays"]) >= 5  # the reports' delays after the groupcasts


async def test_a_file_without_links_and_damaged_links_read_as_nothing_learned() -> None:
    book = LinkBook()
    book.load(
        {
            "devices": {"a": [4, 9, 1, 0], "b": [1, "x"], 3: [1, 1, 1, 1]},
            "group_delays": [0.1, -1, True],
        }
    )
    assert set(book.devices) == {"a"}
    assert book.devices["a"].missed == 4  # never more misses than groupcasts
    assert list(book.group_delays.recent) == [0.1]

    radio = FakeRadio()
    radio.add(FakeDevice("lamp"))

    engine = _engine(radio)
    engine.load_pending({"version": 1, "devices": {"lamp": {"desired": {"on": True}}}})
    assert engine.device_status("lamp") is not None
    assert engine.export_pending()["links"]["devices"] == {}
    await engine.stop()


async def test_after_a_few_reports_a_silent_device_is_read_after_the_learned_delay() -> None:
    radio = FakeRadio()
    lamp = radio.add(FakeDevice("lamp"))

    engine = _engine(radio)
    for on in (True, False, True, False, True, False):  # reports 0.1 s after the ack
        await engine.set_state("lamp", {ON: on}).wait()
    lamp.reports = False
    started = radio.frames[-1].at
    result = await engine.set_state("lamp", {ON: True}).wait()
    assert result.status is ChangeStatus.VERIFIED and result.reads == 1
    read = radio.sent("read")[-1]
    # Read once the learned report delay (floor 0.3 s) passed, not after 5 s.
    assert read.at - started < 1.0
    await engine.stop()


def test_delivery_failures_are_retried_at_once_then_backed_off() -> None:
    backoff = ChangePolicy().delivery_backoff
    rng = random.Random(1)
    assert [backoff.delay(retry, rng) for retry in (0, 1)] == [0.0, 0.0]
    assert backoff.delay(2, rng) == pytest.approx(backoff.initial, rel=backoff.jitter)
    assert Backoff().delay(0, rng) > 0  # (other back-offs keep waiting)


async def test_a_read_whose_answer_is_lost_is_sent_again_after_the_learned_timeout() -> None:
    radio = FakeRadio(read_timeout=5.0)  # zigpy gives up on an answer after 5 s
    lamp = radio.add(FakeDevice("lamp", reports=False))  # every change is verified by a read

    engine = _engine(radio)
    for on in (True, False, True, False, True, False):  # answers 0.04 s after the read
        await engine.set_state("lamp", {ON: on}).wait()
    lamp.lose_next_answers = 1
    result = await engine.set_state("lamp", {ON: True}).wait()
    assert result.status is ChangeStatus.VERIFIED and result.reads == 2
    assert lamp.state[ON] is True
    assert [f.kind for f in radio.frames[-3:]] == ["send", "read", "read"]
    lost, again = radio.sent("read")[-2:]
    # Asked again once the learned answer delay (at least 0.4 s) passed, not after 5 s,
    # and without sending the command again.
    policy = ChangePolicy()
    assert again.at - lost.at == pytest.approx(policy.read_timeout_floor, abs=0.01)
    saved = engine.export_pending()["links"]
    assert len(saved["read_delays"]) >= 5  # (kept with the pending changes)
    await engine.stop()


async def test_reads_of_a_device_without_learned_answers_wait_for_the_radio() -> None:
    radio = FakeRadio(read_timeout=5.0)
    lamp = radio.add(FakeDevice("lamp", reports=False, lose_next_answers=1))

    engine = _engine(radio)
    result = await engine.set_state("lamp", {ON: True}).wait()
    assert result.status is ChangeStatus.VERIFIED
    await engine.stop()
    lost, *later = radio.sent("read")
    # Nothing known of its answers yet: the lost one is waited for as long as the radio
    # library waits (5 s), and the engine backs off before it tries again.
    assert later and later[0].at - lost.at > 5.0
    assert lamp.state[ON] is True


async def test_after_two_quick_reads_the_third_waits_as_long_as_the_radio() -> None:
    radio = FakeRadio(read_timeout=5.0)
    lamp = radio.add(FakeDevice("lamp", reports=False))

    engine = _engine(radio)
    for on in (True, False, True, False, True, False):
        await engine.set_state("lamp", {ON: on}).wait()
    lamp.lose_next_answers = 3  # (or a device slower than the rest of the network)
    result = await engine.set_state("lamp", {ON: True}).wait()
    assert result.status is ChangeStatus.VERIFIED
    await engine.stop()
    reads = [f.at for f in radio.sent("read")[-5:]]
    first, second, third, fourth = reads[-4:]
    floor = ChangePolicy().read_timeout_floor
    assert second - first == pytest.approx(floor, abs=0.01)
    assert third - second == pytest.approx(floor, abs=0.01)
    assert fourth - third > 5.0  # the radio's whole wait, then a back-off
