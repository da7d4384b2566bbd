"""Colour goes on air as ZCL defines it: x = CurrentX / 65536, within the cluster's range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zigpy.zcl.clusters.lighting import Color

from custom_components.resilient_gateway.core.model import Attr, AttributeValues, DeviceId
from custom_components.resilient_gateway.core.radio import LinkState, RadioListener
from custom_components.resilient_gateway.radios.virtual import (
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from .harness import SETTLE, sim, sleep, state


class _Reports(RadioListener):
    def __init__(self) -> None:
        self.values: dict[DeviceId, dict[Any, Any]] = {}

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        self.values.setdefault(device_id, {}).update(values)

    def device_seen(self, device_id: DeviceId) -> None:
        pass

    def device_announced(self, device_id: DeviceId) -> None:
        pass

    def devices_changed(self) -> None:
        pass

    def radio_state_changed(self, state: LinkState) -> None:
        pass


async def test_xy_is_sent_and_read_on_the_zcl_scale(tmp_path: Path) -> None:
    spec = VirtualNetworkSpec(network="colour", lights=3, sensors=0, sleepy_sensors=0)
    air = await VirtualAir.load_or_create(spec)
    config = {"device": {"path": air.path}, "database_path": str(tmp_path / "z.db")}
    reports = _Reports()
    radio = ZigbeeRadio(VirtualControllerApplication, config, reports)
    try:
        await radio.start()
        app = radio.app
        assert isinstance(app, VirtualControllerApplication)
        await app.wait_until_interviewed()
        await sleep(SETTLE)
        light = sim(air, SimKind.COLOR_LIGHT)
        device_id = str(light.ieee)

        await radio.send(device_id, {Attr.XY: (0.3, 0.4)})
        await sleep(1.0)
        # 0.3 * 65536 = 19660.8 and 0.4 * 65536 = 26214.4 (65535 would give 19660).
        raw = (light.endpoint.get(Color, "current_x"), light.endpoint.get(Color, "current_y"))
        assert raw == (19661, 26214)
        assert state(air, light)["xy"] == [0.3, 0.4]
        assert (await radio.read(device_id, [Attr.XY]))[Attr.XY] == (0.3, 0.4)

        # The edge of the colour space is the cluster's largest value, not an overflow.
        await radio.send(device_id, {Attr.XY: (1.0, 0.0)})
        await sleep(1.0)
        raw = (light.endpoint.get(Color, "current_x"), light.endpoint.get(Color, "current_y"))
        assert raw == (0xFEFF, 0)
    finally:
        await radio.stop()
        await air.stop()
