"""The Bluetooth LE benchmark (bench/ble.py) runs and measures what it says, briefly: every
verified command shown by the device, plain writes losing some to dropped connections."""

from __future__ import annotations

from bench import ble
from custom_components.resilient_gateway.core.virtual_time import run_virtual


def test_the_ble_benchmark_compares_verified_and_plain_writes() -> None:
    results = run_virtual(ble.measure_all([0.3], [2], writes=30))
    verified, plain = results
    assert (verified.strategy, plain.strategy) == ble.STRATEGIES
    assert verified.converged == 1.0
    assert verified.drops > 0 and verified.attempts_mean > 1.0
    assert plain.drops > 0 and plain.converged < 1.0
    assert 0 < verified.writes_per_s < plain.writes_per_s
    assert verified.time_mean_s <= verified.time_p95_s <= verified.time_max_s
    text = ble.table(results)
    assert "verified" in text and "write_no_verify" in text
