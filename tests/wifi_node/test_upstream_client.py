"""The unmodified micropython-iot client against the link (under CPython, with stand-ins
for the MicroPython modules). Runs when ``MICROPYTHON_IOT`` names a checkout of
https://github.com/peterhinch/micropython-iot (the folder holding ``iot/``); its code is
never part of this repository."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from custom_components.resilient_gateway.core.virtual_time import run_virtual

from .harness import running_link
from .upstream_stand_ins import upstream_client

CHECKOUT = os.environ.get("MICROPYTHON_IOT")

pytestmark = pytest.mark.skipif(
    not CHECKOUT or not (Path(CHECKOUT) / "iot" / "client.py").is_file(),
    reason="set MICROPYTHON_IOT to a micropython-iot checkout to run these",
)


async def _until(condition: Any, within: float = 60.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (nothing in the client to await)
            await asyncio.sleep(0.05)


def test_the_upstream_client_exchanges_messages_both_ways() -> None:
    assert CHECKOUT is not None
    with upstream_client(Path(CHECKOUT)) as client_module:

        async def scenario() -> None:
            async with running_link() as (radio, recorder):
                client = client_module.Client(
                    "esp1", "127.0.0.1", port=radio.port, ssid="home", timeout=2000
                )
                await _until(client.status)
                for n in range(5):
                    await client.write(json.dumps({"count": n, "on": n % 2 == 0}))
                assert [r[1]["count"] for r in recorder.reports] == [0, 1, 2, 3, 4]
                assert recorder.reports[1] == ("esp1", {"count": 1, "on": False})
                for n in range(3):
                    await radio.send_to_node("esp1", {"n": n})
                lines = [await client.readline() for _ in range(3)]
                assert [json.loads(line) for line in lines] == [{"n": 0}, {"n": 1}, {"n": 2}]
                await _until(lambda: radio.node_status("esp1")["outbox"] == 0)
                assert radio.node_status("esp1")["retransmits"] == 0
                client.close()

        run_virtual(scenario())


def test_the_upstream_client_gets_everything_once_across_a_gateway_restart(
    tmp_path: Path,
) -> None:
    assert CHECKOUT is not None
    state = tmp_path / "link.json"
    with upstream_client(Path(CHECKOUT)) as client_module:

        async def scenario() -> None:
            got: list[Any] = []
            async with running_link(state) as (radio, recorder):
                port = radio.port
                client = client_module.Client(
                    "esp1", "127.0.0.1", port=port, ssid="home", timeout=2000
                )
                await _until(client.status)
                await client.write(json.dumps({"n": 0}))
                # The first message carries id 0, which upstream's client takes as "the
                # server restarted" each time it comes: it goes once, and is ACKed.
                assert (await radio.send_to_node("esp1", {"down": 0}, wait=True))["delivered"]
                got.append(json.loads(await client.readline()))
                await radio.send_to_node("esp1", {"down": 1})
                got.append(json.loads(await client.readline()))
                # The gateway stops before the client's ACK of it reaches it.
            # The gateway is down: the client notices, its writes wait for the link.
            writer = asyncio.ensure_future(client.write(json.dumps({"n": 1})))
            await asyncio.sleep(3)
            async with running_link(state, port=port) as (radio, recorder):
                await radio.send_to_node("esp1", {"down": 2})
                await writer
                await client.write(json.dumps({"n": 2}))
                got.append(json.loads(await client.readline()))
                await _until(lambda: radio.node_status("esp1")["outbox"] == 0)
                assert [r[1]["n"] for r in recorder.reports] == [1, 2]
                # Message 1 went again (its ACK was lost) and the client dropped it.
                assert radio.node_status("esp1")["messages_out"] == 2
            assert got == [{"down": 0}, {"down": 1}, {"down": 2}]
            assert client._lineq.empty()
            client.close()

        run_virtual(scenario())


def test_an_upstream_client_is_refused_by_a_link_with_a_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert CHECKOUT is not None
    with upstream_client(Path(CHECKOUT)) as client_module:

        async def scenario() -> None:
            async with running_link(secret="s3cret") as (radio, _):
                client = client_module.Client(
                    "esp1", "127.0.0.1", port=radio.port, ssid="home", timeout=2000
                )
                await _until(lambda: radio.diagnostics()["refused_connections"] >= 1)
                assert radio.devices() == []
                client.close()

        run_virtual(scenario())
    assert "did not send the challenge's answer in time" in caplog.text
