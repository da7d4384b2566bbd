"""Core tests: an `async def` test runs on the virtual-time loop."""

from tests.virtual_loop import *  # noqa: F403
