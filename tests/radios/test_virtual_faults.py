"""Faults of the virtual network, each seeded and reproducible: loss, missed groupcasts,
the radio's budget, sleepy devices, power cuts, wiped tables, a failed or replaced radio."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import zigpy.exceptions
import zigpy.state
import zigpy.types as t
from zigpy.zcl import foundation

from custom_components.resilient_gateway.core.token_bucket import TokenBucket
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.virtual import (
    ALL_LIGHTS_GROUP_ID,
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.virtual.application import CONFIRM_TIMEOUT
from custom_components.resilient_gateway.radios.virtual.device import SimDevice

from .harness import (
    new_app,
    on_closed_port,
    on_command,
    running,
    sim,
    sims,
    sleep,
    state,
    truth,
    zigpy_endpoint,
)

Status = foundation.Status


class _Events:
    """Records zigpy listener events by name."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self.seen.append((name, args))

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]


async def test_loss_follows_the_seeded_probability_and_unicasts_are_retried() -> None:
    spec = VirtualNetworkSpec(network="loss", loss=0.0, sensors=0, sleepy_sensors=0)
    async with running(spec) as (air, app):
        air.spec.loss = 0.2  # fault knobs can change at run time
        air.reset_stats()
        answered = 0

        async def read_often(device: SimDevice) -> int:
            cluster = zigpy_endpoint(app, device).on_off
            count = 0
            for _ in range(25):
                try:
                    await cluster.read_attributes(["on_off"], retries=0)
                except TimeoutError, zigpy.exceptions.DeliveryError:
                    continue
                count += 1
            return count

        lights = list(air.devices.values())
        answered = sum(await asyncio.gather(*(read_often(d) for d in lights)))
        attempts = 25 * len(lights)
        # Both directions lose 20% of the transmissions, but unacknowledged unicasts
        # are sent again (up to 4 times): a read fails only when none of its copies is
        # acknowledged (0.36 ** 4) or its answer never arrives (0.2 ** 4).
        assert answered / attempts > 0.96
        stats = air.stats
        assert stats.reads == attempts
        assert stats.unicasts == stats.radio_frames + stats.uplink_unicasts
        assert stats.radio_retries == stats.radio_frames - attempts
        # A copy is acknowledged with 0.8 * 0.8: about 1.5 transmissions per read.
        assert 1.4 < stats.radio_frames / attempts < 1.7
        assert stats.device_retries > 0 and stats.acks_lost > 0
        assert 0.15 < stats.frames_lost / stats.unicasts < 0.25


def test_loss_is_reproducible() -> None:
    async def run_once(seed: int) -> dict[str, int]:
        spec = VirtualNetworkSpec(network="repeat", loss=0.3, lights=6, seed=seed)
        async with running(spec) as (air, _):
            await sleep(3600)
            return air.stats.as_dict()

    # The same seed gives the same losses, frame for frame; another seed other losses.
    first = run_virtual(run_once(1))
    assert first["frames_lost"] > 0
    assert run_virtual(run_once(1)) == first
    assert run_virtual(run_once(2)) != first


async def test_groupcast_members_miss_with_group_miss() -> None:
    spec = VirtualNetworkSpec(network="group-miss", loss=0.0, sensors=0, sleepy_sensors=0)
    async with running(spec) as (air, app):
        air.spec.group_miss = 0.5
        air.reset_stats()
        group = app.groups[ALL_LIGHTS_GROUP_ID].endpoint
        for round_number in range(20):
            if round_number % 2:
                await group.on_off.off()
            else:
                await group.on_off.on()
            await sleep(1.0)  # within the broadcast budget
        members = 12
        assert air.stats.groupcasts == 20
        assert 0.38 < air.stats.frames_lost / (20 * members) < 0.62
        # Nobody tells zigpy which members missed the last "off".
        lights = [d for d in air.devices.values() if d.profile.is_light]
        assert any(state(air, light)["on"] for light in lights)


