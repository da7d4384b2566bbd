"""Sensors that are never Unknown for long (issue #11): devices are read when they join,
sleepers when they are first heard, and a sleeper's sensors show their last values across
a restart, marked as restored, until it reports again."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway.core.model import SleepMode

from .conftest import advance, setup_virtual, state_of, truth


def device_entities(hass: HomeAssistant, entry: Any) -> dict[str, list[str]]:
    """ieee → the entity ids of the device's entities."""
    entities: dict[str, list[str]] = {}
    for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        ieee = entity.unique_id.rsplit("-", 1)[0]
        if ":" in ieee:
            entities.setdefault(ieee, []).append(entity.entity_id)
    return entities


def sleepers(entry: Any) -> list[str]:
    gateway = entry.runtime_data.gateway
    return [d for d, device in gateway.devices.items() if device.sleep_mode is SleepMode.SLEEPY]


async def test_devices_that_join_show_everything_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Right after pairing, every entity shows a value: battery levels (reported hourly at
    best), a plug's relay, a thermostat, the readings of sleepy sensors."""
    entry = await setup_virtual(hass, freezer)
    await advance(hass, freezer, 3)
    unknown = [
        entity_id
        for entities in device_entities(hass, entry).values()
        for entity_id in entities
        if state_of(hass, entity_id).state == STATE_UNKNOWN
    ]
    assert unknown == []
    devices = truth(hass, entry)["devices"]
    for ieee, entities in device_entities(hass, entry).items():
        for entity_id in entities:
            if entity_id.endswith("_battery"):
                assert float(state_of(hass, entity_id).state) == int(
                    devices[ieee]["state"]["battery"]
                )


async def test_a_sleeper_shows_its_last_values_until_it_is_heard_and_read(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """After a restart a sleeper's sensors show their values from before, marked
    ``restored``; when the sleeper is first heard (one reading changes), the gateway reads
    the rest at once, and nothing is restored any more."""
    entry = await setup_virtual(hass, freezer)
    await advance(hass, freezer, 3)
    sleeper = next(
        ieee
        for ieee in sleepers(entry)
        if truth(hass, entry)["devices"][ieee]["kind"] == "climate_sensor"
    )
    sensors = [e for e in device_entities(hass, entry)[sleeper] if e.startswith("sensor.")]
    assert len(sensors) == 3  # temperature, humidity, battery
    before = {entity_id: state_of(hass, entity_id).state for entity_id in sensors}

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    for entity_id in sensors:
        state = state_of(hass, entity_id)
        assert state.state == before[entity_id]
        assert state.attributes["restored"] is True
        assert "sync" not in state.attributes  # a sensor takes no commands

    def restored() -> list[str]:
        return [e for e in sensors if state_of(hass, e).attributes.get("restored")]

    waited = 0
    while len(restored()) == len(sensors):  # until the sleeper's first report
        assert waited < 900, "the sleeper never reported"
        await advance(hass, freezer, 1)
        waited += 1
    await advance(hass, freezer, 2)  # the read, while it is awake
    assert restored() == []
    state = truth(hass, entry)["devices"][sleeper]["state"]
    battery = next(e for e in sensors if e.endswith("_battery"))
    assert float(state_of(hass, battery).state) == int(state["battery"])
    for entity_id in sensors:
        assert "sync" not in state_of(hass, entity_id).attributes
