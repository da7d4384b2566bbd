"""A gateway on one simulated Bluetooth LE device (radios/ble/simulated.py), for the link
tests: bleak-retry-connector and bleak run unchanged above the simulated backend."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from custom_components.resilient_gateway.core.gateway import Gateway, GatewayListener
from custom_components.resilient_gateway.core.radio import DeviceEvent, RadioListener
from custom_components.resilient_gateway.core.snapshot import SnapshotStore
from custom_components.resilient_gateway.radios.ble import BleLink, ConnectionPolicy
from custom_components.resilient_gateway.radios.ble.gatt import ServiceProfile
from custom_components.resilient_gateway.radios.ble.profiles import nordic_lbs
from custom_components.resilient_gateway.radios.ble.simulated import (
    SimulatedBluetooth,
    SimulatedClient,
    SimulatedPeripheral,
)

ADDRESS = "AA:BB:CC:00:00:01"


def peripheral(
    served: Iterable[ServiceProfile] = (nordic_lbs.PROFILE,),
    *,
    address: str = ADDRESS,
    seed: int = 1,
) -> SimulatedPeripheral:
    return SimulatedPeripheral(address, "Blinky", served, rng=random.Random(seed))


class _EventRecorder(GatewayListener):
    def __init__(self, events: list[DeviceEvent]) -> None:
        self.events = events

    def device_event(self, event: DeviceEvent) -> None:
        self.events.append(event)


class RecordingGateway(Gateway):
    """A gateway whose ``events`` are the device events it told its listeners."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[DeviceEvent] = []
        self.add_listener(_EventRecorder(self.events))


def link_factory(
    air: SimulatedBluetooth,
    address: str = ADDRESS,
    *,
    policy: ConnectionPolicy | None = None,
    keep_connected: bool = False,
    known: Mapping[str, Any] | None = None,
) -> Any:
    def build(listener: RadioListener) -> BleLink:
        return BleLink(
            listener,
            address,
            air.ble_device_from_address,
            name="Blinky",
            known=known,
            client_class=SimulatedClient,
            policy=policy,
            keep_connected=keep_connected,
            rng=random.Random(7),
        )

    return build


@contextlib.asynccontextmanager
async def ble_gateway(
    device: SimulatedPeripheral,
    *,
    air: SimulatedBluetooth | None = None,
    policy: ConnectionPolicy | None = None,
    keep_connected: bool = False,
    known: Mapping[str, Any] | None = None,
    snapshots: SnapshotStore | None = None,
) -> AsyncIterator[RecordingGateway]:
    air = air or SimulatedBluetooth(device)
    build = link_factory(
        air, device.address, policy=policy, keep_connected=keep_connected, known=known
    )
    gateway = RecordingGateway(
        build,
        name="ble",
        snapshots=snapshots,
        rng=random.Random(3),
    )
    try:
        await gateway.start()
        yield gateway
    finally:
        await gateway.stop()


def link(gateway: Gateway) -> BleLink:
    radio = gateway.radio
    assert isinstance(radio, BleLink)
    return radio


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
