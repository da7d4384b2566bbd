"""A Bluetooth LE device under the gateway (issue 16): verified writes through dropped
connections, failed and hung operations, notifications, reconnection with back-off,
keep-alive release, pause and resume. Simulated devices, virtual time."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from custom_components.resilient_gateway.core.change_results import ChangeStatus, SyncState
from custom_components.resilient_gateway.core.health import RadioHealth
from custom_components.resilient_gateway.core.model import Attr, DeviceKind, PowerSource
from custom_components.resilient_gateway.core.radio import (
    DeliveryError,
    DeviceEvent,
    LinkState,
    NoResponseError,
    RadioError,
    UnsupportedValue,
)
from custom_components.resilient_gateway.radios.ble import ConnectionPolicy
from custom_components.resilient_gateway.radios.ble.profiles import (
    battery,
    environmental,
    microbit,
    nordic_lbs,
)
from custom_components.resilient_gateway.radios.ble.simulated import SimulatedBluetooth

from .ble_harness import ADDRESS, ble_gateway, link, peripheral

ON = {Attr.ON: True}


async def test_a_blinky_is_a_light_that_starts_unknown_until_it_shows_its_led() -> None:
    device = peripheral()
    device.values[nordic_lbs.LED] = b"\x01"
    async with ble_gateway(device) as gateway:
        (description,) = gateway.devices.values()
        assert description.device_id == ADDRESS
        assert description.kind is DeviceKind.LIGHT
        assert description.attributes == {Attr.ON}
        assert description.manufacturer == "Nordic Semiconductor"
        # Read from the device on connecting, never assumed.
        assert gateway.values(ADDRESS) == {Attr.ON: True}
        assert gateway.sync_state(ADDRESS) is None  # never told anything: nothing to sync


async def test_led_write_is_verified_by_reading_it_back() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        result = await gateway.set_state(ADDRESS, ON).wait()
        assert result.status is ChangeStatus.VERIFIED
        assert device.flag(nordic_lbs.LED)
        assert gateway.values(ADDRESS)[Attr.ON] is True
        assert device.stats.writes == 1


async def test_led_writes_verified_through_dropped_connections() -> None:
    device = peripheral(seed=4)
    async with ble_gateway(device) as gateway:
        device.drop_rate = 0.5
        for state in (True, False, True, False, True):
            result = await gateway.set_state(ADDRESS, {Attr.ON: state}).wait()
            assert result.status is ChangeStatus.VERIFIED
            assert device.flag(nordic_lbs.LED) is state
        assert device.stats.drops >= 2  # (the seed drops some; each was recovered)
        assert link(gateway).connection.stats.connects > 1


async def test_led_write_verified_after_refused_writes() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        device.fail_writes = 3
        result = await gateway.set_state(ADDRESS, ON).wait()
        assert result.status is ChangeStatus.VERIFIED
        assert result.attempts == 4
        assert device.flag(nordic_lbs.LED)


async def test_a_write_the_device_never_confirms_fails_at_the_deadline() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        device.fail_writes = 10**6
        result = await gateway.set_state(ADDRESS, ON, deadline=30.0).wait()
        assert result.status is ChangeStatus.FAILED
        assert gateway.values(ADDRESS)[Attr.ON] is False  # what it shows, not the command


async def test_a_hung_write_ends_at_its_timeout_and_the_connection_is_recovered() -> None:
    device = peripheral()
    policy = ConnectionPolicy(operation_timeout=5.0)
    async with ble_gateway(device, policy=policy) as gateway:
        ble = link(gateway)
        loop = asyncio.get_running_loop()
        device.hang.add("write")
        started = loop.time()
        with pytest.raises(NoResponseError, match="did not answer within 5 s"):
            await ble.send(ADDRESS, ON)
        assert loop.time() - started == pytest.approx(5.0)
        device.hang.clear()
        await asyncio.sleep(1.0)
        # Dropped and opened anew (the button's notifications need it).
        assert ble.connection.stats.timeouts == 1
        assert device.stats.connects == 2
        assert device.connected
        result = await gateway.set_state(ADDRESS, ON).wait()
        assert result.status is ChangeStatus.VERIFIED


async def test_a_hung_disconnect_is_abandoned_too() -> None:
    device = peripheral()
    policy = ConnectionPolicy(operation_timeout=5.0, disconnect_timeout=2.0)
    async with ble_gateway(device, policy=policy) as gateway:
        device.hang.update({"read", "disconnect"})
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(NoResponseError):
            await link(gateway).read(ADDRESS, [Attr.ON])
        assert loop.time() - started == pytest.approx(7.0)  # the read, then the disconnect
        device.hang.clear()
        result = await gateway.set_state(ADDRESS, ON).wait()
        assert result.status is ChangeStatus.VERIFIED


async def test_a_command_through_a_hang_is_verified_once_the_device_answers() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        device.hang.add("write")
        handle = gateway.set_state(ADDRESS, ON)
        await asyncio.sleep(25.0)
        assert handle.result().status is ChangeStatus.PENDING
        device.hang.clear()
        result = await handle.wait()
        assert result.status is ChangeStatus.VERIFIED
        assert device.flag(nordic_lbs.LED)


async def test_button_presses_arrive_as_events() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        device.press(state=1)
        device.press(state=0)
        assert gateway.events == [
            DeviceEvent(ADDRESS, "button", "button", "press"),
            DeviceEvent(ADDRESS, "button", "button", "release"),
        ]
        assert gateway.heard_within(ADDRESS, 1.0)


async def test_microbit_temperature_notifications_reach_the_values() -> None:
    device = peripheral(
        (microbit.TEMPERATURE_PROFILE, microbit.BUTTON_PROFILE, microbit.LED_PROFILE)
    )
    device.values[microbit.TEMPERATURE] = bytes([21])
    async with ble_gateway(device) as gateway:
        (description,) = gateway.devices.values()
        assert description.kind is DeviceKind.CLIMATE_SENSOR
        assert gateway.values(ADDRESS) == {Attr.TEMPERATURE: 21.0}
        device.set_value(microbit.TEMPERATURE, (-3).to_bytes(1, "little", signed=True))
        assert gateway.values(ADDRESS) == {Attr.TEMPERATURE: -3.0}
        device.press(microbit.BUTTON_B, 2)
        assert gateway.events == [DeviceEvent(ADDRESS, "button", "button_b", "long_press")]
        await link(gateway).show_text("Hello from the gateway, a long text")
        assert device.values[microbit.LED_TEXT] == b"Hello from the gatew"


async def test_show_text_needs_an_led_matrix() -> None:
    async with ble_gateway(peripheral()) as gateway:
        with pytest.raises(RadioError, match="no LED matrix"):
            await link(gateway).show_text("hi")


async def test_environmental_sensor_is_read_and_released_when_idle() -> None:
    device = peripheral((environmental.PROFILE, battery.PROFILE))
    device.values[environmental.TEMPERATURE] = (-1234).to_bytes(2, "little", signed=True)
    device.values[environmental.HUMIDITY] = (4550).to_bytes(2, "little")
    device.values[battery.LEVEL] = bytes([87])
    policy = ConnectionPolicy(keep_alive=20.0)
    async with ble_gateway(device, policy=policy) as gateway:
        (description,) = gateway.devices.values()
        assert description.kind is DeviceKind.CLIMATE_SENSOR
        assert description.power_source is PowerSource.BATTERY
        assert gateway.values(ADDRESS) == {
            Attr.TEMPERATURE: -12.34,
            Attr.HUMIDITY: 45.5,
            Attr.BATTERY: 87,
        }
        ble = link(gateway)
        await asyncio.sleep(19.0)
        assert device.connected
        await asyncio.sleep(2.0)
        # Nothing needs the connection: its slot is given back.
        assert not device.connected
        assert ble.connection.stats.releases == 1
        assert gateway.radio_up  # released, not lost
        device.values[battery.LEVEL] = bytes([86])
        values = await ble.read(ADDRESS, [Attr.BATTERY])
        assert values == {Attr.BATTERY: 86}
        assert gateway.values(ADDRESS)[Attr.BATTERY] == 86
        assert device.connected
        await asyncio.sleep(21.0)
        assert not device.connected
        assert ble.connection.stats.releases == 2


async def test_notifications_keep_the_connection() -> None:
    device = peripheral()
    async with ble_gateway(device, policy=ConnectionPolicy(keep_alive=5.0)) as gateway:
        await asyncio.sleep(600.0)
        assert device.connected
        assert link(gateway).connection.stats.releases == 0
        assert device.stats.connects == 1


async def test_keep_connected_holds_a_sensor_connection() -> None:
    device = peripheral((environmental.PROFILE,))
    policy = ConnectionPolicy(keep_alive=5.0)
    async with ble_gateway(device, policy=policy, keep_connected=True):
        await asyncio.sleep(60.0)
        assert device.connected


async def test_lost_connection_reconnects_at_once_and_rereads_the_state() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        device.drop()
        device.values[nordic_lbs.LED] = b"\x01"  # changed while nobody listened
        await asyncio.sleep(0.5)
        assert device.connected
        assert gateway.values(ADDRESS) == {Attr.ON: True}
        assert gateway.radio_up


async def test_out_of_range_reconnects_with_back_off() -> None:
    device = peripheral()
    air = SimulatedBluetooth(device)
    async with ble_gateway(device, air=air) as gateway:
        ble = link(gateway)
        device.in_range = False
        device.drop()
        await asyncio.sleep(0.1)
        assert ble.state is LinkState.DOWN
        # Nothing shown before the outage is trusted; commands queue meanwhile.
        assert gateway.values(ADDRESS) == {}
        assert gateway.sync_state(ADDRESS) is None  # (never told anything)
        handle = gateway.set_state(ADDRESS, ON)
        with pytest.raises(DeliveryError, match="not in range"):
            await ble.read(ADDRESS, [Attr.ON])
        since = len(air.lookup_times)
        await asyncio.sleep(120.0)
        attempts = air.lookup_times[since:]
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert len(attempts) >= 5
        # The link's own attempts back off (1, 2, 4, 8 … s with 20 % jitter); the
        # supervisor's reconnects come in between, so the largest gap is what grows.
        assert max(gaps) >= 8.0
        assert gateway.radio_status in (RadioHealth.RECOVERING, RadioHealth.FAILED)
        device.in_range = True
        await asyncio.sleep(120.0)
        assert ble.state is LinkState.UP
        assert device.connected
        result = await handle.wait()
        assert result.status is ChangeStatus.VERIFIED
        assert device.flag(nordic_lbs.LED)
        await asyncio.sleep(60.0)
        assert gateway.radio_status is RadioHealth.OK


async def test_a_known_device_out_of_range_at_start_is_connected_later() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        known = await link(gateway).export_section()
    device.in_range = False
    async with ble_gateway(device, known=known) as gateway:
        ble = link(gateway)
        assert ble.state is LinkState.DOWN
        assert [d.kind for d in gateway.devices.values()] == [DeviceKind.LIGHT]
        # After a restart nothing is assumed: unknown until the device shows its state.
        assert gateway.values(ADDRESS) == {}
        assert gateway.sync_state(ADDRESS) is None  # (never told anything)
        handle = gateway.set_state(ADDRESS, ON)
        await asyncio.sleep(30.0)
        device.in_range = True
        result = await handle.wait()
        assert result.status is ChangeStatus.VERIFIED


async def test_a_known_device_that_does_not_answer_does_not_hold_the_start() -> None:
    """The Bluetooth stack still lists it, but it never answers: connection attempts take
    up to a minute each. The gateway starts at once and connects when it answers."""
    device = peripheral()
    async with ble_gateway(device) as gateway:
        known = await link(gateway).export_section()
    device.hang.add("connect")
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    async with ble_gateway(device, known=known) as gateway:
        assert loop.time() - started_at < 1.0
        assert link(gateway).state is LinkState.DOWN
        handle = gateway.set_state(ADDRESS, ON)
        await asyncio.sleep(90.0)
        device.hang.discard("connect")
        result = await handle.wait()
        assert result.status is ChangeStatus.VERIFIED
        assert device.flag(nordic_lbs.LED)


async def test_a_device_never_seen_must_answer_at_the_first_start() -> None:
    device = peripheral()
    device.in_range = False
    with pytest.raises(RadioError, match="not in range"):
        async with ble_gateway(device):
            pass


async def test_pause_releases_the_connection_and_resume_delivers_what_queued() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        await gateway.pause()
        assert not device.connected
        handle = gateway.set_state(ADDRESS, ON)
        await asyncio.sleep(60.0)
        assert not device.connected
        assert not device.flag(nordic_lbs.LED)
        assert gateway.sync_state(ADDRESS) is SyncState.PENDING
        await gateway.resume()  # (it connects in the background: a known device)
        result = await handle.wait()
        assert device.connected
        assert result.status is ChangeStatus.VERIFIED
        assert device.flag(nordic_lbs.LED)


async def test_stop_releases_the_connection() -> None:
    device = peripheral()
    async with ble_gateway(device):
        assert device.connected
    assert not device.connected


async def test_a_connection_attempt_that_never_answers_is_bounded() -> None:
    device = peripheral()
    policy = ConnectionPolicy(connect_timeout=15.0)
    async with ble_gateway(device, policy=policy) as gateway:
        ble = link(gateway)
        device.hang.add("connect")  # heard advertising, but never connects
        device.drop()
        await asyncio.sleep(15.5)
        assert ble.state is LinkState.DOWN
        assert ble.diagnostics()["last_error"] == f"no connection to {ADDRESS} within 15 s"
        with pytest.raises(DeliveryError, match="within 15 s"):
            await ble.probe()
        device.hang.clear()
        await asyncio.sleep(120.0)
        assert ble.state is LinkState.UP
        await ble.probe()


async def test_a_connection_whose_subscription_hangs_is_given_up_and_retried() -> None:
    device = peripheral()
    policy = ConnectionPolicy(operation_timeout=5.0)
    async with ble_gateway(device, policy=policy) as gateway:
        ble = link(gateway)
        device.hang.add("notify")
        device.drop()
        await asyncio.sleep(6.0)
        assert ble.state is LinkState.DOWN
        assert "connected but failed" in str(ble.diagnostics()["last_error"])
        device.hang.clear()
        await asyncio.sleep(60.0)
        assert ble.state is LinkState.UP
        device.press()
        assert gateway.events[-1].value == "press"


async def test_restart_discovers_the_gatt_table_anew() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        ble = link(gateway)
        await ble.restart()
        assert device.stats.cache_clears == 1
        assert device.stats.connects == 2
        await ble.ping(ADDRESS)
        with pytest.raises(RadioError, match="no radio groups"):
            await ble.send_group(1, ON)
        with pytest.raises(DeliveryError, match="unknown device"):
            await ble.read("11:22:33:44:55:66", [Attr.ON])


async def test_a_pause_during_a_connection_attempt_leaves_no_connection_open() -> None:
    device = peripheral((environmental.PROFILE,))
    policy = ConnectionPolicy(keep_alive=1.0)
    async with ble_gateway(device, policy=policy) as gateway:
        ble = link(gateway)
        await asyncio.sleep(2.0)
        assert not device.connected  # released when idle
        device.latency = 2.0
        read = asyncio.ensure_future(ble.read(ADDRESS, [Attr.TEMPERATURE]))
        await asyncio.sleep(1.0)  # connecting
        await gateway.pause()
        with pytest.raises(DeliveryError, match="closed"):
            await read
        await asyncio.sleep(5.0)
        assert not device.connected
        assert not ble.connection.connected


async def test_a_value_the_device_cannot_take_is_refused_before_anything_is_queued() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        await asyncio.sleep(1)
        for values in ({Attr.BRIGHTNESS: 100}, {Attr.TEMPERATURE: 20.0}):
            with pytest.raises(UnsupportedValue):
                gateway.set_state(ADDRESS, values)
        assert gateway.engine.counts.pending_changes == 0
