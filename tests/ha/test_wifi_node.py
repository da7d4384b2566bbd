"""A Wi-Fi node link entry: nodes (our own simulated micropython-iot clients on real
sockets) become devices whose fields are entities, their actuators verified writes, their
link a connection sensor; ``send_to_node`` queues messages for them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from bench.link_node import SimNode
from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.radios.wifi_node.radio import (
    STATE_FILE_NAME,
    WifiNodeRadio,
)

from .conftest import state_of

SECRET = "correct-horse-battery-staple"
META = {
    "led": {"kind": "switch"},
    "level": {"kind": "number", "unit": "%"},
    "t": {"unit": "°C", "device_class": "temperature"},
    "door": {"kind": "binary", "device_class": "door"},
}


async def until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait (briefly, in real time: loopback sockets) until ``condition()``."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 (states of Home Assistant, no event of ours)
            await asyncio.sleep(0.01)


class Board:
    """A node's application: an LED and a level it applies when told (or not), then
    reports back."""

    def __init__(self, node_id: str = "board", *, obeys: bool = True) -> None:
        self.values: dict[str, Any] = {"led": False, "level": 10, "t": 20.5, "door": False}
        self.obeys = obeys
        self.node: SimNode | None = None
        self.node_id = node_id
        self.tasks: set[asyncio.Task[int]] = set()

    def command(self, payload: str) -> None:
        told = json.loads(payload)
        if self.obeys:
            self.values.update({k: v for k, v in told.items() if k in ("led", "level")})
        self.report()

    def report(self, extra: dict[str, Any] | None = None) -> None:
        assert self.node is not None
        task = asyncio.ensure_future(self.node.send(json.dumps({**self.values, **(extra or {})})))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        """The node goes, and what it was still sending with it."""
        for task in tuple(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.node is not None:
            await self.node.stop()

    async def connect(self, port: int, secret: str | None = None) -> SimNode:
        self.node = SimNode(self.node_id, port, secret=secret, on_message=self.command)
        self.node.start()
        await self.node.connected()
        self.report({"_meta": META})
        return self.node


def link_entry(**data: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Wi-Fi node link",
        unique_id="wifi_node:0",
        data={
            "radio_type": "wifi_node",
            "host": "127.0.0.1",
            "port": 0,  # any free port (the test reads it from the radio)
            "timeout_ms": 2000,
            "expected_nodes": [],
            "accept_unknown": True,
            **data,
        },
    )


def radio_of(entry: MockConfigEntry) -> WifiNodeRadio:
    radio = entry.runtime_data.wifi_node_radio
    assert radio is not None
    return radio


@pytest.fixture
async def link(hass: HomeAssistant, socket_enabled: None) -> MockConfigEntry:
    entry = link_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def board(hass: HomeAssistant, link: MockConfigEntry) -> AsyncGenerator[Board]:
    board = Board()
    node = await board.connect(radio_of(link).port)
    await until(lambda: entity(hass, "sensor", "board-field-t") is not None)
    await until(lambda: hass.states.get(entity(hass, "sensor", "board-field-t") or "") is not None)
    await until(lambda: state_of(hass, entity_id(hass, "sensor", "board-field-t")).state == "20.5")
    assert node is board.node
    yield board
    await board.stop()


def node_device(hass: HomeAssistant) -> dr.DeviceEntry:
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "board"), entry.entry_id)
    assert device is not None
    return device


def entity(hass: HomeAssistant, domain: str, unique_id: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)


def entity_id(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    found = entity(hass, domain, unique_id)
    assert found is not None, unique_id
    return found


async def test_a_nodes_fields_become_entities(hass: HomeAssistant, board: Board) -> None:
    temperature = state_of(hass, entity_id(hass, "sensor", "board-field-t"))
    assert temperature.attributes["unit_of_measurement"] == "°C"
    assert temperature.attributes["device_class"] == "temperature"
    door = state_of(hass, entity_id(hass, "binary_sensor", "board-field-door"))
    assert (door.state, door.attributes["device_class"]) == (STATE_OFF, "door")
    assert state_of(hass, entity_id(hass, "switch", "board-field-led")).state == STATE_OFF
    level = state_of(hass, entity_id(hass, "number", "board-field-level"))
    assert (level.state, level.attributes["unit_of_measurement"]) == ("10", "%")
    # A sensor field is no actuator: it gets no switch or number.
    assert entity(hass, "number", "board-field-t") is None
    connection = state_of(hass, entity_id(hass, "sensor", "board-connection"))
    assert connection.state == "connected"
    assert connection.attributes["outages"] == 0
    assert connection.attributes["last_seen"] is not None
    device = node_device(hass)
    assert device.model == "micropython-iot node"


async def test_a_field_declared_later_gets_its_entity(hass: HomeAssistant, board: Board) -> None:
    board.report({"_meta": {"fan": {"kind": "switch"}}, "fan": True})
    await until(lambda: entity(hass, "switch", "board-field-fan") is not None)
    fan = entity_id(hass, "switch", "board-field-fan")
    await until(lambda: hass.states.get(fan) is not None and hass.states.get(fan).state == STATE_ON)  # type: ignore[union-attr]


async def test_a_switch_write_is_verified_by_the_nodes_report(
    hass: HomeAssistant, board: Board
) -> None:
    led = entity_id(hass, "switch", "board-field-led")
    await hass.services.async_call("switch", "turn_on", {"entity_id": led}, blocking=True)
    await until(lambda: state_of(hass, led).state == STATE_ON)
    assert board.values["led"] is True
    await until(lambda: state_of(hass, led).attributes.get("sync") == "verified")
    level = entity_id(hass, "number", "board-field-level")
    await hass.services.async_call(
        "number", "set_value", {"entity_id": level, "value": 42}, blocking=True
    )
    await until(lambda: state_of(hass, level).state == "42")
    assert board.values["level"] == 42  # a whole number goes as one


async def test_a_switch_the_node_does_not_apply_stays_pending(
    hass: HomeAssistant, board: Board
) -> None:
    board.obeys = False
    led = entity_id(hass, "switch", "board-field-led")
    await hass.services.async_call("switch", "turn_on", {"entity_id": led}, blocking=True)
    await until(lambda: state_of(hass, led).attributes.get("sync") == "pending")
    await asyncio.sleep(0.3)  # (the node answered: it still shows off)
    assert state_of(hass, led).state == STATE_OFF


async def test_node_availability_follows_its_link(hass: HomeAssistant, board: Board) -> None:
    temperature = entity_id(hass, "sensor", "board-field-t")
    connection = entity_id(hass, "sensor", "board-connection")
    assert board.node is not None
    await board.node.stop()
    await until(lambda: state_of(hass, connection).state == "disconnected")
    assert state_of(hass, connection).attributes["outages"] == 1
    assert state_of(hass, temperature).state == STATE_UNAVAILABLE
    assert state_of(hass, entity_id(hass, "switch", "board-field-led")).state == STATE_UNAVAILABLE
    board.node.start()
    await until(lambda: state_of(hass, connection).state == "connected")
    await until(lambda: state_of(hass, temperature).state != STATE_UNAVAILABLE)


async def _send(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, "send_to_node", data, blocking=True, return_response=True
    )


async def test_send_to_node_delivers_and_answers(hass: HomeAssistant, board: Board) -> None:
    assert board.node is not None
    answer = await _send(hass, node_id="board", payload={"beep": 3}, wait=True, timeout=5)
    assert answer == {"delivered": True, "message_id": answer["message_id"]}
    assert '{"beep":3}' in board.node.received
    second = await _send(hass, device_id=node_device(hass).id, payload={"beep": 4})
    assert second == {"delivered": False, "message_id": answer["message_id"] + 1}
    await until(lambda: '{"beep":4}' in board.node.received)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"node_id": "board", "payload": [1, 2]}, "payload_not_object"),
        ({"node_id": "nobody", "payload": {}}, "unknown_node"),
        ({"payload": {}}, "node_required"),
        ({"node_id": "board", "payload": {"blob": "x" * 5000}}, "payload_invalid"),
    ],
)
async def test_send_to_node_refuses_bad_input(
    hass: HomeAssistant, board: Board, data: dict[str, Any], key: str
) -> None:
    radio = radio_of(hass.config_entries.async_entries(DOMAIN)[0])  # type: ignore[arg-type]
    with pytest.raises(ServiceValidationError) as raised:
        await _send(hass, **data)
    assert raised.value.translation_key == key
    assert radio.node_status("board")["outbox"] == 0


async def test_send_to_node_refuses_when_the_outbox_is_full(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    entry = link_entry(expected_nodes=["away"], accept_unknown=False)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    limit = radio_of(entry).config.max_outbox
    for number in range(limit):
        await _send(hass, node_id="away", payload={"n": number})
    with pytest.raises(HomeAssistantError) as raised:
        await _send(hass, node_id="away", payload={"n": limit})
    assert raised.value.translation_key == "node_outbox_full"
    assert radio_of(entry).node_status("away")["outbox"] == limit
    # The expected node is a device from the start, with its connection sensor.
    assert state_of(hass, entity_id(hass, "sensor", "away-connection")).state == "disconnected"


async def test_the_secret_stays_out_of_diagnostics_and_logs(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = link_entry(secret=SECRET)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    board = Board()
    node = board.node = SimNode("board", radio_of(entry).port, secret=SECRET)
    node.start()
    await node.connected()
    impostor = SimNode("impostor", radio_of(entry).port, secret="wrong")
    impostor.start()
    await until(lambda: radio_of(entry).diagnostics()["refused_connections"] >= 1)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert SECRET not in json.dumps(diagnostics)
    assert diagnostics["entry"]["data"]["secret"] == "**REDACTED**"
    assert diagnostics["radio"]["authenticated"] is True
    assert SECRET not in repr(radio_of(entry).config)
    assert "impostor" in caplog.text  # (refused with a log line, which names no secret)
    assert SECRET not in caplog.text
    # The link keeps its state in the entry's folder.
    await node.stop()
    await impostor.stop()
    assert (entry.runtime_data.storage_path / STATE_FILE_NAME).parent.is_dir()
