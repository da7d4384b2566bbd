"""A Bluetooth device's snapshot section (address, profiles, characteristic handles) and
its desired states, written and restored through the gateway's snapshots (issue 16)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.core.radio import ForeignNetworkError
from custom_components.resilient_gateway.core.snapshot import KdfCost, SnapshotStore
from custom_components.resilient_gateway.radios.ble import section
from custom_components.resilient_gateway.radios.ble.profiles import nordic_lbs

from .ble_harness import ADDRESS, ble_gateway, link, peripheral


def _store(folder: Path) -> SnapshotStore:
    return SnapshotStore(folder, kdf_cost=KdfCost(n=2**10))


async def test_snapshot_round_trip_restores_the_device_and_its_desired_state(
    tmp_path: Path,
) -> None:
    device = peripheral()
    store = _store(tmp_path / "snapshots")
    async with ble_gateway(device, snapshots=store) as gateway:
        device.fail_writes = 10**6  # the LED refuses: the change stays pending
        handle = gateway.set_state(ADDRESS, {Attr.ON: True}, deadline=3600.0)
        await asyncio.sleep(5.0)
        info = await gateway.take_snapshot()
        assert handle.result().status is ChangeStatus.PENDING
    payload = (await store.async_read(info.path)).payload
    assert payload["network_id"] == ADDRESS
    assert payload["sections"]["bluetooth"] == {
        "address": ADDRESS,
        "name": "Blinky",
        "profiles": ["nordic_lbs"],
        "handles": device.handles,
    }
    assert payload["changes"]["devices"][ADDRESS]["desired"] == {"on": True}

    # A new machine: nothing pending of its own; the device accepts writes again.
    device.fail_writes = 0
    async with ble_gateway(device) as restored:
        report = await restored.restore(payload)
        assert report.changes_requeued == 1
        await asyncio.sleep(5.0)
        assert device.flag(nordic_lbs.LED)
        assert restored.values(ADDRESS) == {Attr.ON: True}


async def test_the_section_lets_a_link_start_without_the_device() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        exported = await link(gateway).export_section()
    device.in_range = False
    async with ble_gateway(device, known=exported) as gateway:
        assert await link(gateway).export_section() == exported
        assert list(gateway.devices) == [ADDRESS]


async def test_another_devices_section_is_refused_unless_forced() -> None:
    device = peripheral()
    async with ble_gateway(device) as gateway:
        other: dict[str, Any] = {
            **(await link(gateway).export_section()),
            "address": "11:22:33:44:55:66",
        }
        ble = link(gateway)
        with pytest.raises(ForeignNetworkError, match="11:22:33:44:55:66"):
            await ble.write_network_identity(other)
        await ble.write_network_identity(other, force=True)
        assert ble.address == ADDRESS


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"address": "not an address"}, "not a Bluetooth address"),
        ({"profiles": ["coffee_machine"]}, "unknown profiles"),
        ({"profiles": []}, "non-empty list"),
        ({"handles": {nordic_lbs.LED: 0}}, "not an attribute handle"),
        ({"handles": {nordic_lbs.LED: True}}, "not an attribute handle"),
        ({"handles": []}, "handles"),
    ],
)
def test_a_damaged_section_is_refused(change: dict[str, Any], problem: str) -> None:
    good = section.export(ADDRESS, "Blinky", [nordic_lbs.PROFILE], {nordic_lbs.LED: 18})
    assert section.parse(good).address == ADDRESS
    with pytest.raises(ValueError, match=problem):
        section.parse({**good, **change})
