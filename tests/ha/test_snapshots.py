"""Every platform's entities and the diagnostics, as snapshots (syrupy, as Home Assistant's
own integrations are tested): a change to what users see shows up in review as a diff of
the ``.ambr`` files. Update them on purpose with ``scripts/test tests/ha/test_snapshots.py
--snapshot-update``."""

from __future__ import annotations

import asyncio
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import snapshot_platform
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.resilient_gateway import PLATFORMS

from .conftest import advance_until_done, setup_virtual

# Fixed, so that unique ids and snapshot file names are the same in every run.
ENTRY_ID = "01KSNAPSHOTENTRY0000000000"
START = "2026-11-20T08:00:00+00:00"


@pytest.fixture(autouse=True)
def fixed_start(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(START)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
# (Numbers are a Wi-Fi node's declared fields only, events a Bluetooth device's buttons: a
# virtual gateway has neither, see test_wifi_node.py and test_ble.py.)
@pytest.mark.parametrize(
    "platform", [p for p in PLATFORMS if p not in (Platform.NUMBER, Platform.EVENT)]
)
async def test_entities(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    with patch("custom_components.resilient_gateway.PLATFORMS", [platform]):
        entry = await setup_virtual(hass, freezer, entry_id=ENTRY_ID)
        if platform is Platform.SCENE:
            store = asyncio.ensure_future(entry.runtime_data.gateway.store_scene(1, "Evening"))
            await advance_until_done(hass, freezer, store, limit=30)
            await hass.async_block_till_done()
        # (The last snapshot's size in bytes changes with every field the payload gains:
        # it is checked against the file instead.)
        sized = snapshot.with_defaults(exclude=props("size"))
        await snapshot_platform(hass, entity_registry, sized, entry.entry_id)
        if platform is Platform.SENSOR:
            newest = entry.runtime_data.last_snapshot
            shown = hass.states.get("sensor.virtual_gateway_test_last_snapshot")
            assert shown is not None and newest is not None
            assert shown.attributes["size"] == newest.path.stat().st_size


async def test_diagnostics(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    entry = await setup_virtual(hass, freezer, entry_id=ENTRY_ID)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    # (The file's size and place vary with the test's folder.)
    assert diagnostics == snapshot(exclude=props("size", "path"))
