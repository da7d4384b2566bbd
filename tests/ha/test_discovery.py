"""Network coordinators found over zeroconf: which announcements reach the integration, what
the confirmation form fills in, adding one, and a coordinator that moved or is already used."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from bellows.zigbee.application import ControllerApplication as EzspApplication
from homeassistant.components.zeroconf.discovery import _match_against_props, _memorized_fnmatch
from homeassistant.config_entries import SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.loader import async_get_zeroconf
from pytest_homeassistant_custom_component.common import MockConfigEntry
from zigpy_znp.zigbee.application import ControllerApplication as ZnpApplication

from custom_components.resilient_gateway.const import DOMAIN

from .conftest import TRANSLATIONS, error_text, suggested_values

pytestmark = pytest.mark.usefixtures("no_setup")


def announcement(
    instance: str,
    service_type: str,
    /,
    *,
    port: int | None = 6638,
    host: str = "192.168.1.200",
    hostname: str | None = None,
    **properties: str,
) -> ZeroconfServiceInfo:
    return ZeroconfServiceInfo(
        ip_address=ip_address(host),
        ip_addresses=[ip_address(host)],
        port=port,
        hostname=hostname or f"{instance.lower().replace(' ', '-')}.local.",
        type=service_type,
        name=f"{instance}.{service_type}",
        properties=properties,
    )


# What coordinators announce (service types and fields as Home Assistant's ZHA reads them),
# and what the form then fills in: name, radio type, address, identity.
COORDINATORS: dict[str, tuple[ZeroconfServiceInfo, str, str, str, str]] = {
    "standard (SLZB-06M, XZG, …)": (
        announcement(
            "SLZB-06M",
            "_zigbee-coordinator._tcp.local.",
            radio_type="ezsp",
            serial_number="aabbccddeeff",
        ),
        "SLZB-06M",
        "ezsp",
        "socket://192.168.1.200:6638",
        "aabbccddeeff",
    ),
    "SMLIGHT SLZB-06": (
        announcement("slzb-06", "_slzb-06._tcp.local.", mac="AA:BB:CC:00:11:22"),
        "slzb-06",
        "znp",
        "socket://192.168.1.200:6638",
        "aabbcc001122",
    ),
    "ZigStar": (
        announcement("zigstar-gw", "_zigstar_gw._tcp.local."),
        "zigstar-gw",
        "znp",
        "socket://192.168.1.200:6638",
        "zigstar-gw",
    ),
    "UZG-01": (
        announcement("uzg-01", "_uzg-01._tcp.local."),
        "uzg-01",
        "znp",
        "socket://192.168.1.200:6638",
        "uzg-01",
    ),
    "XZG": (
        announcement("xzg", "_xzg._tcp.local.", port=6638),
        "xzg",
        "znp",
        "socket://192.168.1.200:6638",
        "xzg",
    ),
    "TubesZB": (
        announcement(
            "tubeszb-cc2652-poe",
            "_tubeszb._tcp.local.",
            name="TubeZB",
            radio_type="znp",
            baud_rate="115200",
        ),
        "TubeZB",
        "znp",
        "socket://192.168.1.200:6638",
        "tubeszb-cc2652-poe",
    ),
    "TubesZB EFR32 on ESPHome (announces its ESPHome API port)": (
        announcement("tubeszb-efr32-poe", "_esphomelib._tcp.local.", port=6053),
        "tubeszb-efr32-poe",
        "ezsp",
        "socket://192.168.1.200:6638",
        "tubeszb-efr32-poe",
    ),
    "ZiGate Wi-Fi": (
        announcement("some name", "_zigate-zigbee-gateway._tcp.local.", port=9999),
        "some name",
        "zigate",
        "socket://192.168.1.200:9999",
        "some-name",
    ),
}


async def offered_to(hass: HomeAssistant, info: ZeroconfServiceInfo) -> set[str]:
    """The integrations Home Assistant's zeroconf discovery starts a flow for, from the
    manifests' matchers (custom integrations included), matched as it matches them."""
    matchers = (await async_get_zeroconf(hass)).get(info.type, [])
    return {
        matcher["domain"]
        for matcher in matchers
        if ("name" not in matcher or _memorized_fnmatch(info.name.lower(), matcher["name"]))
        and (
            "properties" not in matcher
            or _match_against_props(matcher["properties"], info.properties)
        )
    }


@pytest.mark.parametrize("coordinator", COORDINATORS)
async def test_the_coordinators_announcements_reach_the_integration(
    hass: HomeAssistant, coordinator: str
) -> None:
    assert DOMAIN in await offered_to(hass, COORDINATORS[coordinator][0])


async def test_other_esphome_devices_are_not_offered(hass: HomeAssistant) -> None:
    plug = announcement("kitchen-plug", "_esphomelib._tcp.local.", port=6053)
    assert DOMAIN not in await offered_to(hass, plug)


async def _discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    return dict(result)


@pytest.mark.parametrize("coordinator", COORDINATORS)
async def test_discovery_fills_in_the_address_and_radio_type(
    hass: HomeAssistant, coordinator: str
) -> None:
    info, name, radio_type, path, identity = COORDINATORS[coordinator]
    result = await _discover(hass, info)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert suggested_values(result) == {"radio_library": radio_type, "path": path}
    assert result["description_placeholders"] == {"name": name, "host": "192.168.1.200"}
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": name}
    assert flow["context"]["unique_id"] == f"zigbee:{identity}"


