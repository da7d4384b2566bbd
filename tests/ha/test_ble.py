"""Bluetooth LE devices as config entries: discovered through Home Assistant's Bluetooth
stack, connected through bleak-retry-connector (on the simulated bleak backend), their
light verified, their buttons events, their measurements sensors; availability from
advertisements; pause, resume and unload release the connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_BLUETOOTH, SOURCE_USER
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.radios.ble import BleLink
from custom_components.resilient_gateway.radios.ble.profiles import (
    environmental,
    microbit,
    nordic_lbs,
)
from custom_components.resilient_gateway.radios.ble.simulated import SimulatedPeripheral

from .ble_helpers import (
    BLINKY,
    MICROBIT,
    THERMOMETER,
    advertise,
    ble_entry,
    blinky,
    bluetooth_stack,  # noqa: F401 (a fixture)
    microbit_board,
    thermometer,
)
from .conftest import (
    TRANSLATIONS,
    advance,
    advance_until,
    advance_until_done,
    call_while_time_passes,
    error_text,
    start_call,
    state_of,
    suggested_values,
    switch,
)

pytestmark = pytest.mark.usefixtures("bluetooth_stack")


def entity_of(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def link_of(entry: Any) -> BleLink:
    link = entry.runtime_data.gateway.radio
    assert isinstance(link, BleLink)
    return link


async def set_up(
    hass: HomeAssistant, device: SimulatedPeripheral, options: dict[str, Any] | None = None
) -> Any:
    advertise(hass, device)
    await hass.async_block_till_done()
    entry = ble_entry(device, options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def set_up_blinky(hass: HomeAssistant, seed: int = 1) -> tuple[SimulatedPeripheral, Any, str]:
    """A blinky's entry, set up: the device, the entry and its light's entity id."""
    device = blinky(seed)
    entry = await set_up(hass, device)
    return device, entry, entity_of(hass, "light", f"{BLINKY}-light")


async def test_a_discovered_blinky_becomes_a_light_and_a_button(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device = blinky()
    advertise(hass, device)
    await hass.async_block_till_done(wait_background_tasks=True)  # (discovery flows)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_BLUETOOTH]
    assert flows[0]["step_id"] == "bluetooth_confirm"
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == BLINKY
    assert result["data"] == {"radio_type": "bluetooth", "address": BLINKY}
    await advance(hass, freezer, 1)

    light = entity_of(hass, "light", f"{BLINKY}-light")
    assert state_of(hass, light).state == STATE_OFF  # read from the device at connect
    button = entity_of(hass, "event", f"{BLINKY}-event-button")
    assert state_of(hass, button).attributes["event_types"] == ["release", "press"]
    assert device.connected

    await switch(hass, light, True)
    await advance_until(hass, freezer, lambda: state_of(hass, light).state == STATE_ON, 5)
    assert device.flag(nordic_lbs.LED)
    assert state_of(hass, light).attributes["sync"] == "verified"

    device.press()
    await hass.async_block_till_done()
    assert state_of(hass, button).attributes["event_type"] == "press"


async def test_the_user_picks_a_device_that_is_heard(hass: HomeAssistant) -> None:
    device = blinky()
    advertise(hass, device)
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "bluetooth_device"}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"address": BLINKY})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert state_of(hass, entity_of(hass, "light", f"{BLINKY}-light")).state == STATE_OFF
    # Configured now: the next user flow has nothing to offer.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "bluetooth_device"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"


async def test_unload_releases_the_connection(hass: HomeAssistant) -> None:
    device = blinky()
    entry = await set_up(hass, device)
    assert device.connected
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert not device.connected
    assert state_of(hass, entity_of(hass, "light", f"{BLINKY}-light")).state == STATE_UNAVAILABLE


async def turn_on_and_verify(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, light: str, limit: float
) -> float:
    await switch(hass, light, True)
    assert state_of(hass, light).attributes["sync"] == "pending"
    return await advance_until(
        hass,
        freezer,
        lambda: (
            state_of(hass, light).state == STATE_ON
            and state_of(hass, light).attributes["sync"] == "verified"
        ),
        limit,
    )


async def test_the_led_is_verified_through_dropped_connections(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device, _, light = await set_up_blinky(hass, 4)
    device.drop_rate = 0.6  # most writes drop the connection, half of them after applying it
    await turn_on_and_verify(hass, freezer, light, 60)
    assert device.flag(nordic_lbs.LED)
    assert device.stats.drops >= 1
    assert device.connected  # (its button needs the connection: it was taken back)


async def test_the_led_is_verified_through_failed_writes(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device, _, light = await set_up_blinky(hass)
    device.fail_writes = 2  # refused with an ATT error, not applied
    await turn_on_and_verify(hass, freezer, light, 60)
    assert device.stats.writes == 3
    assert device.flag(nordic_lbs.LED)


async def test_a_hung_write_ends_at_its_timeout_and_the_connection_recovers(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device, entry, light = await set_up_blinky(hass)
    device.hang = {"write"}
    await switch(hass, light, True)
    await advance(hass, freezer, 10.5, step=0.5)
    link = link_of(entry)
    assert link.connection.stats.timeouts == 1
    assert "did not answer within 10 s" in str(link.connection.last_error)
    assert state_of(hass, light).attributes["sync"] == "pending"
    device.hang = set()
    await advance_until(
        hass, freezer, lambda: state_of(hass, light).attributes["sync"] == "verified", 60
    )
    assert state_of(hass, light).state == STATE_ON
    assert device.connected
    assert link.connection.stats.connects >= 2  # the hung one was given up, a new one opened


async def test_measurements_are_sensors_and_notifications_reach_them(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device = thermometer()
    await set_up(hass, device)
    assert state_of(hass, entity_of(hass, "sensor", f"{THERMOMETER}-temperature")).state == "21.5"
    assert state_of(hass, entity_of(hass, "sensor", f"{THERMOMETER}-humidity")).state == "48.2"
    assert state_of(hass, entity_of(hass, "sensor", f"{THERMOMETER}-battery")).state == "87"

    board = microbit_board()
    await set_up(hass, board)
    temperature = entity_of(hass, "sensor", f"{MICROBIT}-temperature")
    assert state_of(hass, temperature).state == "0.0"
    board.set_value(microbit.TEMPERATURE, bytes([23]))  # notified
    await hass.async_block_till_done()
    assert state_of(hass, temperature).state == "23.0"
    button_b = entity_of(hass, "event", f"{MICROBIT}-event-button_b")
    assert state_of(hass, button_b).attributes["event_types"] == ["release", "press", "long_press"]
    board.press(microbit.BUTTON_B, 2)
    await hass.async_block_till_done()
    assert state_of(hass, button_b).attributes["event_type"] == "long_press"
    assert state_of(hass, entity_of(hass, "event", f"{MICROBIT}-event-button_a")).state == (
        STATE_UNKNOWN
    )
    names = TRANSLATIONS["entity"]["event"]
    assert names["button_b"]["state_attributes"]["event_type"]["state"]["long_press"]


def device_id_of(hass: HomeAssistant, address: str) -> str:
    entry = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, address)
    assert entry is not None
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, address), entry.entry_id)
    assert device is not None
    return device.id


def microbit_device(hass: HomeAssistant) -> str:
    return device_id_of(hass, MICROBIT)


async def test_show_text_on_a_microbit(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    board = microbit_board()
    entry = await set_up(hass, board)
    target = microbit_device(hass)
    await call_while_time_passes(
        hass, freezer, "show_text", {"device_id": target, "text": "Hi there"}
    )
    assert board.values[microbit.LED_TEXT] == b"Hi there"

    # A write that never answers ends at the operation's timeout, with a translated error
    # naming it; the connection is given up and opened anew.
    board.hang = {"write"}
    call = start_call(hass, "show_text", {"device_id": target, "text": "Stuck"})
    await advance_until_done(hass, freezer, call, limit=30)
    with pytest.raises(HomeAssistantError) as failed:
        call.result()
    assert failed.value.translation_key == "show_text_failed"
    assert "did not answer within 10 s" in failed.value.translation_placeholders["error"]
    assert TRANSLATIONS["exceptions"]["show_text_failed"]["message"]
    board.hang = set()
    await advance_until(hass, freezer, lambda: board.connected, 10)
    await call_while_time_passes(hass, freezer, "show_text", {"device_id": target, "text": "Back"})
    assert board.values[microbit.LED_TEXT] == b"Back"
    assert link_of(entry).connection.stats.timeouts == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "text_empty"), ("Grüße", "text_invalid"), ("x" * 21, "text_too_long")],
)
async def test_show_text_refuses_what_the_matrix_cannot_show(
    hass: HomeAssistant, text: str, problem: str
) -> None:
    board = microbit_board()
    await set_up(hass, board)
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN, "show_text", {"device_id": microbit_device(hass), "text": text}, blocking=True
        )
    assert refused.value.translation_key == problem
    assert problem in TRANSLATIONS["exceptions"]
    assert board.values[microbit.LED_TEXT] == b"\x00\x00"  # nothing written


async def test_show_text_on_a_device_without_a_matrix_is_refused(hass: HomeAssistant) -> None:
    await set_up(hass, blinky())
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "show_text",
            {"device_id": device_id_of(hass, BLINKY), "text": "Hi"},
            blocking=True,
        )
    assert refused.value.translation_key == "no_led_matrix"


async def test_a_lost_device_is_reconnected_with_back_off_and_at_once_when_heard(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device, entry, light = await set_up_blinky(hass)
    link = link_of(entry)
    device.in_range = False
    device.drop()
    # Once a reconnection failed (bleak-retry-connector's own attempts within the connect
    # timeout), what it showed before counts no more.
    await advance_until(hass, freezer, lambda: state_of(hass, light).state == STATE_UNKNOWN, 90)
    # Home Assistant's Bluetooth stack forgets a device it no longer hears (checked every
    # 5 minutes): its entities are unavailable, and each attempt fails at once.
    await advance(hass, freezer, 300, step=5)
    assert state_of(hass, light).state == STATE_UNAVAILABLE
    failures = link.connection.stats.connect_failures
    await advance(hass, freezer, 60, step=0.5)
    tried = link.connection.stats.connect_failures - failures
    # Back-off doubling up to 60 s (and the supervisor's reconnect): a few attempts a
    # minute, not one a second.
    assert 1 <= tried <= 4, tried
    # Heard again: a reconnection at once, not at the end of its back-off.
    device.in_range = True
    advertise(hass, device)
    await advance(hass, freezer, 1)
    assert device.connected
    assert state_of(hass, light).state == STATE_OFF


async def test_an_idle_connection_is_kept_as_long_as_the_options_say(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device = thermometer()
    options = await hass.config_entries.options.async_init((await set_up(hass, device)).entry_id)
    # The option is a Bluetooth device's own, 30 s unless changed, and range-checked.
    assert suggested_values(options)["bluetooth_keep_alive"] == 30
    bad = await hass.config_entries.options.async_configure(
        options["flow_id"], {"bluetooth_keep_alive": 1}
    )
    assert error_text(bad, "bluetooth_keep_alive", "options") == (
        "The time an idle Bluetooth connection is kept must be from 5 to 600 seconds."
    )
    done = await hass.config_entries.options.async_configure(
        options["flow_id"], {"bluetooth_keep_alive": 10}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # (the entry reloads with it)
    await advance(hass, freezer, 1)
    assert device.connected
    await advance(hass, freezer, 12, step=1)
    assert not device.connected  # released after 10 s, not the default 30 s


async def _back_at_a_new_temperature(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, device: SimulatedPeripheral, entity: str
) -> None:
    """The thermometer comes back in range, warmer: its next advertisement brings it back,
    with what it shows now (read again, never the old value)."""
    device.values[environmental.TEMPERATURE] = (2230).to_bytes(2, "little", signed=True)
    device.in_range = True
    advertise(hass, device)
    await advance(hass, freezer, 1)
    assert state_of(hass, entity).state == "22.3"


async def test_unavailable_while_nobody_hears_it_and_back_with_its_advertisements(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device = thermometer()
    await set_up(hass, device)
    temperature = entity_of(hass, "sensor", f"{THERMOMETER}-temperature")
    await advance(hass, freezer, 40, step=1)
    assert not device.connected  # idle: released after its keep-alive
    assert state_of(hass, temperature).state == "21.5"
    device.in_range = False
    # Home Assistant's Bluetooth stack checks every 5 minutes what it still hears.
    await advance(hass, freezer, 300, step=5)
    assert state_of(hass, temperature).state == STATE_UNAVAILABLE
    await _back_at_a_new_temperature(hass, freezer, device, temperature)


async def test_a_device_unheard_while_connected_is_unavailable_once_released(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Many devices stop advertising while connected: the connection keeps them
    available, and the moment it is released nothing says they are there any more."""
    device = thermometer()
    # (Kept 600 s: released about when its availability ping falls due, the case
    # tests/core/test_availability.py pins exactly.)
    await set_up(hass, device, {"bluetooth_keep_alive": 600})
    temperature = entity_of(hass, "sensor", f"{THERMOMETER}-temperature")
    await advance(hass, freezer, 1)
    assert device.connected
    device.in_range = False
    await advance(hass, freezer, 300, step=5)  # the Bluetooth stack no longer hears it
    assert device.connected
    assert state_of(hass, temperature).state == "21.5"
    # The idle connection is released: unavailable at once, not at the next health check.
    await advance_until(hass, freezer, lambda: not device.connected, 400, step=0.5)
    assert state_of(hass, temperature).state == STATE_UNAVAILABLE
    await _back_at_a_new_temperature(hass, freezer, device, temperature)


