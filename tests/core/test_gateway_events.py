"""What the gateway tells its listeners: one device update per report, however many
things the report moved (its values, the change it verified, the device's sync state)."""

from __future__ import annotations

import asyncio

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.gateway import Gateway, GatewayListener
from custom_components.resilient_gateway.core.model import Attr, DeviceId
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.core.virtual_time import run_virtual

from .fake_link import FakeLink
from .fake_radio import FakeDevice


class _Updates(GatewayListener):
    def __init__(self) -> None:
        self.devices: list[DeviceId] = []

    def device_updated(self, device_id: DeviceId) -> None:
        self.devices.append(device_id)


def _radio(listener: RadioListener) -> FakeLink:
    link = FakeLink(listener)
    link.air.add(FakeDevice("lamp", reports=False))  # (the test brings the report)
    link.air.add(FakeDevice("other", reports=False))
    return link


def test_a_report_that_verifies_a_change_updates_the_device_once() -> None:
    async def main() -> tuple[list[DeviceId], ChangeStatus, list[DeviceId]]:
        gateway = Gateway(_radio)
        updates = _Updates()
        gateway.add_listener(updates)
        await gateway.start()
        await asyncio.sleep(5.0)  # the start's reads are done
        handle = gateway.set_state("lamp", {Attr.ON: True})
        await asyncio.sleep(0.5)  # sent; the engine waits for the lamp's report
        updates.devices.clear()
        gateway.attributes_reported("lamp", {Attr.ON: True})
        verified = list(updates.devices)
        status = handle.result().status
        updates.devices.clear()
        gateway.attributes_reported("other", {Attr.ON: True})  # a report of no change
        plain = list(updates.devices)
        await gateway.stop()
        return verified, status, plain

    verified, status, plain = run_virtual(main())
    assert status is ChangeStatus.VERIFIED
    assert verified == ["lamp"]
    assert plain == ["other"]
