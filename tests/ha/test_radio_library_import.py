"""The radio libraries (bellows, zigpy-znp, …) are imported off the event loop: neither the
Zigbee flow's probe nor a Zigbee entry's start makes Home Assistant log "Detected blocking
call"."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Generator
from types import ModuleType
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util.loop import protect_loop
from pytest_homeassistant_custom_component.common import MockConfigEntry
from zigpy_znp.zigbee.application import ControllerApplication as ZnpApplication

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.radios.zigbee.libraries import RADIO_LIBRARIES

BLOCKING = "Detected blocking call"


@pytest.fixture
def fresh_radio_imports(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Generator[None]:
    """Home Assistant's own guard on ``importlib.import_module``, as in a fresh Home
    Assistant where no radio library is loaded yet.

    Home Assistant skips this guard in tests (and lets through modules already in
    ``sys.modules``, which every library is after the first test). Here a radio library
    counts as loaded once something imported it off the event loop; importing it on the
    loop before that logs the warning users saw.
    """
    modules = {library.module for library in RADIO_LIBRARIES.values()}
    loaded_off_loop: set[str] = set()
    guarded = protect_loop(
        importlib.import_module,
        loop_thread_id=hass.loop_thread_id,
        strict=False,
        check_allowed=lambda call: (
            call["args"][0] not in modules or call["args"][0] in loaded_off_loop
        ),
    )

    def import_module(name: str, package: str | None = None) -> ModuleType:
        if threading.get_ident() != hass.loop_thread_id:
            loaded_off_loop.add(name)
        return guarded(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    # Home Assistant logs a warning the first time, then at debug level.
    caplog.set_level(logging.DEBUG, "homeassistant.util.loop")
    yield


@pytest.mark.usefixtures("fresh_radio_imports")
async def test_the_zigbee_flow_probes_without_a_blocking_import(
    hass: HomeAssistant, stick_port: str, caplog: pytest.LogCaptureFixture
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "zigbee"}
    )
    with (
        patch("custom_components.resilient_gateway.async_setup_entry", return_value=True),
        patch.object(ZnpApplication, "probe", AsyncMock(return_value=True)) as probe,
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"radio_library": "znp", "path": stick_port}
        )
    probe.assert_awaited_once()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert BLOCKING not in caplog.text


@pytest.mark.usefixtures("fresh_radio_imports")
async def test_a_zigbee_entry_starts_without_a_blocking_import(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """The stick is missing, so the entry waits to retry; the library was loaded first."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Zigbee",
        unique_id="zigbee:/dev/no-such-radio",
        data={
            "radio_type": "zigbee",
            "radio_library": "znp",
            "path": "/dev/no-such-radio",
            "baudrate": 115200,
        },
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert BLOCKING not in caplog.text
