"""Hardening of the restore path (issue 18): bad paths and files are refused cleanly,
before anything is read that need not be and before the radio is touched; restores,
backups and pause take turns; the progress sensor never sticks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway.const import DOMAIN, EVENT_RESTORE_PROGRESS
from custom_components.resilient_gateway.core import snapshot as snapshot_module
from custom_components.resilient_gateway.core.snapshot import (
    MAX_SNAPSHOT_BYTES,
    decode_snapshot,
    encode_snapshot,
)

from .conftest import (
    advance,
    advance_until_done,
    call_while_time_passes,
    recorded_events,
    setup_virtual,
    start_call,
    truth,
)


async def _call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


def _folder(hass: HomeAssistant, entry: Any) -> Path:
    return Path(hass.config.path("resilient_gateway", entry.entry_id))


def _radio_untouched(entry: Any) -> Callable[[], bool]:
    """Whether, since this was called, the radio kept running the same zigpy app and its
    network was not written again (a restore raises the frame counter by 10000)."""
    app = entry.runtime_data.gateway.radio.app
    counter = entry.runtime_data.air.radio.tx_counter
    return lambda: (
        entry.runtime_data.gateway.radio_up
        and entry.runtime_data.gateway.radio.app is app
        and entry.runtime_data.air.radio.tx_counter == counter
    )


# -- 1. a NUL byte in a path -------------------------------------------------------------


async def test_a_path_with_a_nul_byte_is_refused_with_a_translated_error(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    with pytest.raises(ServiceValidationError) as caught:
        await _call(
            hass,
            "restore",
            config_entry_id=entry.entry_id,
            path="resilient_gateway/snap\x00shot.json",
        )
    assert caught.value.translation_key == "path_invalid"
    assert "\x00" not in str(caught.value.translation_placeholders)


# -- 2. a file larger than any snapshot --------------------------------------------------


async def test_a_file_larger_than_any_snapshot_is_refused_unread(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON array just over the cap (the issue's 50 MB one cost 501 MiB to parse):
    refused from its size alone, without reading a byte of it."""
    entry = await setup_virtual(hass, freezer)
    big = _folder(hass, entry) / "big.json"
    big.write_bytes(b"[" + b"0," * (MAX_SNAPSHOT_BYTES // 2) + b"0]")
    assert big.stat().st_size > MAX_SNAPSHOT_BYTES
    opened: list[Path] = []
    real_open, real_read_bytes = Path.open, Path.read_bytes

    def spy_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self)
        return real_open(self, *args, **kwargs)

    def spy_read_bytes(self: Path) -> bytes:
        opened.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "open", spy_open)
    monkeypatch.setattr(Path, "read_bytes", spy_read_bytes)
    untouched = _radio_untouched(entry)

    with pytest.raises(ServiceValidationError) as caught:
        await _call(
            hass,
            "restore",
            config_entry_id=entry.entry_id,
            path=f"resilient_gateway/{entry.entry_id}/big.json",
        )

    assert caught.value.translation_key == "snapshot_too_large"
    assert big.name not in {path.name for path in opened}
    assert untouched()


