"""The engine's pending changes on disk: desired states and open changes (``changes.json``)
survive a restart and resume where they stood, and so does what the engine learned of
each device's link (``links``: optional, files without it read as before)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..change_results import ChangeResult
from ..matching import required_attributes
from ..model import DeviceId
from ..scheduler import Priority, values_dict
from ..storage import AtomicJsonFile
from .links import LinkBook
from .records import Change, Device, SceneEntry

_LOGGER = logging.getLogger(__name__)

PENDING_FORMAT = 1
"""Version of the exported pending changes (``changes.json``, a snapshot's ``changes``)."""

SAVE_DELAY = 1.0
"""Seconds to gather engine changes before writing them to disk (one write per burst)."""


def export_pending(
    devices: Mapping[DeviceId, Device],
    changes: Iterable[Change],
    now: float,
    links: LinkBook | None = None,
) -> dict[str, Any]:
    """Desired states and open changes, JSON-serialisable, deadlines as seconds left;
    with ``links``, what was learned of the devices' links."""
    saved_devices = {
        device_id: {
            "desired": _to_json(device.desired),
            "failed": sorted(device.failed),
        }
        for device_id, device in devices.items()
        if device.desired
    }
    saved_changes = []
    for change in sorted(changes, key=lambda c: c.seq):
        scene = change.scene
        saved_changes.append(
            {
                "change_id": change.change_id,
                "device_id": change.device_id,
                "values": _to_json(change.values),
                "open": sorted(change.open),
                "verified": sorted(change.verified),
                "superseded": sorted(change.superseded),
                "transition": change.transition,
                "priority": int(change.priority),
                "remaining": max(0.0, change.deadline_at - now),
                "elapsed": now - change.started_at,
                "attempts": change.attempts,
                "reads": change.reads,
                "group_id": change.group_id,
                "scene": None
                if scene is None
                else {
                    "group_id": scene.group_id,
                    "scene_id": scene.scene_id,
                    "values": _to_json(scene.values),
                    "proved_wrong": scene.proved_wrong,
                },
            }
        )
    exported: dict[str, Any] = {
        "version": PENDING_FORMAT,
        "devices": saved_devices,
        "changes": saved_changes,
    }
    if links is not None:
        exported["links"] = links.export()
    return exported


@dataclass(frozen=True, slots=True)
class SavedChange:
    """An open change as exported: the attributes still open, the seconds left."""

    change: Change
    open: tuple[str, ...]
    remaining: float


def read_pending(
    data: Mapping[str, Any],
    *,
    now: float,
    next_seq: Callable[[], int],
    new_future: Callable[[], asyncio.Future[ChangeResult]],
) -> tuple[dict[DeviceId, tuple[dict[str, Any], list[str]]], list[SavedChange]]:
    """What ``export_pending`` wrote: per device its desired values and failed
    attributes, and the open changes in the order they were made."""
    if data.get("version") != PENDING_FORMAT:
        raise ValueError(f"unknown pending-changes format {data.get('version')}")
    devices = {
        device_id: (_from_json(saved.get("desired", {})), list(saved.get("failed", ())))
        for device_id, saved in data.get("devices", {}).items()
    }
    changes: list[SavedChange] = []
    for saved in data.get("changes", []):
        values = _from_json(saved["values"])
        change = Change(
            change_id=int(saved["change_id"]),
            device_id=saved["device_id"],
            values=values,
            required=required_attributes(values),
            transition=saved.get("transition"),
            priority=Priority(saved.get("priority", Priority.REPAIR)),
            started_at=now - float(saved.get("elapsed", 0.0)),
            seq=next_seq(),
            verified=set(saved.get("verified", ())),
            superseded=set(saved.get("superseded", ())),
            attempts=int(saved.get("attempts", 0)),
            reads=int(saved.get("reads", 0)),
            group_id=saved.get("group_id"),
            future=new_future(),
        )
        if (scene := saved.get("scene")) is not None:
            change.scene = SceneEntry(
                scene["group_id"],
                scene["scene_id"],
                _from_json(scene["values"]),
                bool(scene.get("proved_wrong")),
            )
        changes.append(
            SavedChange(change, tuple(saved.get("open", ())), float(saved.get("remaining", 0.0)))
        )
    return devices, changes


def _to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(a): list(v) if isinstance(v, tuple) else v for a, v in values.items()}


def _from_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Saved values with attribute names as ``Attr`` where known and pairs as tuples."""
    return values_dict({a: tuple(v) if isinstance(v, list) else v for a, v in values.items()})


class PendingStore:
    """Writes what ``export`` returns (None: nothing to write) to ``file`` a moment after
    it changed, at once when asked, one write at a time, and leaves nothing scheduled once
    it is stopped: the write its owner makes while stopping is the last."""

    def __init__(
        self,
        file: AtomicJsonFile | None,
        export: Callable[[], Mapping[str, Any] | None],
        *,
        delay: float = SAVE_DELAY,
    ) -> None:
        self._file = file
        self._export = export
        self._delay = delay
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._stopped = False

    def save_soon(self) -> None:
        """Something changed: write it once things have been quiet for ``delay``."""
        if self._file is None or self._stopped or self._timer is not None:
            return
        self._timer = asyncio.get_running_loop().call_later(self._delay, self._write_later)

    async def save(self) -> None:
        """Write now (after a write under way: the newer state is written last)."""
        if self._file is None:
            return
        async with self._lock:
            data = self._export()
            if data is not None:
                await self._file.save(data)

    async def save_last(self, what: str, lost: str) -> None:
        """The write at its owner's stop: a failure (a full disk) is logged, saying what
        could not be saved and what is lost with it, and the stop goes on."""
        try:
            await self.save()
        except OSError as exc:
            _LOGGER.error("%s could not be saved (%s); %s", what, exc, lost)

    def stop(self) -> None:
        """No write later any more (a save of the moment still writes)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _write_later(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.save())
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.warning("The pending changes could not be saved: %s", error)
