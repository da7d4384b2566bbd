"""Home Assistant backup hooks: every backup holds a current copy of the gateway's files."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant

from .const import DOMAIN, LOGGER, SNAPSHOT_DIR, STORAGE_DIR
from .coordinator import GatewayCoordinator
from .core.gateway import RunStatus
from .core.snapshot import SnapshotInfo, SnapshotStore


async def async_pre_backup(hass: HomeAssistant) -> None:
    """Flush what each running gateway keeps in memory into the config directory, with a
    fresh snapshot. A gateway that cannot take one (radio down, paused, not running) is
    logged with the snapshot the backup holds instead, so nobody relies on one that is
    not there."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            coordinator: GatewayCoordinator = entry.runtime_data
            if (snapshot := await coordinator.async_flush()) is not None:
                LOGGER.info(
                    "Home Assistant backup: %s wrote snapshot %s", entry.title, snapshot.path.name
                )
                continue
            _log_no_snapshot(entry, _why_no_snapshot(coordinator), coordinator.last_snapshot)
        elif entry.disabled_by is None and entry.state in (
            ConfigEntryState.SETUP_RETRY,
            ConfigEntryState.SETUP_ERROR,
        ):
            folder = Path(hass.config.path(STORAGE_DIR, entry.entry_id, SNAPSHOT_DIR))
            newest = await SnapshotStore(folder).async_newest()
            _log_no_snapshot(entry, "it is not running", newest)


async def async_post_backup(hass: HomeAssistant) -> None:
    """Nothing was paused for the backup, so there is nothing to resume (idempotent)."""


def _why_no_snapshot(coordinator: GatewayCoordinator) -> str:
    gateway = coordinator.gateway
    if gateway.needs_restore:
        return "its radio does not hold its network and waits for a restore"
    if gateway.current_status is RunStatus.PAUSED:
        return "it is paused"
    return "its radio is down"


def _log_no_snapshot(entry: ConfigEntry, why: str, newest: SnapshotInfo | None) -> None:
    holds = (
        f"the backup holds its newest snapshot, {newest.path.name}"
        if newest is not None
        else "it has no snapshot yet, so the backup holds none of it"
    )
    LOGGER.warning("Home Assistant backup: no new snapshot of %s, %s; %s", entry.title, why, holds)