async def test_the_largest_real_snapshot_is_far_below_the_cap_and_parsed_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real snapshot restores (the cap leaves room: 1.4 MB measured at 500 devices with
    16 scenes and a pending change each), and its file is parsed once, not twice."""
    entry = await setup_virtual(hass, freezer)
    info = await _call(hass, "backup", config_entry_id=entry.entry_id)
    assert info["size"] * 100 < MAX_SNAPSHOT_BYTES
    size = Path(info["path"]).stat().st_size
    parsed: list[int] = []
    real_loads = json.loads

    def counting_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        if len(text) == size:
            parsed.append(len(text))
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(snapshot_module.json, "loads", counting_loads)
    report = await call_while_time_passes(
        hass, freezer, "restore", {"config_entry_id": entry.entry_id, "path": info["path"]}
    )
    assert report["failed"] == {}
    assert parsed == [size]


# -- 3. symlinks in the snapshots folder -------------------------------------------------


async def test_a_symlink_to_a_file_outside_is_neither_listed_nor_restored(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup_virtual(hass, freezer)
    own = Path((await _call(hass, "backup", config_entry_id=entry.entry_id))["path"])
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "not-ours.json"
    shutil.copy(own, elsewhere)  # a valid snapshot, outside the config folder
    link = own.parent / "snapshot-29991231T235959000000Z.json"  # "newer" than every other
    link.symlink_to(elsewhere)

    listed = await _call(hass, "list_snapshots", config_entry_id=entry.entry_id)
    assert str(link) not in [item["path"] for item in listed["snapshots"]]
    assert str(own) in [item["path"] for item in listed["snapshots"]]

    caplog.set_level("INFO", logger="custom_components.resilient_gateway")
    report = await call_while_time_passes(
        hass, freezer, "restore", {"config_entry_id": entry.entry_id}
    )
    assert report["failed"] == {}
    restoring = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Restoring")]
    assert restoring and all(link.name not in message for message in restoring)
    assert link.is_symlink() and elsewhere.is_file()  # nor pruned


# -- 4. the whole document is checked before the radio is touched ----------------------


def _edit_payload(section: str | None, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(payload: dict[str, Any]) -> None:
        (payload if section is None else payload["sections"][section])[key] = value

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _edit_payload(None, "groups", {"group_id": 1}),
        _edit_payload(None, "changes", []),
        _edit_payload(None, "scenes", [{"group_id": 1, "scene_id": 1, "name": "x"}]),
        _edit_payload("zigbee", "devices", {"ieee": "00:11"}),
        _edit_payload("zigbee", "devices", [{"ieee": "00:11", "nwk": 1, "endpoints": []}]),
        _edit_payload("zigbee", "network", {}),
    ],
    ids=[
        "groups not a list",
        "changes a list",
        "a scene without member states",
        "devices not a list",
        "a device without node descriptor",
        "empty network",
    ],
)
async def test_a_checksummed_snapshot_of_the_wrong_shape_is_refused_before_phase_1(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    edit: Callable[[dict[str, Any]], None],
) -> None:
    entry = await setup_virtual(hass, freezer)
    original = Path((await _call(hass, "backup", config_entry_id=entry.entry_id))["path"])
    snapshot = decode_snapshot(original.read_bytes(), path=original)
    payload = json.loads(json.dumps(snapshot.payload))
    edit(payload)
    # Correctly checksummed: the envelope checks pass, only the content is wrong.
    edited = _folder(hass, entry) / "edited.json"
    edited.write_bytes(
        encode_snapshot(payload, snapshot.info.summary, created_at=datetime.now(UTC))
    )
    progress = recorded_events(hass, EVENT_RESTORE_PROGRESS)
    untouched = _radio_untouched(entry)

    with pytest.raises(ServiceValidationError) as caught:
        await call_while_time_passes(
            hass,
            freezer,
            "restore",
            {"config_entry_id": entry.entry_id, "path": str(edited)},
        )

    assert caught.value.translation_key == "snapshot_invalid"
    assert [event.data["phase"] for event in progress] == []
    assert untouched()


async def test_a_file_that_only_looks_like_an_open_coordinator_backup_is_refused(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    exported = await _call(hass, "export_network", config_entry_id=entry.entry_id)
    document = json.loads(Path(exported["path"]).read_text())
    document["coordinator_ieee"] = "not an address"
    lookalike = _folder(hass, entry) / "lookalike.json"
    lookalike.write_text(json.dumps(document))
    untouched = _radio_untouched(entry)

    with pytest.raises(ServiceValidationError) as caught:
        await call_while_time_passes(
            hass,
            freezer,
            "restore",
            {"config_entry_id": entry.entry_id, "path": str(lookalike)},
        )

    assert caught.value.translation_key == "snapshot_invalid"
    assert untouched()


# -- 5. the progress sensor after a failed restore ---------------------------------------


def _progress_sensor(hass: HomeAssistant, entry: Any) -> Any:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}-restore_progress"
    )
    assert entity_id is not None
    return hass.states.get(entity_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # (disabled by default)
async def test_restore_progress_does_not_stick_after_a_failed_restore(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    await _call(hass, "backup", config_entry_id=entry.entry_id)
    entry.runtime_data.air.radio_replaced(used=True)  # another home's stick
    await advance(hass, freezer, 60, step=0.5)
    progress = recorded_events(hass, EVENT_RESTORE_PROGRESS)

    with pytest.raises(ServiceValidationError) as caught:
        await call_while_time_passes(hass, freezer, "restore", {"config_entry_id": entry.entry_id})

    assert caught.value.translation_key == "foreign_network"
    assert [event.data["phase"] for event in progress] == ["network"]  # it did begin
    state = _progress_sensor(hass, entry)
    assert state.state == "unknown"
    assert state.attributes["phase"] is None


# -- 7. one restore at a time ------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # (disabled by default)
async def test_a_second_restore_at_once_is_refused(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    await _call(hass, "backup", config_entry_id=entry.entry_id)
    network = truth(hass, entry)["network"]["extended_pan_id"]

    calls = [start_call(hass, "restore", {"config_entry_id": entry.entry_id}) for _ in range(2)]
    await advance_until_done(hass, freezer, *calls)

    refused = [call.exception() for call in calls if call.exception() is not None]
    assert len(refused) == 1
    assert isinstance(refused[0], ServiceValidationError)
    assert refused[0].translation_key == "restore_in_progress"
    (done,) = (call.result() for call in calls if call.exception() is None)
    assert done["failed"] == {}

    # Asked once the first shows its progress: refused at once, the progress still shown.
    first = start_call(hass, "restore", {"config_entry_id": entry.entry_id})
    for _ in range(100):
        if _progress_sensor(hass, entry).state != "unknown":
            break
        await advance(hass, freezer, 0.1)
    with pytest.raises(ServiceValidationError) as caught:
        await _call(hass, "restore", config_entry_id=entry.entry_id)
    assert caught.value.translation_key == "restore_in_progress"
    assert _progress_sensor(hass, entry).state != "unknown"
    await advance_until_done(hass, freezer, first)
    assert first.result()["failed"] == {}
    await advance(hass, freezer, 40, step=0.5)
    radio = truth(hass, entry)["radio"]
    assert radio["identity_matches"] and radio["connected"]
    assert truth(hass, entry)["network"]["extended_pan_id"] == network
    assert entry.runtime_data.gateway.radio_up


async def _during_phase_1(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    entry: Any,
    service: str,
) -> tuple[Any, Any]:
    """Start a restore, and call ``service`` the moment its phase 1 closes the running
    radio (the radio still counts as up: its zigpy app is shutting down); both results."""
    app = entry.runtime_data.gateway.radio.app
    shutdown = app.shutdown
    started: list[Any] = []

    async def shutdown_and_call(*args: Any, **kwargs: Any) -> Any:
        if not started:
            started.append(start_call(hass, service, {"config_entry_id": entry.entry_id}))
        return await shutdown(*args, **kwargs)

    monkeypatch.setattr(app, "shutdown", shutdown_and_call)
    restore = start_call(hass, "restore", {"config_entry_id": entry.entry_id})
    await advance_until_done(hass, freezer, restore)
    assert started, "phase 1 never closed the radio"
    await advance_until_done(hass, freezer, started[0])
    return restore.result(), started[0].result()


# -- 8. a backup during a restore --------------------------------------------------------


async def test_a_backup_asked_during_phase_1_waits_for_the_restore(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = await setup_virtual(hass, freezer)
    await _call(hass, "backup", config_entry_id=entry.entry_id)

    report, backup = await _during_phase_1(hass, freezer, monkeypatch, entry, "backup")

    assert report["failed"] == {}
    written = decode_snapshot(Path(backup["path"]).read_bytes(), path=Path(backup["path"]))
    assert written.payload["network_id"] == truth(hass, entry)["network"]["extended_pan_id"]


async def test_a_backup_while_the_radio_is_down_is_a_translated_error(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """(The backup no longer checks the radio before waiting its turn: it still says
    plainly why it cannot write a snapshot.)"""
    entry = await setup_virtual(hass, freezer)
    entry.runtime_data.air.radio_failure()
    await advance(hass, freezer, 1)
    with pytest.raises(HomeAssistantError) as caught:
        await _call(hass, "backup", config_entry_id=entry.entry_id)
    assert caught.value.translation_key == "radio_not_running"


# -- 9. pause during a restore -----------------------------------------------------------


async def test_pause_during_a_restore_waits_for_it_and_the_radio_stays_released(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = await setup_virtual(hass, freezer)
    await _call(hass, "backup", config_entry_id=entry.entry_id)
    gateway = entry.runtime_data.gateway

    report, paused = await _during_phase_1(hass, freezer, monkeypatch, entry, "pause")

    assert report["failed"] == {}
    assert paused == {"current_status": "paused", "target_status": "paused"}
    await advance(hass, freezer, 60, step=0.5)
    assert not gateway.radio_up
    assert not truth(hass, entry)["radio"]["connected"]  # the port stays free

    # While paused, a restore is refused: the run status wins.
    with pytest.raises(ServiceValidationError) as caught:
        await _call(hass, "restore", config_entry_id=entry.entry_id)
    assert caught.value.translation_key == "restore_while_paused"
    assert not truth(hass, entry)["radio"]["connected"]

    resumed = await call_while_time_passes(
        hass, freezer, "resume", {"config_entry_id": entry.entry_id}
    )
    assert resumed == {"current_status": "running", "target_status": "running"}
    assert gateway.radio_up and truth(hass, entry)["radio"]["identity_matches"]


async def test_unloading_during_a_restore_leaves_nothing_running(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The restore ends with the gateway (the harness fails the test for any zigpy task,
    timer or database thread left behind)."""
    entry = await setup_virtual(hass, freezer)
    await _call(hass, "backup", config_entry_id=entry.entry_id)
    air = entry.runtime_data.air
    restore = start_call(hass, "restore", {"config_entry_id": entry.entry_id})
    await advance(hass, freezer, 0.5)
    assert not restore.done()

    assert await hass.config_entries.async_unload(entry.entry_id)
    await advance_until_done(hass, freezer, restore)

    assert isinstance(restore.exception(), HomeAssistantError)
    await advance(hass, freezer, 60, step=0.5)
    assert not air.ground_truth()["radio"]["connected"]
