"""Backup and replacement on a virtual gateway: snapshots, the replaced radio, restore."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from zigpy.backups import NetworkBackup

from custom_components.resilient_gateway.const import (
    DOMAIN,
)

from .conftest import advance, setup_virtual
from .test_virtual_gateway import truth

ALL_LIGHTS = 0x0001


async def call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def backup(hass: HomeAssistant, entry: Any, **data: Any) -> dict[str, Any]:
    response: dict[str, Any] = await call(hass, "backup", config_entry_id=entry.entry_id, **data)
    return response


async def call_over_time(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, service: str, **data: Any
) -> Any:
    """Call a service that talks to devices while simulated time passes."""
    task = asyncio.ensure_future(call(hass, service, **data))
    for _ in range(600):
        if task.done():
            break
        await advance(hass, freezer, 1, step=0.25)
    return await task


async def restore(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: Any, **data: Any
) -> dict[str, Any]:
    result: dict[str, Any] = await call_over_time(
        hass, freezer, "restore", config_entry_id=entry.entry_id, **data
    )
    return result


async def replace_radio(hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: Any) -> None:
    """A blank stick takes the old one's place; the gateway's ladder finds it blank."""
    await hass.services.async_call(
        DOMAIN,
        "simulate_fault",
        {"config_entry_id": entry.entry_id, "fault": "radio_replaced"},
        blocking=True,
    )
    await advance(hass, freezer, 60, step=0.5)


def radio_status(hass: HomeAssistant, entry: Any) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}-radio_status"
    )
    assert entity_id is not None
    return hass.states.get(entity_id).state


async def test_backup_service_writes_a_snapshot(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    response = await backup(hass, entry)
    path = Path(response["path"])
    assert path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert response["device_count"] == len(truth(hass, entry)["devices"])
    assert response["size"] == path.stat().st_size
    listed = await call(hass, "list_snapshots", config_entry_id=entry.entry_id)
    assert response["path"] in [item["path"] for item in listed["snapshots"]]


def _edited(field: str, value: Any) -> Any:
    def edit(text: str) -> str:
        envelope = json.loads(text)
        envelope[field] = value(envelope[field])
        return json.dumps(envelope)

    return edit


@pytest.mark.parametrize(
    ("damage", "key"),
    [
        (lambda text: text[: len(text) // 2], "snapshot_corrupt"),
        (_edited("payload", lambda payload: {**payload, "devices": []}), "snapshot_checksum"),
        (_edited("version", lambda _: 99), "snapshot_version"),
    ],
    ids=["truncated", "edited", "future version"],
)
async def test_bad_snapshots_are_refused_and_change_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, damage: Any, key: str
) -> None:
    entry = await setup_virtual(hass, freezer)
    path = Path((await backup(hass, entry))["path"])
    path.write_text(damage(path.read_text()))
    radio_before = truth(hass, entry)["radio"]
    with pytest.raises(ServiceValidationError) as caught:
        await call(hass, "restore", config_entry_id=entry.entry_id, path=str(path))
    assert caught.value.translation_key == key
    assert truth(hass, entry)["radio"] == radio_before
    assert entry.runtime_data.gateway.radio_up


async def test_passwords_protect_snapshots(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    path = (await backup(hass, entry, password="correct horse"))["path"]
    network_key = truth(hass, entry)["network"]["network_key"]
    assert network_key.replace(":", "") not in Path(path).read_text().replace(":", "")
    for password, key in (
        (None, "snapshot_password_required"),
        ("wrong", "snapshot_wrong_password"),
    ):
        data = {"path": path} | ({"password": password} if password else {})
        with pytest.raises(ServiceValidationError) as caught:
            await call(hass, "restore", config_entry_id=entry.entry_id, **data)
        assert caught.value.translation_key == key


async def test_paths_outside_allowed_folders_are_refused(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    with pytest.raises(ServiceValidationError) as caught:
        await call(hass, "restore", config_entry_id=entry.entry_id, path="/etc/passwd")
    assert caught.value.translation_key == "path_not_allowed"


async def test_exported_network_loads_in_zigpy(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    response = await call(hass, "export_network", config_entry_id=entry.entry_id)
    assert "network_key" not in json.dumps(response)
    document = json.loads(Path(response["path"]).read_text())
    backup_from_file = NetworkBackup.from_dict(document)
    assert backup_from_file.is_complete()
    ground = truth(hass, entry)
    assert (
        str(backup_from_file.network_info.extended_pan_id) == ground["network"]["extended_pan_id"]
    )
    assert response["network_id"] == ground["network"]["extended_pan_id"]
