"""The gateway on zigpy-znp 1.1.1 against an emulated Z-Stack 3.30 stick on a TCP port,
with a simulated On/Off light behind it: snapshots, restore onto a blank stick, pause and
resume, a stick unplugged and plugged back, a command on air when the link drops."""

from __future__ import annotations

import asyncio

from zigpy.zcl.clusters.general import OnOff
from zigpy_znp.zigbee.application import ControllerApplication

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.health import RadioHealth, RecoveryStep
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.radios.virtual.kinds import SimKind
from custom_components.resilient_gateway.radios.zigbee.radio import RESTORE_COUNTER_INCREMENT
from custom_components.resilient_gateway.radios.zigbee.snapshot import (
    SECTION,
    parse_network_backup,
)

from .conftest import LIGHT_IEEE, LIGHT_NWK, WAIT, Bench, WiredGateway, gateway_with_light
from .znp_stick import ZStackStick

ON = OnOff.ServerCommandDefs.on.id


async def _snapshot_payload(wired: WiredGateway) -> dict:
    info = await wired.gateway.take_snapshot()
    snapshots = wired.gateway.snapshots
    assert snapshots is not None
    return dict((await snapshots.async_read(info.path)).payload)


async def test_the_snapshot_holds_the_identity_in_the_sticks_nvram(bench: Bench) -> None:
    stick = ZStackStick.formed(bench.air)
    _, wired, light = await gateway_with_light(bench, ControllerApplication, stick)
    counter_before = stick.nvram.frame_counter(stick.epid)

    payload = await _snapshot_payload(wired)

    identity = stick.identity()
    assert identity is not None
    backup = parse_network_backup(payload["sections"][SECTION]["network"])
    network, node = backup.network_info, backup.node_info
    assert node.ieee == identity.ieee and node.nwk == 0x0000
    assert network.extended_pan_id == identity.extended_pan_id
    assert network.pan_id == identity.pan_id
    assert network.channel == identity.channel
    assert network.network_key.key == identity.network_key
    assert network.network_key.seq == identity.key_seq
    assert counter_before <= network.network_key.tx_counter <= identity.frame_counter
    assert network.stack_specific["zstack"]["tclk_seed"] == identity.tclk_seed.serialize().hex()
    # The light joined through the stick's trust centre: its key and address are kept.
    assert light.ieee in {key.partner_ieee for key in network.key_table}
    assert network.nwk_addresses[light.ieee] == light.nwk


async def test_a_restore_writes_the_identity_onto_a_blank_stick(bench: Bench) -> None:
    old = ZStackStick.formed(bench.air)
    _, first, light = await gateway_with_light(bench, ControllerApplication, old)
    payload = await _snapshot_payload(first)
    await first.gateway.stop()  # the old machine and its stick are gone
    backup = parse_network_backup(payload["sections"][SECTION]["network"])
    snapshot = backup.network_info
    blank = ZStackStick.blank(bench.air)
    tcp = await bench.plug(blank)
    second = bench.gateway(ControllerApplication, tcp.path, name="new")
    await second.gateway.start()
    assert second.gateway.needs_restore and blank.identity() is None

    await second.gateway.restore(payload)

    identity = blank.identity()
    assert identity is not None
    assert identity.ieee == backup.node_info.ieee  # the new stick takes the old address
    assert identity.extended_pan_id == snapshot.extended_pan_id
    assert identity.pan_id == snapshot.pan_id and identity.channel == snapshot.channel
    assert identity.network_key == snapshot.network_key.key
    raised = snapshot.network_key.tx_counter + RESTORE_COUNTER_INCREMENT
    assert (snapshot.extended_pan_id, raised) in blank.frame_counters_written()
    assert identity.frame_counter >= raised
    assert second.gateway.runs_its_network
    # The light hears the new stick: it runs the light's network now.
    handle = second.gateway.set_state(str(light.ieee), {Attr.ON: True})
    assert (await handle.wait(WAIT)).status is ChangeStatus.VERIFIED
    assert light.endpoint.get(OnOff, "on_off") is True


