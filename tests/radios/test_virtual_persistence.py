"""Persistence: the house is the same house after a restart, saving is debounced or
explicit, and stopping leaves no timer behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

from custom_components.resilient_gateway.core.storage import read_json
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.virtual import (
    ALL_LIGHTS_GROUP_ID,
    SimKind,
    VirtualAir,
    VirtualNetworkSpec,
)

from .harness import new_app, running, sim, sleep, state, zigpy_endpoint


def test_the_house_and_zigpy_survive_a_restart(tmp_path: Path) -> None:
    state_path = tmp_path / "air.json"
    database = tmp_path / "zigbee.db"
    spec = VirtualNetworkSpec(network="restart", loss=0.0)

    async def first_run() -> dict[str, object]:
        async with running(spec, state_path=state_path, database=database) as (air, app):
            light = sim(air, SimKind.COLOR_TEMP_LIGHT)
            endpoint = zigpy_endpoint(app, light)
            await endpoint.on_off.on()
            await endpoint.level.move_to_level(level=42, transition_time=0)
            await endpoint.light_color.move_to_color_temp(color_temp_mireds=410, transition_time=0)
            await endpoint.add_to_group(0x0100, "Reading")
            await endpoint.scenes.store(group_id=0x0100, scene_id=7)
            thermostat = sim(air, SimKind.THERMOSTAT)
            await zigpy_endpoint(app, thermostat).thermostat.write_attributes(
                {"occupied_heating_setpoint": 2250}
            )
            air.device_power_off(str(sim(air, SimKind.SMART_PLUG).ieee))
        # As saved when it stopped (sensor readings drift until then).
        truth: dict[str, object] = air.ground_truth()
        return truth

    async def second_run(before: dict[str, object]) -> None:
        air = await VirtualAir.load_or_create(spec, state_path)
        app = None
        try:
            after = air.ground_truth()
            assert after["devices"] == before["devices"]
            assert after["network"] == before["network"]
            assert after["radio"]["ieee"] == before["radio"]["ieee"]  # type: ignore[index]
            light = sim(air, SimKind.COLOR_TEMP_LIGHT)
            assert state(air, light) | {"level": 42, "color_temp_mireds": 410} == state(air, light)

            app = await new_app(air, database)
            await app.wait_until_interviewed(within=1)
            await sleep(5)
            # zigpy knew every device from its database: nothing was interviewed again.
            assert air.stats.reads == 0
            assert air.stats.unicasts - air.stats.uplink_unicasts == 0
            assert {0x0100, ALL_LIGHTS_GROUP_ID} <= set(app.groups)
            success, _ = await zigpy_endpoint(app, light).level.read_attributes(["current_level"])
            assert success["current_level"] == 42
        finally:
            if app is not None:
                await app.shutdown()
            await air.stop()

    before = run_virtual(first_run())
    assert read_json(state_path) is not None
    run_virtual(second_run(before))


async def test_a_saved_house_keeps_its_devices_whatever_the_counts(tmp_path: Path) -> None:
    state_path = tmp_path / "air.json"

    first = await VirtualAir.load_or_create(
        VirtualNetworkSpec(network="counts", lights=3, sensors=0, sleepy_sensors=0), state_path
    )
    names = sorted(d.name for d in first.devices.values())
    await first.stop()
    again = await VirtualAir.load_or_create(
        VirtualNetworkSpec(network="counts", lights=30, loss=0.5), state_path
    )
    try:
        assert sorted(d.name for d in again.devices.values()) == names
        assert again.spec.loss == 0.5  # the fault settings come from the spec
    finally:
        await again.stop()


async def test_saving_is_debounced_or_explicit(tmp_path: Path) -> None:
    debounced = tmp_path / "debounced.json"
    explicit = tmp_path / "explicit.json"

    def powered(path: Path, name: str) -> bool:
        data = read_json(path)
        assert data is not None
        return bool(next(d["powered"] for d in data["devices"] if d["name"] == name))

    air = await VirtualAir.load_or_create(
        VirtualNetworkSpec(network="debounced", save_delay=10.0), debounced
    )
    light = sim(air, SimKind.DIMMABLE_LIGHT)
    air.device_power_off(str(light.ieee))
    assert powered(debounced, light.name) is True
    await sleep(11)
    assert powered(debounced, light.name) is False
    await air.stop()

    air = await VirtualAir.load_or_create(
        VirtualNetworkSpec(network="explicit", save_delay=0.0), explicit
    )
    light = sim(air, SimKind.DIMMABLE_LIGHT)
    air.device_power_off(str(light.ieee))
    await sleep(3600)
    assert powered(explicit, light.name) is True
    await air.save()
    assert powered(explicit, light.name) is False
    air.device_power_on(str(light.ieee))
    await air.stop()  # stopping saves
    assert powered(explicit, light.name) is True


async def test_stop_cancels_every_timer(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    before = {h for h in getattr(loop, "_scheduled", []) if not h.cancelled()}
    spec = VirtualNetworkSpec(network="timers", latency=0.2, jitter=0.1)
    async with running(spec, state_path=tmp_path / "air.json") as (air, app):
        contact = sim(air, SimKind.CONTACT_SENSOR)
        # Leave frames in flight and kept for a sleeper when everything stops.
        air.device_set_open(str(contact.ieee), True)
        await sleep(150)
        task = asyncio.ensure_future(
            zigpy_endpoint(app, contact).ias_zone.read_attributes(["zone_status"], retries=0)
        )
        await sleep(0.5)
        assert air.timers.live
    assert not air.timers.live
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await sleep(0)
    after = {h for h in getattr(loop, "_scheduled", []) if not h.cancelled()}
    assert after <= before
