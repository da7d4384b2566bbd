"""The Wi-Fi node link on loopback sockets, on simulated time: handshake, ACKs,
keepalives, outages, duplicates, ordering, bad input and bounds."""

from __future__ import annotations

import asyncio
import logging

import pytest

from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.wifi_node.radio import (
    NodeOutboxFullError,
    UnknownNodeError,
)

from .harness import RawNode, running_link, settle


async def test_a_node_says_its_id_and_hears_a_keepalive_at_once() -> None:
    async with running_link() as (radio, recorder):
        node = await RawNode.connect(radio.port, b"kitchen\n")
        assert await node.line(within=0.01) == b"\n"
        assert [d.device_id for d in radio.devices()] == ["kitchen"]
        assert radio.node_status("kitchen")["connected"] is True
        assert recorder.inventory_changes >= 1
        node.close()


async def test_a_message_is_acked_byte_for_byte_and_becomes_values() -> None:
    async with running_link() as (radio, recorder):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        node.send(b'00{"temperature": 21.5, "door": false, "label": "x"}\n')
        assert await node.line_skipping_keepalives() == b"00\n"
        assert recorder.reports == [("n1", {"temperature": 21.5, "door": False})]
        (device,) = radio.devices()
        assert [(f.name, f.kind.value) for f in device.fields] == [
            ("door", "binary"),
            ("temperature", "sensor"),
        ]
        node.close()


async def test_duplicates_are_acked_and_dropped_and_id_0_restarts_the_memory() -> None:
    async with running_link() as (radio, recorder):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        for line in (b'00{"v":0}\n', b'00{"v":0}\n', b'01{"v":1}\n', b'01{"v":1}\n'):
            node.send(line)
            assert await node.line_skipping_keepalives() == line[:2] + b"\n"
        assert [r[1]["v"] for r in recorder.reports] == [0, 1]
        node.send(b'00{"v":10}\n')  # the node rebooted: its ids start over
        node.send(b'01{"v":11}\n')
        await node.line_skipping_keepalives()
        await node.line_skipping_keepalives()
        assert [r[1]["v"] for r in recorder.reports] == [0, 1, 10, 11]
        status = radio.node_status("n1")
        assert (status["messages_in"], status["duplicates_in"]) == (4, 2)
        node.close()


async def test_keepalives_every_quarter_timeout_and_an_outage_after_the_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        start = loop.time()
        times = []
        for _ in range(4):
            assert await node.line() == b"\n"
            times.append(round(loop.time() - start, 3))
        assert times == [0.0, 0.5, 1.0, 1.5]  # then nothing came from the node for 2 s
        assert await node.closed()
        assert round(loop.time() - start, 3) == 2.0
        status = radio.node_status("n1")
        assert (status["connected"], status["outages"]) == (False, 1)
        assert status["last_seen"] is not None


async def test_a_node_that_keeps_talking_stays_connected() -> None:
    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        for _ in range(20):  # 10 s of keepalives from the node
            await asyncio.sleep(0.5)
            node.send(b"\n")
        assert radio.node_status("n1")["connected"] is True
        assert radio.node_status("n1")["outages"] == 0
        node.close()


async def test_messages_to_a_node_go_in_order_one_at_a_time() -> None:
    loop = asyncio.get_running_loop()
    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        first = await radio.send_to_node("n1", {"a": 1})
        second = await radio.send_to_node("n1", {"a": 2})
        assert (first["message_id"], second["message_id"]) == (0, 1)
        assert not first["delivered"]
        node.send(b"\n")  # data follows the node's first line, after a short pause
        sent_at = loop.time()
        assert await node.line_skipping_keepalives() == b'00{"a":1}\n'
        assert loop.time() - sent_at == pytest.approx(0.2)
        with pytest.raises(TimeoutError):  # the second waits for the first's ACK
            await node.line_skipping_keepalives(within=0.3)
        node.send(b"00\n")
        assert await node.line_skipping_keepalives() == b'01{"a":2}\n'
        waiting = asyncio.ensure_future(radio.send_to_node("n1", {"a": 3}, wait=True))
        node.send(b"01\n")
        assert await node.line_skipping_keepalives() == b'02{"a":3}\n'
        node.send(b"02\n")
        assert await waiting == {"delivered": True, "message_id": 2}
        node.close()


async def test_an_unacked_message_is_sent_again_after_the_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n\n")
        await node.line()
        await radio.send_to_node("n1", {"a": 1})
        assert await node.line_skipping_keepalives() == b'00{"a":1}\n'
        first = loop.time()
        node.send(b"\n")
        await asyncio.sleep(1.0)
        node.send(b"\n")
        assert await node.line_skipping_keepalives() == b'00{"a":1}\n'
        assert loop.time() - first == pytest.approx(2.0)
        assert radio.node_status("n1")["retransmits"] == 1
        node.close()


