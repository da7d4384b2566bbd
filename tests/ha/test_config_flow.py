"""Config flow: the radio menu, the virtual gateway form, the Zigbee radio form (USB stick or
network coordinator), replacing a radio, and the options."""

from __future__ import annotations

from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_USB, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry
from zigpy_znp.zigbee.application import ControllerApplication as ZnpApplication

from custom_components.resilient_gateway.config_flow import RADIO_NUMBER_OPTIONS
from custom_components.resilient_gateway.const import DOMAIN

from .conftest import TRANSLATIONS, VIRTUAL_DATA, error_text, suggested_values, virtual_entry

VIRTUAL_FORM = {key: value for key, value in VIRTUAL_DATA.items() if key != "radio_type"}


pytestmark = pytest.mark.usefixtures("no_setup")


def znp_probe(answer: Any) -> Any:
    """The Z-Stack library's probe, answering ``answer`` (the radio's side is not tested
    here: the wire-level tests drive real libraries)."""
    return patch.object(ZnpApplication, "probe", AsyncMock(return_value=answer))


async def _form(hass: HomeAssistant, choice: str) -> dict[str, Any]:
    """The form behind a choice in the radio menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["zigbee", "bluetooth_device", "wifi_node", "virtual"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == choice
    return dict(result)


async def _start(hass: HomeAssistant, choice: str) -> str:
    return str((await _form(hass, choice))["flow_id"])


# -- virtual gateway -----------------------------------------------------------------


async def test_virtual_gateway_is_created(hass: HomeAssistant) -> None:
    flow_id = await _start(hass, "virtual")
    result = await hass.config_entries.flow.async_configure(flow_id, VIRTUAL_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Virtual gateway test"
    assert result["data"] == VIRTUAL_DATA
    assert result["result"].unique_id == "virtual:test"


async def test_virtual_out_of_range_errors_name_the_field_and_its_range(
    hass: HomeAssistant,
) -> None:
    flow_id = await _start(hass, "virtual")
    typed = {**VIRTUAL_FORM, "loss": 0.95, "lights": 501}
    result = await hass.config_entries.flow.async_configure(flow_id, typed)
    assert result["type"] is FlowResultType.FORM
    assert set(result["errors"]) == {"loss", "lights"}
    assert error_text(result, "loss") == "The frame loss probability must be from 0 to 0.9."
    assert error_text(result, "lights") == "The number of lights must be from 0 to 500."
    assert suggested_values(result) == typed  # what the user typed stays in the form
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_virtual_form_suggests_a_network_name_no_gateway_uses(hass: HomeAssistant) -> None:
    form = await _form(hass, "virtual")
    assert suggested_values(form)["network"] == "demo"
    hass.config_entries.flow.async_abort(form["flow_id"])
    virtual_entry(network="demo").add_to_hass(hass)
    form = await _form(hass, "virtual")
    assert suggested_values(form)["network"] == "demo_2"
    hass.config_entries.flow.async_abort(form["flow_id"])
    virtual_entry(network="demo_2").add_to_hass(hass)
    form = await _form(hass, "virtual")
    assert suggested_values(form)["network"] == "demo_3"
    # The suggestion is taken as it is.
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {**VIRTUAL_FORM, "network": "demo_3"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_a_taken_virtual_network_name_is_a_form_error(hass: HomeAssistant) -> None:
    virtual_entry().add_to_hass(hass)
    flow_id = await _start(hass, "virtual")
    result = await hass.config_entries.flow.async_configure(flow_id, VIRTUAL_FORM)
    assert result["type"] is FlowResultType.FORM
    assert error_text(result, "network") == (
        "A virtual gateway named test exists already: choose another name, such as test_2."
    )
    assert suggested_values(result) == VIRTUAL_FORM
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# -- Zigbee radio ----------------------------------------------------------------------


async def test_zigbee_radio_is_probed_and_created(hass: HomeAssistant, stick_port: str) -> None:
    flow_id = await _start(hass, "zigbee")
    with znp_probe({"path": stick_port}) as probe:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"radio_library": "znp", "path": f" {stick_port} "}
        )
    probe.assert_awaited_once_with({"path": stick_port, "baudrate": 115200})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "radio_type": "zigbee",
        "radio_library": "znp",
        "path": stick_port,
        "baudrate": 115200,
    }
    assert result["result"].unique_id == f"zigbee:{stick_port}"


async def test_a_missing_port_is_told_apart_from_a_silent_radio(
    hass: HomeAssistant, stick_port: str
) -> None:
    """No such device file: nothing is probed, the error says the port is not there. A
    port that is there but where no radio answers: the error says so and names the radio
    type. Both times the form keeps what the user typed."""
    flow_id = await _start(hass, "zigbee")
    typed = {"radio_library": "znp", "path": "/dev/ttyUSB-gone", "baudrate": 230400}
    with znp_probe({"path": "/dev/ttyUSB-gone"}) as probe:
        result = await hass.config_entries.flow.async_configure(flow_id, typed)
    probe.assert_not_awaited()
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"path": "port_not_found"}
    assert error_text(result, "path").startswith("There is no port /dev/ttyUSB-gone on this")
    assert suggested_values(result) == typed

    typed = {"radio_library": "znp", "path": stick_port}
    with znp_probe(False) as probe:
        result = await hass.config_entries.flow.async_configure(flow_id, typed)
    probe.assert_awaited_once_with({"path": stick_port, "baudrate": 115200})
    assert result["errors"] == {"path": "cannot_connect"}
    assert error_text(result, "path").startswith(
        f"{stick_port} is there, but no Texas Instruments Z-Stack (zigpy-znp) radio answered"
    )
    assert suggested_values(result) == typed
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_a_real_probe_of_a_port_that_does_not_exist_is_a_form_error(
    hass: HomeAssistant,
) -> None:
    flow_id = await _start(hass, "zigbee")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"radio_library": "ezsp", "path": "/dev/no-such-radio"}
    )
    assert result["errors"] == {"path": "port_not_found"}


async def test_a_network_coordinator_is_reached_over_tcp_and_probed(
    hass: HomeAssistant, coordinator_address: str
) -> None:
    flow_id = await _start(hass, "zigbee")
    with znp_probe({"path": coordinator_address}) as probe:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"radio_library": "znp", "path": coordinator_address}
        )
    probe.assert_awaited_once_with({"path": coordinator_address, "baudrate": 115200})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["path"] == coordinator_address


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("socket://127.0.0.1", "invalid_network_address"),
        ("socket://:6638", "invalid_network_address"),
        ("socket://127.0.0.1:70000", "invalid_network_address"),
        ("socket://127.0.0.1:port", "invalid_network_address"),
        ("", "port_required"),
    ],
)
async def test_a_malformed_network_address_is_a_form_error(
    hass: HomeAssistant, path: str, error: str
) -> None:
    flow_id = await _start(hass, "zigbee")
    with znp_probe(True) as probe:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"radio_library": "znp", "path": path}
        )
    probe.assert_not_awaited()
    assert result["errors"] == {"path": error}
    assert suggested_values(result)["path"] == path


async def test_an_address_where_nothing_listens_is_unreachable(
    hass: HomeAssistant, unused_address: str
) -> None:
    flow_id = await _start(hass, "zigbee")
    with znp_probe(True) as probe:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"radio_library": "znp", "path": unused_address}
        )
    probe.assert_not_awaited()
    assert result["errors"] == {"path": "host_unreachable"}
    assert error_text(result, "path").startswith(f"Nothing accepts connections at {unused_address}")


async def test_same_zigbee_port_twice_aborts(hass: HomeAssistant, stick_port: str) -> None:
    for expected in (FlowResultType.CREATE_ENTRY, FlowResultType.ABORT):
        flow_id = await _start(hass, "zigbee")
        with znp_probe(True):
            result = await hass.config_entries.flow.async_configure(
                flow_id, {"radio_library": "znp", "path": stick_port}
            )
        assert result["type"] is expected
    assert result["reason"] == "already_configured"


async def test_another_gateways_standby_radio_cannot_be_added(
    hass: HomeAssistant, stick_port: str
) -> None:
    _zigbee_entry(hass, options={"standby_path": stick_port})
    flow_id = await _start(hass, "zigbee")
    with znp_probe(True) as probe:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"radio_library": "znp", "path": stick_port}
        )
    probe.assert_not_awaited()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


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
    assert suggested_values(result)["path"] == "/dev/serial/by-id/usb-sonoff-plus"


# -- replace radio (reconfigure) -------------------------------------------------------


def _zigbee_entry(
    hass: HomeAssistant,
    path: str = "/dev/ttyUSB7",
    *,
    unique_id: str | None = None,
    title: str = "Zigbee /dev/ttyUSB7",
    options: dict[str, Any] | None = None,
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=unique_id or f"zigbee:{path}",
        data={"radio_type": "zigbee", "radio_library": "znp", "path": path, "baudrate": 115200},
        options=options or {},
    )
    entry.add_to_hass(hass)
    return entry


async def test_replace_radio_points_the_gateway_at_its_new_stick(
    hass: HomeAssistant, no_setup: AsyncMock, stick_port: str
) -> None:
    entry = _zigbee_entry(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "reconfigure"
    assert suggested_values(result) == {"path": "/dev/ttyUSB7"}
    with znp_probe(True) as probe:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"path": stick_port}
        )
    await hass.async_block_till_done()
    probe.assert_awaited_once_with({"path": stick_port, "baudrate": 115200})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["path"] == stick_port
    assert entry.data["radio_library"] == "znp"
    assert entry.unique_id == f"zigbee:{stick_port}"
    assert no_setup.await_count == 1  # reloaded onto the new stick


async def test_replace_radio_onto_a_network_coordinator(
    hass: HomeAssistant, coordinator_address: str
) -> None:
    entry = _zigbee_entry(hass)
    result = await entry.start_reconfigure_flow(hass)
    with znp_probe(True) as probe:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"path": coordinator_address}
        )
    await hass.async_block_till_done()
    probe.assert_awaited_once_with({"path": coordinator_address, "baudrate": 115200})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["path"] == coordinator_address


async def test_replace_radio_tells_a_missing_port_from_a_silent_radio(
    hass: HomeAssistant, stick_port: str, unused_address: str
) -> None:
    entry = _zigbee_entry(hass)
    result = await entry.start_reconfigure_flow(hass)
    flow_id = result["flow_id"]
    for path, answer, error in (
        ("/dev/ttyUSB-gone", True, "port_not_found"),
        (unused_address, True, "host_unreachable"),
        (stick_port, False, "cannot_connect"),
    ):
        with znp_probe(answer):
            result = await hass.config_entries.flow.async_configure(flow_id, {"path": path})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"path": error}
        assert suggested_values(result) == {"path": path}
        assert path in error_text(result, "path")
    assert entry.data["path"] == "/dev/ttyUSB7"


async def test_replace_radio_refuses_another_gateways_radio(
    hass: HomeAssistant, stick_port: str
) -> None:
    entry = _zigbee_entry(hass)
    _zigbee_entry(hass, stick_port, title="Upstairs")
    result = await entry.start_reconfigure_flow(hass)
    with znp_probe(True) as probe:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"path": stick_port}
        )
    probe.assert_not_awaited()
    assert error_text(result, "path") == (
        f"{stick_port} is already the radio or standby radio of Upstairs."
    )
    assert entry.data["path"] == "/dev/ttyUSB7"


async def test_a_virtual_gateway_has_no_radio_to_replace(hass: HomeAssistant) -> None:
    entry = virtual_entry()
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_virtual"


# -- options ---------------------------------------------------------------------------


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
    assert set(bad["errors"]) == {"deadline_always_on"}
    assert error_text(bad, "deadline_always_on", "options") == (
        "The deadline for mains-powered devices must be from 10 to 3600 seconds."
    )
    assert suggested_values(bad)["deadline_always_on"] == 5
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
    assert error_text(bad, "snapshot_keep", "options") == (
        "The number of snapshots to keep must be from 1 to 100."
    )
    assert error_text(bad, "mains_interval", "options") == (
        "The silence before mains-powered devices are pinged must be from 60 to 86400 seconds."
    )
    assert entry.options == {}


def test_option_labels_leave_the_unit_to_the_field_and_name_deadlines() -> None:
    """The number fields show their unit after the value: the labels do not repeat it."""
    labels = TRANSLATIONS["options"]["step"]["init"]["data"]
    every_kind = {key: o for options in RADIO_NUMBER_OPTIONS.values() for key, o in options.items()}
    for key, (_, _, _, unit) in every_kind.items():
        assert f"({unit})" not in labels[key], key
        if key.startswith("deadline_"):
            assert labels[key].startswith("Deadline for "), key


@pytest.mark.parametrize(
    ("data", "absent"),
    [
        # A Bluetooth LE entry is one device: no firmware transfers, sleepers or
        # thermostats, no network to restore or fail over.
        (
            {"radio_type": "bluetooth", "address": "AA:BB:CC:DD:EE:01"},
            {"firmware_share", "deadline_sleepy", "auto_restore", "standby_radio"},
        ),
        # A Wi-Fi node link has no over-the-air updates (the firmware sensor is Zigbee's).
        (
            {"radio_type": "wifi_node", "host": "0.0.0.0", "port": 8125, "timeout_ms": 2000},
            {"firmware_share", "firmware_deadline", "bluetooth_keep_alive", "standby_path"},
        ),
        # A Zigbee gateway shows no Bluetooth option and a standby port, not a simulation.
        (
            {"radio_type": "zigbee", "radio_library": "znp", "path": "/dev/ttyUSB7"},
            {"bluetooth_keep_alive", "standby_radio"},
        ),
    ],
)
async def test_the_options_show_only_what_applies_to_the_radio(
    hass: HomeAssistant, data: dict[str, Any], absent: set[str]
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="entry", data=data)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    fields = {str(key) for key in result["data_schema"].schema}
    assert "deadline_always_on" in fields and "snapshot_keep" in fields
    assert not fields & absent
    # Saving stores only the shown options.
    done = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert not set(entry.options) & absent


async def test_a_standby_radio_is_checked_before_it_is_saved(
    hass: HomeAssistant, stick_port: str, coordinator_address: str
) -> None:
    entry = _zigbee_entry(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    flow_id = result["flow_id"]
    for path, answer, error in (
        ("/dev/ttyUSB-gone", True, "port_not_found"),
        ("socket://standby.local", True, "invalid_network_address"),
        (stick_port, False, "cannot_connect"),
        ("/dev/ttyUSB7", True, "port_in_use"),  # the gateway's own radio
    ):
        with znp_probe(answer):
            result = await hass.config_entries.options.async_configure(
                flow_id, {"standby_path": path, "snapshot_keep": 3}
            )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"standby_path": error}
        assert path in error_text(result, "standby_path", "options")
        assert suggested_values(result)["standby_path"] == path
        assert suggested_values(result)["snapshot_keep"] == 3
    with znp_probe(True) as probe:
        result = await hass.config_entries.options.async_configure(
            flow_id, {"standby_path": coordinator_address}
        )
    probe.assert_awaited_once_with({"path": coordinator_address, "baudrate": 115200})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["standby_path"] == coordinator_address

    # Saving other options again does not probe the standby (the gateway may run on it).
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_values(result)["standby_path"] == coordinator_address
    with znp_probe(False) as probe:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"standby_path": coordinator_address, "snapshot_keep": 3}
        )
    probe.assert_not_awaited()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["snapshot_keep"] == 3


# -- Wi-Fi node link -----------------------------------------------------------------

WIFI_FORM = {
    "host": "0.0.0.0",
    "port": 8125,
    "timeout_ms": 2000,
    "expected_nodes": "1, 2,2",
    "accept_unknown": False,
    "secret": "hunter2-but-longer",
}


async def test_wifi_node_link_is_created_with_upstream_defaults(hass: HomeAssistant) -> None:
    form = await _form(hass, "wifi_node")
    assert suggested_values(form) == {
        "host": "0.0.0.0",
        "port": 8125,
        "timeout_ms": 2000,
        "accept_unknown": True,
    }
    result = await hass.config_entries.flow.async_configure(form["flow_id"], WIFI_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Wi-Fi node link (port 8125)"
    assert result["data"] == {
        "radio_type": "wifi_node",
        "host": "0.0.0.0",
        "port": 8125,
        "timeout_ms": 2000,
        "expected_nodes": ["1", "2"],
        "accept_unknown": False,
        "secret": "hunter2-but-longer",
    }


async def test_wifi_node_link_refuses_home_assistants_own_port(hass: HomeAssistant) -> None:
    form = await _form(hass, "wifi_node")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {**WIFI_FORM, "port": 8123}
    )
    assert result["type"] is FlowResultType.FORM
    assert error_text(result, "port").startswith("Port 8123 is Home Assistant's own")
    # (The secret is not shown again.)
    assert "secret" not in suggested_values(result)
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {**WIFI_FORM, "port": 8126, "timeout_ms": 50, "expected_nodes": "a b"}
    )
    assert result["type"] is FlowResultType.FORM
    assert error_text(result, "timeout_ms") == "The timeout must be 100 to 600000 ms."
    assert "expected_nodes" not in result["errors"]


async def test_wifi_node_link_on_a_port_in_use_aborts(hass: HomeAssistant) -> None:
    form = await _form(hass, "wifi_node")
    await hass.config_entries.flow.async_configure(form["flow_id"], WIFI_FORM)
    form = await _form(hass, "wifi_node")
    result = await hass.config_entries.flow.async_configure(form["flow_id"], WIFI_FORM)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_a_wifi_node_link_has_no_radio_to_replace(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Wi-Fi node link (port 8125)",
        unique_id="wifi_node:8125",
        data={"radio_type": "wifi_node", **WIFI_FORM, "expected_nodes": []},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_wifi_node"
