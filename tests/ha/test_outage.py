"""A radio outage seen from Home Assistant (issue #11): what lights say while the radio is
down, how soon a stick that is plugged back is used again, the words of the repair issue,
and Home Assistant backups taken meanwhile."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant

from .conftest import advance, setup_virtual
from .test_availability import advance_until, fault, radio_status, shows, state_of, switch
from .test_changes import group_entity
from .test_virtual_gateway import light_entities


def sync_of(hass: HomeAssistant, entity_id: str) -> Any:
    return state_of(hass, entity_id).attributes["sync"]


async def test_lights_whose_state_is_unknown_are_not_verified(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """While the radio is down every light shows Unknown, and its sync says unknown too
    (nothing the device holds can be verified); a command still queues (pending), and
    once the radio is back and the lights have answered, they are verified again."""
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    group = group_entity(hass, entry)
    assert all(sync_of(hass, light) == "verified" for light in lights.values())
    assert sync_of(hass, group) == "verified"

    await fault(hass, entry, "radio_failure")
    await hass.async_block_till_done()
    for light in lights.values():
        assert state_of(hass, light).state == STATE_UNKNOWN
        assert sync_of(hass, light) == "unknown"
    assert sync_of(hass, group) == "unknown"

    commanded = next(iter(lights.values()))
    await switch(hass, commanded, True)
    assert sync_of(hass, commanded) == "pending"
    assert sync_of(hass, group) == "pending"  # one member is still being followed

    await fault(hass, entry, "radio_recovered")
    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "ok", 10)
    await advance_until(hass, freezer, lambda: shows(hass, commanded, True), 30)
    await advance(hass, freezer, 5)
    assert all(sync_of(hass, light) == "verified" for light in lights.values())
    assert sync_of(hass, group) == "verified"
