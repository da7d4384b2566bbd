"""A command with a value the Zigbee radio cannot send (a thermostat mode it has no code
for) is refused by the gateway before anything is queued: nothing changes, and the radio's
queue goes on serving every device."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from custom_components.resilient_gateway.core.change_results import ChangeStatus, SyncState
from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.model import Attr, DeviceKind
from custom_components.resilient_gateway.core.radio import RadioListener, UnsupportedValue
from custom_components.resilient_gateway.radios.virtual import (
    ALL_LIGHTS_GROUP_ID,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from .harness import SETTLE, sleep


async def test_a_mode_the_radio_cannot_send_is_refused_and_the_queue_goes_on(
    tmp_path: Path,
) -> None:
    spec = VirtualNetworkSpec(network="no-cool", lights=2, sensors=2, sleepy_sensors=0, loss=0.0)

    air = await VirtualAir.load_or_create(spec)

    def radio(listener: RadioListener) -> ZigbeeRadio:
        config = {"device": {"path": air.path}, "database_path": str(tmp_path / "z.db")}
        return ZigbeeRadio(VirtualControllerApplication, config, listener)

    gateway = Gateway(radio, rng=random.Random(1))
    try:
        await gateway.start(form_new_network=True)
        app = gateway.radio.app
        assert isinstance(app, VirtualControllerApplication)
        await app.wait_until_interviewed()
        await sleep(SETTLE)
        (valve,) = [d for d, x in gateway.devices.items() if x.kind is DeviceKind.THERMOSTAT]
        light = next(d for d, x in gateway.devices.items() if x.kind is DeviceKind.LIGHT)
        shown = dict(gateway.values(valve))

        with pytest.raises(UnsupportedValue) as refused:
            gateway.set_state(valve, {Attr.HEATING_SETPOINT: 21.0, Attr.HVAC_MODE: "cool"})
        assert refused.value.attribute is Attr.HVAC_MODE
        with pytest.raises(UnsupportedValue):
            gateway.set_group_state(ALL_LIGHTS_GROUP_ID, {Attr.BRIGHTNESS: "bright"})
        # Nothing changed: no desired state, nothing pending, the valve as it was.
        assert gateway.engine.counts.pending_changes == 0
        assert not gateway.engine.has_desired_states()
        assert gateway.sync_state(valve) is not SyncState.PENDING

        done = await gateway.set_state(light, {Attr.ON: True}).wait()
        assert done.status is ChangeStatus.VERIFIED
        assert gateway.values(valve) == shown
    finally:
        await gateway.stop()
        await air.stop()
