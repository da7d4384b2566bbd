"""A simulated Wi-Fi node speaking micropython-iot's wire format (our own code, not
upstream's), for the link's tests and benchmark: qos messages with a window of them in
flight, ACKs, keepalives, duplicate suppression, retransmission through outages, the
optional HMAC answer, and outages on demand (a cut socket, or silence)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from custom_components.resilient_gateway.radios.wifi_node import auth
from custom_components.resilient_gateway.radios.wifi_node.codec import (
    KEEPALIVE,
    LineKind,
    LineSplitter,
    ReceiveWindow,
    encode_ack,
    encode_message,
    next_message_id,
    parse_line,
)


@dataclass(slots=True, eq=False)
class _Outgoing:
    message_id: int
    payload: str
    answer: asyncio.Future[bool] | None = None  # True: ACKed; False: the connection died


class SimNode:
    """One node. ``await node.send(text)`` returns once the server ACKed it (qos)."""

    def __init__(
        self,
        node_id: str,
        port: int,
        *,
        host: str = "127.0.0.1",
        timeout_ms: int = 2000,
        secret: str | None = None,
        window: int = 1,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self.node_id = node_id
        self.host, self.port = host, port
        self.timeout = timeout_ms / 1000
        self.secret = secret
        self.received: list[str] = []  # messages from the server, duplicates suppressed
        self.duplicates = 0
        self.connects = 0
        self.refused = False
        self._on_message = on_message
        self._window = ReceiveWindow()
        self._next_id = 0
        self._slots = asyncio.Semaphore(window)
        self._in_flight: dict[int, _Outgoing] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._up = asyncio.Event()
        self._silent = False
        self._running = False
        self._runner: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect, and reconnect after every outage, until ``stop``."""
        self._running = True
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._running = False
        self._drop()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def connected(self) -> None:
        await self._up.wait()

    def restart(self) -> None:
        """A reboot: the memory of received ids and the id sequence start over (what was
        in flight is forgotten, as a rebooted node forgets it)."""
        self._window = ReceiveWindow()
        self._next_id = 0
        self._in_flight.clear()
        self._drop()

    def cut(self) -> None:
        """The socket dies at once (a reset): both ends notice now."""
        self._drop()

    async def go_silent(self) -> None:
        """Wi-Fi gone: nothing flows either way until this side's timeout notices."""
        self._silent = True
        await asyncio.sleep(self.timeout)
        self._silent = False
        self._drop()

    def _drop(self) -> None:
        writer, self._writer = self._writer, None
        self._up.clear()
        if writer is not None:
            writer.transport.abort()
        for outgoing in self._in_flight.values():  # (sent again on the next connection)
            if outgoing.answer is not None and not outgoing.answer.done():
                outgoing.answer.set_result(False)

    async def _run(self) -> None:
        while self._running:
            with contextlib.suppress(OSError):
                await self._connection()
            self._drop()
            if self._running:
                await asyncio.sleep(0.01)

    async def _connection(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        splitter = LineSplitter(1 << 20)
        writer.write(f"{self.node_id}\n".encode())
        self._writer = writer
        loop = asyncio.get_running_loop()
        last_rx = loop.time()
        keepalive = loop.create_task(self._keepalive(writer))
        try:
            while True:
                try:
                    async with asyncio.timeout(max(0.001, last_rx + self.timeout - loop.time())):
                        data = await reader.read(65536)
                except TimeoutError:
                    return  # an outage
                if not data:
                    if not self._up.is_set():
                        self.refused = True
                    return
                if self._silent:
                    continue
                last_rx = loop.time()
                lines, _ = splitter.feed(data)
                for raw in lines:
                    self._line(writer, raw)
        finally:
            keepalive.cancel()

    def _line(self, writer: asyncio.StreamWriter, raw: bytes) -> None:
        if raw.startswith(auth.CHALLENGE_PREFIX):
            if self.secret is not None:
                nonce = raw[1:].decode()
                writer.write(auth.response_line(self.secret, self.node_id, nonce))
            return
        if not self._up.is_set():
            self.connects += 1
            self._up.set()
        line = parse_line(raw)
        if line.kind is LineKind.ACK:
            outgoing = self._in_flight.get(line.message_id)
            if outgoing is not None and outgoing.answer is not None and not outgoing.answer.done():
                outgoing.answer.set_result(True)
        elif line.kind is LineKind.MESSAGE:
            writer.write(encode_ack(line.message_id))
            if self._window.accept(line.message_id, line.payload):
                self.received.append(line.payload)
                if self._on_message is not None:
                    self._on_message(line.payload)
            else:
                self.duplicates += 1

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self.timeout / 4)
            if not self._silent:
                writer.write(KEEPALIVE)

    # -- sending --------------------------------------------------------------------------

    async def send(self, payload: str) -> int:
        """Send with qos: returns the message id once the server ACKed it, retransmitting
        after each timeout and after each reconnect."""
        async with self._slots:
            outgoing = _Outgoing(self._next_id, payload)
            self._next_id = next_message_id(self._next_id)
            self._in_flight[outgoing.message_id] = outgoing
            loop = asyncio.get_running_loop()
            try:
                while True:
                    await self._up.wait()
                    outgoing.answer = loop.create_future()
                    if self._writer is not None and not self._silent:
                        self._writer.write(encode_message(outgoing.message_id, payload))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.timeout):
                            if await outgoing.answer:
                                return outgoing.message_id
            finally:
                self._in_flight.pop(outgoing.message_id, None)