async def test_an_ack_counts_only_for_a_message_sent_on_this_connection() -> None:
    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n\n")
        await node.line()
        early = await radio.send_to_node("n1", {"a": 1})
        assert await node.line_skipping_keepalives() == b'00{"a":1}\n'
        node.close()  # the ACK never went
        await settle()
        again = await RawNode.connect(radio.port, b"n1\n00\n")  # a stray/late ACK first
        await again.line()
        assert radio.node_status("n1")["stray_acks"] == 1
        # Not satisfied by it: the message goes again on this connection.
        assert await again.line_skipping_keepalives() == b'00{"a":1}\n'
        again.send(b"00\n")
        await settle()
        assert radio.node_status("n1")["outbox"] == 0
        assert early["message_id"] == 0
        again.close()


async def test_an_ack_for_a_message_not_sent_yet_satisfies_nothing() -> None:
    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        await radio.send_to_node("n1", {"a": 1})
        node.send(b"00\n")  # before the link had sent it (it waits for the node's line)
        await settle(0.3)
        assert radio.node_status("n1")["stray_acks"] == 1
        assert radio.node_status("n1")["outbox"] == 1
        assert await node.line_skipping_keepalives() == b'00{"a":1}\n'
        node.close()


def test_malformed_and_oversized_lines_are_counted_and_the_connection_lives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with running_link(max_line=64) as (radio, recorder):
            node = await RawNode.connect(radio.port, b"n1\n")
            await node.line()
            node.send(b"zz not hex\n")
            node.send(b"00not json\n")
            assert await node.line_skipping_keepalives() == b"00\n"  # delivered, no report
            node.send(b"01" + b"x" * 500 + b"\n")
            assert await node.line_skipping_keepalives() == b"01\n"  # dropped, but ACKed
            node.send(b'02[1, 2]\n03{"ok": 1, "bad": "text", "_x": 2}\n')
            assert await node.line_skipping_keepalives() == b"02\n"
            assert await node.line_skipping_keepalives() == b"03\n"
            status = radio.node_status("n1")
            assert (status["malformed"], status["oversized"]) == (1, 1)
            assert radio.reports_malformed == 2
            assert recorder.reports == [("n1", {"ok": 1})]
            assert status["connected"] is True
            node.close()

    with caplog.at_level(logging.DEBUG):
        run_virtual(scenario())
    assert "malformed line" in caplog.text
    assert "over the link's length limit" in caplog.text


def test_a_duplicate_live_id_is_refused_and_a_stale_one_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with running_link() as (radio, _):
            first = await RawNode.connect(radio.port, b"n1\n")
            await first.line()

            async def keep_talking() -> None:
                while True:
                    first.send(b"\n")
                    await asyncio.sleep(0.5)

            talker = asyncio.ensure_future(keep_talking())
            impostor = await RawNode.connect(radio.port, b"n1\n")
            assert await impostor.closed()
            assert radio.node_status("n1")["connected"] is True
            talker.cancel()
            # The first goes silent (a Wi-Fi outage it has not noticed): a new connection
            # is let in once the old one times out.
            successor = await RawNode.connect(radio.port, b"n1\n")
            assert await successor.line() == b"\n"
            assert radio.node_status("n1")["outages"] == 1
            assert radio.node_status("n1")["connects"] == 2
            successor.close()

    with caplog.at_level(logging.WARNING):
        run_virtual(scenario())
    assert "a duplicate live ID" in caplog.text


def test_bounds_unknown_nodes_max_nodes_and_the_outbox(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running_link(expected=frozenset({"a"}), accept_unknown=False) as (radio, _):
            stranger = await RawNode.connect(radio.port, b"b\n")
            assert await stranger.closed()
            assert await (await RawNode.connect(radio.port, b"bad id\n")).closed()
            with pytest.raises(UnknownNodeError):
                await radio.send_to_node("b", {"x": 1})
        async with running_link(max_nodes=1, max_outbox=2) as (radio, _):
            first = await RawNode.connect(radio.port, b"a\n")
            await first.line()
            second = await RawNode.connect(radio.port, b"b\n")
            assert await second.closed()
            await radio.send_to_node("a", {"x": 1})
            await radio.send_to_node("a", {"x": 2})
            with pytest.raises(NodeOutboxFullError):
                await radio.send_to_node("a", {"x": 3})
            with pytest.raises(ValueError, match="longer"):
                await radio.send_to_node("a", {"x": "y" * 5000})
            first.close()

    with caplog.at_level(logging.WARNING):
        run_virtual(scenario())
    assert "not an expected node ID" in caplog.text
    assert "'bad id' is not a node ID" in caplog.text
    assert "the most nodes it may (1)" in caplog.text