async def test_a_discovered_coordinator_is_probed_and_added(
    hass: HomeAssistant, coordinator_address: str
) -> None:
    port = int(coordinator_address.rsplit(":", 1)[1])
    info = announcement(
        "SLZB-06M",
        "_zigbee-coordinator._tcp.local.",
        host="127.0.0.1",
        port=port,
        radio_type="efr32",  # the older name of ezsp
        serial_number="aabbccddeeff",
    )
    form = await _discover(hass, info)
    with patch.object(EzspApplication, "probe", AsyncMock(return_value=True)) as probe:
        result = await hass.config_entries.flow.async_configure(
            form["flow_id"], suggested_values(form)
        )
    probe.assert_awaited_once_with({"path": coordinator_address, "baudrate": 115200})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "SLZB-06M"
    assert result["data"] == {
        "radio_type": "zigbee",
        "radio_library": "ezsp",
        "path": coordinator_address,
        "baudrate": 115200,
    }
    assert result["result"].unique_id == "zigbee:aabbccddeeff"


async def test_a_silent_coordinator_keeps_the_form_and_the_users_choice(
    hass: HomeAssistant, coordinator_address: str
) -> None:
    """Announced as Z-Stack, but it is a Silicon Labs model: the probe tells, the user
    picks the other type and the form keeps it."""
    port = int(coordinator_address.rsplit(":", 1)[1])
    form = await _discover(
        hass, announcement("slzb-06", "_slzb-06._tcp.local.", host="127.0.0.1", port=port)
    )
    with patch.object(ZnpApplication, "probe", AsyncMock(return_value=False)):
        result = await hass.config_entries.flow.async_configure(
            form["flow_id"], suggested_values(form)
        )
    assert result["errors"] == {"path": "cannot_connect"}
    assert error_text(result, "path").startswith(
        f"{coordinator_address} is there, but no Texas Instruments Z-Stack (zigpy-znp) radio"
    )
    choice = {"radio_library": "ezsp", "path": coordinator_address}
    with patch.object(EzspApplication, "probe", AsyncMock(return_value=False)):
        result = await hass.config_entries.flow.async_configure(form["flow_id"], choice)
    assert suggested_values(result) == choice
    with patch.object(EzspApplication, "probe", AsyncMock(return_value=True)):
        result = await hass.config_entries.flow.async_configure(form["flow_id"], choice)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["radio_library"] == "ezsp"


async def test_a_coordinator_that_moved_is_followed(
    hass: HomeAssistant, no_setup: AsyncMock
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="SLZB-06M",
        unique_id="zigbee:aabbccddeeff",
        data={
            "radio_type": "zigbee",
            "radio_library": "ezsp",
            "path": "socket://192.168.1.200:6638",
            "baudrate": 115200,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    info, *_ = COORDINATORS["standard (SLZB-06M, XZG, …)"]
    moved = announcement(
        "SLZB-06M",
        info.type,
        host="192.168.1.201",
        radio_type="ezsp",
        serial_number="aabbccddeeff",
    )
    result = await _discover(hass, moved)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data["path"] == "socket://192.168.1.201:6638"
    assert no_setup.await_count == 2  # reloaded onto the new address
    # Announced again at the same address: nothing changes, no reload.
    result = await _discover(hass, moved)
    await hass.async_block_till_done()
    assert result["reason"] == "already_configured"
    assert no_setup.await_count == 2


@pytest.mark.parametrize("role", ["path", "standby_path"])
async def test_a_coordinator_already_used_by_address_is_not_offered(
    hass: HomeAssistant, role: str
) -> None:
    """Added by hand (socket://…) or used as a gateway's standby radio."""
    data = {"radio_type": "zigbee", "radio_library": "znp", "baudrate": 115200}
    data["path"] = "/dev/ttyUSB7"
    options = {}
    if role == "path":
        data["path"] = "socket://192.168.1.200:6638"
    else:
        options["standby_path"] = "socket://192.168.1.200:6638"
    MockConfigEntry(
        domain=DOMAIN, unique_id=f"zigbee:{data['path']}", data=data, options=options
    ).add_to_hass(hass)
    result = await _discover(hass, COORDINATORS["UZG-01"][0])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_a_replaced_coordinator_does_not_pull_the_gateway_back(
    hass: HomeAssistant, stick_port: str
) -> None:
    """The gateway moved from a network coordinator to a USB stick (replace radio): when
    the old coordinator announces itself again, it is a new radio, not the gateway's."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="UZG-01",
        unique_id="zigbee:uzg-01",
        data={
            "radio_type": "zigbee",
            "radio_library": "znp",
            "path": "socket://192.168.1.200:6638",
            "baudrate": 115200,
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    with patch.object(ZnpApplication, "probe", AsyncMock(return_value=True)):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"path": stick_port}
        )
    assert result["reason"] == "reconfigure_successful"
    result = await _discover(hass, COORDINATORS["UZG-01"][0])
    assert result["type"] is FlowResultType.FORM
    assert entry.data["path"] == stick_port


async def test_a_coordinator_announced_twice_is_offered_once(hass: HomeAssistant) -> None:
    info = COORDINATORS["SMLIGHT SLZB-06"][0]
    assert (await _discover(hass, info))["type"] is FlowResultType.FORM
    result = await _discover(hass, info)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_in_progress"


@pytest.mark.parametrize(
    ("properties", "shown"),
    [({"radio_type": "zboss", "serial_number": "1"}, "zboss"), ({"serial_number": "1"}, "none")],
)
async def test_a_radio_type_we_do_not_drive_is_not_offered(
    hass: HomeAssistant, properties: dict[str, str], shown: str
) -> None:
    info = announcement("ESP32-C6 coordinator", "_zigbee-coordinator._tcp.local.", **properties)
    result = await _discover(hass, info)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unknown_radio_type"
    text = TRANSLATIONS["config"]["abort"]["unknown_radio_type"]
    assert text.format(**result["description_placeholders"]).endswith(f"({shown}).")
