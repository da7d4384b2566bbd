"""Firmware update entities on a virtual gateway (issue 15): versions from the devices,
images from the local folder, install with progress, events, translated failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.update import (
    ATTR_IN_PROGRESS,
    ATTR_INSTALLED_VERSION,
    ATTR_LATEST_VERSION,
    ATTR_UPDATE_PERCENTAGE,
)
from homeassistant.components.update import DOMAIN as UPDATE_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.resilient_gateway import update
from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core.firmware import FirmwareImage
from custom_components.resilient_gateway.radios.virtual import SimKind
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file

from .conftest import (
    THREAD_WORK_KEY,
    ThreadWork,
    advance,
    call_while_time_passes,
    fault,
    group_entity,
    light_entities,
    lights_on,
    recorded_events,
    setup_virtual,
    shows,
    start_call,
    switch,
    truth,
)

NEW = 0x01020000


def _image(hass: HomeAssistant, kind: SimKind, size: int = 3000) -> None:
    folder = Path(hass.config.path("resilient_gateway", "firmware"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{kind}.ota").write_bytes(ota_file(kind, NEW, size=size))
    (folder / f"{kind}.ota.md").write_text("Smoother fades", encoding="utf-8")


def _updates(hass: HomeAssistant, entry: Any) -> dict[str, str]:
    """ieee → update entity id."""
    registry = er.async_get(hass)
    return {
        entity.unique_id.removesuffix("-firmware"): entity.entity_id
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
        if entity.domain == UPDATE_DOMAIN
    }


def _ieee_of(hass: HomeAssistant, entry: Any, kind: SimKind) -> str:
    devices = truth(hass, entry)["devices"]
    return next(ieee for ieee, device in devices.items() if device["kind"] == kind)


def _install(hass: HomeAssistant, entity_id: str, **data: Any) -> Any:
    return start_call(hass, "install", {ATTR_ENTITY_ID: entity_id, **data}, domain=UPDATE_DOMAIN)


async def _pass_time(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """``advance`` without ``async_block_till_done``: Home Assistant tracks an entity
    service call (``update.install``) as one of its tasks, and waiting for it while the
    clock stands still would wait forever. Timers fire, the loop runs, other threads'
    work finishes."""
    work: ThreadWork = hass.data[THREAD_WORK_KEY]
    step = 0.1
    for _ in range(max(1, round(seconds / step))):
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
        for _ in range(20):
            await asyncio.sleep(0)
        while work.pending:
            await work.finished()
            for _ in range(5):
                await asyncio.sleep(0)


async def _until_done(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, call: Any, limit: float = 600.0
) -> None:
    waited = 0.0
    while not call.done():
        assert waited < limit, f"still running after {limit} simulated seconds"
        await _pass_time(hass, freezer, 0.5)
        waited += 0.5


async def test_an_update_from_the_local_folder_is_installed_with_progress(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    _image(hass, SimKind.DIMMABLE_LIGHT)
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0, loss=0.1)
    await advance(hass, freezer, 3)  # (each device's version is read once)
    updates = _updates(hass, entry)
    assert len(updates) == 4  # every light has an OTA client
    light = _ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)
    entity_id = updates[light]
    state = hass.states.get(entity_id)
    assert state is not None and state.state == STATE_ON
    assert state.attributes[ATTR_INSTALLED_VERSION] == "0x01000000"
    assert state.attributes[ATTR_LATEST_VERSION] == "0x01020000"
    entity = er.async_get(hass).async_get(entity_id)
    assert entity is not None and entity.entity_category is EntityCategory.CONFIG
    other = hass.states.get(updates[_ieee_of(hass, entry, SimKind.ON_OFF_LIGHT)])
    assert other is not None and other.state == STATE_OFF  # no image fits it

    done = recorded_events(hass, update.EVENT_UPDATE_DONE)
    call = _install(hass, entity_id)
    percentages = []
    for _ in range(1200):
        if call.done():
            break
        await _pass_time(hass, freezer, 0.5)
        state = hass.states.get(entity_id)
        assert state is not None
        if state.attributes[ATTR_IN_PROGRESS]:
            percentages.append(state.attributes[ATTR_UPDATE_PERCENTAGE])
    call.result()
    moving = [p for p in percentages if p is not None]
    assert len(set(moving)) > 3 and moving == sorted(moving)  # progress in steps
    state = hass.states.get(entity_id)
    assert state is not None and state.state == STATE_OFF
    assert state.attributes[ATTR_INSTALLED_VERSION] == "0x01020000"
    assert truth(hass, entry)["devices"][light]["firmware_version"] == NEW
    await hass.async_block_till_done()
    assert [e.data["to"] for e in done] == ["0x01020000"]
    assert done[0].data["entity_id"] == entity_id and done[0].data["from"] == "0x01000000"


async def test_groups_and_scenes_a_firmware_reset_forgot_are_repaired_and_reported(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    _image(hass, SimKind.DIMMABLE_LIGHT)
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0)
    await advance(hass, freezer, 3)
    light = _ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)
    await call_while_time_passes(
        hass, freezer, "store_scene", {ATTR_ENTITY_ID: group_entity(hass, entry), "name": "Evening"}
    )
    assert truth(hass, entry)["devices"][light]["scenes"] == [[1, 1]]
    done = recorded_events(hass, update.EVENT_UPDATE_DONE)
    call = _install(hass, _updates(hass, entry)[light])
    await _pass_time(hass, freezer, 1)
    await hass.services.async_call(
        DOMAIN,
        "simulate_fault",
        {"config_entry_id": entry.entry_id, "fault": "device_firmware_reset", "ieee": light},
        blocking=True,
    )
    forgot = truth(hass, entry)["devices"][light]
    assert (forgot["groups"], forgot["scenes"]) == ([], [])
    await _until_done(hass, freezer, call)
    call.result()
    await hass.async_block_till_done()
    assert done[0].data["repaired"] == ["group 0x0001", "scene 0x0001/1"]
    repaired = truth(hass, entry)["devices"][light]
    assert (repaired["groups"], repaired["scenes"]) == ([1], [[1, 1]])


async def _a_light(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    *,
    size: int | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[Any, str, str]:
    """A virtual gateway of four lights (with an image of ``size`` bytes for its dimmable
    light in the folder, when given): the entry, the light's ieee and update entity."""
    if size is not None:
        _image(hass, SimKind.DIMMABLE_LIGHT, size=size)
    entry = await setup_virtual(
        hass, freezer, options=options, lights=4, sensors=0, sleepy_sensors=0
    )
    await advance(hass, freezer, 3)
    light = _ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)
    return entry, light, _updates(hass, entry)[light]


