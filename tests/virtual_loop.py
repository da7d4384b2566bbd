"""The core, radio and benchmark tests run on the virtual-time loop: an `async def` test
there takes no real time for its simulated seconds (see core/virtual_time.py).

A conftest takes these names in (``from tests.virtual_loop import *``); the Home
Assistant tests keep Home Assistant's own loop.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from pytest_asyncio.plugin import LoopFactory

from custom_components.resilient_gateway.core.virtual_time import VirtualTimeEventLoop

__all__ = [
    "configure_event_loop",
    "enable_event_loop_debug",
    "expected_lingering_tasks",
    "expected_lingering_timers",
    "pytest_asyncio_loop_factories",
]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, LoopFactory]:
    return {"virtual_time": VirtualTimeEventLoop}


@pytest.fixture(autouse=True)
def configure_event_loop() -> None:
    """Not Home Assistant's loop set-up: it replaces the loop's clock with the real one."""


@pytest.fixture(autouse=True)
def enable_event_loop_debug() -> None:
    """Not Home Assistant's debug mode: its slow-callback warnings count real time."""


@pytest.fixture
def expected_lingering_timers() -> bool:
    """A test's loop is closed after it (a simulated house keeps its air's timers): what
    is still scheduled then never runs. Home Assistant's cleanup check only warns."""
    return True


@pytest.fixture
def expected_lingering_tasks() -> bool:
    """As ``expected_lingering_timers``, for tasks: cancelled with the test's loop."""
    return True
