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
from custom_components.resilient_gateway.core.firmware import UpdatePolicy
from custom_components.resilient_gateway.radios.virtual import SimKind
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file

from .conftest import THREAD_WORK_KEY, ThreadWork, advance, setup_virtual, start_call
from .test_virtual_gateway import truth

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
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0)
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

    done: list[Event] = []
    hass.bus.async_listen(update.EVENT_UPDATE_DONE, done.append)
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


async def test_groups_a_firmware_reset_forgot_are_repaired_and_reported(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    _image(hass, SimKind.DIMMABLE_LIGHT)
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0)
    await advance(hass, freezer, 3)
    light = _ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)
    done: list[Event] = []
    hass.bus.async_listen(update.EVENT_UPDATE_DONE, done.append)
    call = _install(hass, _updates(hass, entry)[light])
    await _pass_time(hass, freezer, 1)
    await hass.services.async_call(
        DOMAIN,
        "simulate_fault",
        {"config_entry_id": entry.entry_id, "fault": "device_firmware_reset", "ieee": light},
        blocking=True,
    )
    assert truth(hass, entry)["devices"][light]["groups"] == []
    await _until_done(hass, freezer, call)
    call.result()
    await hass.async_block_till_done()
    assert done[0].data["repaired"] == ["group 0x0001"]
    assert truth(hass, entry)["devices"][light]["groups"] == [1]


async def test_a_passed_deadline_fails_with_its_reason_and_an_event(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(update, "UPDATE_POLICY", UpdatePolicy(deadline=4.0))
    _image(hass, SimKind.DIMMABLE_LIGHT, size=60_000)
    entry = await setup_virtual(hass, freezer, lights=4, sensors=0, sleepy_sensors=0)
    await advance(hass, freezer, 3)
    light = _ieee_of(hass, entry, SimKind.DIMMABLE_LIGHT)
    entity_id = _updates(hass, entry)[light]
    failed: list[Event] = []
    hass.bus.async_listen(update.EVENT_UPDATE_FAILED, failed.append)
    call = _install(hass, entity_id)
    await _until_done(hass, freezer, call)
    with pytest.raises(HomeAssistantError) as raised:
        call.result()
    assert raised.value.translation_key == "update_deadline_passed"
    await hass.async_block_till_done()
    assert [e.data["reason"] for e in failed] == ["deadline_passed"]
    assert failed[0].data["entity_id"] == entity_id
    assert truth(hass, entry)["devices"][light]["firmware_version"] == 0x01000000
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