async def test_budget_and_send_queue_refuse_with_delivery_error() -> None:
    spec = VirtualNetworkSpec(network="budget", loss=0.0, sensors=0, sleepy_sensors=0)
    async with running(spec) as (air, app):
        loop = asyncio.get_running_loop()
        air.spec.send_queue = 2
        air.transport.unicast_budget = TokenBucket(rate=1.0, capacity=2)
        air.transport.broadcast_budget = TokenBucket(rate=0.5, capacity=1)
        air.reset_stats()
        lights = list(air.devices.values())[:8]
        start = loop.time()
        results = await asyncio.gather(
            *(app.send_packet(on_command(d, 100 + i)) for i, d in enumerate(lights)),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, zigpy.exceptions.DeliveryError)]
        # Two frames go at once, two wait in the queue for the budget, four are refused.
        assert len(failures) == 4
        assert air.stats.delivery_failures == 4
        assert air.stats.unicasts - air.stats.uplink_unicasts == 4
        assert loop.time() - start == pytest.approx(2.0)
        await sleep(0.1)
        assert sum(state(air, d)["on"] for d in lights) >= 4

        group = app.groups[ALL_LIGHTS_GROUP_ID].endpoint
        await group.on_off.off()
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await group.on_off.on()
        await sleep(2.0)
        await group.on_off.on()
        assert air.stats.groupcasts == 2


async def test_sleepy_sensor_hears_only_at_its_poll() -> None:
    spec = VirtualNetworkSpec(
        network="sleepy", loss=0.0, lights=0, sensors=0, sleepy_sensors=1, drift_interval=1e6
    )
    async with running(spec) as (air, app):
        loop = asyncio.get_running_loop()
        sensor = sim(air, SimKind.CLIMATE_SENSOR)
        cluster = zigpy_endpoint(app, sensor).temperature
        await sleep(120)  # the join window is over
        poll = air.transport.next_poll(sensor, loop.time())
        if poll - loop.time() < 10:
            await sleep(poll - loop.time() + 1)
            poll = air.transport.next_poll(sensor, loop.time())
        # Sent 5 s before the poll: kept by the parent, delivered at the poll.
        await sleep(poll - loop.time() - 5)
        success, _ = await cluster.read_attributes(["measured_value"], retries=0)
        assert success["measured_value"] == round(state(air, sensor)["temperature"] * 100)
        assert loop.time() == pytest.approx(poll)
        # Sent just after a poll: the frame expires (7.68 s) long before the next one.
        await sleep(2)
        air.reset_stats()
        # The radio reports the expired frame as a delivery failure.
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await cluster.read_attributes(["measured_value"], retries=0)
        assert air.stats.frames_expired == 1
        assert air.stats.frames_lost == 1
        assert air.transport.next_poll(sensor, loop.time()) == pytest.approx(poll + 300)


async def test_light_sleeper_answers_within_its_poll_interval() -> None:
    spec = VirtualNetworkSpec(network="light-sleeper", loss=0.0, lights=0, sensors=2)
    async with running(spec) as (air, app):
        loop = asyncio.get_running_loop()
        thermostat = sim(air, SimKind.THERMOSTAT)
        cluster = zigpy_endpoint(app, thermostat).thermostat
        await sleep(120)
        for _ in range(5):
            start = loop.time()
            await cluster.read_attributes(["occupied_heating_setpoint"], retries=0)
            assert loop.time() - start <= 5.0
            await sleep(13.3)


async def test_power_off_and_on() -> None:
    async with running(VirtualNetworkSpec(network="power", loss=0.0)) as (air, app):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        endpoint = zigpy_endpoint(app, light)
        await endpoint.on_off.off()
        air.device_power_off(str(light.ieee))
        assert truth(air, light)["powered"] is False
        lost = air.stats.frames_lost
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await endpoint.on_off.read_attributes(["on_off"])
        # zigpy tried three times, the radio transmitted each unicast_attempts times.
        assert air.stats.frames_lost == lost + 3 * air.spec.unicast_attempts

        announced = _Events()
        app.devices[light.ieee].zdo.add_listener(announced)
        air.device_power_on(str(light.ieee))
        await sleep(0.1)
        assert "device_announce" in announced.names()
        assert truth(air, light)["powered"] is True
        assert state(air, light)["on"] is True  # StartUpOnOff: On
        success, _ = await endpoint.on_off.read_attributes(["on_off"])
        assert success["on_off"] == 1

        # A plug keeps its previous state.
        plug = sim(air, SimKind.SMART_PLUG)
        await zigpy_endpoint(app, plug).on_off.off()
        air.device_power_off(str(plug.ieee))
        air.device_power_on(str(plug.ieee))
        assert state(air, plug)["on"] is False


