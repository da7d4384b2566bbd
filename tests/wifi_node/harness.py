"""What the Wi-Fi node link tests share: a started link on a loopback port, a listener
that records what the radio tells its gateway, and a raw client for byte-level checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from custom_components.resilient_gateway.core.model import AttributeValues, DeviceId
from custom_components.resilient_gateway.core.radio import LinkState
from custom_components.resilient_gateway.radios.wifi_node.config import LinkConfig
from custom_components.resilient_gateway.radios.wifi_node.radio import WifiNodeRadio

TIMEOUT_MS = 2000


class Recorder:
    """A RadioListener that keeps what it heard."""

    def __init__(self) -> None:
        self.reports: list[tuple[DeviceId, dict[str, Any]]] = []
        self.seen: list[DeviceId] = []
        self.inventory_changes = 0

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        self.reports.append((device_id, dict(values)))

    def device_seen(self, device_id: DeviceId) -> None:
        self.seen.append(device_id)

    def device_announced(self, device_id: DeviceId) -> None:
        pass

    def devices_changed(self) -> None:
        self.inventory_changes += 1

    def radio_state_changed(self, state: LinkState) -> None:
        pass


def link_config(**options: Any) -> LinkConfig:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "timeout_ms": TIMEOUT_MS,
        "wake_pause": 0.2,
        **options,
    }
    return LinkConfig(**settings)


@asynccontextmanager
async def running_link(
    state_file: Path | None = None, **options: Any
) -> AsyncIterator[tuple[WifiNodeRadio, Recorder]]:
    recorder = Recorder()
    radio = WifiNodeRadio(link_config(**options), recorder, state_file=state_file)
    await radio.start()
    try:
        yield radio, recorder
    finally:
        await radio.stop()


class RawNode:
    """A client that writes and reads exact bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, hello: bytes | None = None) -> RawNode:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        node = cls(reader, writer)
        if hello is not None:
            node.send(hello)
        return node

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def line(self, within: float = 10.0) -> bytes:
        """The next line, newline included (b"" when the server closed)."""
        async with asyncio.timeout(within):
            try:
                return await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                return exc.partial

    async def line_skipping_keepalives(self, within: float = 10.0) -> bytes:
        while (line := await self.line(within)) == b"\n":
            pass
        return line

    async def closed(self, within: float = 30.0) -> bool:
        """Whether the server closes the connection within ``within`` s (reading on)."""
        try:
            async with asyncio.timeout(within):
                while await self.reader.read(4096):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True

    def close(self) -> None:
        self.writer.transport.abort()


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)
