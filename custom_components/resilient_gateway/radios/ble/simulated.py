"""Simulated Bluetooth LE peripherals behind a bleak backend, for tests and benchmarks.

``SimulatedClient`` is a real ``BleakClientWithServiceCache`` running on
``SimulatedBackend`` (bleak's own backend interface), so bleak-retry-connector's
``establish_connection`` and bleak's characteristic resolution run unchanged above it.
A ``SimulatedPeripheral`` serves the GATT tables of the profiles it is made from, and
fails on demand: dropped connections (at once, or at random on writes, before or after
the device applied the write), failed and slow writes, operations that never answer, a
device out of range. ``SimulatedBluetooth.ble_device_from_address`` stands in for Home
Assistant's ``bluetooth.async_ble_device_from_address``.

Every wait is an ``asyncio.sleep``: on the virtual-time loop it takes no real time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import BleakClientWithServiceCache

from .gatt import ServiceProfile
from .profiles import nordic_lbs

OPERATIONS = frozenset({"connect", "read", "write", "notify", "disconnect"})


@dataclass(slots=True)
class PeripheralStats:
    connects: int = 0
    reads: int = 0
    writes: int = 0  # answered writes, applied or not
    writes_applied: int = 0
    drops: int = 0
    cache_clears: int = 0


class SimulatedPeripheral:
    """One device: its GATT table and values, one central at a time, and its faults."""

    def __init__(
        self,
        address: str,
        name: str,
        served: Iterable[ServiceProfile],
        *,
        rng: random.Random | None = None,
        latency: float = 0.03,
    ) -> None:
        self.address = address.upper()
        self.name = name
        self.profiles = tuple(served)
        self.rng = rng or random.Random(0)
        self.latency = latency
        self.values: dict[str, bytes] = {}
        self.stats = PeripheralStats()
        self.central: SimulatedBackend | None = None
        # Faults.
        self.in_range = True
        self.drop_rate = 0.0  # chance that a write drops the connection
        self.fail_writes = 0  # the next n writes are refused with an ATT error
        self.write_delay = 0.0  # extra seconds every write takes
        self.hang: set[str] = set()  # operations that never answer (see OPERATIONS)
        self._table = self._build_table()
        for profile in self.profiles:
            for spec in profile.characteristics:
                self.values[spec.uuid] = b"\x00\x00"

    def ble_device(self) -> BLEDevice:
        return BLEDevice(self.address, self.name, self)

    @property
    def connected(self) -> bool:
        return self.central is not None

    @property
    def handles(self) -> dict[str, int]:
        return {char.uuid: handle for handle, char in self._table.characteristics.items()}

    def services(self) -> BleakGATTServiceCollection:
        return self._table

    # -- what happens on the device --------------------------------------------------------

    def set_value(self, uuid: str, data: bytes) -> None:
        """The device changes a value by itself (a sensor reading, a button): subscribed
        centrals are notified."""
        self.values[uuid] = data
        if self.central is not None:
            self.central.notify(uuid, data)

    def press(self, uuid: str = nordic_lbs.BUTTON, state: int = 1) -> None:
        self.set_value(uuid, bytes([state]))

    def drop(self) -> None:
        """The connection is lost (the device reset, moved away, or the proxy gave up)."""
        if (central := self.central) is not None:
            self.stats.drops += 1
            central.lost()

    def flag(self, uuid: str) -> bool:
        return self.values.get(uuid, b"\x00")[:1] != b"\x00"

    # -- helpers -----------------------------------------------------------------------

    def _build_table(self) -> BleakGATTServiceCollection:
        table = BleakGATTServiceCollection()
        handle = 0x0010
        for profile in self.profiles:
            service = BleakGATTService(None, handle, profile.service)
            table.add_service(service)
            handle += 1
            for spec in profile.characteristics:
                properties: list[Any] = []
                if spec.readable:
                    properties.append("read")
                if spec.encode is not None:
                    properties.append("write")
                if spec.notify:
                    properties.append("notify")
                char = BleakGATTCharacteristic(
                    None, handle + 1, spec.uuid, properties, lambda: 20, service
                )
                table.add_characteristic(char)
                handle += 3  # declaration, value, configuration descriptor
        return table


class SimulatedBluetooth:
    """The peripherals in range of some adapter or proxy (Home Assistant's view)."""

    def __init__(self, *peripherals: SimulatedPeripheral) -> None:
        self.peripherals = {p.address: p for p in peripherals}
        self.lookup_times: list[float] = []  # when the link looked a device up

    def add(self, peripheral: SimulatedPeripheral) -> SimulatedPeripheral:
        self.peripherals[peripheral.address] = peripheral
        return peripheral

    def ble_device_from_address(self, address: str) -> BLEDevice | None:
        """Like ``bluetooth.async_ble_device_from_address``: None when nobody hears it."""
        self.lookup_times.append(asyncio.get_running_loop().time())
        peripheral = self.peripherals.get(address.upper())
        if peripheral is None or not peripheral.in_range:
            return None
        return peripheral.ble_device()


async def _never() -> None:
    """An operation that never answers (only a timeout ends it)."""
    await asyncio.get_running_loop().create_future()


class SimulatedBackend(BaseBleakClient):
    """bleak's backend interface over a SimulatedPeripheral (given as the BLEDevice's
    ``details``)."""

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.pop("disconnected_callback", None),
            timeout=kwargs.pop("timeout", 10.0),
        )
        details = getattr(address_or_ble_device, "details", None)
        if not isinstance(details, SimulatedPeripheral):
            raise BleakDeviceNotFoundError(str(self.address), "not a simulated device")
        self.peripheral = details
        self._connected = False
        self._subscribed: dict[str, NotifyCallback] = {}

    @property
    def name(self) -> str:
        return self.peripheral.name

    @property
    def mtu_size(self) -> int:
        return 23

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        peripheral = self.peripheral
        await self._step("connect")
        if not peripheral.in_range:
            raise BleakDeviceNotFoundError(peripheral.address, "device not found")
        if peripheral.central is not None and peripheral.central is not self:
            peripheral.central.lost()  # (one central at a time; the old one is dropped)
        peripheral.central = self
        peripheral.stats.connects += 1
        self._connected = True
        self.services = peripheral.services()

    async def disconnect(self) -> None:
        if "disconnect" in self.peripheral.hang:
            await _never()
        self._close()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        await self._step("read")
        self.peripheral.stats.reads += 1
        return bytearray(self.peripheral.values.get(characteristic.uuid, b""))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peripheral = self.peripheral
        await self._step("write", peripheral.write_delay)
        value = bytes(data)
        if peripheral.rng.random() < peripheral.drop_rate:
            # Lost on the way there, or after the device applied it (the answer is lost).
            if peripheral.rng.random() < 0.5:
                self._apply(characteristic.uuid, value)
            peripheral.drop()
            raise BleakError("Disconnected during the write")
        if peripheral.fail_writes > 0:
            peripheral.fail_writes -= 1
            peripheral.stats.writes += 1
            raise BleakError("ATT error 0x0e: unlikely error")
        peripheral.stats.writes += 1
        self._apply(characteristic.uuid, value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise BleakError("descriptors are not simulated")

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        raise BleakError("descriptors are not simulated")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        await self._step("notify")
        self._subscribed[characteristic.uuid] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._subscribed.pop(characteristic.uuid, None)

    # -- the peripheral's side -----------------------------------------------------------

    def notify(self, uuid: str, data: bytes) -> None:
        if (callback := self._subscribed.get(uuid)) is not None:
            callback(bytearray(data))

    def lost(self) -> None:
        """Dropped without our asking: bleak tells the client's owner."""
        self._close()
        if self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    def _apply(self, uuid: str, value: bytes) -> None:
        self.peripheral.stats.writes_applied += 1
        self.peripheral.set_value(uuid, value)

    def _close(self) -> None:
        self._connected = False
        self._subscribed.clear()
        if self.peripheral.central is self:
            self.peripheral.central = None

    async def _step(self, operation: str, extra: float = 0.0) -> None:
        """One exchange over the air: its latency, then the checks every one makes."""
        if operation != "connect" and not self._connected:
            raise BleakError("Not connected")
        await asyncio.sleep(self.peripheral.latency + extra)
        if operation in self.peripheral.hang:
            await _never()
        if operation != "connect" and not self._connected:
            raise BleakError("Disconnected")


class SimulatedClient(BleakClientWithServiceCache):
    """bleak-retry-connector's client class on the simulated backend: pass it as the
    link's ``client_class``."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        disconnected_callback: Callable[[BleakClientWithServiceCache], None] | None = None,
        services: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("backend", None)
        kwargs.pop("_is_retry_client", None)
        super().__init__(
            address_or_ble_device,
            disconnected_callback,  # type: ignore[arg-type]
            services,
            backend=SimulatedBackend,
            **kwargs,
        )

    async def clear_cache(self) -> bool:
        backend = self._backend
        if isinstance(backend, SimulatedBackend):
            backend.peripheral.stats.cache_clears += 1
        return True
