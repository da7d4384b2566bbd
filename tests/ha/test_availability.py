"""Availability on a virtual gateway, seen from Home Assistant (issue #6): the radio's
recovery ladder and failover, devices that lose power or go silent, pause and resume.

That a restart re-confirms every device's state is test_virtual_gateway's
``test_the_house_survives_a_restart``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import (
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core.model import SleepMode
from custom_components.resilient_gateway.radios.zigbee.attributes import BY_ATTR

from .conftest import (
    advance,
    advance_until,
    fault,
    gateway_sensor,
    light_entities,
    radio_events,
    radio_status,
    setup_virtual,
    shows,
    state_of,
    switch,
    truth,
    virtual_entry,
)

HEALTH_LOGGER = "custom_components.resilient_gateway.core.health"


async def setup_with_options(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, **options: Any
) -> MockConfigEntry:
    """``setup_virtual`` with the entry's options set before its first start."""
    entry = virtual_entry()
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await entry.runtime_data.gateway.radio.app.wait_until_interviewed()
    await advance(hass, freezer, 2)
    return entry


def steps(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(event["status"], event["step"]) for event in events]


def is_on(hass: HomeAssistant, entry: Any, ieee: str) -> bool:
    """Whether the simulated bulb itself is on."""
    return bool(truth(hass, entry)["devices"][ieee]["state"]["on"])


def ladder_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == HEALTH_LOGGER and record.levelno >= logging.WARNING
    ]


# -- the radio ---------------------------------------------------------------------------


async def test_a_failed_radio_climbs_the_ladder_and_comes_back(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """No standby: reconnect, restart, give up (status, events, a repair issue, each step
    logged once), while commands are accepted and nothing stale is shown; the retries
    after giving up go on, failing quietly; the stick plugged back in is tried at once,
    and the queued command arrives."""
    caplog.set_level(logging.INFO, logger=HEALTH_LOGGER)
    entry = await setup_virtual(hass, freezer)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    wanted = not is_on(hass, entry, ieee)
    events = radio_events(hass)
    assert radio_status(hass, entry) == "ok"

    await fault(hass, entry, "radio_failure")
    await hass.async_block_till_done()
    assert radio_status(hass, entry) == "recovering"
    assert steps(events) == [("recovering", "reconnect")]
    assert events[0]["config_entry_id"] == entry.entry_id
    assert events[0]["needs_restore"] is False
    # Nothing the light showed before the outage is trusted, and it still takes commands.
    assert state_of(hass, light).state == STATE_UNKNOWN
    await switch(hass, light, wanted)
    assert state_of(hass, light).attributes["sync"] == "pending"

    # Three reconnects and two restarts (a few seconds apart each) fail: give up.
    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "failed", 60)
    assert steps(events) == [
        ("recovering", "reconnect"),
        ("recovering", "restart"),
        ("failed", "give_up"),
    ]
    issue_id = f"radio_failed_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert state_of(hass, light).state == STATE_UNKNOWN  # not falsely on (or off)
    # The command outlives its deadline, but the radio is to blame, not the light.
    await advance(hass, freezer, 200, step=1)
    assert state_of(hass, light).attributes["sync"] == "failed"
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"unresponsive_{ieee}") is None
    assert is_on(hass, entry, ieee) is not wanted

    # The stick is plugged back in: it is tried at once.
    await fault(hass, entry, "radio_recovered")
    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "ok", 2)
    assert steps(events)[-1] == ("ok", "give_up")
    assert len(events) == 4
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None

    # The command given during the outage reaches the bulb, and the entity shows it. (Its
    # change passed its 180 s deadline during the outage; the re-confirmation of every
    # device after the outage re-applies the desired state the bulb does not show.)
    await advance_until(
        hass,
        freezer,
        lambda: shows(hass, light, wanted),
        30,
    )
    assert is_on(hass, entry, ieee) is wanted
    assert state_of(hass, light).attributes["sync"] == "verified"

    # Each step was logged once, however often it was tried (3 reconnects, 2 restarts,
    # the retries after giving up).
    messages = ladder_messages(caplog)
    assert len(messages) == 3, messages
    assert "reconnecting" in messages[0]
    assert "restarting it" in messages[1]
    assert "giving up" in messages[2]
    recovered = [r.getMessage() for r in caplog.records if "Radio recovered" in r.getMessage()]
    assert len(recovered) == 1


