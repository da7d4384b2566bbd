"""A coordinator reachable over TCP, as Ethernet/Wi-Fi coordinators (SLZB-07, ser2net
bridges) serve one: the radio library opens ``socket://127.0.0.1:<port>`` through zigpy's
serial layer exactly as it would for a network-attached stick.

``unplug()`` drops the open connection and refuses new ones (the port is closed, as when
the coordinator loses power or its cable); ``replug()`` listens on the same port again. The
stick's state lives in the emulated NCP, not in the connection, so it survives both.
"""

from __future__ import annotations

import asyncio
import errno
import random
from collections.abc import Callable

HOST = "127.0.0.1"
PORT_RANGE = (20000, 32000)
PORT_TRIES = 50


class TcpStick:
    """Serves one emulated NCP on a fixed local port; one client at a time.

    A new client replaces the previous one, as ser2net's "kickolduser" does: a library
    that reconnects may open the new connection before the old one's close arrives.
    """

    def __init__(self, session_factory: Callable[[], asyncio.Protocol]) -> None:
        self._session_factory = session_factory
        self._server: asyncio.Server | None = None
        self._port = 0
        self._transport: asyncio.Transport | None = None
        self.connections = 0  # accepted so far

    @property
    def path(self) -> str:
        return f"socket://{HOST}:{self._port}"

    @property
    def plugged(self) -> bool:
        return self._server is not None

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after an unplug)."""
        loop = asyncio.get_running_loop()
        if self._port:
            self._server = await loop.create_server(
                self._accept, HOST, self._port, reuse_address=True
            )
            return
        # Below the kernel's ephemeral range (32768 and up on Linux): no outgoing
        # connection can take the port while the stick is unplugged.
        for _ in range(PORT_TRIES):
            port = random.randrange(*PORT_RANGE)
            try:
                self._server = await loop.create_server(
                    self._accept, HOST, port, reuse_address=True
                )
            except OSError as err:
                if err.errno != errno.EADDRINUSE:
                    raise
                continue
            self._port = port
            return
        raise OSError(errno.EADDRINUSE, f"no free port in {PORT_RANGE}")

    async def replug(self) -> None:
        if self._server is None:
            await self.start()

    async def unplug(self) -> None:
        """Drop the connection and refuse new ones until ``replug()``."""
        server, self._server = self._server, None
        if server is not None:
            server.close()  # no new connections from here on
        self._drop()
        if server is not None:
            await server.wait_closed()  # which waits for the open connection too

    async def close(self) -> None:
        await self.unplug()

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()

    def _accept(self) -> asyncio.Protocol:
        session = self._session_factory()
        stick = self

        class _Connection(asyncio.Protocol):
            transport: asyncio.Transport | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                stick._drop()
                self.transport = stick._transport = transport
                stick.connections += 1
                session.connection_made(transport)

            def data_received(self, data: bytes) -> None:
                session.data_received(data)

            def connection_lost(self, exc: Exception | None) -> None:
                if stick._transport is self.transport:
                    stick._transport = None
                session.connection_lost(exc)

        return _Connection()
