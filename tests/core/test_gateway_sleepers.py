"""Sleepy devices configured when they wake (after a restore) never crowd out the rest."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from custom_components.resilient_gateway.core.gateway import (
    SLEEPERS_CONFIGURED_AT_ONCE,
    Gateway,
    RadioLink,
)
from custom_components.resilient_gateway.core.model import DeviceId, NoResponseError
from custom_components.resilient_gateway.core.restore import DeviceConfiguration
from custom_components.resilient_gateway.core.scheduler import Priority
from custom_components.resilient_gateway.core.virtual_time import run_virtual

PARENT_HOLD = 7.68  # seconds a parent keeps a frame for a child that does not poll


class _DozingSleepers(Gateway):
    """Every sleeper dozed off before its configuration reached it."""

    def __init__(self) -> None:
        super().__init__(lambda _: cast(RadioLink, object()))
        self.running = 0
        self.most_at_once = 0
        self.attempts: list[tuple[DeviceId, bool]] = []

    async def configure_device(
        self,
        device_id: DeviceId,
        config: DeviceConfiguration,
        priority: Priority,
        *,
        retry_delivery: bool = True,
    ) -> None:
        self.attempts.append((device_id, retry_delivery))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(PARENT_HOLD)
            raise NoResponseError(f"{device_id} did not poll in time")
        finally:
            self.running -= 1


def test_sleepers_are_configured_a_few_at_a_time_once_per_wake() -> None:
    config = DeviceConfiguration(frozenset(), ())
    sleepers = [f"sensor-{i}" for i in range(10)]

    async def main() -> _DozingSleepers:
        gateway = _DozingSleepers()
        for sleeper in sleepers:
            gateway.configure_when_awake(sleeper, config)
        # All of them report at once (each wake is one chance).
        awake: list[Any] = [gateway._configure_awake(s, config) for s in sleepers]
        for sleeper in sleepers:
            gateway._awaiting_wake.pop(sleeper)
        await asyncio.gather(*awake)
        return gateway

    gateway = run_virtual(main())
    assert gateway.most_at_once == SLEEPERS_CONFIGURED_AT_ONCE
    assert len(gateway.attempts) == SLEEPERS_CONFIGURED_AT_ONCE  # the rest wait for a wake
    assert all(retry is False for _, retry in gateway.attempts)  # one try per wake
    assert set(gateway._awaiting_wake) == set(sleepers)  # all still to be configured
