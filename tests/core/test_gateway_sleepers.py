"""Sleepy devices configured when they wake (after a restore) never crowd out the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Coroutine
from typing import Any, cast

from custom_components.resilient_gateway.core.configuration import (
    NOTHING,
    DeviceConfigurer,
)
from custom_components.resilient_gateway.core.model import Attr, AttributeValues, DeviceId
from custom_components.resilient_gateway.core.policy import SCHEDULER_LIMITS, SLEEPER
from custom_components.resilient_gateway.core.radio import NoResponseError, RadioBudget, RadioLink
from custom_components.resilient_gateway.core.scheduler import SendScheduler

PARENT_HOLD = 7.68  # seconds a parent keeps a frame for a child that does not poll


class _DozingSleepers:
    """A radio whose sleepers all dozed off before their configuration reached them."""

    budget = RadioBudget()

    def __init__(self) -> None:
        self.running = 0
        self.most_at_once = 0
        self.attempts: list[DeviceId] = []

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        return 1

    def frames_to_send(self, values: AttributeValues) -> int:
        return 1

    def configuration_frames(
        self, device_id: DeviceId, groups: Collection[int], scene_count: int
    ) -> int:
        return 1

    async def configure_device(self, device_id: DeviceId, *_: Any) -> None:
        self.attempts.append(device_id)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(PARENT_HOLD)
            raise NoResponseError(f"{device_id} did not poll in time")
        finally:
            self.running -= 1


async def test_sleepers_are_configured_a_few_at_a_time_once_per_wake() -> None:
    config = NOTHING
    sleepers = [f"sensor-{i}" for i in range(10)]
    radio = _DozingSleepers()

    scheduler = SendScheduler(cast(RadioLink, radio), limits=SCHEDULER_LIMITS)
    spawned: list[Coroutine[Any, Any, None]] = []
    configurer = DeviceConfigurer(cast(RadioLink, radio), scheduler, spawned.append)
    for sleeper in sleepers:
        configurer.when_awake(sleeper, config)
    # All of them report at once (each wake is one chance).
    for sleeper in sleepers:
        configurer.device_awake(sleeper)
    assert not configurer.awaiting_wake
    await asyncio.gather(*spawned)
    await scheduler.stop()
    awaiting_wake = configurer.awaiting_wake
    assert radio.most_at_once == SCHEDULER_LIMITS[SLEEPER]
    # The rest wait for their next wake, and nobody was tried twice in this one.
    assert len(radio.attempts) == SCHEDULER_LIMITS[SLEEPER]
    assert awaiting_wake == set(sleepers)  # all still to be configured
