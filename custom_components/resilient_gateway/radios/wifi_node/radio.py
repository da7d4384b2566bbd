"""A Wi-Fi node link as a radio of the gateway: each node a device, its JSON fields its
values, its declared actuators commands the change engine verifies.

The link has no network identity to back up: its snapshot section holds the nodes and
their fields, and a restore brings those devices back (their outboxes and receive
windows live in the link's own state file, see ``state.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ...core.model import (
    Attr,
    AttributeValues,
    DeviceDescription,
    DeviceId,
    DeviceKind,
    GroupDescription,
)
from ...core.radio import (
    DeliveryError,
    LinkState,
    NoResponseError,
    RadioBudget,
    RadioError,
    RadioListener,
    UnsupportedValue,
)
from ...core.storage import AtomicJsonFile
from .codec import NODE_ID, encode_message
from .config import LinkConfig
from .node import NodeLink, OutboxFullError
from .reports import ReportError, field_from_dict, field_to_dict, fits, merge_fields, parse_report
from .server import LinkServer
from .state import LinkStore, NodeState

_LOGGER = logging.getLogger(__name__)

SECTION: Final = "wifi_node"
STATE_FILE_NAME: Final = "wifi_nodes.json"
"""The link's state file in its entry's folder (outboxes, receive windows, fields)."""
MODEL: Final = "micropython-iot node"

type MessageListener = Callable[[str, str], None]
type ConnectionListener = Callable[[str, bool], None]


@dataclass(slots=True, eq=False)
class _PendingRead:
    """A read waiting for the node's next report of ``wanted``."""

    wanted: frozenset[str]
    future: asyncio.Future[None]
    found: dict[str, Any] = field(default_factory=dict)


class UnknownNodeError(RadioError):
    """No node of that ID is known to the link."""


class NodeOutboxFullError(RadioError):
    """The node's outbox is full (the node has not taken what was queued for it)."""


