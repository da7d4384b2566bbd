"""A radio outage seen from Home Assistant (issue #11): what lights say while the radio is
down, how soon a stick that is plugged back in is used again, the words of the repair
issue, and Home Assistant backups taken meanwhile."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import usb
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations

from custom_components.resilient_gateway import backup
from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core.health import FailureCause

from .conftest import (
    advance,
    advance_until,
    apply_state,
    fault,
    group_entity,
    light_entities,
    radio_events,
    radio_status,
    setup_virtual,
    shows,
    state_of,
    switch,
)

TRANSLATIONS = Path(__file__).parents[2] / "custom_components" / DOMAIN / "translations" / "en.json"


def sync_of(hass: HomeAssistant, entity_id: str) -> Any:
    return state_of(hass, entity_id).attributes["sync"]


async def test_lights_whose_state_is_unknown_are_not_verified(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """While the radio is down every light shows Unknown, and its sync says unknown too
    (nothing the device holds can be verified); a command still queues (pending), and
    once the radio is back and the lights have answered, they are verified again."""
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    group = group_entity(hass, entry)
    await apply_state(hass, freezer, 8, entity_id=group, state="off", timeout=6)
    assert all(sync_of(hass, light) == "verified" for light in lights.values())
    assert sync_of(hass, group) == "verified"

    await fault(hass, entry, "radio_failure")
    await hass.async_block_till_done()
    for light in lights.values():
        assert state_of(hass, light).state == STATE_UNKNOWN
        assert sync_of(hass, light) == "unknown"
    assert sync_of(hass, group) == "unknown"

    commanded = next(iter(lights.values()))
    await switch(hass, commanded, True)
    assert sync_of(hass, commanded) == "pending"
    await hass.async_block_till_done()  # (the group writes its state once per loop turn)
    assert sync_of(hass, group) == "pending"  # one member is still being followed

    await fault(hass, entry, "radio_recovered")
    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "ok", 10)
    await advance_until(hass, freezer, lambda: shows(hass, commanded, True), 30)
    await advance(hass, freezer, 5)
    assert all(sync_of(hass, light) == "verified" for light in lights.values())
    assert sync_of(hass, group) == "verified"


async def fail_the_radio(hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: Any) -> None:
    """Unplug the (virtual) stick and let the gateway climb its ladder until it gives up."""
    await fault(hass, entry, "radio_failure")
    await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "failed", 60)


@pytest.fixture
def usb_ports(hass: HomeAssistant) -> Generator[list[Callable[[set[Any], set[Any]], None]]]:
    """Home Assistant's usb integration, as far as the gateway sees it: the callbacks
    registered for USB port events (call them to plug a stick in)."""
    listeners: list[Callable[[set[Any], set[Any]], None]] = []

    def register(_hass: HomeAssistant, listener: Callable[[set[Any], set[Any]], None]) -> Any:
        listeners.append(listener)
        return lambda: listeners.remove(listener)

    hass.config.components.add("usb")
    with (
        patch.object(usb, "async_register_port_event_callback", register),
        # (Home Assistant's Bluetooth integration, which the gateway's manifest brings
        # along, asks the usb integration for adapter scans too.)
        patch.object(usb, "async_register_scan_request_callback", lambda *_: lambda: None),
    ):
        yield listeners


def plugged_in(path: str) -> usb.USBDevice:
    return usb.USBDevice(
        device=path,
        vid="10C4",
        pid="EA60",
        serial_number="1234",
        manufacturer="ITead",
        description="Sonoff Zigbee 3.0 USB Dongle Plus",
    )


async def test_a_stick_plugged_back_in_is_used_at_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    usb_ports: list[Callable[[set[Any], set[Any]], None]],
) -> None:
    """Long after the gateway gave up (its retries are minutes apart by then), a USB port
    that appears makes it try the radio at once; the port going away again does not."""
    entry = await setup_virtual(hass, freezer)
    assert len(usb_ports) == 1
    await fail_the_radio(hass, freezer, entry)
    await advance(hass, freezer, 900, step=5)
    assert radio_status(hass, entry) == "failed"

    entry.runtime_data.air.radio_recovered()  # the stick answers (no port event yet)
    usb_ports[0](set(), {plugged_in("/dev/ttyUSB1")})  # a port went away: nothing to try
    await advance(hass, freezer, 10)
    assert radio_status(hass, entry) == "failed"  # nobody asked it yet
    usb_ports[0]({plugged_in("/dev/ttyUSB0")}, set())
    await advance(hass, freezer, 1)
    assert radio_status(hass, entry) == "ok"
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"radio_failed_{entry.entry_id}") is None

    await hass.config_entries.async_unload(entry.entry_id)
    assert usb_ports == []  # nothing listens after the gateway stopped


async def test_the_demo_stick_plugged_back_in_is_used_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """simulate_fault radio_recovered is a stick plugged back in: the gateway tries it at
    once, not at its next retry minutes away."""
    entry = await setup_virtual(hass, freezer)
    await fail_the_radio(hass, freezer, entry)
    await advance(hass, freezer, 900, step=5)
    await fault(hass, entry, "radio_recovered")
    await advance(hass, freezer, 1)
    assert radio_status(hass, entry) == "ok"


async def test_after_giving_up_the_first_retries_come_within_seconds(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A radio that answers again soon after the gateway gave up is back within seconds
    even without a port event (the retries start 5 s apart and slow down to 5 minutes)."""
    entry = await setup_virtual(hass, freezer)
    await fail_the_radio(hass, freezer, entry)
    await advance(hass, freezer, 20, step=1)  # retried at 5 and 15 s: still gone
    entry.runtime_data.air.radio_recovered()  # answers again, no port event
    waited = await advance_until(hass, freezer, lambda: radio_status(hass, entry) == "ok", 60)
    assert waited <= 20  # the next retry, 20 s after the last


