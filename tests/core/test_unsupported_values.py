"""A value the radio cannot send is refused before anything is queued, and an operation
whose frames cannot be built fails alone: the radio's queue goes on for every device."""

from __future__ import annotations

import asyncio
import random

import pytest

from custom_components.resilient_gateway.core.model import Attr, AttributeValues
from custom_components.resilient_gateway.core.radio import UnsupportedValue
from custom_components.resilient_gateway.core.scheduler import SendScheduler
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.zigbee.radio import check_values

from .fake_radio import FakeDevice, FakeRadio


class _NoCodeForCool(FakeRadio):
    """A radio with no code for ``cool`` (as a Zigbee thermostat's system modes)."""

    def frames_to_send(self, values: AttributeValues) -> int:
        if values.get(Attr.HVAC_MODE) == "cool":
            raise KeyError("cool")
        return 1


def test_an_operation_whose_frames_cannot_be_built_fails_alone() -> None:
    radio = _NoCodeForCool()
    radio.add(FakeDevice("valve", state={Attr.HVAC_MODE: "heat"}))
    radio.add(FakeDevice("lamp"))

    async def main() -> list[object]:
        scheduler = SendScheduler(radio, rng=random.Random(1))
        bad = scheduler.send("valve", {Attr.HVAC_MODE: "cool"})
        good = scheduler.send("lamp", {Attr.ON: True})
        async with asyncio.timeout(60.0):  # (before the fix, the queue stopped for good)
            outcomes = await asyncio.gather(bad, good, return_exceptions=True)
            await scheduler.send("lamp", {Attr.ON: False})  # the queue still runs
        await scheduler.stop()
        return outcomes

    bad, good = run_virtual(main())
    assert isinstance(bad, KeyError)
    assert good is None
    assert [(f.target, dict(f.values)) for f in radio.sent()] == [
        ("lamp", {Attr.ON: True}),
        ("lamp", {Attr.ON: False}),
    ]


@pytest.mark.parametrize(
    ("values", "attribute"),
    [
        ({Attr.HVAC_MODE: "cool", Attr.HEATING_SETPOINT: 21.0}, Attr.HVAC_MODE),
        ({Attr.BRIGHTNESS: "bright"}, Attr.BRIGHTNESS),
        ({Attr.HEATING_SETPOINT: None, Attr.COLOR_TEMP: True}, Attr.COLOR_TEMP),
        ({Attr.XY: (0.3,)}, Attr.XY),
    ],
)
def test_the_zigbee_radio_names_what_it_cannot_encode(
    values: AttributeValues, attribute: Attr
) -> None:
    with pytest.raises(UnsupportedValue) as refused:
        check_values(values)
    assert refused.value.attribute is attribute
    assert refused.value.translation_placeholders["attribute"] == attribute


def test_the_zigbee_radio_encodes_what_home_assistant_sends() -> None:
    check_values(
        {
            Attr.ON: True,
            Attr.BRIGHTNESS: 128,
            Attr.COLOR_TEMP: 300,
            Attr.XY: (0.31, 0.33),
            Attr.HEATING_SETPOINT: 20.5,
            Attr.HVAC_MODE: "heat",
        }
    )