class WifiNodeRadio:
    """A micropython-iot compatible server whose nodes are the gateway's devices."""

    def __init__(
        self,
        config: LinkConfig,
        listener: RadioListener,
        *,
        state_file: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._listener = listener
        self._wall_clock = wall_clock
        self._store = LinkStore(
            AtomicJsonFile(state_file) if state_file is not None else None, self._export_state
        )
        self._store.add_commit_listener(self._committed)
        self._server = LinkServer(config, self)
        self._nodes: dict[str, NodeLink] = {}
        self._loaded = False
        self._state = LinkState.DOWN
        self._message_listeners: list[MessageListener] = []
        self._connection_listeners: list[ConnectionListener] = []
        self._reads: dict[str, list[_PendingRead]] = {}
        self.reports_malformed = 0

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def budget(self) -> RadioBudget:
        # Nodes take one message at a time each; the link itself is no bottleneck.
        return RadioBudget(unicasts_per_s=200.0, groupcasts_per_s=1.0, max_in_flight=64)

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self, *, form_new_network: bool = False) -> None:
        if not self._loaded:
            try:
                nodes, _ = await self._store.load()
            except OSError as exc:
                raise RadioError(
                    f"the Wi-Fi node link's state cannot be read: {exc.strerror or exc}"
                ) from exc
            for node_id, node_state in nodes.items():
                self._nodes[node_id] = self._link(node_state)
            for node_id in sorted(self.config.expected - nodes.keys()):
                # (A device before its first connection: messages can be queued for it.)
                self._nodes[node_id] = self._link(NodeState(node_id))
            self._loaded = True
        try:
            await self._server.start()
        except OSError as exc:
            raise RadioError(
                f"the Wi-Fi node link cannot listen on {self.config.host}:{self.config.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._state = LinkState.UP
        self._listener.devices_changed()

    async def stop(self) -> None:
        await self._server.stop()
        for node in self._nodes.values():
            node.stop()
        for waits in self._reads.values():
            for pending in waits:
                pending.future.cancel()
        self._reads.clear()
        await self._store.stop()
        self._state = LinkState.DOWN

    async def probe(self) -> None:
        if not self._server.listening:
            raise RadioError("the Wi-Fi node link is not listening")

    async def reconnect(self) -> None:
        await self._server.stop()
        await self.start()

    async def restart(self) -> None:
        await self.reconnect()

    @property
    def has_standby(self) -> bool:
        return False

    async def failover(self, section: Mapping[str, Any]) -> None:
        raise RadioError("a Wi-Fi node link has no standby")

    def diagnostics(self) -> dict[str, Any]:
        return {
            "listening": self._server.listening,
            "port": self.port,
            "timeout_ms": self.config.timeout_ms,
            "authenticated": self.config.secret is not None,
            "refused_connections": self._server.refused,
            "state_writes": self._store.writes,
            "nodes": {node_id: node.status() for node_id, node in sorted(self._nodes.items())},
        }

    # -- nodes ----------------------------------------------------------------------------

    def _link(self, node_state: NodeState) -> NodeLink:
        return NodeLink(
            node_state,
            self._store,
            timeout=self.config.timeout,
            on_message=self._message,
            on_connected=self._connected,
            on_disconnected=self._disconnected,
            wall_clock=self._wall_clock,
        )

    def refusal(self, node_id: str) -> str | None:
        if node_id in self._nodes or node_id in self.config.expected:
            return None
        if not self.config.accept_unknown:
            return "not an expected node ID (unknown nodes are not accepted)"
        if len(self._nodes) >= self.config.max_nodes:
            return f"the link already has the most nodes it may ({self.config.max_nodes})"
        return None

    def node(self, node_id: str) -> NodeLink:
        node = self._nodes.get(node_id)
        if node is None:
            node = self._nodes[node_id] = self._link(NodeState(node_id))
            self._store.changed()
            self._listener.devices_changed()
        return node

    def node_status(self, node_id: str) -> dict[str, Any]:
        """``connected``, ``outages``, ``last_seen`` (and counters) of one node."""
        return self._known(node_id).status()

    def _known(self, node_id: str) -> NodeLink:
        node = self._nodes.get(node_id)
        if node is None:
            raise UnknownNodeError(f"no Wi-Fi node {node_id!r} is known to this link")
        return node

    def add_connection_listener(self, listener: ConnectionListener) -> Callable[[], None]:
        """Hear every node connecting (``node_id``, True) and losing its link (False)."""
        self._connection_listeners.append(listener)
        return lambda: self._connection_listeners.remove(listener)

    def _connected(self, node_id: str) -> None:
        # (Back from an outage or a reboot: what it was told may not have reached it.)
        self._listener.device_announced(node_id)
        for listener in tuple(self._connection_listeners):
            listener(node_id, True)

    def _disconnected(self, node_id: str) -> None:
        for listener in tuple(self._connection_listeners):
            listener(node_id, False)

    def add_message_listener(self, listener: MessageListener) -> Callable[[], None]:
        """Hear every new message from any node (``node_id``, payload), once each."""
        self._message_listeners.append(listener)
        return lambda: self._message_listeners.remove(listener)

    def _committed(self, generation: int) -> None:
        for node in self._nodes.values():
            node.committed(generation)

    def _export_state(self) -> dict[str, Any]:
        return {"nodes": {node_id: n.state.as_dict() for node_id, n in self._nodes.items()}}

    def _message(self, node_id: str, payload: str) -> None:
        for listener in tuple(self._message_listeners):
            listener(node_id, payload)
        node = self._nodes[node_id]
        try:
            report = parse_report(payload)
        except ReportError as exc:
            self.reports_malformed += 1
            _LOGGER.debug("Node %s sent a message that is no report (%s)", node_id, exc)
            self._listener.device_seen(node_id)
            return
        fields, readings, misfits = merge_fields(node.state.fields, report)
        if report.ignored or misfits:
            _LOGGER.debug("Node %s: %d field(s) ignored", node_id, report.ignored + misfits)
        if fields != node.state.fields:
            node.state.fields = fields
            self._store.changed()
            self._listener.devices_changed()
        if readings:
            self._listener.attributes_reported(node_id, readings)
            self._answer_reads(node_id, readings)
        else:
            self._listener.device_seen(node_id)

    # -- inventory ------------------------------------------------------------------------

    def devices(self) -> list[DeviceDescription]:
        return [self._describe(node) for node in self._nodes.values()]

    def _describe(self, node: NodeLink) -> DeviceDescription:
        return DeviceDescription(
            device_id=node.node_id,
            name=f"Wi-Fi node {node.node_id}",
            kind=DeviceKind.OTHER,
            model=MODEL,
            fields=tuple(node.state.fields[name] for name in sorted(node.state.fields)),
        )

    def groups(self) -> list[GroupDescription]:
        return []

    # -- messages to nodes ----------------------------------------------------------------

    async def send_to_node(
        self,
        node_id: str,
        payload: Mapping[str, Any],
        *,
        wait: bool = False,
        ack_timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Queue a JSON object for the node (delivered exactly once, in order, across
        outages and restarts); with ``wait``, until its ACK or ``ack_timeout`` s.

        UnknownNodeError, NodeOutboxFullError, ValueError (not a JSON object, or longer
        than a line may be).
        """
        node = self._known(node_id)
        try:
            entry = node.enqueue(self._encode(payload), command=False, limit=self.config.max_outbox)
        except OutboxFullError as exc:
            raise NodeOutboxFullError(str(exc)) from exc
        delivered = await node.wait_delivered(entry, ack_timeout) if wait else False
        return {"delivered": delivered, "message_id": entry.message_id}

    def _encode(self, payload: Mapping[str, Any]) -> str:
        if not isinstance(payload, Mapping):
            raise ValueError("the payload must be a JSON object")
        try:
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the payload is not JSON: {exc}") from exc
        if len(encode_message(0, text)) - 1 > self.config.max_line:
            raise ValueError(f"the payload is longer than a line may be ({self.config.max_line})")
        return text

    # -- the radio contract ---------------------------------------------------------------

    async def send(
        self, device_id: DeviceId, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        """Queue a command setting actuator fields; verified by the node's next report.
        A node that is not connected refuses it (DeliveryError: the scheduler retries),
        so commands do not pile up in the outbox while it is away."""
        node = self._nodes.get(device_id)
        if node is None:
            raise DeliveryError(f"unknown Wi-Fi node {device_id}")
        for name, value in values.items():
            if (problem := self._field_problem(node, name, value)) is not None:
                raise DeliveryError(f"node {device_id}: {problem} ({name}={value!r})")
        if not node.connected:
            raise DeliveryError(f"node {device_id} is not connected")
        payload = {str(name): value for name, value in values.items()}
        try:
            node.enqueue(self._encode(payload), command=True, limit=self.config.max_outbox)
        except OutboxFullError as exc:
            raise DeliveryError(str(exc)) from exc

    def check_values(self, device_id: DeviceId | None, values: AttributeValues) -> None:
        """Only a node's declared actuators, with values of their kind."""
        node = self._nodes.get(device_id) if device_id is not None else None
        for name, value in values.items():
            if (problem := self._field_problem(node, name, value)) is not None:
                raise UnsupportedValue(name, value, problem)

    @staticmethod
    def _field_problem(node: NodeLink | None, name: str, value: Any) -> str | None:
        """Why ``value`` cannot be written to the node's field ``name`` (None: it can)."""
        known = node.state.fields.get(str(name)) if node is not None else None
        if known is None or not known.writable:
            return "the node has no such actuator"
        if not fits(known.kind, value):
            return f"the node's {name} is a {known.kind}"
        return None

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        """A node cannot be asked: a read waits for its next report of these fields."""
        node = self._nodes.get(device_id)
        if node is None or not node.connected:
            raise NoResponseError(f"node {device_id} is not connected")
        pending = _PendingRead(
            frozenset(str(a) for a in attributes), asyncio.get_running_loop().create_future()
        )
        waits = self._reads.setdefault(device_id, [])
        waits.append(pending)
        try:
            await asyncio.wait_for(pending.future, self.config.read_wait)
        except TimeoutError:
            raise NoResponseError(
                f"node {device_id} did not report {sorted(pending.wanted)}"
            ) from None
        finally:
            waits.remove(pending)
        return pending.found  # type: ignore[return-value]  # (field names, not only Attr)

    def _answer_reads(self, node_id: str, readings: Mapping[str, Any]) -> None:
        for pending in self._reads.get(node_id, ()):
            pending.found.update((n, v) for n, v in readings.items() if n in pending.wanted)
            if pending.wanted <= pending.found.keys() and not pending.future.done():
                pending.future.set_result(None)

    async def send_group(
        self, group_id: int, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        raise DeliveryError("Wi-Fi nodes have no groups")

    def frames_to_send(self, values: AttributeValues) -> int:
        return 1

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        return 1

    async def recall_scene(self, group_id: int, scene_id: int) -> None:
        raise DeliveryError("Wi-Fi nodes have no scenes")

    async def store_scene(
        self, device_id: DeviceId, group_id: int, scene_id: int, values: AttributeValues
    ) -> None:
        raise DeliveryError("Wi-Fi nodes have no scenes")

    async def ping(self, device_id: DeviceId) -> None:
        """A connected node answers keepalives within the timeout: it is there."""
        node = self._nodes.get(device_id)
        if node is None or not node.connected:
            raise NoResponseError(f"node {device_id} is not connected")

    async def configure_device(
        self,
        device_id: DeviceId,
        groups: Collection[int],
        scenes: Collection[tuple[int, int, AttributeValues]],
    ) -> None:
        """Nothing to configure: a node reports by itself."""

    def configuration_frames(
        self, device_id: DeviceId, groups: Collection[int], scene_count: int
    ) -> int:
        return 1

    # -- snapshots ------------------------------------------------------------------------

    @property
    def section_name(self) -> str:
        return SECTION

    def network_id(self) -> str | None:
        return f"wifi-node-link:{self.config.port}"

    async def export_section(self) -> dict[str, Any]:
        """The nodes and their fields (outboxes and receive windows stay in the state
        file: a snapshot restored later must not send or accept anything twice)."""
        return {
            "nodes": {
                node_id: {
                    "fields": {n: field_to_dict(f) for n, f in sorted(node.state.fields.items())}
                }
                for node_id, node in sorted(self._nodes.items())
            }
        }

    async def export_network(self) -> dict[str, Any]:
        return await self.export_section()

    async def write_network_identity(
        self, section: Mapping[str, Any], *, force: bool = False
    ) -> None:
        """Nothing to write: a link has no network identity."""

    async def adopt(self, section: Mapping[str, Any]) -> list[DeviceId]:
        adopted: list[DeviceId] = []
        for node_id, data in dict(section.get("nodes", {})).items():
            if node_id in self._nodes:
                continue
            fields = {str(n): field_from_dict(str(n), f) for n, f in data["fields"].items()}
            self._nodes[node_id] = self._link(NodeState(node_id, fields=fields))
            adopted.append(node_id)
        if adopted:
            self._store.changed()
            self._listener.devices_changed()
        return adopted

    def check_section(self, section: Mapping[str, Any]) -> None:
        nodes = section.get("nodes")
        if not isinstance(nodes, Mapping):
            raise ValueError("the Wi-Fi node section holds no nodes")
        for node_id, data in nodes.items():
            if not isinstance(node_id, str) or not NODE_ID.fullmatch(node_id):
                raise ValueError(f"{node_id!r} is not a node ID")
            try:
                for name, described in dict(data["fields"]).items():
                    field_from_dict(str(name), described)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValueError(f"node {node_id}: its fields cannot be read ({exc})") from exc