async def test_wiped_and_full_tables() -> None:
    async with running(VirtualNetworkSpec(network="tables", loss=0.0)) as (air, app):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        endpoint = zigpy_endpoint(app, light)
        await endpoint.scenes.store(group_id=ALL_LIGHTS_GROUP_ID, scene_id=3)
        assert truth(air, light)["scenes"] == [[ALL_LIGHTS_GROUP_ID, 3]]
        air.device_scenes_wiped(str(light.ieee))
        assert truth(air, light)["scenes"] == []
        response = await endpoint.scenes.get_scene_membership(ALL_LIGHTS_GROUP_ID)
        assert list(response.scenes) == []

        air.device_groups_wiped(str(light.ieee))
        assert truth(air, light)["groups"] == []
        response = await endpoint.groups.get_membership([])
        assert list(response.groups) == []
        await endpoint.on_off.off()
        await app.groups[ALL_LIGHTS_GROUP_ID].endpoint.on_off.on()
        await sleep(0.1)
        assert state(air, light)["on"] is False  # it no longer hears the group

        air.device_group_table_full(str(light.ieee))
        response = await endpoint.groups.get_membership([])
        assert response.capacity == 0
        assert len(response.groups) == air.spec.group_capacity
        response = await endpoint.groups.add(ALL_LIGHTS_GROUP_ID, "All lights")
        assert response.status == Status.INSUFFICIENT_SPACE


async def test_fault_api_rejects_unknown_devices() -> None:
    air = await VirtualAir.load_or_create(VirtualNetworkSpec(network="unknown-ieee"), None)
    try:
        with pytest.raises(ValueError, match="not an IEEE address"):
            air.device_power_off("kitchen")
        with pytest.raises(KeyError, match="no device 00:11:22:33:44:55:66:77"):
            air.device_power_on("00:11:22:33:44:55:66:77")
        with pytest.raises(ValueError, match="firmware version"):
            air.set_firmware_version(str(next(iter(air.devices))), -1)
        with pytest.raises(ValueError, match="not a contact sensor"):
            light = sims(air, SimKind.DIMMABLE_LIGHT)[0]
            air.device_set_open(str(light.ieee), True)
    finally:
        await air.stop()


async def test_radio_failure_and_recovery() -> None:
    spec = VirtualNetworkSpec(network="radio-failure", loss=0.0)
    async with running(spec) as (air, app):
        events = _Events()
        app.add_listener(events)
        air.radio_failure()
        await sleep(0)
        assert "connection_lost" in events.names()
        assert air.ground_truth()["radio"]["state"] == "failed"
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        with on_closed_port():
            await zigpy_endpoint(app, light).on_off.on()
        # Nothing is received either.
        contact = sim(air, SimKind.CONTACT_SENSOR)
        lost = air.stats.frames_lost
        air.device_set_open(str(contact.ieee), True)
        await sleep(5.0)
        # Its notification, transmitted again and again for want of an acknowledgement.
        assert air.stats.frames_lost == lost + air.spec.unicast_attempts
        with pytest.raises(zigpy.exceptions.TransientConnectionError):
            await new_app(air)

        air.radio_recovered()
        second = await new_app(air)
        try:
            await second.wait_until_interviewed()
            await zigpy_endpoint(second, light).on_off.on()
            assert state(air, light)["on"] is True
        finally:
            await second.shutdown()


async def test_a_dropped_link_leaves_confirmations_unanswered_and_closing_cancels_them() -> None:
    """As zigpy-znp: a frame on air when the stick is unplugged never hears of its
    delivery; requests after the drop fail on the closed port; closing the app cancels
    the pending confirmation, which the sender sees as a CancelledError of its own."""

    spec = VirtualNetworkSpec(network="drop-pending", loss=0.0, lights=1, latency=0.5)
    async with running(spec) as (air, app):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        await zigpy_endpoint(app, light).on_off.off()
        cancelling: list[int] = []

        async def send() -> None:
            try:
                await app.send_packet(on_command(light, 1))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                assert task is not None
                cancelling.append(task.cancelling())
                raise

        sender = asyncio.ensure_future(send())
        await sleep(0.1)
        air.radio_failure()
        await sleep(5.0)
        assert not sender.done()  # (the acknowledgement was due at 1 s)
        assert state(air, light)["on"] is True  # the frame itself went out
        with on_closed_port():
            await app.send_packet(on_command(light, 2))
        with on_closed_port():
            await app.load_network_info()

        await app.shutdown()
        await asyncio.wait({sender})
        assert sender.cancelled()
        assert cancelling == [0]  # not a cancellation anybody asked the sender for


