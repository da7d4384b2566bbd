"""The restore benchmark (bench/restore.py) still runs and measures what it says, on a small
house: snapshot, a replaced radio, the two-phase restore, frames against the minimum, and
every mains device working afterwards."""

from __future__ import annotations

from pathlib import Path

from bench import restore
from custom_components.resilient_gateway.core.radio import RadioBudget
from custom_components.resilient_gateway.core.virtual_time import run_virtual


def test_the_restore_benchmark_restores_a_small_house(tmp_path: Path) -> None:
    settings = restore.Settings(devices=[18], seed=2)
    [result] = run_virtual(restore.measure_all(settings, tmp_path))

    # 12 lights, 4 sensors (two plugs, a thermostat, a contact sensor), 2 sleepy sensors.
    assert (result.lights, result.sensors, result.sleepy_sensors, result.mains) == (12, 4, 2, 14)
    assert result.snapshot_bytes > 0 and result.encrypted_bytes > 0
    assert result.phase2_s is not None and result.mains_verified_s is not None
    # Phase 2 restores the mains devices and the thermostat (a light sleeper, it polls
    # every few seconds); the sleepy sensors wait until they wake.
    assert (result.restored, result.pending, result.failed) == (15, 3, 0)
    assert result.mains_verified == result.mains
    # Per light: membership + scene view + bind and reporting and a read per cluster
    # (dimmable 8, colour temperature 11, colour 11, on/off 5: three of each); per plug 6.
    # The thermostat: bind, reporting and a read for its thermostat and battery clusters.
    assert result.minimum_restored == 3 * (8 + 11 + 11 + 5) + 2 * 6 + 6
    assert result.frames_restored >= result.minimum_restored
    assert result.requests["group_membership"] >= 12 and result.requests["scene_view"] >= 12
    # One state read per restored device, not one per mechanism that wants to know.
    assert result.requests["read"] <= result.minimum_by_kind["read"]
    # Nothing was lost: tables as at the snapshot, every mains device takes commands.
    assert result.tables_intact == 1.0
    assert result.working == 1.0 and result.commands_failed == 0
    text = restore.table(settings, [result], RadioBudget())
    assert "targets" in text and "100% of mains devices working after restore" in text
