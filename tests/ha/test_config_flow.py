"""Config flow: the radio menu, the virtual gateway form and the Zigbee serial radio form."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_USB, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.resilient_gateway.const import DOMAIN

from .conftest import VIRTUAL_DATA, virtual_entry

VIRTUAL_FORM = {key: value for key, value in VIRTUAL_DATA.items() if key != "radio_type"}


@pytest.fixture(autouse=True)
def no_setup() -> Generator[AsyncMock]:
    """The flow is tested on its own; setting the entry up is tested elsewhere."""
    with patch("custom_components.resilient_gateway.async_setup_entry", return_value=True) as mock:
        yield mock


async def _start(hass: HomeAssistant, choice: str) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["zigbee", "virtual"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == choice
    return str(result["flow_id"])


async def test_virtual_gateway_is_created(hass: HomeAssistant) -> None:
    flow_id = await _start(hass, "virtual")
    result = await hass.config_entries.flow.async_configure(flow_id, VIRTUAL_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Virtual gateway test"
    assert result["data"] == VIRTUAL_DATA
    assert result["result"].unique_id == "virtual:test"


async def test_virtual_gateway_out_of_range_is_a_form_error(hass: HomeAssistant) -> None:
    flow_id = await _start(hass, "virtual")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**VIRTUAL_FORM, "loss": 0.95, "lights": 501}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"loss": "out_of_range", "lights": "out_of_range"}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_same_virtual_network_twice_aborts(hass: HomeAssistant) -> None:
    virtual_entry().add_to_hass(hass)
    flow_id = await _start(hass, "virtual")
    result = await hass.config_entries.flow.async_configure(flow_id, VIRTUAL_FORM)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


ZIGBEE_FORM = {"radio_library": "znp", "path": "/dev/ttyUSB7"}


async def test_zigbee_radio_is_probed_and_created(hass: HomeAssistant) -> None:
    flow_id = await _start(hass, "zigbee")
    with patch(
        "zigpy_znp.zigbee.application.ControllerApplication.probe",
        AsyncMock(return_value={"path": "/dev/ttyUSB7"}),
    ) as probe:
        result = await hass.config_entries.flow.async_configure(flow_id, ZIGBEE_FORM)
    probe.assert_awaited_once_with({"path": "/dev/ttyUSB7", "baudrate": 115200})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "radio_type": "zigbee",
        "radio_library": "znp",
        "path": "/dev/ttyUSB7",
        "baudrate": 115200,
    }


async def test_port_that_cannot_be_opened_is_a_form_error(hass: HomeAssistant) -> None:
    """A real probe of a port that does not exist: a clear error, not a traceback."""
    flow_id = await _start(hass, "zigbee")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"radio_library": "ezsp", "path": "/dev/no-such-radio"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_same_zigbee_port_twice_aborts(hass: HomeAssistant) -> None:
    for expected in (FlowResultType.CREATE_ENTRY, FlowResultType.ABORT):
        flow_id = await _start(hass, "zigbee")
        with patch(
            "zigpy_znp.zigbee.application.ControllerApplication.probe",
            AsyncMock(return_value={"path": "/dev/ttyUSB7"}),
        ):
            result = await hass.config_entries.flow.async_configure(flow_id, ZIGBEE_FORM)
        assert result["type"] is expected
    assert result["reason"] == "already_configured"


def _zigbee_entry(hass: HomeAssistant) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Zigbee /dev/ttyUSB7",
        unique_id="zigbee:/dev/ttyUSB7",
        data={
            "radio_type": "zigbee",
            "radio_library": "znp",
            "path": "/dev/ttyUSB7",
            "baudrate": 115200,
        },
    )
    entry.add_to_hass(hass)
    return entry


async def test_replace_radio_points_the_gateway_at_its_new_stick(
    hass: HomeAssistant, no_setup: AsyncMock
) -> None:
    entry = _zigbee_entry(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "reconfigure"
    with patch(
        "zigpy_znp.zigbee.application.ControllerApplication.probe",
        AsyncMock(return_value={"path": "/dev/ttyUSB9"}),
    ) as probe:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"path": "/dev/ttyUSB9"}
        )
    await hass.async_block_till_done()
    probe.assert_awaited_once_with({"path": "/dev/ttyUSB9", "baudrate": 115200})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["path"] == "/dev/ttyUSB9"
    assert entry.data["radio_library"] == "znp"
    assert no_setup.await_count == 1  # reloaded onto the new stick


async def test_replace_radio_refuses_a_port_without_a_radio(hass: HomeAssistant) -> None:
    entry = _zigbee_entry(hass)
    result = await entry.start_reconfigure_flow(hass)
    with patch(
        "zigpy_znp.zigbee.application.ControllerApplication.probe",
        AsyncMock(return_value=False),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"path": "/dev/ttyUSB9"}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data["path"] == "/dev/ttyUSB7"


async def test_a_virtual_gateway_has_no_radio_to_replace(hass: HomeAssistant) -> None:
    entry = virtual_entry()
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_virtual"


async def test_usb_discovery_prefills_the_port(hass: HomeAssistant) -> None:
    info = UsbServiceInfo(
        device="/dev/serial/by-id/usb-sonoff-plus",
        vid="10C4",
        pid="EA60",
        serial_number="1234",
        manufacturer="ITead",
        description="Sonoff Zigbee 3.0 USB Dongle Plus",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=info
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zigbee"
    schema_defaults = {
        str(key): key.default()
        for key in result["data_schema"].schema
        if callable(getattr(key, "default", None))
    }
    assert schema_defaults["path"] == "/dev/serial/by-id/usb-sonoff-plus"


async def test_options_set_the_deadlines(hass: HomeAssistant) -> None:
    entry = virtual_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    options = {
        "deadline_always_on": 60,
        "deadline_light_sleeper": 600,
        "deadline_sleepy": 7200,
        "deadline_thermostat": 900,
    }
    bad = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, "deadline_always_on": 5}
    )
    assert bad["errors"] == {"deadline_always_on": "out_of_range"}
    done = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert {key: entry.options[key] for key in options} == {
        key: float(value) for key, value in options.items()
    }
    # Options not given keep their defaults: daily snapshots, seven kept, no standby.
    assert entry.options["snapshot_interval_hours"] == 24.0
    assert entry.options["snapshot_keep"] == 7
    assert entry.options["standby_radio"] is False


async def test_options_refuse_out_of_range_snapshot_settings(hass: HomeAssistant) -> None:
    entry = virtual_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    bad = await hass.config_entries.options.async_configure(
        result["flow_id"], {"snapshot_keep": 0, "mains_interval": 5}
    )
    assert bad["errors"] == {"snapshot_keep": "out_of_range", "mains_interval": "out_of_range"}
    assert entry.options == {}
