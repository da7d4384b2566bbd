"""The firmware update benchmark (bench/ota.py) still runs and measures what it says, on a
small image: every colour light updated, tables intact, frames against the minimum, and
user-command latency measured idle and during the transfer."""

from __future__ import annotations

from pathlib import Path

from bench import ota
from custom_components.resilient_gateway.core.virtual_time import run_virtual


def test_the_ota_benchmark_updates_lights_and_keeps_their_tables(tmp_path: Path) -> None:
    settings = ota.Settings(lights=(2,), losses=(0.05,), size=6_000)
    [outcome] = run_virtual(ota.measure_all(settings, tmp_path))

    assert (outcome.updated, outcome.failed) == (2, [])
    assert outcome.tables_intact
    assert outcome.repaired == 2  # (a colour light's update wipes its scene entry)
    assert len(outcome.per_update_s) == 2 and outcome.total_s >= max(outcome.per_update_s)
    # Each block is one request and one answer; loss adds retransmissions, never less.
    assert outcome.blocks_answered >= outcome.minimum_blocks == 2 * -(-6_000 // 64)
    ratio = outcome.frames_per_byte(settings.size) / outcome.minimum_per_byte(settings.size)
    assert 1.0 <= ratio < 2.0
    assert outcome.idle_latency and outcome.busy_latency and outcome.commands_failed == 0
    text = ota.table(settings, [outcome])
    assert "2 @ 0.05" in text and "yes" in text
