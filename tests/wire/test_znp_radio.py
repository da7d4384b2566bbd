"""ZigbeeRadio on zigpy-znp 1.1.1 against an emulated Z-Stack 3.30 stick on a TCP port:
start, refusal of blank and foreign sticks, probe."""

from __future__ import annotations

import pytest
from zigpy_znp.zigbee.application import ControllerApplication

from custom_components.resilient_gateway.core.radio import (
    BlankRadioError,
    ForeignNetworkError,
    LinkState,
)

from .conftest import Bench
from .znp_stick import ZStackStick


async def test_a_formed_stick_starts_its_own_network(bench: Bench) -> None:
    stick = ZStackStick.formed(bench.air)
    before = stick.identity()
    tcp = await bench.plug(stick)
    radio, events = bench.radio(ControllerApplication, tcp.path)

    await radio.start()

    assert radio.state is LinkState.UP and events.states == [LinkState.UP]
    assert stick.started and tcp.connected
    assert 1 in stick.endpoints  # zigpy's endpoint is registered on the stick
    assert before is not None
    assert radio.network_id() is not None
    assert str(before.extended_pan_id) in radio.network_id()
    after = stick.identity()
    assert after is not None and after.extended_pan_id == before.extended_pan_id
    assert after.network_key == before.network_key and after.pan_id == before.pan_id
    assert not stick.unknown and not stick.errors


async def test_a_blank_stick_is_refused_and_not_formed(bench: Bench) -> None:
    stick = ZStackStick.blank(bench.air)
    tcp = await bench.plug(stick)
    radio, _ = bench.radio(ControllerApplication, tcp.path)

    with pytest.raises(BlankRadioError):
        await radio.start()

    assert radio.state is LinkState.DOWN
    assert stick.identity() is None and not stick.written  # nothing formed, nothing written
    await tcp.wait_until(lambda: not tcp.connected)  # the port is free again


async def test_a_stick_running_another_network_is_refused(bench: Bench) -> None:
    ours = ZStackStick.formed(bench.air, seed=1)
    tcp = await bench.plug(ours)
    radio, _ = bench.radio(ControllerApplication, tcp.path)
    await radio.start()
    await radio.export_section()  # a snapshot: zigpy keeps this network's backup
    await radio.stop()
    foreign = ZStackStick.formed(bench.air, seed=2)
    foreign_identity = foreign.identity()
    await tcp.insert(foreign)  # someone else's coordinator in the same port

    with pytest.raises(ForeignNetworkError):
        await radio.start()

    assert radio.state is LinkState.DOWN
    assert foreign.identity() == foreign_identity and not foreign.written


async def test_probe_asks_the_stick_and_notices_a_lost_network(bench: Bench) -> None:
    stick = ZStackStick.formed(bench.air)
    tcp = await bench.plug(stick)
    radio, _ = bench.radio(ControllerApplication, tcp.path)
    await radio.start()
    asked = len(stick.requests)

    await radio.probe()

    assert len(stick.requests) > asked  # answered by the stick, not from memory
    stick.nvram.clear_network_state()  # the stick forgot its network (NVRAM wiped)
    with pytest.raises(BlankRadioError):
        await radio.probe()
