"""Backup and replacement on a virtual gateway: snapshots, the replaced radio, restore."""

from __future__ import annotations

import asyncio
import json
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON, STATE_ON
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from zigpy.backups import NetworkBackup

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core.snapshot import decode_snapshot

from .conftest import advance, apply_state, group_entity, light_entities, setup_virtual, truth

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


def _entity_ids(hass: HomeAssistant, entry: Any) -> dict[str, str]:
    """unique id → entity id of every entity of the gateway, and the devices' ids."""
    entities = {
        entity.unique_id: entity.entity_id
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    devices = {
        str(sorted(device.identifiers)): device.id
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    }
    return entities | devices


async def _store_evening_scene(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: Any
) -> None:
    """A gateway scene on the all-lights group: stored in every bulb."""
    group = group_entity(hass, entry)
    await apply_state(hass, freezer, 8, entity_id=group, state="on", brightness=90, timeout=6)
    await call_over_time(hass, freezer, "store_scene", entity_id=group, name="Evening")
    assert all(
        [ALL_LIGHTS, 1] in device["scenes"]
        for device in truth(hass, entry)["devices"].values()
        if device["kind"].endswith("light")
    )


async def every_light_comes_on(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: Any, lights: dict[str, str]
) -> None:
    """Turn every light on from Home Assistant: each bulb comes on and shows it."""
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: list(lights.values())}, blocking=True
    )
    await advance(hass, freezer, 10, step=0.25)
    devices = truth(hass, entry)["devices"]
    assert all(devices[light]["state"]["on"] for light in lights)
    assert all(hass.states.get(light).state == STATE_ON for light in lights.values())


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


