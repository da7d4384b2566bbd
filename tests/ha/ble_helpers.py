"""Bluetooth LE devices in a Home Assistant test: simulated peripherals
(radios/ble/simulated.py) advertised through Home Assistant's own Bluetooth stack, and
connected through the real bleak-retry-connector on the simulated bleak backend."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest
from bleak.backends.scanner import AdvertisementData
from bluetooth_data_tools import monotonic_time_coarse
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.bluetooth import (
    BluetoothServiceInfoBleak,
    async_get_advertisement_callback,
)
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.resilient_gateway import ble
from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.radios.ble.gatt import ServiceProfile
from custom_components.resilient_gateway.radios.ble.profiles import (
    battery,
    environmental,
    microbit,
    nordic_lbs,
)
from custom_components.resilient_gateway.radios.ble.simulated import (
    SimulatedClient,
    SimulatedPeripheral,
)

BLINKY = "AA:BB:CC:00:00:01"
MICROBIT = "AA:BB:CC:00:00:02"
THERMOMETER = "AA:BB:CC:00:00:03"
MICROBIT_PROFILES = (microbit.TEMPERATURE_PROFILE, microbit.BUTTON_PROFILE, microbit.LED_PROFILE)


# The devices answer without latency: Home Assistant's clock is frozen in these tests and
# moves only when a test advances it (a set-up in a config flow waits for no time).


def blinky(seed: int = 1) -> SimulatedPeripheral:
    return SimulatedPeripheral(
        BLINKY, "Blinky", (nordic_lbs.PROFILE,), rng=random.Random(seed), latency=0
    )


def microbit_board() -> SimulatedPeripheral:
    return SimulatedPeripheral(MICROBIT, "BBC micro:bit [zuvug]", MICROBIT_PROFILES, latency=0)


def thermometer() -> SimulatedPeripheral:
    device = SimulatedPeripheral(
        THERMOMETER, "Thermo", (environmental.PROFILE, battery.PROFILE), latency=0
    )
    device.values[environmental.TEMPERATURE] = (2150).to_bytes(2, "little", signed=True)
    device.values[environmental.HUMIDITY] = (4820).to_bytes(2, "little")
    device.values[battery.LEVEL] = bytes([87])
    return device


def advertised_services(device: SimulatedPeripheral) -> list[str]:
    """What such a device puts in its advertisements: a micro:bit its name only."""
    if device.address == MICROBIT:
        return []
    return [profile.service for profile in device.profiles[:1]]


def advertise(
    hass: HomeAssistant,
    device: SimulatedPeripheral,
    services: Iterable[str] | None = None,
    *,
    name: str | None = None,
) -> BluetoothServiceInfoBleak:
    """The device advertises once, heard by the local adapter (as the Bluetooth
    integration's scanner hands advertisements to its manager)."""
    uuids = list(advertised_services(device) if services is None else services)
    local_name = name or device.name
    advertisement = AdvertisementData(
        local_name=local_name,
        manufacturer_data={},
        service_data={},
        service_uuids=uuids,
        tx_power=-127,
        rssi=-60,
        platform_data=(),
    )
    info = BluetoothServiceInfoBleak(
        name=local_name,
        address=device.address,
        rssi=-60,
        manufacturer_data={},
        service_data={},
        service_uuids=uuids,
        source="00:00:00:00:00:01",
        device=device.ble_device(),
        advertisement=advertisement,
        connectable=True,
        time=monotonic_time_coarse(),
        tx_power=-127,
    )
    async_get_advertisement_callback(hass)(info)
    return info


def ble_entry(
    device: SimulatedPeripheral, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=device.name,
        unique_id=device.address,
        data={"radio_type": "bluetooth", "address": device.address},
        options=options or {},
    )


@pytest.fixture
def bluetooth_stack(
    freezer: FrozenDateTimeFactory, enable_bluetooth: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home Assistant's Bluetooth integration with its adapter mocked, started after the
    clock was frozen (its timers run on the frozen clock), and the links connecting
    through the simulated bleak backend."""
    monkeypatch.setattr(ble, "CLIENT_CLASS", SimulatedClient)


PROFILES: tuple[ServiceProfile, ...] = (nordic_lbs.PROFILE, *MICROBIT_PROFILES)
