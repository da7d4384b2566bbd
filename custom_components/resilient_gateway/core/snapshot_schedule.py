"""When the gateway snapshots itself, and what a snapshot holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from .changes import ChangeEngine
from .inventory import Inventory
from .radio import LinkState, RadioError, RadioLink, SnapshotSection
from .scenes import SceneBook
from .snapshot import SnapshotInfo, SnapshotStore

_LOGGER = logging.getLogger(__name__)

SNAPSHOT_DEBOUNCE = 60.0
"""Seconds of quiet after a meaningful change (join, leave, group, scene) before the
automatic snapshot, so pairing ten devices makes one snapshot, not ten."""

PAYLOAD_LAYOUT = 1
"""Version of the payload layout inside a snapshot file."""


class SnapshotSchedule:
    """Builds the snapshot payload (the radio's section, the extra sections, devices,
    groups, scenes, pending changes) and writes snapshots: asked for, a while after a
    meaningful change, and periodically."""

    def __init__(
        self,
        store: SnapshotStore | None,
        radio: RadioLink,
        inventory: Inventory,
        scenes: SceneBook,
        *,
        engine: Callable[[], ChangeEngine | None],
        run_lock: asyncio.Lock,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        name: str,
        interval: float | None,
        password: str | None,
        needs_restore: Callable[[], bool],
        on_taken: Callable[[SnapshotInfo], None],
    ) -> None:
        """``run_lock``: held by whoever opens, closes or exports the radio;
        ``needs_restore``: the radio holds no network of this gateway's (blank, foreign);
        ``password``: encrypts automatic snapshots and every one written or read without
        its own."""
        self.store = store
        self._radio = radio
        self._inventory = inventory
        self._scenes = scenes
        self._engine = engine
        self._run_lock = run_lock
        self._spawn = spawn
        self._name = name
        self._interval = interval
        self._password = password or None
        self._needs_restore = needs_restore
        self._on_taken = on_taken
        self._sections: dict[str, SnapshotSection] = {}
        self._latest_section: Mapping[str, Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._periodic_timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def register_section(self, section: SnapshotSection) -> None:
        """Keep ``section``'s data in every snapshot (and give it back on restore)."""
        self._sections[section.name] = section

    @property
    def sections(self) -> Mapping[str, SnapshotSection]:
        return self._sections

    async def payload(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything needed to rebuild the gateway, and a summary that is not secret."""
        radio = self._radio
        section = await radio.export_section()
        sections: dict[str, Any] = {radio.section_name: section}
        for name, extra in self._sections.items():
            sections[name] = dict(await extra.export_section())
        if (engine := self._engine()) is None:
            raise RuntimeError("the gateway is not started")
        devices, groups = self._inventory.as_payload()
        payload = {
            "format": PAYLOAD_LAYOUT,
            "network_id": radio.network_id(),
            "devices": devices,
            "groups": groups,
            "scenes": self._scenes.as_list(),
            "changes": engine.export_pending(),
            "sections": sections,
        }
        summary = {
            "name": self._name,
            "radio_kind": radio.section_name,
            "network_id": radio.network_id(),
            "device_count": len(devices),
            "group_count": len(groups),
            "scene_count": len(self._scenes),
        }
        self._latest_section = section
        return payload, summary

    async def take(self, *, password: str | None = None) -> SnapshotInfo:
        """Write a snapshot now, encrypted with ``password`` (default: the stored snapshot
        password, if any). One at a time, and after a restore, pause or resume under way;
        RadioError when the radio is not running then, OSError when the disk refuses."""
        if self.store is None:
            raise RuntimeError("this gateway keeps no snapshots")
        async with self._run_lock:
            if self._radio.state is not LinkState.UP:
                raise RadioError("the radio is not running")
            return await self._write(self.store, password)

    async def take_automatic(self) -> None:
        """A snapshot nobody waits for, once the others are done with the radio: skipped
        when the radio holds no network of ours; RadioError (logged quietly by the
        gateway) when the radio is down by then."""
        async with self._run_lock:
            if self.store is None or self._stopped or self._needs_restore():
                return
            if self._radio.state is not LinkState.UP:
                raise RadioError("the radio is not running")
            await self._write(self.store, None)

    def take_automatic_soon(self) -> None:
        """``take_automatic`` in the background (after a start or a restore), when this
        gateway keeps snapshots."""
        if self.store is not None:
            self._spawn(self.take_automatic())

    async def none_taken(self) -> bool:
        """No snapshot of this gateway exists (none written, or none kept at all)."""
        return self.store is None or await self.store.async_newest() is None

    async def _write(self, store: SnapshotStore, password: str | None) -> SnapshotInfo:
        # (The caller holds the run lock.)
        if self._timer is not None:  # this snapshot covers the pending one
            self._timer.cancel()
            self._timer = None
        payload, summary = await self.payload()
        info = await store.async_write(payload, summary, password=password or self._password)
        _LOGGER.debug("%s: snapshot %s written", self._name, info.path.name)
        self._on_taken(info)
        return info

    def soon(self) -> None:
        """A meaningful change happened: snapshot once things have been quiet a while."""
        if self.store is None or self._engine() is None or self._stopped:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(SNAPSHOT_DEBOUNCE, self._due)

    def _due(self) -> None:
        self._timer = None
        if self._radio.state is LinkState.UP and not self._needs_restore():
            self._spawn(self.take_automatic())

    def start_periodic(self) -> None:
        """Snapshot every ``interval`` seconds (if one was given) from now on."""
        if not self._interval or self._stopped:
            return

        def fire() -> None:
            self._due()
            self.start_periodic()

        self._periodic_timer = asyncio.get_running_loop().call_later(self._interval, fire)

    def stop(self) -> None:
        self._stopped = True
        for timer in (self._timer, self._periodic_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._periodic_timer = None

    async def latest_section(self) -> Mapping[str, Any] | None:
        """The radio's section of the latest snapshot (this run's, else the newest file):
        what a standby radio is brought up from."""
        section = self._latest_section
        if section is None and self.store is not None:
            newest = await self.store.async_newest()
            if newest is not None:
                snapshot = await self.store.async_read(newest.path, self._password)
                section = snapshot.payload.get("sections", {}).get(self._radio.section_name)
        return section
