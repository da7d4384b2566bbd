"""The stored snapshot password (issue 18): set once in the options, it encrypts every
automatic snapshot and opens them for a restore, so no password has to travel in service
data (which the recorder keeps); it never reaches logs, diagnostics or snapshot payloads."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.selector import TextSelector
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core.snapshot import decode_snapshot

from .conftest import advance, call_while_time_passes, setup_virtual, virtual_entry

SECRET = "Tr0ub4dor&3-stored"


async def _call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def _set_options(hass: HomeAssistant, entry: Any, **options: Any) -> None:
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    done = await hass.config_entries.options.async_configure(flow["flow_id"], options)
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # the entry reloads with the new options


async def test_the_options_offer_a_password_field(hass: HomeAssistant) -> None:
    entry = virtual_entry()
    entry.add_to_hass(hass)
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    fields = {str(key): value for key, value in flow["data_schema"].schema.items()}
    selector = fields["snapshot_password"]
    assert isinstance(selector, TextSelector)
    assert selector.config["type"] == "password"


async def test_a_stored_password_encrypts_snapshots_and_opens_them_for_a_restore(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    entry = await setup_virtual(hass, freezer)
    await _set_options(hass, entry, snapshot_password=SECRET)
    await advance(hass, freezer, 5)

    listed = await _call(hass, "list_snapshots", config_entry_id=entry.entry_id)
    assert listed["snapshots"][0]["encrypted"]  # the start-up snapshot after the reload
    written = await _call(hass, "backup", config_entry_id=entry.entry_id)  # no password given
    assert written["encrypted"]

    report = await call_while_time_passes(
        hass, freezer, "restore", {"config_entry_id": entry.entry_id}
    )
    assert report["failed"] == {}
    # A password given in the call still wins over the stored one.
    with pytest.raises(ServiceValidationError) as caught:
        await _call(
            hass,
            "restore",
            config_entry_id=entry.entry_id,
            path=written["path"],
            password="another one",
        )
    assert caught.value.translation_key == "snapshot_wrong_password"

    payload = decode_snapshot(
        Path(written["path"]).read_bytes(), path=Path(written["path"]), password=SECRET
    ).payload
    assert "snapshot_password" not in json.dumps(payload)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert SECRET not in json.dumps(diagnostics)
    assert diagnostics["entry"]["options"]["snapshot_password"] == "**REDACTED**"
    assert SECRET not in caplog.text
    for path in Path(hass.config.path("resilient_gateway")).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


async def test_clearing_the_stored_password_writes_plain_snapshots_again(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    await _set_options(hass, entry, snapshot_password=SECRET)
    await advance(hass, freezer, 5)
    await _set_options(hass, entry, snapshot_password="")
    await advance(hass, freezer, 5)

    assert "snapshot_password" not in entry.options
    written = await _call(hass, "backup", config_entry_id=entry.entry_id)
    assert not written["encrypted"]
