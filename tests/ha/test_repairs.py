"""The 'restore onto the new radio' repair when it cannot restore: a damaged snapshot, a
radio that fails during the restore, a gateway that is not loaded. The user reads why,
the issue stays open, and nothing is written to the radio."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core.snapshot import SnapshotError

from .conftest import TRANSLATIONS, advance, setup_virtual

ABORT_MESSAGES: dict[str, str] = TRANSLATIONS["issues"]["restore_needed"]["fix_flow"]["abort"]


async def gateway_on_a_foreign_radio(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> tuple[Any, str]:
    """A gateway with a snapshot whose radio was swapped for another home's stick: the
    restore issue is open. Returns the entry and the issue id."""
    entry = await setup_virtual(hass, freezer)
    assert await async_setup_component(hass, "repairs", {})
    await hass.services.async_call(
        DOMAIN, "backup", {"config_entry_id": entry.entry_id}, blocking=True
    )
    entry.runtime_data.air.radio_replaced(used=True)
    await advance(hass, freezer, 60, step=0.5)
    issue_id = f"restore_needed_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    return entry, issue_id


async def confirm(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, issue_id: str
) -> dict[str, Any]:
    """Open the repair and confirm it, letting time pass while it works."""
    flows = repairs_flow_manager(hass)
    assert flows is not None
    form = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    if form["type"] is not FlowResultType.FORM:
        return dict(form)
    task = asyncio.ensure_future(flows.async_configure(form["flow_id"], {}))
    while not task.done():
        await advance(hass, freezer, 1, step=0.25)
    return dict(await task)


def newest_snapshot(entry: Any) -> Path:
    folder = Path(entry.runtime_data.storage_path) / "snapshots"
    return max(folder.glob("snapshot-*.json"))


def still_foreign(hass: HomeAssistant, entry: Any, issue_id: str) -> bool:
    """Nothing was restored: the radio holds the other network, the issue is open."""
    radio = entry.runtime_data.air.ground_truth()["radio"]
    return not radio["identity_matches"] and (
        ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    )


async def test_a_damaged_snapshot_is_not_restored(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry, issue_id = await gateway_on_a_foreign_radio(hass, freezer)
    snapshot = newest_snapshot(entry)
    envelope = json.loads(snapshot.read_text(encoding="utf-8"))
    envelope["payload"]["devices"] = []  # a bit flipped on the disk, say
    snapshot.write_text(json.dumps(envelope), encoding="utf-8")

    result = await confirm(hass, freezer, issue_id)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "snapshot_checksum"
    assert ABORT_MESSAGES[result["reason"]] == "The newest snapshot is damaged."
    assert still_foreign(hass, entry, issue_id)


async def test_a_radio_that_fails_during_the_restore_is_reported(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry, issue_id = await gateway_on_a_foreign_radio(hass, freezer)
    entry.runtime_data.air.radio_failure()

    result = await confirm(hass, freezer, issue_id)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "restore_failed"
    assert ABORT_MESSAGES[result["reason"]] == "The restore failed; see the log."
    assert still_foreign(hass, entry, issue_id)


async def test_the_repair_waits_for_a_loaded_gateway(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Disabled or unloaded gateway: the repair says so instead of touching the radio."""
    entry, issue_id = await gateway_on_a_foreign_radio(hass, freezer)
    air = entry.runtime_data.air
    assert await hass.config_entries.async_unload(entry.entry_id)

    result = await confirm(hass, freezer, issue_id)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"
    assert ABORT_MESSAGES[result["reason"]] == "The gateway is not loaded."
    assert not air.ground_truth()["radio"]["identity_matches"]


def test_every_refusal_of_a_snapshot_has_a_message_in_the_repair() -> None:
    """Whatever snapshot error the restore raises, the repair shows a sentence for it."""
    refusals: set[str] = set()
    pending: list[type[SnapshotError]] = [SnapshotError]
    while pending:
        error = pending.pop()
        pending.extend(error.__subclasses__())
        if "translation_key" in vars(error):
            refusals.add(error.translation_key)
    assert refusals
    assert refusals <= set(ABORT_MESSAGES)
