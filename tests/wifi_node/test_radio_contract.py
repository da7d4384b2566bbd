"""WifiNodeRadio as the gateway's radio: what it refuses, how a read and a ping answer,
its lifecycle, its settings."""

from __future__ import annotations

import asyncio

import pytest

from custom_components.resilient_gateway.core.radio import (
    DeliveryError,
    NoResponseError,
    RadioError,
)
from custom_components.resilient_gateway.radios.wifi_node.config import LinkConfig
from custom_components.resilient_gateway.radios.wifi_node.radio import WifiNodeRadio

from .harness import RawNode, Recorder, link_config, running_link

REPORT = b'00{"_meta": {"led": {"kind": "switch"}, "level": {"kind": "number"}}, "led": false, "level": 3, "t": 1.5}\n'  # noqa: E501


async def test_commands_go_only_to_connected_nodes_and_declared_actuators() -> None:
    async with running_link(wake_pause=0.0) as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        node.send(REPORT)
        await node.line_skipping_keepalives()
        for values in ({"t": 2.0}, {"led": 1}, {"level": True}, {"fan": True}):
            with pytest.raises(DeliveryError):
                await radio.send("n1", values)
        with pytest.raises(DeliveryError):
            await radio.send("nobody", {"led": True})
        await radio.send("n1", {"led": True, "level": 7})
        assert await node.line_skipping_keepalives() == b'00{"led":true,"level":7}\n'
        node.close()
        await asyncio.sleep(0.05)
        with pytest.raises(DeliveryError, match="not connected"):
            await radio.send("n1", {"led": False})
        for call in (
            radio.send_group(1, {"led": True}),
            radio.recall_scene(1, 1),
            radio.store_scene("n1", 1, 1, {"led": True}),
        ):
            with pytest.raises(DeliveryError):
                await call


async def test_commands_queued_behind_one_in_flight_merge() -> None:
    async with running_link(wake_pause=0.0) as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        node.send(REPORT)
        await node.line_skipping_keepalives()
        await radio.send("n1", {"led": True})
        await radio.send("n1", {"level": 1})
        await radio.send("n1", {"led": False})  # (joins the one not sent yet)
        assert radio.node_status("n1")["outbox"] == 2
        assert await node.line_skipping_keepalives() == b'00{"led":true}\n'
        node.send(b"00\n")
        assert await node.line_skipping_keepalives() == b'01{"level":1,"led":false}\n'
        node.close()


async def test_a_read_waits_for_the_next_report_and_a_ping_for_the_connection() -> None:
    async with running_link(read_wait=5.0) as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        node.send(REPORT)
        await node.line_skipping_keepalives()
        await radio.ping("n1")
        reading = asyncio.ensure_future(radio.read("n1", ["led", "t"]))  # type: ignore[list-item]
        await asyncio.sleep(1)
        node.send(b'01{"led": true}\n02{"t": 2.5}\n')
        assert await reading == {"led": True, "t": 2.5}
        with pytest.raises(NoResponseError):
            await radio.read("n1", ["led"])  # type: ignore[list-item]
        node.close()
        await asyncio.sleep(0.05)
        for call in (radio.ping("n1"), radio.read("n1", []), radio.ping("nobody")):
            with pytest.raises(NoResponseError):
                await call


async def test_lifecycle_probe_reconnect_and_a_port_in_use() -> None:
    async with running_link() as (radio, _):
        await radio.probe()
        await radio.reconnect()
        await radio.probe()
        assert not radio.has_standby
        with pytest.raises(RadioError):
            await radio.failover({})
        taken = WifiNodeRadio(link_config(port=radio.port), Recorder())
        with pytest.raises(RadioError, match="cannot listen"):
            await taken.start()
        diagnostics = radio.diagnostics()
        assert diagnostics["listening"] and diagnostics["nodes"] == {}
    with pytest.raises(RadioError):
        await radio.probe()


def test_settings_defaults_and_bounds() -> None:
    config = LinkConfig()
    assert (config.port, config.timeout_ms, config.keepalive_interval) == (8125, 2000, 0.5)
    for bad in ({"port": 70000}, {"timeout_ms": 10}, {"max_outbox": 200}, {"max_line": 4}):
        with pytest.raises(ValueError):
            LinkConfig(**bad)  # type: ignore[arg-type]
    secret = LinkConfig(secret="hunter2")
    radio = WifiNodeRadio(secret, Recorder())
    assert "hunter2" not in repr(radio.diagnostics())


async def test_expected_nodes_are_devices_before_they_connect() -> None:
    async with running_link(expected=frozenset({"a", "b"}), accept_unknown=False) as (
        radio,
        _,
    ):
        assert sorted(d.device_id for d in radio.devices()) == ["a", "b"]
        waiting = asyncio.ensure_future(radio.send_to_node("a", {"x": 1}, wait=True))
        await asyncio.sleep(1)
    # The link stopped before the node came: not delivered (it stays queued).
    assert await waiting == {"delivered": False, "message_id": 0}
