"""The gateway's change engine through its life: built at the start with its pending
changes read back (changes.json), its news told to the gateway's listeners, its pending
changes written as they move, and stopped with a last write."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .change_results import ChangeCounts, ChangeResult, SyncState
from .changes import ChangeEngine
from .inventory import Inventory
from .listeners import GatewayListener
from .model import DeviceId
from .pending_file import PendingChangesFile
from .policy import ChangePolicy
from .scheduler import SendScheduler
from .storage import AtomicJsonFile
from .values import DeviceValues


@dataclass(frozen=True, slots=True)
class _EngineEvents:
    """What the host does when the engine tells (its EngineListener)."""

    device_changed: Callable[[DeviceId], None]
    change_finished: Callable[[ChangeResult], None]
    counts_changed: Callable[[ChangeCounts], None]


class EngineHost:
    """Holds the gateway's ``ChangeEngine`` (none before the start) and its file."""

    def __init__(
        self,
        scheduler: SendScheduler,
        inventory: Inventory,
        values: DeviceValues,
        *,
        listeners: GatewayListener,
        device_changed: Callable[[DeviceId], None],
        changes_file: AtomicJsonFile | None,
        owner: str,
        policy: ChangePolicy | None,
        rng: random.Random,
    ) -> None:
        """``device_changed``: a device's sync state moved (told once per radio event);
        ``owner``: the gateway's name, for logs."""
        self._scheduler = scheduler
        self._inventory = inventory
        self._values = values
        self._listeners = listeners
        self._device_changed = device_changed
        self._policy = policy
        self._rng = rng
        self._engine: ChangeEngine | None = None
        self._file = PendingChangesFile(
            changes_file, owner=owner, on_set_aside=listeners.file_set_aside
        )

    def current(self) -> ChangeEngine | None:
        """The engine, once started."""
        return self._engine

    @property
    def engine(self) -> ChangeEngine:
        """The engine; RuntimeError before the start."""
        if self._engine is None:
            raise RuntimeError("the gateway is not started")
        return self._engine

    async def start(self) -> None:
        """Build the engine and give it the changes pending at the last stop."""
        engine = ChangeEngine(
            self._scheduler,
            listener=_EngineEvents(
                self._device_changed, self._listeners.change_finished, self._counts_changed
            ),
            describe=self._inventory.description,
            policy=self._policy,
            rng=self._rng,
        )
        self._engine = engine
        await self._file.load(engine)

    def stop_saving(self) -> None:
        """No write later any more (the stop's last write still comes)."""
        self._file.stop()

    async def stop(self) -> None:
        """Stop the engine (``save_last`` then writes what it left pending)."""
        if self._engine is not None:
            await self._engine.stop()

    async def save_last(self) -> None:
        """The stop's write; a failure (a full disk) is logged, the stop goes on."""
        await self._file.save_last()

    async def save(self) -> None:
        """Write the pending changes now."""
        await self._file.save()

    def sync_state(self, device_id: DeviceId) -> SyncState | None:
        """See ``Gateway.sync_state``."""
        state = self._engine.sync_state(device_id) if self._engine else None
        if state is None or state in (SyncState.PENDING, SyncState.FAILED):
            return state
        if not self._values.get(device_id):
            return SyncState.UNKNOWN
        return SyncState.VERIFIED

    def _counts_changed(self, counts: ChangeCounts) -> None:
        self._file.save_soon()
        self._listeners.counts_changed(counts)