async def test_the_repair_issue_says_in_plain_words_what_to_do(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The repair issue of a radio that does not recover names its cause in words and
    what to do; no exception class (zigpy's TransientConnectionError) reaches the user."""
    entry = await setup_virtual(hass, freezer)
    events = radio_events(hass)
    await fail_the_radio(hass, freezer, entry)

    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"radio_failed_{entry.entry_id}")
    assert issue is not None
    # The virtual stick refuses the connection, as a radio that stopped answering does.
    assert issue.translation_key == "radio_failed_no_answer"
    assert events[-1]["cause"] == "no_answer"
    translations = await async_get_translations(hass, "en", "issues", {DOMAIN})
    prefix = f"component.{DOMAIN}.issues.{issue.translation_key}"
    title = translations[f"{prefix}.title"].format(**issue.translation_placeholders)
    text = translations[f"{prefix}.description"].format(**issue.translation_placeholders)
    assert title == "The radio of Virtual gateway test does not recover"
    assert "does not answer" in text
    assert "plug it back in" in text
    assert not re.search(r"[A-Z][a-z]+(Error|Exception)\b", text)
    for event in events:  # the event's reason (for logs and automations) names none either
        assert not re.search(r"[A-Z][a-z]+(Error|Exception)\b", event["reason"]), event


def test_every_cause_has_its_repair_text() -> None:
    issues = json.loads(TRANSLATIONS.read_text())["issues"]
    for cause in FailureCause:
        if cause is FailureCause.WRONG_NETWORK:
            continue  # the restore_needed issue speaks for that one
        assert f"radio_failed_{cause}" in issues, cause


def backup_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.getMessage().startswith("Home Assistant backup:")
    ]


async def test_a_backup_while_the_radio_is_down_says_which_snapshot_it_holds(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A Home Assistant backup takes a fresh snapshot of a running gateway (logged with
    its name); one whose radio is down cannot, and the log says so and names the newest
    snapshot the backup holds instead."""
    caplog.set_level(logging.INFO, logger=f"custom_components.{DOMAIN}")
    entry = await setup_virtual(hass, freezer)

    await backup.async_pre_backup(hass)
    newest = entry.runtime_data.last_snapshot
    assert newest is not None
    assert backup_lines(caplog) == [
        (
            logging.INFO,
            f"Home Assistant backup: Virtual gateway test wrote snapshot {newest.path.name}",
        )
    ]

    caplog.clear()
    await fault(hass, entry, "radio_failure")
    await hass.async_block_till_done()
    await backup.async_pre_backup(hass)
    assert backup_lines(caplog) == [
        (
            logging.WARNING,
            "Home Assistant backup: no new snapshot of Virtual gateway test, its radio is "
            f"down; the backup holds its newest snapshot, {newest.path.name}",
        )
    ]
    assert entry.runtime_data.last_snapshot == newest


async def test_a_backup_while_a_gateway_cannot_start_says_which_snapshot_it_holds(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await setup_virtual(hass, freezer)
    newest = entry.runtime_data.last_snapshot
    assert newest is not None
    await fault(hass, entry, "radio_failure")
    assert await hass.config_entries.async_reload(entry.entry_id) is False
    assert entry.state is ConfigEntryState.SETUP_RETRY
    # What the integration card says, in words (zigpy raises a bare TransientConnectionError).
    assert entry.reason is not None
    assert "does not answer" in entry.reason
    assert not re.search(r"[A-Z][a-z]+(Error|Exception)\b", entry.reason)

    caplog.set_level(logging.INFO, logger=f"custom_components.{DOMAIN}")
    await backup.async_pre_backup(hass)
    assert backup_lines(caplog) == [
        (
            logging.WARNING,
            "Home Assistant backup: no new snapshot of Virtual gateway test, it is not "
            f"running; the backup holds its newest snapshot, {newest.path.name}",
        )
    ]
