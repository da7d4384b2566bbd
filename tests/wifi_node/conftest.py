"""The Wi-Fi node link's tests: real sockets on 127.0.0.1 (port 0), on simulated time
where they wait for timeouts (an `async def` test runs on the virtual-time loop), so a 2 s
timeout costs no wall time."""

from __future__ import annotations

import pytest

from tests.virtual_loop import *  # noqa: F403


@pytest.fixture(autouse=True)
def sockets_to_localhost(socket_enabled: None) -> None:
    """Nodes connect to the link on 127.0.0.1."""
