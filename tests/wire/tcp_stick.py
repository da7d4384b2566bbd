"""An emulated coordinator stick on a TCP port of 127.0.0.1, and the devices around it.

Network-attached coordinators (SLZB-06/07, TubesZB, ZigStar, UZG-01) expose their radio's
serial line on a TCP port, and zigpy opens ``socket://host:port`` paths through its serial
layer (serialx): so the real ``ControllerApplication`` of a radio library talks to a
``TcpStick`` exactly as to such a coordinator, byte for byte, in its own serial protocol.

The stick family is a ``Firmware``: it gets the host's bytes and writes its answers back
through the ``HostLink``. The TCP part only plugs and unplugs it:

- one host connection at a time, as a serial port (a second one is closed at once);
- ``unplug()`` drops the connection and stops listening: the host's link is lost and its
  reconnects are refused, as with a stick pulled out of its USB port or a coordinator
  whose power or network is gone; ``replug()`` listens again on the same port;
- every new connection boots the firmware: what it kept in RAM is gone, its persistent
  memory (NVRAM, tokens) survives unplugging.

``Air`` holds the simulated devices within range (the project's own ``SimDevice``, which
answers ZCL and ZDO): a device hears and answers only the stick currently running the
network it joined, so a stick with another network, or a blank one, reaches nobody until
the network identity is written onto it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

import zigpy.types as t

from custom_components.resilient_gateway.radios.virtual import SimKind
from custom_components.resilient_gateway.radios.virtual.delivery import DeliveryMode
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.virtual.timers import Timer, Timers

_LOGGER = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Below the kernel's ephemeral range (32768-60999 on Linux): while a stick is unplugged no
# outgoing connection of another program can take its port, so replug() gets it back.
_LISTEN_PORTS = range(20000, 32000)
_RANDOM_PORTS = random.Random()
NETWORK_KEY = "network"  # where a SimDevice keeps the extended PAN ID it joined


class Signal:
    """Wakes whoever waits for a condition each time something changed (no polling)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_until(self, condition: Callable[[], bool], seconds: float) -> None:
        """Return once ``condition()`` holds; TimeoutError after ``seconds``."""
        async with asyncio.timeout(seconds):
            while not condition():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.add(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.discard(waiter)


class HostLink(Protocol):
    """The firmware's side of the serial line."""

    def write(self, data: bytes) -> None: ...


class Firmware(Protocol):
    """A coordinator family's firmware, driven by the bytes its host sends."""

    def booted(self, link: HostLink) -> None:
        """The host opened the port: the stick starts afresh (RAM state gone)."""

    def received(self, data: bytes) -> None:
        """Bytes from the host."""

    def link_lost(self) -> None:
        """The host's connection is gone (unplugged, or the host closed the port)."""

    def problems(self) -> list[str]:
        """What the emulator could not handle (unknown requests, its own errors)."""

    def stop(self) -> None:
        """Cancel everything the firmware scheduled."""


class _Connection(asyncio.Protocol):
    """One host connection; it feeds the firmware that booted when it opened."""

    def __init__(self, stick: TcpStick) -> None:
        self._stick = stick
        self.firmware: Firmware | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._stick._accepted(self)

    def data_received(self, data: bytes) -> None:
        if self.firmware is not None:
            self.firmware.received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stick._closed(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class TcpStick:
    """``firmware`` served on a TCP port of 127.0.0.1 (``path`` is what zigpy opens)."""

    def __init__(self, firmware: Firmware) -> None:
        self.firmware = firmware
        self.port = 0
        self.connections = 0  # host connections accepted so far
        self._server: asyncio.Server | None = None
        self._connection: _Connection | None = None
        self.changed = Signal()

    @property
    def path(self) -> str:
        return f"socket://{HOST}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def plug_in(self) -> None:
        """Listen: on a free port the first time, then on the same one."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        ports = [self.port] if self.port else _RANDOM_PORTS.sample(_LISTEN_PORTS, 50)
        for port in ports:
            try:
                self._server = await loop.create_server(
                    lambda: _Connection(self), HOST, port, reuse_address=True
                )
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or port == ports[-1]:
                    raise
                continue
            self.port = port
            return

    async def unplug(self) -> None:
        """The link is lost: the host's connection drops and new ones are refused."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._connection is not None and self._connection.transport is not None:
            self._connection.transport.abort()
        if server is not None:
            await server.wait_closed()
        await self.wait_until(lambda: self._connection is None)

    async def replug(self) -> None:
        await self.plug_in()

    async def insert(self, firmware: Firmware) -> None:
        """Another stick goes into the same port (the old one is unplugged first)."""
        await self.unplug()
        self.firmware = firmware
        await self.plug_in()

    async def close(self) -> None:
        await self.unplug()

    async def wait_until(self, condition: Callable[[], bool], seconds: float = 30.0) -> None:
        """Wait until ``condition()`` holds, checked each time a host (dis)connects."""
        await self.changed.wait_until(condition, seconds)

    def _accepted(self, connection: _Connection) -> None:
        if self._connection is not None or self._server is None:
            # A serial port is opened by one program at a time.
            assert connection.transport is not None
            connection.transport.close()
            return
        self._connection = connection
        self.connections += 1
        connection.firmware = self.firmware
        self.firmware.booted(connection)
        self.changed.notify()

    def _closed(self, connection: _Connection) -> None:
        if self._connection is not connection:
            return
        self._connection = None
        if connection.firmware is not None:
            connection.firmware.link_lost()
            connection.firmware = None
        self.changed.notify()


class Stick(Protocol):
    """What the air needs from a coordinator stick."""

    def runs_network(self, extended_pan_id: str) -> bool: ...

    def heard(self, device: SimDevice, packet: t.ZigbeePacket) -> None: ...


class Air:
    """The simulated devices within range of the sticks, on the running loop's clock.

    Implements the ``DeviceHost`` a ``SimDevice`` lives in: what a device transmits goes to
    the stick that runs the network the device joined (nowhere if none does).
    """

    def __init__(self) -> None:
        self.timers = Timers(asyncio.get_running_loop())
        self.devices: dict[t.EUI64, SimDevice] = {}
        self.sticks: list[Stick] = []
        self._rng = random.Random(12)

    def add_device(self, kind: SimKind, *, ieee: str, nwk: int, name: str) -> SimDevice:
        """A device fresh from the box, within range (it joins no network by itself)."""
        device = SimDevice.new(
            ieee=t.EUI64.convert(ieee), nwk=nwk, kind=kind, name=name, rng=self._rng
        )
        device.extras[NETWORK_KEY] = None
        self.devices[device.ieee] = device
        device.attach(self)
        return device

    def deliver(self, device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        """A frame from a stick reaches ``device`` (which may answer through ``transmit``)."""
        device.receive(packet, mode)

    def stop(self) -> None:
        for device in self.devices.values():
            device.detach()
        self.timers.close()

    # -- DeviceHost -------------------------------------------------------------------

    def now(self) -> float:
        return self.timers.now()

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer:
        return self.timers.call_later(delay, callback, *args)

    def transmit(self, device: SimDevice, packet: t.ZigbeePacket) -> None:
        network = device.extras.get(NETWORK_KEY)
        for stick in self.sticks:
            if network is not None and stick.runs_network(network):
                stick.heard(device, packet)
                return
        _LOGGER.debug("%s transmits, but no stick runs its network", device.name)

    def device_changed(self, device: SimDevice) -> None:
        pass

    def device_left(self, device: SimDevice) -> None:
        device.extras[NETWORK_KEY] = None
