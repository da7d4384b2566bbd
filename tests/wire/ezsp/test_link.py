"""The link to the stick: probes, pause and resume, unplug and replug under the
supervisor's ladder, and a command on air when the link drops."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from zigpy.zcl.clusters.general import OnOff

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.gateway import RunStatus
from custom_components.resilient_gateway.core.health import RadioHealth, RecoveryStep
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.core.radio import LinkState, RadioError

from .emulator import OUTGOING_MULTICAST, formed_nvram
from .harness import (
    PATIENCE,
    HealthLog,
    MakeGateway,
    MakeRadio,
    MakeStick,
    eventually,
    is_on,
    is_on_command,
    join_light,
)


async def test_probe_asks_the_stick(
    make_stick: MakeStick, make_radio: MakeRadio, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng))
    radio = make_radio(stick, tmp_path / "zigbee.db")
    await radio.start()
    before = len(stick.ncp.commands)
    await radio.probe()
    # End to end: the stick itself was asked for its network.
    assert "getNetworkParameters" in stick.ncp.commands[before:]


async def test_pause_frees_the_stick_and_resume_delivers_what_queued(
    make_stick: MakeStick, make_gateway: MakeGateway, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng))
    gateway = make_gateway(stick, tmp_path)
    await gateway.start()
    light = await join_light(stick, gateway, rng)

    await gateway.pause()
    assert gateway.current_status is RunStatus.PAUSED
    assert gateway.radio.state is LinkState.DOWN
    await eventually(lambda: not stick.server.connected, "the connection was closed")
    handle = gateway.set_state(str(light.ieee), {Attr.ON: True})
    assert not is_on(light)

    await gateway.resume()
    result = await handle.wait(PATIENCE)
    assert result.status is ChangeStatus.VERIFIED
    assert is_on(light)
    assert stick.server.connected
    assert stick.ncp.unknown == []


async def test_unplug_and_replug_the_ladder_reconnects(
    make_stick: MakeStick,
    make_gateway: MakeGateway,
    rng: random.Random,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stick = await make_stick(formed_nvram(rng))
    gateway = make_gateway(stick, tmp_path)
    health = HealthLog()
    gateway.add_listener(health)
    await gateway.start()
    light = await join_light(stick, gateway, rng)
    connections = stick.server.connections
    failed_reconnects: list[BaseException] = []
    reconnect = gateway.radio.reconnect

    async def counted_reconnect() -> None:
        try:
            await reconnect()
        except Exception as err:
            failed_reconnects.append(err)
            raise

    monkeypatch.setattr(gateway.radio, "reconnect", counted_reconnect)

    await stick.unplug()
    await eventually(lambda: gateway.radio_status is RadioHealth.RECOVERING, "recovering")
    assert gateway.radio.state is LinkState.DOWN
    await eventually(lambda: bool(failed_reconnects), "a reconnect failed while unplugged")

    await stick.replug()
    await eventually(lambda: gateway.radio_status is RadioHealth.OK, "recovered")
    assert gateway.radio.state is LinkState.UP
    assert health.events[-1].step is RecoveryStep.RECONNECT
    assert stick.server.connections > connections
    # The stick kept its network through it all, and the gateway uses it again.
    assert gateway.runs_its_network
    result = await gateway.set_state(str(light.ieee), {Attr.ON: True}).wait(PATIENCE)
    assert result.status is ChangeStatus.VERIFIED
    assert is_on(light)


async def test_command_on_air_when_the_link_drops_is_delivered_after_recovery(
    make_stick: MakeStick, make_gateway: MakeGateway, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng))
    gateway = make_gateway(stick, tmp_path)
    await gateway.start()
    light = await join_light(stick, gateway, rng)
    device_id = str(light.ieee)
    await eventually(lambda: gateway.values(device_id).get(Attr.ON) is False, "read once")

    # The stick accepts the On but keeps it in its queue: bellows waits for the
    # messageSentHandler that would confirm it ...
    stick.ncp.hold = lambda frame: frame.destination == light.nwk and is_on_command(frame)
    handle = gateway.set_state(device_id, {Attr.ON: True})
    await stick.ncp.wait_for_held_frame()
    # ... when the link drops; the stick resets when the gateway comes back, and the
    # frame is lost with its queue.
    resets = stick.ncp.resets
    await stick.unplug()
    await eventually(lambda: gateway.radio_status is RadioHealth.RECOVERING, "recovering")
    stick.ncp.hold = None
    on_air_before = len(stick.ncp.delivered)
    await stick.replug()

    result = await handle.wait(PATIENCE)
    assert result.status is ChangeStatus.VERIFIED, result
    assert is_on(light)
    # The On that reached the light was sent again after the link came back.
    on_frames = [
        index
        for index, frame in enumerate(stick.ncp.delivered)
        if frame.destination == light.nwk and is_on_command(frame)
    ]
    assert on_frames and all(index >= on_air_before for index in on_frames)
    assert stick.ncp.resets > resets
    assert gateway.radio_status is RadioHealth.OK


async def test_probe_on_a_dropped_link_answers_at_once(
    make_stick: MakeStick, make_radio: MakeRadio, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng))
    radio = make_radio(stick, tmp_path / "zigbee.db")
    await radio.start()
    await stick.unplug()
    await eventually(lambda: radio.state is LinkState.DOWN, "the radio saw the link drop")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RadioError):
        await asyncio.wait_for(radio.probe(), PATIENCE)
    assert loop.time() - started < 2.0


async def test_frame_damaged_on_the_line_is_sent_again(
    make_stick: MakeStick, make_radio: MakeRadio, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng))
    stick.ncp.damage_data_frames = 1  # the first answer arrives with a broken CRC
    radio = make_radio(stick, tmp_path / "zigbee.db")
    await radio.start()
    assert radio.state is LinkState.UP
    # bellows rejected it with a NAK, the stick sent it again, and the start went on.
    assert stick.ncp.naks_received == 1
    assert stick.ncp.retransmissions >= 1


async def test_light_switched_by_hand_reports_through_the_stick(
    make_stick: MakeStick, make_gateway: MakeGateway, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng))
    gateway = make_gateway(stick, tmp_path)
    await gateway.start()
    light = await join_light(stick, gateway, rng)
    device_id = str(light.ieee)
    await eventually(lambda: gateway.values(device_id).get(Attr.ON) is False, "read once")

    light.endpoint.set(OnOff, "on_off", True)  # someone pressed its switch

    # The light's attribute report (configured by the gateway when it joined) came in
    # through incomingMessageHandler.
    await eventually(lambda: gateway.values(device_id).get(Attr.ON) is True, "reported on")


async def test_group_command_goes_out_as_a_multicast(
    make_stick: MakeStick, make_gateway: MakeGateway, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng))
    gateway = make_gateway(stick, tmp_path)
    await gateway.start()
    lights = [await join_light(stick, gateway, rng) for _ in range(2)]
    group_id = 0x0123
    app = gateway.radio.app
    for light in lights:  # the lights learn their group (Groups cluster "add")
        await app.get_device(light.ieee).endpoints[1].add_to_group(group_id, "Kitchen")
    members = {str(light.ieee) for light in lights}
    # (The gateway takes its inventory a moment after each change: it may know the group
    # with its first member only for a while, and verify just that one.)
    await eventually(
        lambda: group_id in gateway.groups and set(gateway.groups[group_id].members) == members,
        "the gateway knows the group and both members",
    )
    multicasts = stick.ncp.commands.count("sendMulticast")

    result = await gateway.set_group_state(group_id, {Attr.ON: True}).wait(PATIENCE)

    assert result.status is ChangeStatus.VERIFIED, result
    assert set(result.members) == members
    assert all(is_on(light) for light in lights)
    # The group command went on air once, as a multicast to the group.
    assert stick.ncp.commands.count("sendMulticast") == multicasts + 1
    assert any(
        frame.message_type == OUTGOING_MULTICAST
        and frame.destination == group_id
        and is_on_command(frame)
        for frame in stick.ncp.delivered
    )
