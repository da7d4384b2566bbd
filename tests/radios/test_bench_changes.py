"""The change benchmark (bench/changes.py) still runs and measures what it says, on a
small network: every strategy on a fresh copy of one house, the air's dice rolled from one
seed for each."""

from __future__ import annotations

from bench import changes
from custom_components.resilient_gateway.core.virtual_time import run_virtual


def test_the_change_benchmark_runs_every_strategy_on_the_same_air() -> None:
    settings = changes.Settings(lights=16, seeds=[3])

    async def scenario() -> list[changes.Run]:
        return [
            await changes.measure_fresh(settings, 3, strategy) for strategy in changes.RUN_ORDER
        ]

    runs = {run.strategy: run for run in run_virtual(scenario())}
    verified, ideal = runs["verified"], runs[changes.IDEAL]
    forget, acked = runs["fire_and_forget"], runs[changes.IDEAL_ACKED]
    assert verified.converged == 1.0 and verified.verified == 16 and verified.failed == 0
    assert ideal.converged == 1.0 and acked.converged == 1.0
    # One groupcast, missed by the same members in every strategy that sends it.
    assert forget.frames == forget.groupcasts == 1
    missed = round(16 * (1 - forget.converged))
    assert forget.reached == ideal.reached == verified.reached == 16 - missed
    assert ideal.unicasts - ideal.retransmissions == missed
    assert verified.repaired >= missed
    # Nobody does with fewer frames than the omniscient sender.
    assert min(r.frames for r in runs.values() if r.converged == 1.0) == ideal.frames
    assert verified.cpu_ms_per_change is not None and verified.cpu_ms_per_change > 0
    text = changes.table(settings, list(runs.values()), changes.RadioBudget())
    assert "ideal (lower bound)" in text and "targets" in text
