"""Acknowledged unicasts on the virtual air, both ways, as on a real Zigbee network: the
radio transmits an unacknowledged unicast again and reports it as a DeliveryError after
its last attempt; a device does the same with its reports; receivers drop duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import zigpy.exceptions
import zigpy.types as t
from zigpy.zcl.clusters import general

from custom_components.resilient_gateway.radios.virtual import (
    ALL_LIGHTS_GROUP_ID,
    SimKind,
    VirtualAir,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.virtual.delivery import DeliveryMode
from custom_components.resilient_gateway.radios.virtual.device import SimDevice

from .harness import on_command, running, sim, sims, sleep, state, zigpy_endpoint

LOST, ARRIVES = True, False


def _script(air: VirtualAir, outcomes: list[bool]) -> Iterator[bool]:
    """Decide the fate of the next transmissions (frames and acknowledgements, in the
    order the air rolls for them); every later one arrives."""
    remaining = iter(outcomes)
    air.transport._lost = lambda _device, _stream: next(remaining, ARRIVES)  # type: ignore[method-assign]
    return remaining


def _count_receives(device: SimDevice) -> list[Any]:
    received: list[Any] = []
    original = device.receive

    def receive(packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        received.append(packet)
        original(packet, mode)

    device.receive = receive  # type: ignore[method-assign]
    return received


def _lights_only(network: str, **kwargs: Any) -> VirtualNetworkSpec:
    return VirtualNetworkSpec(
        network=network, lights=4, sensors=0, sleepy_sensors=0, loss=0.0, **kwargs
    )


async def test_a_unicast_whose_acknowledgements_are_lost_fails_after_its_last_attempt() -> None:
    async with running(_lights_only("acks-lost")) as (air, app):
        loop = asyncio.get_running_loop()
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        light.endpoint.set(general.OnOff, "on_off", False)
        received = _count_receives(light)
        air.reset_stats()
        _script(air, [ARRIVES, LOST] * air.spec.unicast_attempts)
        start = loop.time()
        with pytest.raises(zigpy.exceptions.DeliveryError, match="no acknowledgement"):
            await app.send_packet(on_command(light, 7, default_response=False))
        # Each copy waited the round trip plus ack_timeout for its acknowledgement.
        assert loop.time() - start == pytest.approx(4 * air.spec.ack_timeout)
        # The device got every copy, took the first and dropped the duplicates.
        assert state(air, light)["on"] is True
        assert len(received) == 1
        stats = air.stats
        assert (stats.radio_frames, stats.radio_retries, stats.acks_lost) == (4, 3, 4)
        assert stats.delivery_failures == 1 and stats.frames_lost == 0


async def test_a_unicast_lost_twice_is_acknowledged_on_its_third_copy() -> None:
    async with running(_lights_only("third-copy", latency=0.02)) as (air, app):
        loop = asyncio.get_running_loop()
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        light.endpoint.set(general.OnOff, "on_off", False)
        air.reset_stats()
        _script(air, [LOST, LOST, ARRIVES, ARRIVES])
        start = loop.time()
        await app.send_packet(on_command(light, 8, default_response=False))
        wait = air.spec.ack_timeout + 2 * 0.02
        assert loop.time() - start == pytest.approx(2 * wait + 2 * 0.02)
        assert state(air, light)["on"] is True
        stats = air.stats
        assert (stats.radio_frames, stats.radio_retries, stats.frames_lost) == (3, 2, 2)
        assert stats.delivery_failures == 0


async def test_an_unreachable_device_makes_the_radio_report_a_delivery_failure() -> None:
    async with running(_lights_only("unreachable")) as (air, app):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        air.device_power_off(str(light.ieee))
        air.reset_stats()
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await app.send_packet(on_command(light, 9, default_response=False))
        assert air.stats.radio_frames == air.spec.unicast_attempts
        assert air.stats.frames_lost == air.spec.unicast_attempts


async def test_a_device_retries_an_unacknowledged_report_and_zigpy_gets_it_once() -> None:
    async with running(_lights_only("report-retry")) as (air, app):
        light = sim(air, SimKind.ON_OFF_LIGHT)
        cluster = zigpy_endpoint(app, light).on_off
        await cluster.configure_reporting("on_off", 0, 900, 1)
        light.endpoint.set(general.OnOff, "on_off", False)
        await sleep(1.0)
        heard: list[Any] = []
        cluster.on_event("attribute_report", heard.append)
        air.reset_stats()
        # Lost; then it arrives but its acknowledgement is lost; then both arrive.
        _script(air, [LOST, ARRIVES, LOST, ARRIVES, ARRIVES])
        light.endpoint.set(general.OnOff, "on_off", True)
        await sleep(1.0)
        assert len(heard) == 1 and heard[0].value == 1
        stats = air.stats
        assert (stats.reports, stats.device_retries, stats.acks_lost) == (3, 2, 1)
        assert stats.radio_frames == 0


async def test_the_omniscient_radio_resends_a_dropped_unicast_at_once() -> None:
    spec = _lights_only("omniscient", latency=0.03, omniscient_radio=True)
    async with running(spec) as (air, app):
        loop = asyncio.get_running_loop()
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        light.endpoint.set(general.OnOff, "on_off", False)
        air.reset_stats()
        remaining = _script(air, [LOST, LOST, ARRIVES, LOST])
        start = loop.time()
        await app.send_packet(on_command(light, 10, default_response=False))
        assert loop.time() - start == pytest.approx(0.03)  # one latency, no ack wait
        assert next(remaining) is LOST  # no acknowledgement was rolled for
        assert air.stats.radio_frames == 3 and air.stats.radio_retries == 2
        assert state(air, light)["on"] is True


async def test_delivery_and_change_listeners_see_every_member_of_a_groupcast() -> None:
    spec = _lights_only("listeners", group_miss=0.5)
    async with running(spec) as (air, app):
        lights = sims(air, SimKind.DIMMABLE_LIGHT) + sims(air, SimKind.ON_OFF_LIGHT)
        for light in air.devices.values():
            light.endpoint.set(general.OnOff, "on_off", False)
        told: dict[str, bool] = {}
        changed: set[str] = set()
        stop_telling = air.transport.add_delivery_listener(
            lambda device, mode, arrives: told.__setitem__(str(device.ieee), arrives)
        )
        stop_changes = air.add_change_listener(lambda device: changed.add(str(device.ieee)))
        await app.groups[ALL_LIGHTS_GROUP_ID].endpoint.on_off.on()
        await sleep(0.1)
        assert set(told) == {str(d.ieee) for d in air.devices.values()}
        for device in air.devices.values():
            assert state(air, device)["on"] is told[str(device.ieee)]
        assert changed == {ieee for ieee, arrives in told.items() if arrives}
        assert lights
        stop_telling()
        stop_changes()


def test_ack_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="unicast_attempts"):
        VirtualNetworkSpec(network="bad", unicast_attempts=0).validate()
    with pytest.raises(ValueError, match="ack_timeout"):
        VirtualNetworkSpec(network="bad", ack_timeout=-1.0).validate()
