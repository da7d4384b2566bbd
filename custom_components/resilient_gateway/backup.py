"""Home Assistant backup hooks: every backup holds a current copy of the gateway's files."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .const import DOMAIN


async def async_pre_backup(hass: HomeAssistant) -> None:
    """Flush what each running gateway keeps in memory into the config directory."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await entry.runtime_data.async_flush()


async def async_post_backup(hass: HomeAssistant) -> None:
    """Nothing was paused for the backup, so there is nothing to resume (idempotent)."""