async def test_a_stalled_radio_sends_but_confirms_nothing_until_the_library_gives_up() -> None:
    spec = VirtualNetworkSpec(network="stalled", loss=0.0, lights=1)
    async with running(spec) as (air, app):
        loop = asyncio.get_running_loop()
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        await zigpy_endpoint(app, light).on_off.off()
        air.radio_stalled()
        assert air.ground_truth()["radio"]["state"] == "stalled"
        sent_at = loop.time()
        with pytest.raises(TimeoutError):
            await app.send_packet(on_command(light, 1, default_response=False))
        assert loop.time() - sent_at == pytest.approx(CONFIRM_TIMEOUT)
        assert state(air, light)["on"] is True  # delivered, never confirmed
        await app.load_network_info()  # the link itself is up

        air.radio_recovered()
        assert air.ground_truth()["radio"]["state"] == "up"
        await zigpy_endpoint(app, light).on_off.off()
        assert state(air, light)["on"] is False


async def test_a_blank_replacement_radio_reaches_nobody_until_it_holds_the_identity() -> None:
    spec = VirtualNetworkSpec(network="replaced", loss=0.0)
    async with running(spec) as (air, first):
        backup = await first.backups.create_backup(load_devices=True)
        old_ieee = air.radio.ieee
        air.radio_replaced()
        await sleep(0)
        assert air.radio.ieee != old_ieee
        assert air.ground_truth()["radio"]["formed"] is False

        app = VirtualControllerApplication({"device": {"path": air.path}})
        await app.connect()
        try:
            with pytest.raises(zigpy.exceptions.NetworkNotFormed):
                await app.load_network_info()
            # Another network's identity: the radio starts, but reaches no device.
            other_key = zigpy.state.Key(key=t.KeyData(bytes(range(16))))
            await app.write_network_info(
                network_info=backup.network_info.replace(
                    pan_id=t.PanId(backup.network_info.pan_id ^ 0x0F0F),
                    network_key=other_key,
                ),
                node_info=backup.node_info,
            )
            await app.initialize()
            assert air.ground_truth()["radio"]["identity_matches"] is False
            light = sim(air, SimKind.DIMMABLE_LIGHT)
            with pytest.raises(zigpy.exceptions.DeliveryError):
                await app.send_packet(on_command(light, 1))
            # The identity from the backup: the devices answer again.
            await app.backups.restore_backup(backup)
            assert air.ground_truth()["radio"]["identity_matches"] is True
            assert air.radio.ieee == old_ieee  # the backup's IEEE address is adopted
            await app.send_packet(on_command(light, 2))
            await sleep(0.1)
            assert state(air, light)["on"] is True
        finally:
            await app.shutdown()

        third = await new_app(air)
        try:
            await third.wait_until_interviewed()
            assert all(third.devices[d].is_initialized for d in air.devices)
        finally:
            await third.shutdown()


async def test_zigpy_restores_its_backup_onto_a_replacement_radio(tmp_path: Path) -> None:
    spec = VirtualNetworkSpec(network="auto-restore", loss=0.0)
    database = tmp_path / "zigbee.db"
    async with running(spec, database=database) as (air, first):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        await first.shutdown()
        air.radio_replaced()
        app = await VirtualControllerApplication.new(
            config={"device": {"path": air.path}, "database_path": str(database)},
            auto_form=True,
        )
        try:
            assert air.ground_truth()["radio"]["identity_matches"] is True
            air.reset_stats()
            await zigpy_endpoint(app, light).on_off.on()  # known from the database
            assert state(air, light)["on"] is True
            assert air.stats.reads == 0  # nothing was interviewed again
        finally:
            await app.shutdown()
