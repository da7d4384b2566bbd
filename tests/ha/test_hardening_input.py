"""Hardening against input a device or an entry cannot take (issue 18): values a light
cannot show, and virtual-gateway entry data out of range."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .conftest import (
    call_while_time_passes,
    group_entity,
    light_entities,
    setup_virtual,
    truth,
    virtual_entry,
)


def _light(hass: HomeAssistant, entry: Any, kind: str) -> tuple[str, str]:
    """(ieee, entity id) of the first light of this kind in the virtual house."""
    devices = truth(hass, entry)["devices"]
    return next(
        (ieee, entity_id)
        for ieee, entity_id in light_entities(hass, entry).items()
        if devices[ieee]["kind"] == kind
    )


# -- 6. values a light cannot show -------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data", "what"),
    [
        ("on_off_light", {"brightness": 120}, "brightness"),
        ("on_off_light", {"brightness_pct": 50}, "brightness"),
        ("dimmable_light", {"xy_color": [0.6, 0.3]}, "colour"),
        ("dimmable_light", {"hs_color": [120, 80]}, "colour"),
        ("dimmable_light", {"color_temp_kelvin": 3000}, "colour temperature"),
    ],
)
async def test_a_value_the_light_cannot_show_is_refused_and_nothing_is_sent(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    kind: str,
    data: dict[str, Any],
    what: str,
) -> None:
    entry = await setup_virtual(hass, freezer)
    _, entity_id = _light(hass, entry, kind)
    # A second, capable light in the same call: it must not be commanded either.
    other_ieee, other = _light(hass, entry, "color_light")
    before = truth(hass, entry)
    unicasts = before["stats"]["unicasts"]

    with pytest.raises(ServiceValidationError) as caught:
        await call_while_time_passes(
            hass,
            freezer,
            "apply_state",
            {"entity_id": [other, entity_id], "state": "on", "timeout": 5, **data},
        )

    assert caught.value.translation_key == "light_cannot_show"
    assert caught.value.translation_placeholders == {"entity_id": entity_id, "what": what}
    after = truth(hass, entry)
    assert after["stats"]["unicasts"] == unicasts
    assert after["devices"][other_ieee]["state"] == before["devices"][other_ieee]["state"]


@pytest.mark.parametrize(("kelvin", "mireds"), [(1000, 500), (20000, 153)])
async def test_a_colour_temperature_outside_the_lights_range_is_clamped_and_verified(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, kelvin: int, mireds: int
) -> None:
    """The entity declares 2000-6500 K; the bulb sits at its limit for anything beyond,
    so the clamped value is what it shows: verified at once, not failed at the deadline."""
    entry = await setup_virtual(hass, freezer)
    ieee, entity_id = _light(hass, entry, "color_temp_light")

    response = await call_while_time_passes(
        hass,
        freezer,
        "apply_state",
        {"entity_id": entity_id, "state": "on", "color_temp_kelvin": kelvin, "timeout": 20},
    )

    assert response[entity_id]["result"] == "verified"
    assert response[entity_id]["attempts"] <= 2
    assert truth(hass, entry)["devices"][ieee]["state"]["color_temp_mireds"] == mireds


async def test_a_groups_colour_temperature_is_clamped_for_its_members_too(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    group = group_entity(hass, entry)

    response = await call_while_time_passes(
        hass,
        freezer,
        "apply_state",
        {"entity_id": group, "state": "on", "color_temp_kelvin": 1000, "timeout": 20},
    )

    assert response[group]["result"] == "verified"
    devices = truth(hass, entry)["devices"]
    shown = {
        d["state"].get("color_temp_mireds")
        for d in devices.values()
        if d["kind"] in ("color_temp_light", "color_light")
    }
    assert shown == {500}


# -- 13. entry data out of range ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lights": 100000}, "lights must be in 0..500, got 100000"),
        ({"loss": 1.0}, "loss must be in 0..0.9, got 1.0"),
        ({"seed": "abc"}, "seed must be an integer, got 'abc'"),
        ({"loss": "high"}, "loss must be a number, got 'high'"),
    ],
)
async def test_virtual_entry_data_out_of_range_stops_setup_with_a_reason(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    data: dict[str, Any],
    message: str,
) -> None:
    entry = virtual_entry(**data)
    entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None and message in entry.reason
    assert entry.error_reason_translation_key == "virtual_settings_invalid"
    # (Home Assistant logs every ConfigEntryError with its own short traceback; the value
    # check's traceback behind it is not repeated.)
    assert "spec.py" not in caplog.text
