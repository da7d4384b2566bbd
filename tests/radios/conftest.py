"""The radio tests run on the virtual-time loop (an `async def` test too): zigpy's
database work takes no simulated time there (see radios/virtual/database_clock.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from custom_components.resilient_gateway.radios.virtual.database_clock import (
    clock_waits_for_database,
)
from tests.virtual_loop import *  # noqa: F403


@pytest.fixture(autouse=True)
def database_takes_no_simulated_time() -> Iterator[None]:
    with clock_waits_for_database():
        yield