async def test_pause_and_resume_release_and_retake_the_connection(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device, entry, light = await set_up_blinky(hass)
    await hass.services.async_call(
        DOMAIN, "pause", {"config_entry_id": entry.entry_id}, blocking=True
    )
    assert not device.connected
    assert state_of(hass, light).state == STATE_UNKNOWN
    await switch(hass, light, True)  # queued meanwhile
    await advance(hass, freezer, 5)
    assert not device.connected and not device.flag(nordic_lbs.LED)
    await hass.services.async_call(
        DOMAIN, "resume", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await advance(hass, freezer, 1)  # (a known device is connected in the background)
    assert device.connected
    await advance_until(
        hass, freezer, lambda: state_of(hass, light).attributes["sync"] == "verified", 30
    )
    assert state_of(hass, light).state == STATE_ON and device.flag(nordic_lbs.LED)


async def test_after_a_restart_the_state_is_unknown_until_the_device_shows_it(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device, entry, light = await set_up_blinky(hass)
    await turn_on_and_verify(hass, freezer, light, 10)
    assert await hass.config_entries.async_unload(entry.entry_id)
    device.in_range = False  # away while Home Assistant restarts
    # It starts from what it learned of the device (bluetooth.json) while its connection
    # attempts fail.
    setup = asyncio.ensure_future(hass.config_entries.async_setup(entry.entry_id))
    await advance_until_done(hass, freezer, setup, limit=120)
    assert setup.result()
    assert state_of(hass, light).state == STATE_UNKNOWN  # not "on" from before
    device.in_range = True
    advertise(hass, device)
    # Shown once a connection read it: at once if the link was waiting out a back-off,
    # else when the attempt under way (bleak-retry-connector's own retries) gets through;
    # how far that attempt got depends on how long the set-up's file reads took.
    await advance_until(hass, freezer, lambda: state_of(hass, light).state == STATE_ON, 30)


async def test_discovery_of_a_configured_or_unsupported_device_aborts(
    hass: HomeAssistant,
) -> None:
    device = blinky()
    await set_up(hass, device)
    await hass.async_block_till_done(wait_background_tasks=True)
    for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
        hass.config_entries.flow.async_abort(flow["flow_id"])  # (from before it was added)
    info = advertise(hass, device)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=info
    )
    assert result["reason"] == "already_configured"
    other = thermometer()
    info = advertise(hass, other, services=["0000180d-0000-1000-8000-00805f9b34fb"])
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=info
    )
    assert result["reason"] == "not_supported"
    for reason in ("already_configured", "not_supported", "no_devices_found"):
        assert reason in TRANSLATIONS["config"]["abort"]


async def test_a_device_is_connected_once_before_it_is_added(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device = blinky()
    advertise(hass, device)
    await hass.async_block_till_done(wait_background_tasks=True)
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    device.in_range = False  # gone before the user confirms
    confirm = asyncio.ensure_future(hass.config_entries.flow.async_configure(flow["flow_id"], {}))
    await advance_until_done(hass, freezer, confirm, limit=60)
    assert confirm.result()["reason"] == "cannot_connect"
    assert "cannot_connect" in TRANSLATIONS["config"]["abort"]
    assert not hass.config_entries.async_entries(DOMAIN)

    # One that advertises the service but serves none of the known ones is not added.
    impostor = SimulatedPeripheral(BLINKY, "Blinky", (), latency=0)
    info = advertise(hass, impostor, services=[nordic_lbs.SERVICE])
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=info
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "not_supported"
