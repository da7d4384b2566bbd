"""One node's side of the link: its outbox sent in order with upstream's ``wait``
semantics, ACKs both ways, duplicate suppression, and its connection status.

A ``NodeLink`` outlives connections: a node that reconnects gets the same one, with its
outbox and receive window (which persist through ``LinkStore``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .codec import KEEPALIVE, LineKind, encode_ack, encode_message, next_message_id, parse_line
from .state import LinkStore, NodeState, OutboxEntry

_LOGGER = logging.getLogger(__name__)


class OutboxFullError(Exception):
    """The node's outbox holds as many messages as the link allows."""


class Connection(Protocol):
    """A live TCP connection of a node (see ``server.py``)."""

    serial: int
    last_rx: float
    ready: bool  # the node has spoken since it connected: data may go to it

    def write(self, data: bytes) -> None: ...

    def close(self, reason: str) -> None: ...


@dataclass(slots=True)
class NodeCounters:
    messages_in: int = 0
    duplicates_in: int = 0
    messages_out: int = 0
    retransmits: int = 0
    stray_acks: int = 0
    malformed: int = 0
    oversized: int = 0


class NodeLink:
    """A node's messages both ways, across its connections."""

    def __init__(
        self,
        state: NodeState,
        store: LinkStore,
        *,
        timeout: float,
        on_message: Callable[[str, str], None],
        on_connected: Callable[[str], None] = lambda _: None,
        on_disconnected: Callable[[str], None] = lambda _: None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self._store = store
        self._timeout = timeout
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._wall_clock = wall_clock
        self.connection: Connection | None = None
        self.connects = 0
        self.outages = 0
        self.last_seen: float | None = None  # wall-clock seconds
        self.counters = NodeCounters()
        self._acks: list[tuple[int, bytes]] = []  # (generation, ACK line) held until committed
        self._retransmit: asyncio.TimerHandle | None = None

    @property
    def node_id(self) -> str:
        return self.state.node_id

    @property
    def connected(self) -> bool:
        return self.connection is not None

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "connects": self.connects,
            "outages": self.outages,
            "last_seen": self.last_seen,
            "outbox": len(self.state.outbox),
            **{name: getattr(self.counters, name) for name in NodeCounters.__slots__},
        }

    # -- connection events ----------------------------------------------------------------

    def attach(self, connection: Connection) -> None:
        self.connection = connection
        self.connects += 1
        self.last_seen = self._wall_clock()
        self._acks.clear()
        connection.write(KEEPALIVE)  # the client writes nothing before it hears a line
        self._on_connected(self.node_id)

    def detach(self, connection: Connection) -> None:
        if connection is not self.connection:
            return
        self.connection = None
        self.outages += 1
        self._acks.clear()  # (the node retransmits what they answered; duplicates are caught)
        self._cancel_retransmit()
        self._on_disconnected(self.node_id)

    def became_ready(self, connection: Connection) -> None:
        if connection is self.connection:
            self.pump()

    def lines_received(self, connection: Connection, lines: list[bytes]) -> None:
        if connection is not self.connection:
            return
        self.last_seen = self._wall_clock()
        for raw in lines:
            line = parse_line(raw)
            if line.kind is LineKind.MESSAGE:
                self._message(line.message_id, line.payload)
            elif line.kind is LineKind.ACK:
                self._ack(connection, line.message_id)
            elif line.kind is LineKind.MALFORMED:
                self.counters.malformed += 1
                _LOGGER.debug("Node %s sent a malformed line: %r", self.node_id, raw[:80])
        self._flush_acks()

    def oversized(self, connection: Connection, starts: list[bytes]) -> None:
        """Lines longer than the link allows were dropped; their ids are ACKed (else the
        node would send them again for ever, holding back everything behind them)."""
        if connection is not self.connection:
            return
        for start in starts:
            self.counters.oversized += 1
            line = parse_line(start)
            if line.kind is LineKind.ACK:  # (two hex digits: a message id)
                self._acks.append((self._store.generation, encode_ack(line.message_id)))
        _LOGGER.warning(
            "Node %s sent %d line(s) over the link's length limit: dropped",
            self.node_id,
            len(starts),
        )
        self._flush_acks()

    # -- receiving ------------------------------------------------------------------------

    def _message(self, message_id: int, payload: str) -> None:
        # Always ACKed, duplicates too (their first ACK may have been lost), and only once
        # the id is on disk: a node that never hears the ACK sends it again.
        if self.state.window.accept(message_id, payload):
            self.counters.messages_in += 1
            generation = self._store.changed()
            self._on_message(self.node_id, payload)
        else:
            self.counters.duplicates_in += 1
            generation = self._store.generation
        self._acks.append((generation, encode_ack(message_id)))

    def committed(self, generation: int) -> None:
        """Generation ``generation`` is on disk: send the ACKs and messages it holds."""
        self._flush_acks()
        self.pump()

    def _flush_acks(self) -> None:
        if not self._acks or self.connection is None:
            return
        committed = self._store.committed
        if self._acks[-1][0] <= committed:
            ready, self._acks = self._acks, []
        else:
            ready = [ack for ack in self._acks if ack[0] <= committed]
            if not ready:
                return
            self._acks = [ack for ack in self._acks if ack[0] > committed]
        self.connection.write(b"".join(line for _, line in ready))

    # -- sending --------------------------------------------------------------------------

    def enqueue(self, payload: str, *, command: bool, limit: int) -> OutboxEntry:
        """Queue a message (its id is fixed now, and it is sent once on disk). A command
        (a JSON object of actuator values) merges into a queued command never sent yet:
        only the head of the outbox is ever on the wire."""
        outbox = self.state.outbox
        if command and len(outbox) > 1 and outbox[-1].command:
            entry = outbox[-1]
            merged = {**json.loads(entry.payload), **json.loads(payload)}
            entry.payload = json.dumps(merged, separators=(",", ":"), ensure_ascii=False)
            entry.generation = self._store.changed()
            return entry
        if len(outbox) >= limit:
            raise OutboxFullError(
                f"the outbox to node {self.node_id} holds {len(outbox)} messages, the most "
                "it may; wait until the node takes them"
            )
        entry = OutboxEntry(self.state.next_id, payload, command)
        self.state.next_id = next_message_id(entry.message_id)
        outbox.append(entry)
        entry.generation = self._store.changed()
        self.pump()  # (at once if nothing needs to be on disk first)
        return entry

    def pump(self) -> None:
        """Send the head of the outbox if it may go now: one message at a time, in order,
        each once it is on disk and the connection is ready."""
        connection = self.connection
        outbox = self.state.outbox
        if connection is None or not connection.ready or not outbox:
            return
        head = outbox[0]
        if head.generation > self._store.committed or head.sent_on == connection.serial:
            return
        self._send(connection, head)

    def _send(self, connection: Connection, entry: OutboxEntry) -> None:
        if entry.sent_on is not None:
            self.counters.retransmits += 1
        entry.sent_on = connection.serial
        loop = asyncio.get_running_loop()
        entry.sent_at = loop.time()
        connection.write(encode_message(entry.message_id, entry.payload))
        self._cancel_retransmit()
        self._retransmit = loop.call_at(entry.sent_at + self._timeout, self._ack_overdue)

    def _ack_overdue(self) -> None:
        """No ACK within the timeout: send it again on the same connection (upstream)."""
        self._retransmit = None
        connection = self.connection
        if connection is not None and self.state.outbox:
            self._send(connection, self.state.outbox[0])

    def _cancel_retransmit(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None

    def _ack(self, connection: Connection, message_id: int) -> None:
        """An ACK counts only for the message in flight, and only if it was written on
        this connection: a late ACK from an earlier connection, or one for an id not sent
        yet, satisfies nothing."""
        outbox = self.state.outbox
        if (
            not outbox
            or outbox[0].message_id != message_id
            or outbox[0].sent_on != connection.serial
        ):
            self.counters.stray_acks += 1
            _LOGGER.debug(
                "Node %s: ACK %02x matches no message in flight", self.node_id, message_id
            )
            return
        entry = outbox.pop(0)
        self._cancel_retransmit()
        self.counters.messages_out += 1
        self._store.changed()
        for waiter in entry.waiters:
            if not waiter.done():
                waiter.set_result(True)
        self.pump()

    async def wait_delivered(self, entry: OutboxEntry, within: float) -> bool:
        """Whether the node ACKed ``entry`` within ``within`` seconds."""
        if not any(queued is entry for queued in self.state.outbox):
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry.waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, within)
        except TimeoutError:
            return False
        finally:
            if waiter in entry.waiters:
                entry.waiters.remove(waiter)

    def stop(self) -> None:
        """The link stops: whoever waits for an ACK hears "not delivered" (the message
        stays queued on disk and goes after the next start)."""
        self._cancel_retransmit()
        for entry in self.state.outbox:
            for waiter in entry.waiters:
                if not waiter.done():
                    waiter.set_result(False)
