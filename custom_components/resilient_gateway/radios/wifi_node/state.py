"""What a link keeps of its nodes across restarts, written in group commits.

Every node's outbox (with the ids its messages carry), the id its next message gets, its
receive window and its fields live in one atomic JSON file per link. A message is sent
only once it is on disk, and a received message is ACKed only once its id is: so neither
a restart of the gateway nor one of the node loses or repeats a message. One write covers
whatever changed meanwhile (a group commit), so the disk's latency bounds how often the
file is written, not how many messages flow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ...core.model import FieldDescription
from ...core.storage import AtomicJsonFile, SetAside
from .codec import NODE_ID, ReceiveWindow
from .reports import field_from_dict, field_to_dict

_LOGGER = logging.getLogger(__name__)

STATE_FORMAT: Final = 1
RETRY_WRITE: Final = 1.0  # s before a failed write (a full disk) is tried again
GATHER: Final = 0.002
"""s a write waits for more changes to join it: a node refilling its window of messages
in flight sends them within a moment, and one write (some 10 ms with its fsyncs) then
covers them all instead of the first few."""


@dataclass(slots=True, eq=False)
class OutboxEntry:
    """A message to a node, with its id fixed when it was queued."""

    message_id: int
    payload: str
    command: bool = False  # an actuator command: a newer one merges into it while unsent
    generation: int = 0  # the store generation that holds it (sent once committed)
    sent_on: int | None = None  # the connection it was last written to
    sent_at: float = 0.0
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)


@dataclass(slots=True)
class NodeState:
    node_id: str
    next_id: int = 0  # 0: nothing was ever sent, the first message restarts the node's memory
    outbox: list[OutboxEntry] = field(default_factory=list)
    window: ReceiveWindow = field(default_factory=ReceiveWindow)
    fields: dict[str, FieldDescription] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "next_id": self.next_id,
            "outbox": [[e.message_id, e.payload, e.command] for e in self.outbox],
            "window": self.window.as_dict(),
            "fields": {name: field_to_dict(f) for name, f in sorted(self.fields.items())},
        }

    @classmethod
    def from_dict(cls, node_id: str, data: Mapping[str, Any]) -> NodeState:
        if not NODE_ID.fullmatch(node_id):
            raise ValueError(f"{node_id!r} is not a node ID")
        next_id = int(data.get("next_id", 0))
        if not 0 <= next_id <= 255:
            raise ValueError("next_id out of range")
        outbox = [
            OutboxEntry(int(mid), str(payload), bool(command))
            for mid, payload, command in data.get("outbox", ())
        ]
        return cls(
            node_id,
            next_id,
            outbox,
            ReceiveWindow.from_dict(dict(data.get("window") or {})),
            {str(n): field_from_dict(str(n), f) for n, f in dict(data.get("fields", {})).items()},
        )


def recover_nodes(document: Any) -> tuple[dict[str, NodeState] | None, str | None]:
    """The nodes a state file holds; a node entry that cannot be read is dropped (and the
    file set aside by the caller)."""
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), dict):
        return None, "it is not a link state document"
    nodes: dict[str, NodeState] = {}
    problems: list[str] = []
    for node_id, data in document["nodes"].items():
        try:
            nodes[node_id] = NodeState.from_dict(node_id, data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"node {node_id!r}: {exc}")
    return nodes, "; ".join(problems) or None


class LinkStore:
    """Group commits of the link's state. ``changed()`` names the generation that holds a
    change; commit listeners hear each generation once it is on disk."""

    def __init__(self, file: AtomicJsonFile | None, export: Callable[[], dict[str, Any]]) -> None:
        self._file = file
        self._export = export
        self.generation = 0
        self.committed = 0
        self._listeners: list[Callable[[int], None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._failing = False
        self._stopping = False
        self.writes = 0

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    async def load(self) -> tuple[dict[str, NodeState], SetAside | None]:
        if self._file is None:
            return {}, None
        nodes, set_aside = await self._file.load_recovering(recover_nodes)
        if set_aside is not None:
            _LOGGER.warning(
                "The Wi-Fi node link's state %s could not be used (%s); it was kept as %s",
                set_aside.path,
                set_aside.problem,
                set_aside.aside.name,
            )
        return nodes or {}, set_aside

    def changed(self) -> int:
        """Something to keep changed: the generation whose commit will hold it."""
        self.generation += 1
        if self._file is None:
            self.committed = self.generation
        elif self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return self.generation

    async def _write(self) -> None:
        try:
            await asyncio.sleep(GATHER)
            while self.committed < self.generation:
                generation = self.generation
                document = {"version": STATE_FORMAT, **self._export()}
                assert self._file is not None
                try:
                    await self._file.save(document)
                except OSError as exc:
                    if self._stopping:
                        _LOGGER.error(
                            "The Wi-Fi node link could not write %s at its stop (%s): what "
                            "changed since the last write is not kept",
                            self._file.path,
                            exc,
                        )
                        return
                    if not self._failing:
                        _LOGGER.error(
                            "The Wi-Fi node link cannot write %s (%s): messages wait",
                            self._file.path,
                            exc,
                        )
                    self._failing = True
                    await asyncio.sleep(RETRY_WRITE)
                    continue
                if self._failing:
                    _LOGGER.warning("The Wi-Fi node link writes %s again", self._file.path)
                    self._failing = False
                self.writes += 1
                self.committed = generation
                for listener in tuple(self._listeners):
                    listener(generation)
        finally:
            self._writer = None

    async def flush(self) -> None:
        """Wait until everything changed so far is on disk (or the writer was stopped)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def stop(self) -> None:
        """Write what is left (tried once more if the disk refuses), then stop."""
        self._stopping = True
        try:
            await self.flush()
        finally:
            self._stopping = False
