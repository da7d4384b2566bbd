"""The change benchmark puts every strategy on the same air: the same seed gives each the
same random draws, per device and kind of frame, and a fresh house with a full radio budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import zigpy.types as t

from bench import changes
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.virtual.dice import KeyedDice, SharedDice, Stream

LIGHT_A = t.EUI64.convert("00:00:00:00:00:00:00:0a")
LIGHT_B = t.EUI64.convert("00:00:00:00:00:00:00:0b")


def test_keyed_dice_give_each_frame_of_a_device_the_same_draw_whatever_else_is_on_air() -> None:
    quiet = KeyedDice("7:bench")
    busy = KeyedDice("7:bench")
    alone = [quiet.chance(LIGHT_A, Stream.TO_DEVICE) for _ in range(5)]
    interleaved = []
    for _ in range(5):
        busy.chance(LIGHT_B, Stream.TO_DEVICE)  # another light's frame
        busy.chance(LIGHT_A, Stream.DEVICE_ACK)  # this light's acknowledgement
        busy.jitter(LIGHT_A, Stream.TO_DEVICE)
        interleaved.append(busy.chance(LIGHT_A, Stream.TO_DEVICE))
    assert interleaved == alone
    # The shared dice (the default air) hand the next draw to whoever asks first.
    shared_quiet, shared_busy = SharedDice("7:bench"), SharedDice("7:bench")
    first = shared_quiet.chance(LIGHT_A, Stream.TO_DEVICE)
    shared_busy.chance(LIGHT_B, Stream.TO_DEVICE)
    assert shared_busy.chance(LIGHT_A, Stream.TO_DEVICE) != first
    # Another seed is another air.
    assert KeyedDice("8:bench").chance(LIGHT_A, Stream.TO_DEVICE) != alone[0]


def test_every_strategy_meets_the_same_draws_and_a_fresh_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three strategies that send very different traffic (one groupcast and repairs, one
    unicast per light, the omniscient sender): for every light and kind of frame, the
    draws each strategy met are the start of one and the same sequence."""
    drawn: dict[str, dict[tuple[t.EUI64, Stream], list[float]]] = {}
    current: list[dict[tuple[t.EUI64, Stream], list[float]]] = []
    original = KeyedDice.chance

    def recording(self: KeyedDice, device: t.EUI64, stream: Stream) -> float:
        value = original(self, device, stream)
        current[-1][(device, stream)].append(value)
        return value

    monkeypatch.setattr(KeyedDice, "chance", recording)
    # (No warm-up: an engine that has learned nothing groupcasts, as the ideal does.)
    settings = changes.Settings(lights=6, loss=0.3, group_miss=0.3, seeds=[5], warmup=0)
    runs = {}
    for strategy in ("verified", "unicast_retry", changes.IDEAL):
        current.append(defaultdict(list))
        runs[strategy] = run_virtual(changes.measure_fresh(settings, 5, strategy))
        drawn[strategy] = current[-1]

    verified, uni, ideal = runs["verified"], runs["unicast_retry"], runs[changes.IDEAL]
    assert all(r.converged == 1.0 for r in runs.values())
    # Frames of every kind were drawn for; each strategy met the same sequences.
    streams = {key for draws in drawn.values() for key in draws}
    assert {stream for _, stream in streams} == set(Stream)
    for key in streams:
        sequences = sorted((draws.get(key, []) for draws in drawn.values()), key=len)
        longest = sequences[-1]
        for shorter in sequences[:-1]:
            assert shorter == longest[: len(shorter)], key
    # The engine's groupcast and the ideal's left at once (nothing carried over from an
    # earlier run's budget) and reached the same members.
    assert verified.groupcast_at_s == ideal.groupcast_at_s == 0.0
    assert verified.reached == ideal.reached < 6
    assert uni.groupcast_at_s is None
    lights = {device for device, _ in streams}
    assert len(lights) == 6
    for strategy, groupcasts in (("verified", 1), (changes.IDEAL, 1), ("unicast_retry", 0)):
        for light in lights:
            assert len(drawn[strategy].get((light, Stream.GROUP), [])) == groupcasts


_COPIES_VS_FRESH = """
import json
from dataclasses import asdict

from bench import changes, copies
from bench.common import run

settings = changes.Settings(lights=4, loss=0.3, group_miss=0.3, seeds=[3])
wanted = [(3, "verified"), (3, changes.IDEAL), (4, "unicast_retry")]
assert copies.can_fork()
forked = copies.run_on_copies(settings, wanted, cpu_repeats=2)
built = [run(changes.measure_fresh(settings, seed, name)) for seed, name in wanted]
machine = {"wall_s", "cpu_ms_per_change", "stack_cpu_ms_per_change"}
print(json.dumps([
    [{k: v for k, v in asdict(r).items() if k not in machine} for r in runs]
    for runs in (forked, built)
]))
"""


def test_a_run_on_a_forked_copy_of_the_house_measures_what_a_newly_built_house_does() -> None:
    """The matrix builds each house once and forks a copy per run: the copy must start
    from exactly the state a fresh build would (in a child process of its own, as the
    benchmark runs: a fork needs a process without threads). The engine's run, repeated
    for its CPU figure, keeps the same figures."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _COPIES_VS_FRESH],
        cwd=repo,
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    forked, built = json.loads(done.stdout.strip().splitlines()[-1])
    assert forked == built
    assert [run["strategy"] for run in forked] == ["verified", changes.IDEAL, "unicast_retry"]
    assert all(run["converged"] == 1.0 for run in forked)
