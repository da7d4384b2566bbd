"""changes.json: the engine's pending changes across restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .changes import ChangeEngine
from .changes.pending import PendingStore
from .schemas import recover_changes
from .storage import AtomicJsonFile, SetAside, load_start_file


class PendingChangesFile:
    """Reads the engine's pending changes at the start (a damaged file is set aside and
    what it still holds is used) and writes them a moment after they moved, when asked
    (``save``), and a last time at the stop. Nothing is written before the file was read:
    a start that failed before must not replace the pending changes it holds with nothing.
    """

    def __init__(
        self,
        file: AtomicJsonFile | None,
        *,
        owner: str,
        on_set_aside: Callable[[SetAside], None],
    ) -> None:
        self._file = file
        self._owner = owner
        self._on_set_aside = on_set_aside
        self._engine: ChangeEngine | None = None
        self._loaded = False
        self._store = PendingStore(file, self._export)

    async def load(self, engine: ChangeEngine) -> None:
        """Give ``engine`` what the file holds; from now on its changes are written."""
        self._engine = engine
        if self._file is None:
            return
        saved = await load_start_file(self._file, recover_changes, self._owner, self._on_set_aside)
        if saved:
            engine.load_pending(saved)
        self._loaded = True

    def save_soon(self) -> None:
        self._store.save_soon()

    async def save(self) -> None:
        """Write now."""
        await self._store.save()

    def stop(self) -> None:
        """No write later any more (``save_last`` still writes)."""
        self._store.stop()

    async def save_last(self) -> None:
        """The write at the stop; a failure (a full disk) is logged, the stop goes on."""
        if self._engine is None:
            return
        await self._store.save_last(f"{self._owner}: the pending changes", "they are lost")

    def _export(self) -> dict[str, Any] | None:
        if self._engine is None or not self._loaded:
            return None
        return self._engine.export_pending()
