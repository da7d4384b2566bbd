"""Exactly once across restarts of either side: the outbox, the ids it carries and the
receive window persist, and an ACK goes out only once what it confirms is on disk."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from bench.link_node import SimNode
from custom_components.resilient_gateway.core.virtual_time import run_virtual

from .harness import RawNode, running_link, settle


def _window_bits(path: Path, node_id: str) -> bytes:
    return bytes.fromhex(json.loads(path.read_text())["nodes"][node_id]["window"]["bits"])


async def test_an_ack_means_the_message_id_is_on_disk(tmp_path: Path) -> None:
    state = tmp_path / "link.json"

    async with running_link(state) as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        node.send(b'00{"v":1}\n05{"v":2}\n')
        assert await node.line_skipping_keepalives() == b"00\n"
        assert await node.line_skipping_keepalives() == b"05\n"
        bits = _window_bits(state, "n1")
        assert bits[0] & 0b100001 == 0b100001  # ids 0 and 5
        node.close()


async def test_a_message_received_before_a_gateway_restart_is_not_taken_again(
    tmp_path: Path,
) -> None:
    state = tmp_path / "link.json"

    async with running_link(state) as (radio, recorder):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        node.send(b'00{"v":0}\n01{"v":1}\n')
        await node.line_skipping_keepalives()
        await node.line_skipping_keepalives()
        assert len(recorder.reports) == 2
        node.close()
    async with running_link(state) as (radio, recorder):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        # The node never heard the ACK of 01 (it went down with the gateway): again.
        node.send(b'01{"v":1}\n02{"v":2}\n')
        assert await node.line_skipping_keepalives() == b"01\n"
        assert await node.line_skipping_keepalives() == b"02\n"
        assert recorder.reports == [("n1", {"v": 2})]
        assert radio.node_status("n1")["duplicates_in"] == 1
        node.close()


async def test_the_outbox_and_its_ids_survive_a_gateway_restart(tmp_path: Path) -> None:
    state = tmp_path / "link.json"

    async with running_link(state) as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n\n")
        await node.line()
        await radio.send_to_node("n1", {"m": "a"})
        assert await node.line_skipping_keepalives() == b'00{"m":"a"}\n'
        node.send(b"00\n")
        await settle()
        node.close()
        await settle()
        # Queued while the node is away; the gateway stops before it returns.
        assert (await radio.send_to_node("n1", {"m": "b"}))["message_id"] == 1
        assert (await radio.send_to_node("n1", {"m": "c"}))["message_id"] == 2
    async with running_link(state) as (radio, _):
        assert radio.node_status("n1")["outbox"] == 2
        node = await RawNode.connect(radio.port, b"n1\n\n")
        await node.line()
        assert await node.line_skipping_keepalives() == b'01{"m":"b"}\n'  # not "a" again
        node.send(b"01\n")
        assert await node.line_skipping_keepalives() == b'02{"m":"c"}\n'
        node.send(b"02\n")
        assert (await radio.send_to_node("n1", {"m": "d"}))["message_id"] == 3
        node.close()


async def test_a_link_without_saved_state_starts_its_ids_at_0() -> None:
    """0 clears the node's memory of ids (upstream's "peer restarted"): a link that kept
    no state must not send an id the node may remember from before."""

    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n\n")
        await node.line()
        await radio.send_to_node("n1", {"m": "a"})
        assert (await node.line_skipping_keepalives())[:2] == b"00"
        node.close()


async def test_exactly_once_both_ways_through_cuts_and_restarts_of_either_side(
    tmp_path: Path,
) -> None:
    state = tmp_path / "link.json"
    to_gateway = [f"up{i}" for i in range(60)]
    to_node = [{"down": i} for i in range(30)]

    got: list[str] = []
    node: SimNode | None = None
    for round_ in range(3):  # the gateway restarts twice
        async with running_link(state, wake_pause=0.0) as (radio, _):
            radio.add_message_listener(lambda _node, payload: got.append(payload))
            if node is None:
                node = SimNode("n1", radio.port, timeout_ms=2000)
            node.port = radio.port
            node.start()
            await node.connected()
            part = to_node[round_ * 10 : round_ * 10 + 10]
            for payload in part:
                await radio.send_to_node("n1", payload)
            for index, text in enumerate(to_gateway[round_ * 20 : round_ * 20 + 20]):
                if index == 7:
                    node.cut()
                if index == 13 and round_ == 1:
                    node.restart()  # the node reboots (its in-flight sends are gone)
                await node.send(json.dumps({"text": text}))
            for _ in range(200):
                if radio.node_status("n1")["outbox"] == 0:
                    break
                await asyncio.sleep(0.1)
            await node.stop()
    assert node is not None
    assert [json.loads(p)["text"] for p in got] == to_gateway
    assert [json.loads(p) for p in node.received] == to_node


def test_a_disk_that_refuses_the_state_holds_acks_back_until_it_takes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "state"

    async def scenario() -> None:
        async with running_link(blocker / "link.json") as (radio, recorder):
            blocker.write_text("a file where the folder should be")
            node = await RawNode.connect(radio.port, b"n1\n")
            await node.line()
            node.send(b'00{"v":1}\n')
            await asyncio.sleep(0.5)
            node.send(b"\n")
            # Delivered to the gateway, but not ACKed: it is not on disk yet.
            assert await node.line() == b"\n"
            assert recorder.reports == [("n1", {"v": 1})]
            blocker.unlink()
            assert await node.line_skipping_keepalives() == b"00\n"
            assert (blocker / "link.json").is_file()
            node.close()

    with caplog.at_level(logging.WARNING):
        run_virtual(scenario())
    assert caplog.text.count("cannot write") == 1
    assert "writes" in caplog.text and "again" in caplog.text
