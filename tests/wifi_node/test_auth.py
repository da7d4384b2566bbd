"""The shared secret: an HMAC challenge on connect; nodes without it are refused with a
log line, and the link goes on serving the others."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bench.link_node import SimNode
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.wifi_node import auth

from .harness import RawNode, running_link

SECRET = "correct horse battery staple"


async def test_a_node_with_the_secret_is_let_in() -> None:
    async with running_link(secret=SECRET) as (radio, recorder):
        node = SimNode("n1", radio.port, secret=SECRET)
        node.start()
        await node.connected()
        await node.send('{"v": 1}')
        assert recorder.reports == [("n1", {"v": 1})]
        await node.stop()


async def test_the_challenge_on_the_wire() -> None:
    async with running_link(secret=SECRET) as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        challenge = await node.line()
        assert challenge.startswith(b"?") and len(challenge) == 34
        nonce = challenge[1:-1].decode()
        node.send(auth.response_line(SECRET, "n1", nonce))
        assert await node.line() == b"\n"  # in: the usual keepalive
        node.close()
        other = await RawNode.connect(radio.port, b"n1\n")
        assert (await other.line())[1:-1].decode() != nonce  # a fresh nonce each time
        other.close()


def test_nodes_without_the_secret_are_refused_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with running_link(secret=SECRET) as (radio, _):
            upstream_like = await RawNode.connect(radio.port, b"n1\n\n")  # ID, keepalive
            await upstream_like.line()
            upstream_like.send(b"00hello\n")
            assert await upstream_like.closed()
            wrong = await RawNode.connect(radio.port, b"n2\n")
            nonce = (await wrong.line())[1:-1].decode()
            wrong.send(auth.response_line("guess", "n2", nonce))
            assert await wrong.closed()
            chatty = await RawNode.connect(radio.port, b"n3\n")

            async def keepalives() -> None:  # no answer, however many
                while True:
                    await asyncio.sleep(0.5)
                    chatty.send(b"\n")

            talker = asyncio.ensure_future(keepalives())
            assert await chatty.closed(within=2.5)  # the timeout counts from the challenge
            talker.cancel()
            assert radio.devices() == []  # an impostor creates no device
            node = SimNode("n4", radio.port, secret=SECRET)
            node.start()
            await node.connected()
            assert [d.device_id for d in radio.devices()] == ["n4"]
            await node.stop()
            assert radio.diagnostics()["refused_connections"] == 3

    with caplog.at_level(logging.WARNING):
        run_virtual(scenario())
    assert "node n1 gave no answer to the challenge" in caplog.text
    assert "node n2 gave a wrong answer to the challenge" in caplog.text
    assert "did not send the challenge's answer in time" in caplog.text
    assert SECRET not in caplog.text
