"""A device that joins a running gateway is read once its interview is over: it shows its
state at once, not only after its first report (which comes only on a change)."""

from __future__ import annotations

import asyncio
from typing import Any

from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.model import Attr, SleepMode
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.core.virtual_time import run_virtual

from .fake_link import FakeLink
from .fake_radio import FakeDevice


def test_a_device_that_joined_is_read_after_its_interview() -> None:
    links: list[FakeLink] = []

    def radio(listener: RadioListener) -> FakeLink:
        link = FakeLink(listener)
        link.air.add(FakeDevice("lamp", reports=False))
        links.append(link)
        return link

    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        gateway = Gateway(radio)
        await gateway.start()
        await asyncio.sleep(5.0)  # the start's reads are done
        air = links[0].air
        # Interviewed: the radio knows them now (and tells the gateway, in a burst).
        air.add(FakeDevice("plug", reports=False, state={Attr.ON: True}))
        air.add(FakeDevice("sensor", reports=False, sleep_mode=SleepMode.SLEEPY))
        gateway.devices_changed()
        gateway.devices_changed()
        await asyncio.sleep(5.0)
        shown = gateway.values("lamp"), gateway.values("plug"), gateway.values("sensor")
        await gateway.stop()
        return shown

    lamp, plug, sensor = run_virtual(main())
    assert lamp[Attr.ON] is False  # (read at the start)
    assert plug == {Attr.ON: True}
    assert sensor == {}  # a sleeper is read when it is next heard, not now
