"""The link benchmark (bench/link.py) still runs and checks what it says, small and on
simulated time: nothing lost or repeated through cuts and silent outages, recovery
within 2 x timeout (figures of speed come only from real-time runs of the benchmark)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import link
from custom_components.resilient_gateway.core.virtual_time import run_virtual


@pytest.fixture(autouse=True)
def sockets_to_localhost(socket_enabled: None) -> None:
    """The simulated nodes connect to the link on 127.0.0.1."""


def test_the_link_benchmark_loses_and_repeats_nothing(tmp_path: Path) -> None:
    settings = link.Settings(
        messages=200,
        nodes=5,
        messages_per_node=20,
        outage_nodes=3,
        outage_messages=60,
        cut_every=15,
        timeout_ms=500,
    )
    runs, outages = run_virtual(link.measure_all(settings, tmp_path))
    assert [r.messages for r in runs] == [200, 20, 40, 100]
    assert all(r.lost == r.duplicated == 0 for r in runs)
    assert outages.outages == 3 * 3 and outages.cuts >= 4 and outages.silences >= 4
    assert outages.lost == outages.duplicated == 0
    assert outages.recovery_max_timeouts <= 2
    assert "zero lost and duplicated" in link.table(runs, outages)