async def _failed_leaving_it_working(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: Any,
    light: str,
    *,
    call: Any,
    failed: list[Event],
    reason: str,
) -> None:
    """The install failed with ``reason`` (a translated error, the event); the light runs
    its old version and takes commands."""
    with pytest.raises(HomeAssistantError) as raised:
        call.result()
    assert raised.value.translation_key == f"update_{reason}"
    await hass.async_block_till_done()
    assert [e.data["reason"] for e in failed] == [reason]
    assert truth(hass, entry)["devices"][light]["firmware_version"] == 0x01000000
    await _still_works(hass, freezer, entry, light)


async def _still_works(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: Any, ieee: str
) -> None:
    """The light takes a command and shows it (its old firmware runs on)."""
    entity_id = light_entities(hass, entry)[ieee]
    on = not lights_on(hass, entry)[ieee]
    await switch(hass, entity_id, on)
    await _pass_time(hass, freezer, 3)
    assert lights_on(hass, entry)[ieee] is on
    assert shows(hass, entity_id, on)


async def test_the_options_deadline_and_share_bound_an_update(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A 5-minute deadline and a 5 % share (one block a second): a 60 kB image cannot
    make it, and the update fails with its reason once the deadline passed, not before."""
    options = {"firmware_deadline": 5, "firmware_share": 5}
    entry, light, entity_id = await _a_light(hass, freezer, size=60_000, options=options)
    failed = recorded_events(hass, update.EVENT_UPDATE_FAILED)
    call = _install(hass, entity_id)
    await _pass_time(hass, freezer, 290)
    assert not call.done()
    state = hass.states.get(entity_id)
    assert state is not None
    # At most one 64-byte block a second: under a third of the image after 290 s.
    assert 0 < state.attributes[ATTR_UPDATE_PERCENTAGE] < 33
    await _until_done(hass, freezer, call, limit=30)
    await _pass_time(hass, freezer, 30)  # (the device gives its download up)
    await _failed_leaving_it_working(
        hass, freezer, entry, light, call=call, failed=failed, reason="deadline_passed"
    )
    assert failed[0].data["entity_id"] == entity_id
    state = hass.states.get(entity_id)
    assert state is not None and state.state == STATE_ON  # still offered


async def test_an_unknown_version_is_refused_and_nothing_is_sent(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    _image(hass, SimKind.DIMMABLE_LIGHT)
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0)
    await advance(hass, freezer, 3)
    entity_id = _updates(hass, entry)[_ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)]
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            UPDATE_DOMAIN,
            "install",
            {ATTR_ENTITY_ID: entity_id, "version": "0x09000000"},
            blocking=True,
        )
    assert raised.value.translation_key == "firmware_version_unknown"


async def test_an_update_resumes_from_its_offset_after_a_radio_outage(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry, light, entity_id = await _a_light(hass, freezer, size=20_000)
    done = recorded_events(hass, update.EVENT_UPDATE_DONE)
    call = _install(hass, entity_id)
    await _pass_time(hass, freezer, 10)
    before = _percentage(hass, entity_id)
    assert 0 < before < 100
    await fault(hass, entry, "radio_failure")
    await _pass_time(hass, freezer, 40)
    assert _percentage(hass, entity_id) <= before + 5  # (nothing moves during the outage)
    await fault(hass, entry, "radio_recovered")
    percentages = []
    while not call.done():
        await _pass_time(hass, freezer, 1)
        if (state := hass.states.get(entity_id)) and state.attributes[ATTR_IN_PROGRESS]:
            percentages.append(state.attributes[ATTR_UPDATE_PERCENTAGE])
    call.result()
    moving = [p for p in percentages if p is not None]
    assert moving and min(moving) >= before and moving == sorted(moving)  # never restarted
    assert truth(hass, entry)["devices"][light]["firmware_version"] == NEW
    await hass.async_block_till_done()
    assert [e.data["to"] for e in done] == ["0x01020000"]


async def test_with_no_retries_a_quiet_device_fails_the_update_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """``firmware_retries: 0``: the first quiet spell without progress (60 s) fails the
    update (with the default 3 it would be told again three times)."""
    options = {"firmware_retries": 0}
    entry, light, entity_id = await _a_light(hass, freezer, size=20_000, options=options)
    failed = recorded_events(hass, update.EVENT_UPDATE_FAILED)
    call = _install(hass, entity_id)
    await _pass_time(hass, freezer, 10)
    await fault(hass, entry, "device_power_off", ieee=light)
    # (Its download goes quiet: 60 s; told again, it does not answer: 60 s more.)
    await _until_done(hass, freezer, call, limit=200)
    await fault(hass, entry, "device_power_on", ieee=light)
    await _pass_time(hass, freezer, 10)
    await _failed_leaving_it_working(
        hass, freezer, entry, light, call=call, failed=failed, reason="transfer_stalled"
    )


async def test_an_update_resumes_after_a_restart_mid_transfer(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry, light, entity_id = await _a_light(hass, freezer, size=20_000)
    call = _install(hass, entity_id)
    await _pass_time(hass, freezer, 10)
    before = _percentage(hass, entity_id)
    assert 0 < before < 100
    # Home Assistant stops (the caller's wait ends with it) and starts again.
    call.cancel()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await _pass_time(hass, freezer, 5)
    done = recorded_events(hass, update.EVENT_UPDATE_DONE)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await _pass_time(hass, freezer, 1)
    state = hass.states.get(entity_id)
    assert state is not None and state.attributes[ATTR_IN_PROGRESS]  # resumed by itself
    percentages = []
    for _ in range(600):
        if done:
            break
        await _pass_time(hass, freezer, 1)
        if (state := hass.states.get(entity_id)) and state.attributes[ATTR_IN_PROGRESS]:
            percentages.append(state.attributes[ATTR_UPDATE_PERCENTAGE])
    moving = [p for p in percentages if p is not None]
    assert moving and min(moving) >= before  # from its offset, not from the start
    assert [e.data["to"] for e in done] == ["0x01020000"]
    assert truth(hass, entry)["devices"][light]["firmware_version"] == NEW
    state = hass.states.get(entity_id)
    assert state is not None and state.attributes[ATTR_INSTALLED_VERSION] == "0x01020000"


async def test_an_image_the_device_refuses_fails_and_leaves_it_working(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A source whose index lies (the file inside is a smart plug's): the device checks
    the header it downloaded and refuses it."""
    entry, light, entity_id = await _a_light(hass, freezer)
    plug_file = ota_file(SimKind.SMART_PLUG, NEW, size=2048)
    updater = entry.runtime_data.firmware.updater
    target = updater.target(light)
    assert target is not None

    async def load() -> bytes:
        return plug_file

    updater.catalog.replace(
        [
            FirmwareImage(
                key="zigpy:lying",
                source="zigpy",
                manufacturer_code=target.manufacturer_code,
                image_type=target.image_type,
                version=NEW,
                size=len(plug_file),
                load=load,
            )
        ]
    )
    failed = recorded_events(hass, update.EVENT_UPDATE_FAILED)
    call = _install(hass, entity_id)
    await _until_done(hass, freezer, call, limit=300)
    await _failed_leaving_it_working(
        hass, freezer, entry, light, call=call, failed=failed, reason="image_does_not_fit"
    )
    assert "invalid_image" in failed[0].data["message"]


async def test_a_sleepy_devices_update_is_scheduled_then_completes_at_its_polls(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    _image(hass, SimKind.CLIMATE_SENSOR, size=6_000)
    entry = await setup_virtual(hass, freezer, lights=1, sensors=0, sleepy_sensors=1)
    sensor = _ieee_of(hass, entry, SimKind.CLIMATE_SENSOR)
    entity_id = _updates(hass, entry)[sensor]
    # A sleeper tells its version in its own image query: until then none is shown.
    for _ in range(120):
        state = hass.states.get(entity_id)
        if state is not None and state.attributes[ATTR_INSTALLED_VERSION] is not None:
            break
        await _pass_time(hass, freezer, 5)
    call = _install(hass, entity_id)
    await _pass_time(hass, freezer, 0.5)
    state = hass.states.get(entity_id)
    assert state is not None and state.attributes[ATTR_IN_PROGRESS]
    assert state.attributes["phase"] == "scheduled"
    assert state.attributes[ATTR_UPDATE_PERCENTAGE] is None
    phases = set()
    while not call.done():
        await _pass_time(hass, freezer, 1)
        if (state := hass.states.get(entity_id)) and "phase" in state.attributes:
            phases.add(state.attributes["phase"])
    call.result()
    assert "transferring" in phases
    assert truth(hass, entry)["devices"][sensor]["firmware_version"] == NEW
    state = hass.states.get(entity_id)
    assert state is not None and state.attributes[ATTR_INSTALLED_VERSION] == "0x01020000"


async def test_bad_files_in_the_firmware_folder_are_ignored_with_a_log_line(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _image(hass, SimKind.DIMMABLE_LIGHT)
    folder = Path(hass.config.path("resilient_gateway", "firmware"))
    (folder / "broken.ota").write_bytes(b"not an OTA file at all")
    (folder / "truncated.ota").write_bytes(ota_file(SimKind.ON_OFF_LIGHT, NEW)[:40])
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0)
    await advance(hass, freezer, 3)
    ignored = [r for r in caplog.records if "is ignored" in r.getMessage()]
    assert sorted(r.getMessage().split()[2].rsplit("/", 1)[-1] for r in ignored) == [
        "broken.ota",
        "truncated.ota",
    ]
    updates = _updates(hass, entry)
    dimmable = hass.states.get(updates[_ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)])
    assert dimmable is not None and dimmable.state == STATE_ON  # the good file is offered
    on_off = hass.states.get(updates[_ieee_of(hass, entry, SimKind.ON_OFF_LIGHT)])
    assert on_off is not None and on_off.state == STATE_OFF
    # Read again (every hour): the same bad files are not logged again.
    caplog.clear()
    await entry.runtime_data.firmware.async_rescan()
    assert not [r for r in caplog.records if "is ignored" in r.getMessage()]


def _percentage(hass: HomeAssistant, entity_id: str) -> int:
    state = hass.states.get(entity_id)
    assert state is not None
    value = state.attributes[ATTR_UPDATE_PERCENTAGE]
    return int(value) if value is not None else 0


async def test_the_gateways_firmware_updates_sensor_counts_available_and_running(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    _image(hass, SimKind.DIMMABLE_LIGHT)
    _image(hass, SimKind.COLOR_LIGHT)
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0)
    await advance(hass, freezer, 3)
    sensor = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}-firmware_updates"
    )
    assert sensor is not None
    state = hass.states.get(sensor)
    assert state is not None and state.name == "Virtual gateway test Firmware updates"
    assert (state.state, state.attributes["in_progress"]) == ("2", 0)

    light = _ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)
    call = _install(hass, _updates(hass, entry)[light])
    await _pass_time(hass, freezer, 1)
    state = hass.states.get(sensor)
    assert state is not None and (state.state, state.attributes["in_progress"]) == ("2", 1)
    await _until_done(hass, freezer, call)
    call.result()
    state = hass.states.get(sensor)
    assert state is not None and (state.state, state.attributes["in_progress"]) == ("1", 0)

    # An image that appears in the folder counts at the next read of it (hourly).
    _image(hass, SimKind.ON_OFF_LIGHT)
    await entry.runtime_data.firmware.async_rescan()
    state = hass.states.get(sensor)
    assert state is not None and state.state == "2"
