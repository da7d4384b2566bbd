"""Fixtures for tests that run a real Home Assistant (2026.10.4 via the test plugin)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.resilient_gateway.const import DOMAIN


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> Generator[None]:
    yield


VIRTUAL_DATA: dict[str, Any] = {
    "radio_type": "virtual",
    "network": "test",
    "lights": 4,
    "sensors": 3,
    "sleepy_sensors": 1,
    "loss": 0.0,
    "group_miss": 0.0,
    "seed": 7,
}


def virtual_entry(**overrides: Any) -> MockConfigEntry:
    data = {**VIRTUAL_DATA, **overrides}
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Virtual gateway {data['network']}",
        data=data,
        unique_id=f"virtual:{data['network']}",
    )


async def setup_virtual(hass: HomeAssistant, **overrides: Any) -> MockConfigEntry:
    """A loaded virtual gateway whose simulated devices have all joined and been
    interviewed (the first start of a house pairs every device)."""
    entry = virtual_entry(**overrides)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await entry.runtime_data.gateway.radio.app.wait_until_interviewed()
    await hass.async_block_till_done()
    return entry