async def test_restore_without_any_snapshot_says_so(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    folder = Path(hass.config.path("resilient_gateway", entry.entry_id, "snapshots"))
    for snapshot in folder.glob("*.json"):
        snapshot.unlink()
    with pytest.raises(ServiceValidationError) as caught:
        await call(hass, "restore", config_entry_id=entry.entry_id)
    assert caught.value.translation_key == "snapshot_missing"
    assert entry.runtime_data.gateway.radio_up


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


async def test_a_replaced_radio_is_restored_with_everything_intact(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    await _store_evening_scene(hass, freezer, entry)
    entities_before = _entity_ids(hass, entry)
    await backup(hass, entry)
    before = truth(hass, entry)

    await replace_radio(hass, freezer, entry)
    assert radio_status(hass, entry) == "failed"
    assert truth(hass, entry)["radio"]["formed"] is False  # nothing started on the blank stick
    issue_id = f"restore_needed_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    # A command while the gateway waits for its restore is queued, not lost.
    ieee, entity_id = next(iter(lights.items()))
    wanted = not before["devices"][ieee]["state"]["on"]
    await hass.services.async_call(
        LIGHT_DOMAIN,
        SERVICE_TURN_ON if wanted else SERVICE_TURN_OFF,
        {ATTR_ENTITY_ID: entity_id},
        blocking=True,
    )

    progress: list[str] = []
    # (A @callback runs in the loop, in event order; a plain lambda would run in an
    # executor thread, where a busy machine can append the last two events swapped.)
    hass.bus.async_listen(
        f"{DOMAIN}_restore_progress", callback(lambda event: progress.append(event.data["phase"]))
    )
    report = await restore(hass, freezer, entry)
    await advance(hass, freezer, 10, step=0.25)

    after = truth(hass, entry)
    assert after["radio"]["formed"] and after["radio"]["identity_matches"]
    assert after["network"]["extended_pan_id"] == before["network"]["extended_pan_id"]
    assert progress[0] == "network" and "devices" in progress and progress[-1] == "done"
    assert report["failed"] == {}
    assert not set(report["restored"]) & set(report["pending"])
    assert set(report["restored"]) | set(report["pending"]) == set(before["devices"])
    for device_ieee, device in before["devices"].items():
        assert after["devices"][device_ieee]["groups"] == device["groups"]
        assert after["devices"][device_ieee]["scenes"] == device["scenes"]
    assert after["devices"][ieee]["state"]["on"] is wanted  # the queued command arrived
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert radio_status(hass, entry) == "ok"
    assert _entity_ids(hass, entry) == entities_before

    # Every light answers commands on the restored network.
    await every_light_comes_on(hass, freezer, entry, lights)


async def test_an_open_coordinator_backup_restores_the_network(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A network identity exported for (or from) ZHA or Zigbee2MQTT is enough to bring a
    replaced radio back: the devices zigpy knows keep their groups and entities."""
    entry = await setup_virtual(hass, freezer)
    exported = await call(hass, "export_network", config_entry_id=entry.entry_id)
    network = truth(hass, entry)["network"]["extended_pan_id"]
    lights = light_entities(hass, entry)
    await replace_radio(hass, freezer, entry)
    assert radio_status(hass, entry) == "failed"

    report = await restore(hass, freezer, entry, path=exported["path"])

    assert report["failed"] == {}
    assert truth(hass, entry)["radio"]["identity_matches"]
    assert truth(hass, entry)["network"]["extended_pan_id"] == network
    assert radio_status(hass, entry) == "ok"
    assert light_entities(hass, entry) == lights
    await every_light_comes_on(hass, freezer, entry, lights)


class _BridgeSettings:
    """Private data of another part of the gateway (a Wi-Fi bridge's pairing list, say)."""

    name = "wifi_bridge"

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {"paired": ["node-1", "node-2"]}
        self.imported: list[dict[str, Any]] = []

    async def export_section(self) -> dict[str, Any]:
        return dict(self.settings)

    async def import_section(self, data: Any) -> None:
        self.imported.append(dict(data))


async def test_other_parts_keep_their_own_section_in_snapshots(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    section = _BridgeSettings()
    entry.runtime_data.gateway.register_section(section)
    await backup(hass, entry)
    section.settings = {"paired": []}  # lost with the old hardware

    await replace_radio(hass, freezer, entry)
    await restore(hass, freezer, entry)

    assert section.imported == [{"paired": ["node-1", "node-2"]}]


async def test_auto_restore_brings_a_replaced_radio_back_without_asking(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    hass.config_entries.async_update_entry(entry, options={**entry.options, "auto_restore": True})
    await hass.async_block_till_done()
    await backup(hass, entry)
    network = truth(hass, entry)["network"]["extended_pan_id"]
    done: list[dict[str, Any]] = []
    hass.bus.async_listen(f"{DOMAIN}_restore_done", callback(lambda event: done.append(event.data)))

    await replace_radio(hass, freezer, entry)
    await advance(hass, freezer, 30, step=0.25)

    assert len(done) == 1 and done[0]["failed"] == {}
    radio = truth(hass, entry)["radio"]
    assert radio["identity_matches"]
    assert truth(hass, entry)["network"]["extended_pan_id"] == network
    assert radio_status(hass, entry) == "ok"
    assert not ir.async_get(hass).async_get_issue(DOMAIN, f"restore_needed_{entry.entry_id}")
    lights = light_entities(hass, entry)
    await every_light_comes_on(hass, freezer, entry, lights)


async def test_auto_restore_does_not_erase_another_homes_network(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    hass.config_entries.async_update_entry(entry, options={**entry.options, "auto_restore": True})
    await backup(hass, entry)
    entry.runtime_data.air.radio_replaced(used=True)
    await advance(hass, freezer, 60, step=0.5)
    assert not truth(hass, entry)["radio"]["identity_matches"]  # left as it was
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"restore_needed_{entry.entry_id}")


async def test_a_radio_running_another_network_is_overwritten_only_with_force(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A used stick still runs the network of the home it came from: the gateway does
    not start on it, and a restore overwrites that network only when told to."""
    entry = await setup_virtual(hass, freezer)
    await backup(hass, entry)
    network = truth(hass, entry)["network"]["extended_pan_id"]
    entry.runtime_data.air.radio_replaced(used=True)
    await advance(hass, freezer, 60, step=0.5)
    assert radio_status(hass, entry) == "failed"
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"restore_needed_{entry.entry_id}")
    radio_before = truth(hass, entry)["radio"]
    assert radio_before["formed"] and not radio_before["identity_matches"]

    with pytest.raises(ServiceValidationError) as caught:
        await restore(hass, freezer, entry)
    assert caught.value.translation_key == "foreign_network"
    assert truth(hass, entry)["radio"] == radio_before

    report = await restore(hass, freezer, entry, force=True)
    assert report["failed"] == {}
    assert truth(hass, entry)["radio"]["identity_matches"]
    assert truth(hass, entry)["network"]["extended_pan_id"] == network
    assert radio_status(hass, entry) == "ok"


async def test_the_repair_issue_restores_onto_the_new_radio(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    assert await async_setup_component(hass, "repairs", {})
    await backup(hass, entry)
    lights = light_entities(hass, entry)
    entry.runtime_data.air.radio_replaced(used=True)  # the stick of another home
    await advance(hass, freezer, 60, step=0.5)
    issue_id = f"restore_needed_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    flows = repairs_flow_manager(hass)
    assert flows is not None
    form = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    assert form["type"] is FlowResultType.FORM and form["step_id"] == "confirm"
    task = asyncio.ensure_future(flows.async_configure(form["flow_id"], {}))
    while not task.done():
        await advance(hass, freezer, 1, step=0.25)
    result = await task

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description_placeholders"]["failed"] == "0"
    assert truth(hass, entry)["radio"]["identity_matches"]
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    await every_light_comes_on(hass, freezer, entry, lights)


async def test_home_assistant_backups_hold_a_current_snapshot(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    assert await async_setup_component(hass, "backup", {})
    await hass.async_block_till_done()
    await _store_evening_scene(hass, freezer, entry)  # newer than any snapshot so far
    started = dt_util.utcnow()

    await hass.services.async_call("backup", "create", blocking=True)

    archives = list(Path(hass.config.path("backups")).glob("*.tar"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as outer:
        (inner_name,) = (n for n in outer.getnames() if n.endswith("homeassistant.tar.gz"))
        inner_file = outer.extractfile(inner_name)
        assert inner_file is not None
        with tarfile.open(fileobj=inner_file, mode="r:gz") as inner:
            folder = f"data/resilient_gateway/{entry.entry_id}/snapshots/"
            names = sorted(n for n in inner.getnames() if folder in n)
            assert names
            member = inner.extractfile(names[-1])
            assert member is not None
            newest = decode_snapshot(member.read(), path=Path(names[-1]))
    assert newest.info.created_at >= started - timedelta(seconds=1)
    assert newest.info.device_count == len(truth(hass, entry)["devices"])
    assert newest.info.summary["scene_count"] == 1
