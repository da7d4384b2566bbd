"""Repairs: restore a gateway onto a new (blank or replaced) radio from its newest snapshot."""

from __future__ import annotations

from typing import Any

import probatio as vol
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .const import LOGGER
from .coordinator import ISSUE_RESTORE_NEEDED, GatewayCoordinator
from .core.radio import RadioError
from .core.restore import DeviceRestoreStatus
from .core.snapshot import SnapshotError


class RestoreGatewayFlow(RepairsFlow):
    """Confirm, then restore the newest snapshot onto the radio now in place, whatever
    network it held."""

    def __init__(self, entry_id: str) -> None:
        self._entry_id = entry_id

    def _coordinator(self) -> GatewayCoordinator | None:
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return None
        coordinator: GatewayCoordinator = entry.runtime_data
        return coordinator

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        coordinator = self._coordinator()
        if coordinator is None:
            return self.async_abort(reason="not_loaded")
        if user_input is None:
            return self.async_show_form(
                step_id="confirm",
                data_schema=vol.Schema({}),
                description_placeholders={"gateway": coordinator.entry.title},
            )
        try:
            # Confirming is the explicit consent a radio that runs another network needs.
            report = await coordinator.async_restore(force=True)
        except SnapshotError as exc:
            LOGGER.warning("Restore of %s refused: %s", coordinator.entry.title, exc)
            return self.async_abort(reason=exc.translation_key)
        except RadioError as exc:
            LOGGER.warning("Restore of %s failed: %s", coordinator.entry.title, exc)
            return self.async_abort(reason="restore_failed")
        return self.async_create_entry(
            data={},
            description_placeholders={
                str(status): str(len(report.ids(status))) for status in DeviceRestoreStatus
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    if issue_id.startswith(ISSUE_RESTORE_NEEDED) and data and "entry_id" in data:
        return RestoreGatewayFlow(str(data["entry_id"]))
    # The damaged-file issue: confirming dismisses it (the file kept aside stays).
    return ConfirmRepairFlow()
