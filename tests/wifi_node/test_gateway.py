"""Nodes as devices of the gateway: readings become values, declared actuators become
commands the change engine verifies by the node's next report."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.link_node import SimNode
from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.model import FieldDescription, FieldKind
from custom_components.resilient_gateway.core.radio import UnsupportedValue
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.wifi_node.radio import WifiNodeRadio

from .harness import link_config

META = {"led": {"kind": "switch"}, "t": {"unit": "°C", "device_class": "temperature"}}


class Board:
    """A node's application: an LED it switches when told, and reports back (or not)."""

    def __init__(self, *, obeys: bool = True) -> None:
        self.led = False
        self.obeys = obeys
        self.node: SimNode | None = None
        self.tasks: set[asyncio.Task[int]] = set()

    def command(self, payload: str) -> None:
        if self.obeys and "led" in (values := json.loads(payload)):
            self.led = bool(values["led"])
        assert self.node is not None
        task = asyncio.ensure_future(self.node.send(json.dumps({"led": self.led, "t": 21.0})))
        self.tasks.add(task)


async def _gateway_with_node(board: Board) -> tuple[Gateway, SimNode]:
    gateway = Gateway(lambda listener: WifiNodeRadio(link_config(wake_pause=0.0), listener))
    await gateway.start()
    radio = gateway.radio
    assert isinstance(radio, WifiNodeRadio)
    node = SimNode("board", radio.port, on_message=board.command)
    board.node = node
    node.start()
    await node.connected()
    await node.send(json.dumps({"_meta": META, "led": False, "t": 20.5}))
    await asyncio.sleep(0.5)  # (the inventory settles)
    return gateway, node


def test_a_node_is_a_device_with_its_fields() -> None:
    async def scenario() -> None:
        gateway, node = await _gateway_with_node(Board())
        device = gateway.devices["board"]
        assert device.fields == (
            FieldDescription("led", FieldKind.SWITCH),
            FieldDescription("t", FieldKind.SENSOR, unit="°C", device_class="temperature"),
        )
        assert device.writable_fields == {"led"}
        assert gateway.values("board") == {"led": False, "t": 20.5}
        await node.stop()
        await gateway.stop()

    run_virtual(scenario())


def test_an_actuator_write_is_verified_by_the_nodes_report() -> None:
    async def scenario() -> None:
        board = Board()
        gateway, node = await _gateway_with_node(board)
        result = await gateway.set_state("board", {"led": True}).wait(30)
        assert result.status is ChangeStatus.VERIFIED
        assert board.led is True
        assert gateway.values("board")["led"] is True
        await node.stop()
        await gateway.stop()

    run_virtual(scenario())


def test_a_write_the_node_does_not_apply_fails_at_its_deadline() -> None:
    async def scenario() -> None:
        board = Board(obeys=False)
        gateway, node = await _gateway_with_node(board)
        handle = gateway.set_state("board", {"led": True}, deadline=30.0)
        result = await handle.wait(60)
        assert result.status is ChangeStatus.FAILED
        assert result.attempts > 1  # sent again, never shown
        assert gateway.values("board")["led"] is False
        await node.stop()
        await gateway.stop()

    run_virtual(scenario())


def test_a_write_while_the_node_is_away_is_delivered_and_verified_when_it_returns() -> None:
    async def scenario() -> None:
        board = Board()
        gateway, node = await _gateway_with_node(board)
        await node.stop()
        await asyncio.sleep(0.1)
        handle = gateway.set_state("board", {"led": True})
        await asyncio.sleep(20)
        assert handle.result().status is ChangeStatus.PENDING
        assert board.led is False
        node.start()  # back (the scheduler retries the refused send with back-off)
        result = await handle.wait(120)
        assert result.status is ChangeStatus.VERIFIED
        assert board.led is True
        radio = gateway.radio
        assert isinstance(radio, WifiNodeRadio)
        assert radio.node_status("board")["outages"] == 1
        await node.stop()
        await gateway.stop()

    run_virtual(scenario())


async def test_a_value_the_node_cannot_take_is_refused_before_anything_is_queued() -> None:
    board = Board()
    gateway, node = await _gateway_with_node(board)
    for values in ({"t": 25.0}, {"fan": True}, {"led": 3}):  # a sensor, unknown, wrong kind
        with pytest.raises(UnsupportedValue):
            gateway.set_state("board", values)
    assert gateway.engine.counts.pending_changes == 0
    await asyncio.sleep(5)
    assert board.led is False
    await node.stop()
    await gateway.stop()
