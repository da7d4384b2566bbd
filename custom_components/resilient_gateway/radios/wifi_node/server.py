"""The TCP side of the link: accepts nodes, runs the handshake (ID line, the optional HMAC
challenge, duplicate IDs), then carries each connection's lines, keepalives and outage
detection. What the lines mean is ``node.py``'s."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from typing import Any, Final, Protocol

from . import auth
from .codec import KEEPALIVE, NODE_ID, LineSplitter
from .config import LinkConfig
from .node import NodeLink

_LOGGER = logging.getLogger(__name__)

READ_CHUNK: Final = 65536
MAX_WRITE_BUFFER: Final = 256 * 1024
"""Bytes waiting to go to a node that does not read: beyond this it is cut off."""


class NodeDirectory(Protocol):
    """What the server asks about nodes (the radio answers)."""

    def refusal(self, node_id: str) -> str | None:
        """Why ``node_id`` may not connect (None: it may)."""

    def node(self, node_id: str) -> NodeLink:
        """The node's link (created for a node admitted for the first time)."""


class Refused(Exception):
    """A connection turned away during its handshake (the message says why)."""


class TcpConnection:
    """One node's TCP connection, once its handshake passed."""

    def __init__(self, serial: int, writer: asyncio.StreamWriter, node_id: str) -> None:
        self.serial = serial
        self.node_id = node_id
        self._writer = writer
        loop = asyncio.get_running_loop()
        self.last_rx = self.last_tx = loop.time()
        self.ready = False
        self.heard = False
        self.wake: asyncio.TimerHandle | None = None  # the pause before data may go
        self.closed = asyncio.Event()
        self.reason = ""

    def write(self, data: bytes) -> None:
        if self.closed.is_set():
            return
        transport = self._writer.transport
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.close("it does not read what is sent to it")
            return
        self._writer.write(data)
        self.last_tx = asyncio.get_running_loop().time()

    def close(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.reason = reason
        self.closed.set()
        if self.wake is not None:
            self.wake.cancel()
        self._writer.transport.abort()


class LinkServer:
    """Listens for nodes on one address and port."""

    def __init__(self, config: LinkConfig, directory: NodeDirectory) -> None:
        self._config = config
        self._directory = directory
        self._server: asyncio.Server | None = None
        self._serials = itertools.count(1)
        self._handlers: set[asyncio.Task[Any]] = set()
        self._connections: set[TcpConnection] = set()
        self._handshakes = 0
        self.refused = 0

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen when the config says 0)."""
        if self._server is None or not self._server.sockets:
            return self._config.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self._config.host, self._config.port, reuse_address=True
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.close("the link stops")
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    # -- one connection -------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        peer = writer.get_extra_info("peername")
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            await self._serve(reader, writer, address)
        except Refused as exc:
            self.refused += 1
            _LOGGER.warning("Wi-Fi node link: refused a connection from %s: %s", address, exc)
        except (ConnectionError, OSError) as exc:
            _LOGGER.debug("Wi-Fi node link: connection from %s failed: %s", address, exc)
        except asyncio.CancelledError:
            pass  # the link stops
        except Exception:  # a bug must cost one connection, never the server
            _LOGGER.exception("Wi-Fi node link: the connection from %s failed", address)
        finally:
            writer.transport.abort()
            self._handlers.discard(task)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str
    ) -> None:
        config = self._config
        splitter = LineSplitter(config.max_line)
        pending: deque[bytes] = deque()
        if self._handshakes >= config.max_nodes:
            raise Refused("too many connections are in their handshake")
        self._handshakes += 1
        try:
            raw_id = await self._next_line(reader, splitter, pending, "its ID")
            node_id = raw_id.decode("ascii", "replace")
            if not NODE_ID.fullmatch(node_id):
                raise Refused(f"{node_id[:64]!r} is not a node ID (1-64 printable characters)")
            if (why := self._directory.refusal(node_id)) is not None:
                raise Refused(f"node {node_id}: {why}")
            if config.secret is not None:
                await self._challenge(reader, writer, splitter, pending, node_id)
            node = self._directory.node(node_id)
            await self._wait_old_connection(node)
        finally:
            self._handshakes -= 1
        connection = TcpConnection(next(self._serials), writer, node_id)
        self._connections.add(connection)
        watchdog = asyncio.get_running_loop().create_task(self._watch(connection))
        _LOGGER.debug("Wi-Fi node %s connected from %s", node_id, address)
        node.attach(connection)
        try:
            if pending:
                self._heard(node, connection)
                node.lines_received(connection, list(pending))
            await self._read(reader, splitter, node, connection)
        finally:
            watchdog.cancel()
            connection.close(connection.reason or "the connection ended")
            self._connections.discard(connection)
            node.detach(connection)
            _LOGGER.debug("Wi-Fi node %s disconnected: %s", node_id, connection.reason)

    async def _next_line(
        self,
        reader: asyncio.StreamReader,
        splitter: LineSplitter,
        pending: deque[bytes],
        what: str,
    ) -> bytes:
        """The next line of the handshake, within the link's timeout."""
        try:
            async with asyncio.timeout(self._config.timeout):
                while not pending:
                    data = await reader.read(READ_CHUNK)
                    if not data:
                        raise Refused(f"it closed the connection before sending {what}")
                    lines, oversized = splitter.feed(data)
                    if oversized:
                        raise Refused(f"it sent a line over the length limit instead of {what}")
                    pending.extend(lines)
        except TimeoutError:
            raise Refused(f"it did not send {what} in time") from None
        return pending.popleft()

    async def _challenge(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        splitter: LineSplitter,
        pending: deque[bytes],
        node_id: str,
    ) -> None:
        secret = self._config.secret
        assert secret is not None
        nonce = auth.new_nonce()
        writer.write(auth.challenge_line(nonce))
        answer = b""
        what = "the challenge's answer"
        try:
            async with asyncio.timeout(self._config.timeout):  # (in all: keepalives do not
                while not answer:  # extend it, they are only let pass before the answer)
                    answer = await self._next_line(reader, splitter, pending, what)
        except TimeoutError:
            raise Refused(f"it did not send {what} in time") from None
        if not auth.response_valid(answer, secret, node_id, nonce):
            why = "a wrong answer" if answer.startswith(auth.RESPONSE_PREFIX) else "no answer"
            raise Refused(f"node {node_id} gave {why} to the challenge (no or a wrong secret)")

    async def _wait_old_connection(self, node: NodeLink) -> None:
        """A node that reconnects after an outage its old connection has not noticed yet is
        let in once the old one times out; one whose old connection stays live is a
        duplicate and refused."""
        old = node.connection
        if old is None:
            return
        assert isinstance(old, TcpConnection)
        loop = asyncio.get_running_loop()
        margin = self._config.timeout / 10
        wait = old.last_rx + self._config.timeout + margin - loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(old.closed.wait(), max(0.0, wait))
        if not old.closed.is_set() or node.connection not in (None, old):
            raise Refused(f"node {node.node_id} is already connected (a duplicate live ID)")
        node.detach(old)  # (its handler may not have run its end yet)

    def _heard(self, node: NodeLink, connection: TcpConnection) -> None:
        """The node's first line after its ID: data may follow a short pause (upstream
        gives an ESP8266 time to get its reader going)."""
        if connection.heard:
            return
        connection.heard = True

        def ready() -> None:
            connection.ready = True
            node.became_ready(connection)

        connection.wake = asyncio.get_running_loop().call_later(self._config.wake_pause, ready)

    async def _read(
        self,
        reader: asyncio.StreamReader,
        splitter: LineSplitter,
        node: NodeLink,
        connection: TcpConnection,
    ) -> None:
        loop = asyncio.get_running_loop()
        while not connection.closed.is_set():
            data = await reader.read(READ_CHUNK)
            if not data:
                connection.reason = connection.reason or "the node closed the connection"
                return
            connection.last_rx = loop.time()
            self._heard(node, connection)
            lines, oversized = splitter.feed(data)
            if oversized:
                node.oversized(connection, oversized)
            if lines:
                node.lines_received(connection, lines)

    async def _watch(self, connection: TcpConnection) -> None:
        """Keepalives every timeout/4 of silence from us; an outage when nothing came from
        the node within the timeout."""
        loop = asyncio.get_running_loop()
        timeout = self._config.timeout
        interval = self._config.keepalive_interval
        while not connection.closed.is_set():
            # (Compared as points in time, as the timer fires: a difference of floats can
            # fall short of the interval at the very moment the timer set for it fires.)
            now = loop.time()
            if now >= connection.last_rx + timeout:
                connection.close(f"nothing received for {timeout:g} s (an outage)")
                return
            if now >= connection.last_tx + interval:
                connection.write(KEEPALIVE)
            wake = min(connection.last_tx + interval, connection.last_rx + timeout)
            await asyncio.sleep(max(0.0, wake - loop.time()))