async def test_a_radio_that_answers_again_is_reconnected(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A short outage: the reconnect step brings the radio back within seconds, and the
    commands given meanwhile (to a light and to the group of all lights) arrive."""
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    ieee, light = next(iter(lights.items()))
    wanted = not is_on(hass, entry, ieee)
    events = radio_events(hass)
    await fault(hass, entry, "radio_failure")
    await switch(hass, light, wanted)
    group = er.async_get(hass).async_get_entity_id(
        LIGHT_DOMAIN, DOMAIN, f"{entry.entry_id}-group-1"
    )
    assert group is not None
    assert state_of(hass, group).state != STATE_UNAVAILABLE  # it takes commands
    await switch(hass, group, True)
    await advance(hass, freezer, 1)
    await fault(hass, entry, "radio_recovered")

    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "ok", 10)
    assert steps(events) == [("recovering", "reconnect"), ("ok", "reconnect")]
    await advance_until(
        hass, freezer, lambda: all(shows(hass, entity, True) for entity in lights.values()), 20
    )
    assert all(is_on(hass, entry, device) for device in lights)


async def test_after_an_outage_each_device_is_read_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Re-confirmation after a lost link costs one state read per awake device (the
    availability pings of mains devices are those reads), not one per mechanism."""
    entry = await setup_virtual(hass, freezer)
    gateway = entry.runtime_data.gateway
    # One state read: a Read Attributes request per cluster holding the device's state.
    one_read_each = sum(
        len({zcl.cluster_id for attr in device.attributes for zcl in BY_ATTR.get(attr, ())})
        for device in gateway.devices.values()
        if device.sleep_mode is not SleepMode.SLEEPY
    )
    lights = light_entities(hass, entry)
    await fault(hass, entry, "radio_failure")
    await advance(hass, freezer, 1)
    reads_before = truth(hass, entry)["stats"]["reads"]
    await fault(hass, entry, "radio_recovered")

    await advance_until(
        hass,
        freezer,
        lambda: all(state_of(hass, e).state in (STATE_ON, STATE_OFF) for e in lights.values()),
        30,
    )
    await advance(hass, freezer, 30)  # and whatever else it would read
    assert radio_status(hass, entry) == "ok"
    assert truth(hass, entry)["stats"]["reads"] - reads_before == one_read_each


async def test_a_health_check_without_answer_degrades_the_radio_until_it_answers(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link stays up but the radio does not answer one health check (every
    ``health_check_interval`` s, bounded by ``health_check_timeout``): degraded, checked
    again, ok."""
    entry = await setup_with_options(
        hass, freezer, health_check_interval=10, health_check_timeout=2
    )
    radio = entry.runtime_data.gateway.radio
    probe = radio.probe
    probes: list[float] = []

    async def hang_once() -> None:
        probes.append(asyncio.get_running_loop().time())
        if len(probes) == 1:
            await asyncio.Event().wait()  # a stick that stopped answering
        await probe()

    monkeypatch.setattr(radio, "probe", hang_once)
    events = radio_events(hass)
    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "degraded", 13)
    assert steps(events) == [("degraded", "retry")]
    assert "no answer within 2 s" in events[0]["reason"]
    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "ok", 5)
    assert steps(events) == [("degraded", "retry"), ("ok", "retry")]
    assert len(probes) == 2
    assert probes[1] - probes[0] >= 2  # the unanswered check was given its 2 s


async def test_a_failed_radio_fails_over_to_the_standby(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """With a standby radio the ladder ends on it: lights answer again within 30 s of the
    failure, the command given meanwhile arrives, and every entity keeps its id."""
    caplog.set_level(logging.INFO, logger=HEALTH_LOGGER)
    entry = await setup_with_options(hass, freezer, standby_radio=True)
    lights = light_entities(hass, entry)
    entities_before = {
        entity.unique_id: entity.entity_id
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    assert truth(hass, entry)["radio"]["active"] == "primary"
    ieee, light = next(iter(lights.items()))
    wanted = not is_on(hass, entry, ieee)
    events = radio_events(hass)

    await fault(hass, entry, "radio_failure")
    await switch(hass, light, wanted)  # during the outage
    took = await advance_until(
        hass, freezer, lambda: radio_status(hass, entry) == "failed_over", 30
    )
    assert steps(events) == [
        ("recovering", "reconnect"),
        ("recovering", "restart"),
        ("recovering", "failover"),
        ("failed_over", "failover"),
    ]
    radio = truth(hass, entry)["radio"]
    assert radio["active"] == "standby"
    assert radio["state"] == "failed"  # the primary is still dead
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"radio_failed_{entry.entry_id}") is None

    # The command given during the outage arrives, within 30 s of the failure.
    took += await advance_until(
        hass,
        freezer,
        lambda: shows(hass, light, wanted) and is_on(hass, entry, ieee) is wanted,
        30 - took,
    )
    assert state_of(hass, light).attributes["sync"] == "verified"

    # Every light answers commands on the standby radio.
    for entity_id in lights.values():
        await switch(hass, entity_id, not wanted)
    await advance_until(
        hass,
        freezer,
        lambda: all(shows(hass, entity_id, not wanted) for entity_id in lights.values()),
        15,
    )
    assert all(is_on(hass, entry, device) is not wanted for device in lights)
    entities_after = {
        entity.unique_id: entity.entity_id
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    assert entities_after == entities_before
    assert light_entities(hass, entry) == lights
    messages = ladder_messages(caplog)
    assert len(messages) == 3, messages
    assert "switching to the standby radio" in messages[2]


# -- devices -----------------------------------------------------------------------------


async def test_an_unpowered_light_goes_unavailable_and_comes_back_as_wanted(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A silent mains device is pinged after ``mains_interval`` and shown unavailable when
    it does not answer; back on power (bulbs come back ON), it is off again as wanted."""
    entry = await setup_with_options(hass, freezer, mains_interval=60)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    await switch(hass, light, False)
    await advance_until(
        hass, freezer, lambda: state_of(hass, light).attributes["sync"] == "verified", 10
    )
    assert state_of(hass, light).state == STATE_OFF

    await fault(hass, entry, "device_power_off", ieee=ieee)
    await advance(hass, freezer, 50, step=1)
    assert state_of(hass, light).state == STATE_OFF  # not yet asked
    took = await advance_until(
        hass, freezer, lambda: state_of(hass, light).state == STATE_UNAVAILABLE, 60, step=1
    )
    assert 50 + took <= 60 + 30  # the interval, then at most one ping's wait

    await fault(hass, entry, "device_power_on", ieee=ieee)
    assert is_on(hass, entry, ieee)  # as real bulbs do after a power cut
    await advance_until(
        hass,
        freezer,
        lambda: state_of(hass, light).state == STATE_OFF and not is_on(hass, entry, ieee),
        10,
    )
    assert state_of(hass, light).attributes["sync"] == "verified"


async def test_a_silent_battery_device_times_out_without_being_pinged(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sleeper would not hear a ping: it is never asked, and its entities stay as they
    were for longer than mains devices may stay silent, until ``battery_interval``."""
    entry = await setup_with_options(hass, freezer, mains_interval=60, battery_interval=900)
    devices = truth(hass, entry)["devices"]
    sleepy = next(
        ieee
        for ieee, device in devices.items()
        if device["sleep"] == "sleepy" and device["kind"] == "climate_sensor"
    )
    temperature = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{sleepy}-temperature")
    assert temperature is not None
    await advance_until(
        hass, freezer, lambda: state_of(hass, temperature).state != STATE_UNKNOWN, 600, step=5
    )

    asked: list[str] = []
    radio = entry.runtime_data.gateway.radio
    read, ping = radio.read, radio.ping

    async def spy_read(device_id: str, attributes: Collection[Any]) -> Any:
        asked.append(device_id)
        return await read(device_id, attributes)

    async def spy_ping(device_id: str) -> None:
        asked.append(device_id)
        await ping(device_id)

    monkeypatch.setattr(radio, "read", spy_read)
    monkeypatch.setattr(radio, "ping", spy_ping)
    await fault(hass, entry, "device_power_off", ieee=sleepy)
    shown = state_of(hass, temperature).state

    await advance(hass, freezer, 600, step=5)
    assert state_of(hass, temperature).state == shown  # 10 minutes silent is normal
    await advance_until(
        hass, freezer, lambda: state_of(hass, temperature).state == STATE_UNAVAILABLE, 400, step=5
    )
    assert sleepy not in asked
    assert set(asked) >= set(light_entities(hass, entry))  # mains devices were pinged


# -- pause and resume --------------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # (disabled by default)
async def test_pause_releases_the_radio_and_resume_delivers_what_was_queued(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Pause answers once the port is free; commands queue meanwhile (no health checks, no
    failure); resume takes the radio back and delivers them."""
    entry = await setup_virtual(hass, freezer)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    wanted = not is_on(hass, entry, ieee)
    run_status = gateway_sensor(hass, entry, "run_status")
    assert state_of(hass, run_status).state == "running"
    events = radio_events(hass)

    response = await hass.services.async_call(
        DOMAIN, "pause", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
    )
    assert response == {"current_status": "paused", "target_status": "paused"}
    assert truth(hass, entry)["radio"]["connected"] is False  # the port is free
    state = state_of(hass, run_status)
    assert state.state == "paused"
    assert state.attributes["target_status"] == "paused"

    await switch(hass, light, wanted)
    await advance(hass, freezer, 60, step=1)
    assert is_on(hass, entry, ieee) is not wanted
    assert state_of(hass, light).state == STATE_UNKNOWN
    assert state_of(hass, light).attributes["sync"] == "pending"
    assert radio_status(hass, entry) == "ok"  # a paused radio is not a failed one
    assert events == []

    response = await hass.services.async_call(
        DOMAIN, "resume", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
    )
    assert response == {"current_status": "running", "target_status": "running"}
    assert state_of(hass, run_status).state == "running"
    assert state_of(hass, run_status).attributes["target_status"] == "running"
    await advance_until(hass, freezer, lambda: shows(hass, light, wanted), 10)
    assert is_on(hass, entry, ieee) is wanted
    assert state_of(hass, light).attributes["sync"] == "verified"
