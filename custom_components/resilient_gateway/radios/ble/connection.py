"""One Bluetooth LE connection kept the way the gateway needs it: opened on demand through
bleak-retry-connector, every GATT operation bounded, lost connections brought back with
back-off, and an idle one released after a keep-alive (connection slots on proxies are
scarce) unless notifications need it.

The device is looked up anew before every connection attempt (Home Assistant's
``bluetooth.async_ble_device_from_address``), so a retry goes through whichever adapter
or proxy hears the device best by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from ...core.policy import Backoff
from ...core.radio import DeliveryError, NoResponseError, RadioError

_LOGGER = logging.getLogger(__name__)

type DeviceLookup = Callable[[str], BLEDevice | None]
"""The device as the Bluetooth stack knows it now (None: no adapter or proxy hears it)."""

type Operation[T] = Callable[[BleakClient], Awaitable[T]]


def write_with_response(uuid: str, data: bytes) -> Operation[None]:
    async def write(client: BleakClient) -> None:
        await client.write_gatt_char(uuid, data, response=True)

    return write


def read_value(uuid: str) -> Operation[bytes]:
    async def read(client: BleakClient) -> bytes:
        return bytes(await client.read_gatt_char(uuid))

    return read


def subscribe(
    uuid: str, callback: Callable[[BleakGATTCharacteristic, bytearray], None]
) -> Operation[None]:
    async def start(client: BleakClient) -> None:
        await client.start_notify(uuid, callback)

    return start


class DeviceUnreachable(DeliveryError):
    """No connection to the device could be made (out of range, no free connection slot)."""


@dataclass(frozen=True, slots=True)
class ConnectionPolicy:
    """Timing of one device's connection."""

    operation_timeout: float = 10.0  # one GATT read, write or subscription
    connect_timeout: float = 60.0  # one establish_connection, its own attempts included
    connect_attempts: int = 3  # establish_connection's max_attempts
    disconnect_timeout: float = 5.0  # a disconnect that hangs is abandoned after this
    keep_alive: float = 30.0  # idle seconds before the connection is released
    reconnect_backoff: Backoff = field(
        default_factory=lambda: Backoff(initial=1.0, factor=2.0, maximum=60.0, jitter=0.2)
    )

    def __post_init__(self) -> None:
        for name in ("operation_timeout", "connect_timeout", "disconnect_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.keep_alive < 0 or self.connect_attempts < 1:
            raise ValueError("keep_alive must not be negative, connect_attempts at least 1")


@dataclass(slots=True)
class ConnectionStats:
    """What happened to the connection (diagnostics, the benchmark)."""

    connects: int = 0
    connect_failures: int = 0
    drops: int = 0  # lost without our asking
    timeouts: int = 0  # operations that never answered
    releases: int = 0  # idle connections given back


class GattConnection:
    """The connection to one device, opened when needed and kept while needed.

    ``on_connected`` runs on every new connection before anything else uses it (the link
    subscribes to notifications and reads the device's state there, through ``call``).
    ``on_reachable`` is told whether the device can be reached: False after a connection
    attempt failed, True after one succeeded.
    """

    def __init__(
        self,
        address: str,
        name: str,
        lookup: DeviceLookup,
        *,
        on_connected: Callable[[BleakClient], Awaitable[None]],
        on_reachable: Callable[[bool], None],
        client_class: type[BleakClientWithServiceCache] = BleakClientWithServiceCache,
        policy: ConnectionPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.address = address
        self.name = name
        self.policy = policy or ConnectionPolicy()
        self.stats = ConnectionStats()
        self.hold = False  # notifications need the connection: no idle release
        self.last_error: str | None = None
        self._lookup = lookup
        self._on_connected = on_connected
        self._on_reachable = on_reachable
        self._client_class = client_class
        self._rng = rng or random.Random()
        self._client: BleakClient | None = None
        self._connect_lock = asyncio.Lock()
        self._running = False
        self._reachable = True
        self._heard = True  # its advertisements, as the Bluetooth stack last said
        self._in_flight = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # cuts the reconnection back-off short
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def reachable(self) -> bool:
        return self._reachable

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Allow connections (the link runs)."""
        self._running = True
        self._reachable = True

    async def close(self) -> None:
        """Release the connection and stop reconnecting (a stop or a pause)."""
        self._running = False
        self._cancel_idle_timer()
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._disconnect()

    async def connect(self) -> BleakClient:
        """The open connection, or a new one (DeviceUnreachable when none can be made)."""
        if (client := self._client) is not None and client.is_connected:
            return client
        async with self._connect_lock:
            if (client := self._client) is not None and client.is_connected:
                return client
            if not self._running:
                raise DeliveryError(f"the connection to {self.address} is closed")
            try:
                client = await self._establish()
            except DeviceUnreachable as exc:
                self.stats.connect_failures += 1
                self.last_error = str(exc)
                self._set_reachable(False)
                self.reconnect_soon()
                raise
            self.stats.connects += 1
            self.last_error = None
            self._set_reachable(True)
            self._release_when_idle()
            return client

    async def reconnect_now(self, *, forget_services: bool = False) -> None:
        """Drop the connection and open a new one now (the supervisor's reconnect);
        ``forget_services``: the device's GATT table is discovered anew, not taken from
        the Bluetooth stack's cache (its restart: firmware may have changed it)."""
        client = self._client
        if forget_services and isinstance(client, BleakClientWithServiceCache):
            try:
                async with asyncio.timeout(self.policy.operation_timeout):
                    await client.clear_cache()
            except (TimeoutError, BleakError) as exc:
                _LOGGER.debug("%s: clearing the services cache failed: %r", self.name, exc)
        await self._disconnect()
        await self.connect()

    def reconnect_soon(self) -> None:
        """Reconnect in the background with back-off until it works (or the link closes)."""
        if self._running and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = self._spawn(self._reconnect_loop())

    def device_heard(self) -> None:
        """The Bluetooth stack heard the device again (an advertisement): a reconnection
        waiting out its back-off tries at once."""
        self._heard = True
        if not self._reachable:
            self._wake.set()
            self.reconnect_soon()

    def device_gone(self) -> None:
        """The Bluetooth stack no longer hears the device: unless a connection is open,
        it cannot be reached until it is heard again (or a reconnection gets through)."""
        self._heard = False
        self._unreachable_unless_heard()

    def _unreachable_unless_heard(self) -> None:
        """Neither heard nor connected (many devices stop advertising while connected, so
        a connection ending is the moment to ask again): it cannot be reached until it is
        heard again or a reconnection gets through."""
        if self._running and not self._heard and not self.connected:
            self.last_error = f"{self.address} is no longer heard by any Bluetooth adapter or proxy"
            self._set_reachable(False)
            self.reconnect_soon()

    # -- operations --------------------------------------------------------------------

    async def run[T](self, operation: Operation[T], what: str) -> T:
        """One GATT operation over the connection (opened if need be), bounded by the
        operation timeout. DeliveryError when it failed (the connection dropped, the
        device refused), NoResponseError when it never answered: the connection is then
        dropped and opened anew."""
        if not self._reachable:
            raise DeliveryError(f"{self.address} cannot be reached ({self.last_error})")
        self._in_flight += 1
        self._cancel_idle_timer()
        try:
            client = await self.connect()
            return await self.call(client, operation, what)
        finally:
            self._in_flight -= 1
            self._release_when_idle()

    async def call[T](self, client: BleakClient, operation: Operation[T], what: str) -> T:
        """``operation`` on an open ``client``, bounded, its failures in neutral terms."""
        timeout = self.policy.operation_timeout
        try:
            async with asyncio.timeout(timeout):
                return await operation(client)
        except TimeoutError:
            self.stats.timeouts += 1
            self.last_error = f"{what} did not answer within {timeout:g} s"
            _LOGGER.warning("%s (%s): %s; reconnecting", self.name, self.address, self.last_error)
            await self._drop(client)
            raise NoResponseError(self.last_error) from None
        except BleakError as exc:
            self.last_error = f"{what} failed: {exc}"
            raise DeliveryError(self.last_error) from exc

    # -- what bleak tells us -----------------------------------------------------------

    def _disconnected(self, client: BleakClient) -> None:
        if client is not self._client:
            return  # a connection we released or gave up
        self._client = None
        self.stats.drops += 1
        _LOGGER.debug("%s (%s): connection lost", self.name, self.address)
        if self.hold:
            self.reconnect_soon()
        self._unreachable_unless_heard()

    # -- helpers -----------------------------------------------------------------------

    async def _establish(self) -> BleakClient:
        device = self._lookup(self.address)
        if device is None:
            raise DeviceUnreachable(
                f"{self.address} is not in range of any Bluetooth adapter or proxy"
            )

        def latest() -> BLEDevice:
            # (bleak-retry-connector asks before each attempt: the best path by then.)
            return self._lookup(self.address) or device

        try:
            async with asyncio.timeout(self.policy.connect_timeout):
                client: BleakClient = await establish_connection(
                    self._client_class,
                    device,
                    self.name,
                    disconnected_callback=self._disconnected,
                    max_attempts=self.policy.connect_attempts,
                    ble_device_callback=latest,
                )
        except TimeoutError:
            raise DeviceUnreachable(
                f"no connection to {self.address} within {self.policy.connect_timeout:g} s"
            ) from None
        except BleakError as exc:
            raise DeviceUnreachable(f"no connection to {self.address}: {exc}") from exc
        self._client = client
        if not self._running:  # closed meanwhile (a pause): the slot goes back at once
            await self._disconnect()
            raise DeliveryError(f"the connection to {self.address} is closed")
        try:
            await self._on_connected(client)
        except RadioError as exc:
            await self._disconnect()
            raise DeviceUnreachable(f"{self.address} connected but failed: {exc}") from exc
        return client

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while self._running and (self.hold or not self._reachable):
            if self._reachable:
                attempt = 0  # (a drop while it was reachable: at once)
            else:
                # (An advertisement heard meanwhile ends the wait: see device_heard.)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(
                        self.policy.reconnect_backoff.delay(attempt, self._rng)
                    ):
                        await self._wake.wait()
                self._wake.clear()
                attempt += 1
            try:
                await self.connect()
            except RadioError as exc:
                _LOGGER.debug("%s: reconnect attempt %d failed: %s", self.name, attempt, exc)
                continue
            if self.connected:
                return

    def _set_reachable(self, reachable: bool) -> None:
        if reachable != self._reachable:
            self._reachable = reachable
            if not reachable:
                _LOGGER.warning("%s (%s): %s", self.name, self.address, self.last_error)
            self._on_reachable(reachable)

    def _release_when_idle(self) -> None:
        """Arm the keep-alive: an idle connection nothing holds is released after it."""
        self._cancel_idle_timer()
        if self.hold or self._in_flight or not self.connected or not self._running:
            return
        self._idle_timer = asyncio.get_running_loop().call_later(
            self.policy.keep_alive, self._idle_over
        )

    def _idle_over(self) -> None:
        self._idle_timer = None
        if not self.hold and not self._in_flight and self.connected:
            self.stats.releases += 1
            _LOGGER.debug("%s: idle, releasing the connection", self.name)
            self._spawn(self._release())

    async def _release(self) -> None:
        await self._disconnect()
        self._unreachable_unless_heard()

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    async def _drop(self, client: BleakClient) -> None:
        """A connection that stopped answering: give it up and open a new one."""
        if client is self._client:
            await self._disconnect()
            if self.hold:
                self.reconnect_soon()
            self._unreachable_unless_heard()

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            async with asyncio.timeout(self.policy.disconnect_timeout):
                await client.disconnect()
        except (TimeoutError, BleakError) as exc:
            _LOGGER.debug("%s: disconnect failed (%r); the connection is abandoned", self.name, exc)

    def _spawn[T](self, work: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
