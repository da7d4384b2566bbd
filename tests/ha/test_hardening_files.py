"""Hardening of the gateway's files (issue 18): a full disk is a translated error and
never keeps the radio open; damaged start-up files are kept aside, named, and what they
held is recovered where it can be."""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core import storage
from custom_components.resilient_gateway.core.radio import LinkState
from custom_components.resilient_gateway.core.snapshot import decode_snapshot

from .conftest import advance, light_entities, setup_virtual, truth, virtual_entry


def _full_disk(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


# -- 10. a full disk during backup -------------------------------------------------------


async def test_a_full_disk_during_backup_is_a_translated_error(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = await setup_virtual(hass, freezer)
    folder = Path(hass.config.path("resilient_gateway", entry.entry_id, "snapshots"))
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert before

    with monkeypatch.context() as patch:
        patch.setattr(storage.os, "fsync", _full_disk)
        with pytest.raises(HomeAssistantError) as caught:
            await hass.services.async_call(
                DOMAIN,
                "backup",
                {"config_entry_id": entry.entry_id},
                blocking=True,
                return_response=True,
            )

    assert caught.value.translation_key == "snapshot_write_failed"
    assert "No space left on device" in str(caught.value)
    after = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert after == before  # no half-written file, every earlier snapshot intact
    for name, data in after.items():
        decode_snapshot(data, path=folder / name)


# -- 12. a full disk while unloading ---------------------------------------------------


async def test_unloading_releases_the_radio_even_when_saving_fails(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup_virtual(hass, freezer)
    gateway = entry.runtime_data.gateway
    air = entry.runtime_data.air
    monkeypatch.setattr(storage.AtomicJsonFile, "save", _async_full_disk)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.NOT_LOADED
    assert gateway.radio.state is LinkState.DOWN
    assert not air.ground_truth()["radio"]["connected"]  # zigpy's app and database closed
    assert any(
        record.levelno == logging.ERROR and "No space left on device" in record.getMessage()
        for record in caplog.records
    )


async def _async_full_disk(*_: Any, **__: Any) -> None:
    _full_disk()


# -- 11. damaged start-up files --------------------------------------------------------


DAMAGED: dict[str, tuple[str, bytes]] = {
    "changes truncated": ("changes.json", b'{"version":1,"devices":{"00:0d:6f:00:0a:90:69:e7'),
    "changes a list": ("changes.json", b"[]"),
    "changes not UTF-8": ("changes.json", b"\xff\xfe{}"),
    "scenes truncated": ("scenes.json", b'[{"group_id":1,"scene_id":1,"name":"Even'),
    "scenes an object": ("scenes.json", b'{"group_id":1}'),
}


@pytest.mark.parametrize(("name", "content"), DAMAGED.values(), ids=DAMAGED.keys())
async def test_a_damaged_start_up_file_is_kept_aside_and_the_gateway_starts(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    name: str,
    content: bytes,
) -> None:
    entry = virtual_entry()
    folder = Path(hass.config.path("resilient_gateway", entry.entry_id))
    folder.mkdir(parents=True)
    (folder / name).write_bytes(content)
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await entry.runtime_data.gateway.radio.app.wait_until_interviewed()
    await advance(hass, freezer, 2)

    assert entry.state is ConfigEntryState.LOADED  # the radio is not blamed
    (aside,) = folder.glob(f"{Path(name).stem}.damaged-*.json")
    assert aside.read_bytes() == content
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(name in message and aside.name in message for message in warnings)
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"damaged_file_{entry.entry_id}_{Path(name).stem}"
    )
    assert issue is not None
    assert issue.translation_placeholders["aside"] == str(aside)

    # Unloading writes the file anew; the evidence stays as it was.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert aside.read_bytes() == content
    if (folder / name).exists():
        json.loads((folder / name).read_bytes())


async def test_what_can_be_recovered_from_a_damaged_changes_file_is_delivered(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """One bad entry does not cost the good ones: a pending change saved at the last stop
    is still delivered after a start that found its neighbour damaged."""
    entry = await setup_virtual(hass, freezer)
    ieee, _ = next(
        (ieee, entity)
        for ieee, entity in light_entities(hass, entry).items()
        if truth(hass, entry)["devices"][ieee]["state"]["on"] is False
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    changes = Path(hass.config.path("resilient_gateway", entry.entry_id, "changes.json"))
    good = {
        "change_id": 7,
        "device_id": ieee,
        "values": {"on": True},
        "open": ["on"],
        "remaining": 120.0,
    }
    bad = {"change_id": 8, "device_id": ieee, "values": {"on": "yes please"}}
    changes.write_text(
        json.dumps(
            {"version": 1, "devices": {ieee: {"desired": {"on": True}}}, "changes": [good, bad]}
        )
    )

    assert await hass.config_entries.async_setup(entry.entry_id)
    await advance(hass, freezer, 20, step=0.25)

    assert truth(hass, entry)["devices"][ieee]["state"]["on"] is True
    (aside,) = changes.parent.glob("changes.damaged-*.json")
    assert json.loads(aside.read_text())["changes"][1] == bad
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"damaged_file_{entry.entry_id}_changes")


async def test_the_damaged_file_issue_is_dismissed_by_confirming_it(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = virtual_entry()
    folder = Path(hass.config.path("resilient_gateway", entry.entry_id))
    folder.mkdir(parents=True)
    (folder / "scenes.json").write_bytes(b"not json")
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, "repairs", {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await advance(hass, freezer, 2)
    issue_id = f"damaged_file_{entry.entry_id}_scenes"

    flows = repairs_flow_manager(hass)
    assert flows is not None
    form = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    assert form["type"] is FlowResultType.FORM and form["step_id"] == "confirm"
    assert form["description_placeholders"]["file"] == "scenes.json"
    result = await flows.async_configure(form["flow_id"], {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert list(folder.glob("scenes.damaged-*.json"))  # the file itself stays


async def test_a_start_that_fails_never_overwrites_the_pending_changes(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changes.json that could not be read at all (here: no permission) is neither
    used nor replaced by the failed start's stop."""
    entry = virtual_entry()
    folder = Path(hass.config.path("resilient_gateway", entry.entry_id))
    folder.mkdir(parents=True)
    saved = b'{"version":1,"devices":{},"changes":[]}'
    (folder / "changes.json").write_bytes(saved)
    real_read_bytes = storage._read_bytes

    async def unreadable(path: Path) -> bytes | None:
        if path.name == "changes.json":
            raise PermissionError(errno.EACCES, "Permission denied")
        return await real_read_bytes(path)

    monkeypatch.setattr(storage, "_read_bytes", unreadable)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    monkeypatch.undo()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "changes.json" in entry.reason and "radio" not in entry.reason
    assert (folder / "changes.json").read_bytes() == saved