async def test_pause_frees_the_port_and_resume_takes_it_back(bench: Bench) -> None:
    stick = ZStackStick.formed(bench.air)
    tcp, wired, light = await gateway_with_light(bench, ControllerApplication, stick)

    await wired.gateway.pause()

    assert not tcp.connected
    # Another program (a flasher, Zigbee2MQTT) can open the port now.
    _, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
    await tcp.wait_until(lambda: tcp.connected)
    writer.close()
    await writer.wait_closed()
    await tcp.wait_until(lambda: not tcp.connected)
    handle = wired.gateway.set_state(str(light.ieee), {Attr.ON: True})  # queued meanwhile

    await wired.gateway.resume()

    assert tcp.connected and stick.started and wired.gateway.radio_up
    assert (await handle.wait(WAIT)).status is ChangeStatus.VERIFIED
    assert light.endpoint.get(OnOff, "on_off") is True


async def test_the_ladder_brings_an_unplugged_stick_back(bench: Bench) -> None:
    stick = ZStackStick.formed(bench.air)
    tcp, wired, light = await gateway_with_light(bench, ControllerApplication, stick)
    gateway, health = wired.gateway, wired.events.health

    await tcp.unplug()

    # Every reconnect meets a refused port; the ladder climbs to restarting the stick.
    await wired.wait_until(lambda: any(e.step is RecoveryStep.RESTART for e in health))
    assert not gateway.radio_up
    await tcp.replug()
    await wired.wait_until(lambda: gateway.radio_status is RadioHealth.OK)
    assert health[-1].step is RecoveryStep.RESTART
    assert gateway.radio_up and stick.started and tcp.connections == 2
    # The light is heard again: it reports being switched on at the wall.
    light.endpoint.set(OnOff, "on_off", True)
    await wired.wait_until(lambda: gateway.values(str(light.ieee)).get(Attr.ON) is True)


async def test_a_command_on_air_when_the_link_drops_is_delivered_after_recovery(
    bench: Bench,
) -> None:
    stick = ZStackStick.formed(bench.air)
    tcp, wired, light = await gateway_with_light(bench, ControllerApplication, stick)
    stick.withhold_confirmations = True  # the On frame waits for its confirmation
    handle = wired.gateway.set_state(str(light.ieee), {Attr.ON: True}, deadline=20.0)
    await stick.changed.wait_until(lambda: bool(stick.commands_to(light, 6, ON, held=True)), WAIT)

    await tcp.unplug()  # the stick's queue dies with it: the frame never went on air
    stick.withhold_confirmations = False
    await tcp.replug()

    result = await handle.wait(WAIT)
    assert result.status is ChangeStatus.VERIFIED, result
    assert light.endpoint.get(OnOff, "on_off") is True
    assert len(stick.commands_to(light, 6, ON)) >= 2 and result.attempts >= 2


async def test_a_network_coordinator_fails_over_to_a_standby_in_another_room(
    bench: Bench,
) -> None:
    """Two network-attached Z-Stack coordinators (socket://): the primary's connection
    dies for good, the ladder fails over, and the blank standby takes the network on with
    the light, which then obeys a command through it."""
    primary = ZStackStick.formed(bench.air)
    standby = ZStackStick.blank(bench.air)
    spare = await bench.plug(standby)
    tcp = await bench.plug(primary)
    wired = bench.gateway(ControllerApplication, tcp.path, standby_path=spare.path)
    await wired.gateway.start()
    light = bench.air.add_device(SimKind.ON_OFF_LIGHT, ieee=LIGHT_IEEE, nwk=LIGHT_NWK, name="Light")
    primary.join(light)
    await wired.wait_until(lambda: Attr.ON in wired.gateway.values(str(light.ieee)))
    await wired.gateway.take_snapshot()
    network = primary.identity()
    assert network is not None and standby.identity() is None

    await tcp.unplug()  # the coordinator in the hall loses power and stays off

    await wired.wait_until(lambda: wired.gateway.radio_status is RadioHealth.FAILED_OVER)
    identity = standby.identity()
    assert identity is not None and identity.extended_pan_id == network.extended_pan_id
    assert spare.connected and standby.started
    handle = wired.gateway.set_state(str(light.ieee), {Attr.ON: True})
    assert (await handle.wait(WAIT)).status is ChangeStatus.VERIFIED
    assert light.endpoint.get(OnOff, "on_off") is True
