"""The Wi-Fi node link on loopback: qos messages per second per node, 100 nodes at once,
and forced outages (a socket cut every K messages) with nothing lost or repeated.

    scripts/bench link [--messages N] [--nodes N] [--outage-nodes N] [--cut-every K]
                       [--timeout-ms T] [--json]

Real sockets on 127.0.0.1 and real time (a plain asyncio loop), with the link's state
file on disk (every ACK waits for its write, fsync included). The simulated nodes are our
own code (``bench/link_node.py``), not upstream's client; they run in the same process,
so the figures include their cost. Targets: at least 2,000 qos messages/s per node,
100 nodes at once, zero lost, zero duplicated, recovery within 2 x timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from custom_components.resilient_gateway.core.model import AttributeValues, DeviceId
from custom_components.resilient_gateway.core.radio import DeviceEvent, LinkState
from custom_components.resilient_gateway.radios.wifi_node.config import LinkConfig
from custom_components.resilient_gateway.radios.wifi_node.radio import (
    NodeOutboxFullError,
    WifiNodeRadio,
)

from .common import format_table, run
from .link_node import SimNode

TARGET_PER_NODE = 2000.0
TARGET_NODES = 100


class _Quiet:
    """A RadioListener that only counts what it hears."""

    def __init__(self) -> None:
        self.reports = 0

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        self.reports += 1

    def device_seen(self, device_id: DeviceId) -> None:
        pass

    def device_announced(self, device_id: DeviceId) -> None:
        pass

    def devices_changed(self) -> None:
        pass

    def radio_state_changed(self, state: LinkState) -> None:
        pass

    def device_event(self, event: DeviceEvent) -> None:
        pass


@dataclass(slots=True)
class Settings:
    messages: int = 10000  # per node, in the throughput runs
    nodes: int = TARGET_NODES
    messages_per_node: int = 200  # in the many-nodes run
    outage_nodes: int = 10
    outage_messages: int = 300  # per node and direction... up; a third of it goes down
    cut_every: int = 50
    timeout_ms: int = 500  # in the outage run (the others use the default 2000)
    window: int = 64  # qos messages a node keeps in flight (upstream's ids allow ~120)


@dataclass(slots=True)
class Throughput:
    run: str
    nodes: int
    window: int
    messages: int
    seconds: float
    per_node_per_s: float
    total_per_s: float
    state_writes: int
    lost: int
    duplicated: int


@dataclass(slots=True)
class Outages:
    nodes: int
    timeout_ms: int
    cut_every: int
    outages: int
    cuts: int
    silences: int
    up_messages: int
    down_messages: int
    lost: int
    duplicated: int
    recovery_mean_s: float
    recovery_max_s: float
    recovery_max_timeouts: float  # the longest recovery in multiples of the timeout
    seconds: float


@dataclass(slots=True)
class Link:
    """A started link and what reached the gateway, per node."""

    radio: WifiNodeRadio
    got: dict[str, Counter[str]] = field(default_factory=dict)

    @classmethod
    async def start(cls, folder: Path, **options: Any) -> Link:
        config = LinkConfig(host="127.0.0.1", port=0, **options)
        radio = WifiNodeRadio(config, _Quiet(), state_file=folder / "link.json")
        link = cls(radio)
        radio.add_message_listener(link._message)
        await radio.start()
        return link

    def _message(self, node_id: str, payload: str) -> None:
        self.got.setdefault(node_id, Counter())[payload] += 1

    def check(self, node_id: str, sent: list[str]) -> tuple[int, int]:
        """Lost and duplicated messages of ``node_id`` at the gateway."""
        got = self.got.get(node_id, Counter())
        lost = sum(1 for payload in sent if payload not in got)
        return lost, sum(count - 1 for count in got.values() if count > 1)


def _payloads(node_id: str, count: int) -> list[str]:
    return [json.dumps({"node": node_id, "seq": n}) for n in range(count)]


async def _send_all(node: SimNode, payloads: list[str], window: int) -> None:
    """Send in order with up to ``window`` messages in flight (qos, each ACKed)."""
    source = iter(payloads)

    async def sender() -> None:
        for payload in source:
            await node.send(payload)

    await asyncio.gather(*(sender() for _ in range(window)))


async def _nodes(link: Link, count: int, window: int, **options: Any) -> list[SimNode]:
    nodes = [
        SimNode(f"node{n:03d}", link.radio.port, window=window, **options) for n in range(count)
    ]
    for node in nodes:
        node.start()
    await asyncio.gather(*(node.connected() for node in nodes))
    return nodes


async def measure_up(folder: Path, nodes: int, messages: int, window: int, name: str) -> Throughput:
    """Nodes send ``messages`` qos messages each to the gateway."""
    link = await Link.start(folder)
    sims = await _nodes(link, nodes, window)
    plans = {sim.node_id: _payloads(sim.node_id, messages) for sim in sims}
    writes = link.radio.diagnostics()["state_writes"]
    start = time.perf_counter()
    await asyncio.gather(*(_send_all(sim, plans[sim.node_id], window) for sim in sims))
    seconds = time.perf_counter() - start
    writes = link.radio.diagnostics()["state_writes"] - writes
    lost = duplicated = 0
    for node_id, sent in plans.items():
        node_lost, node_duplicated = link.check(node_id, sent)
        lost, duplicated = lost + node_lost, duplicated + node_duplicated
    for sim in sims:
        await sim.stop()
    await link.radio.stop()
    return Throughput(
        run=name,
        nodes=nodes,
        window=window,
        messages=nodes * messages,
        seconds=round(seconds, 3),
        per_node_per_s=round(messages / seconds, 1),
        total_per_s=round(nodes * messages / seconds, 1),
        state_writes=writes,
        lost=lost,
        duplicated=duplicated,
    )


async def _queue_all(radio: WifiNodeRadio, node_id: str, payloads: list[dict[str, Any]]) -> None:
    """Queue messages to a node as fast as its outbox takes them."""
    for payload in payloads:
        while True:
            try:
                await radio.send_to_node(node_id, payload)
                break
            except NodeOutboxFullError:
                await asyncio.sleep(0.002)


async def _drained(radio: WifiNodeRadio, node_ids: list[str], within: float) -> None:
    deadline = time.perf_counter() + within
    while any(radio.node_status(n)["outbox"] for n in node_ids):
        if time.perf_counter() > deadline:
            raise TimeoutError("the outboxes did not drain")
        await asyncio.sleep(0.005)


async def measure_down(folder: Path, messages: int) -> Throughput:
    """The gateway sends ``messages`` to one node: one in flight at a time (upstream's
    ``wait``), each on disk before it goes."""
    link = await Link.start(folder, wake_pause=0.0)
    (sim,) = await _nodes(link, 1, 1)
    payloads = [{"seq": n} for n in range(messages)]
    writes = link.radio.diagnostics()["state_writes"]
    start = time.perf_counter()
    await _queue_all(link.radio, sim.node_id, payloads)
    await _drained(link.radio, [sim.node_id], 600)
    seconds = time.perf_counter() - start
    writes = link.radio.diagnostics()["state_writes"] - writes
    received = Counter(sim.received)
    expected = [json.dumps(p, separators=(",", ":")) for p in payloads]
    await sim.stop()
    await link.radio.stop()
    return Throughput(
        run="gateway to node",
        nodes=1,
        window=1,
        messages=messages,
        seconds=round(seconds, 3),
        per_node_per_s=round(messages / seconds, 1),
        total_per_s=round(messages / seconds, 1),
        state_writes=writes,
        lost=sum(1 for p in expected if p not in received),
        duplicated=sum(c - 1 for c in received.values() if c > 1),
    )


async def measure_outages(folder: Path, settings: Settings) -> Outages:
    """Nodes send to the gateway and the gateway to them while every ``cut_every``
    messages a node's connection dies: a reset socket and a silent Wi-Fi outage in turn."""
    link = await Link.start(folder, timeout_ms=settings.timeout_ms)
    sims = await _nodes(link, settings.outage_nodes, 8, timeout_ms=settings.timeout_ms)
    ups = {sim.node_id: _payloads(sim.node_id, settings.outage_messages) for sim in sims}
    downs = {
        sim.node_id: [{"seq": n} for n in range(settings.outage_messages // 3)] for sim in sims
    }
    recoveries: list[float] = []
    cuts = silences = 0
    turn = itertools.count()
    loop = asyncio.get_running_loop()
    start = time.perf_counter()

    async def drive(sim: SimNode) -> None:
        nonlocal cuts, silences
        payloads = list(ups[sim.node_id])
        for first in range(0, len(payloads), settings.cut_every):
            await _send_all(sim, payloads[first : first + settings.cut_every], 8)
            if first + settings.cut_every >= len(payloads):
                break
            cut_at = loop.time()
            if next(turn) % 2:
                silences += 1
                silence = asyncio.ensure_future(sim.go_silent())
            else:
                cuts += 1
                silence = None
                sim.cut()
            # Recovered: the next message is ACKed (on a new connection).
            probe = json.dumps({"node": sim.node_id, "probe": first})
            await sim.send(probe)
            ups[sim.node_id].append(probe)
            recoveries.append(loop.time() - cut_at)
            if silence is not None:
                await silence

    await asyncio.gather(
        *(drive(sim) for sim in sims),
        *(_queue_all(link.radio, sim.node_id, downs[sim.node_id]) for sim in sims),
    )
    await _drained(link.radio, [sim.node_id for sim in sims], 60)
    seconds = time.perf_counter() - start
    lost = duplicated = 0
    for sim in sims:
        node_lost, node_duplicated = link.check(sim.node_id, ups[sim.node_id])
        received = Counter(json.loads(p)["seq"] for p in sim.received)
        lost += node_lost + sum(1 for p in downs[sim.node_id] if p["seq"] not in received)
        duplicated += node_duplicated + sum(c - 1 for c in received.values() if c > 1)
    for sim in sims:
        await sim.stop()
    await link.radio.stop()
    timeout = settings.timeout_ms / 1000
    return Outages(
        nodes=settings.outage_nodes,
        timeout_ms=settings.timeout_ms,
        cut_every=settings.cut_every,
        outages=len(recoveries),
        cuts=cuts,
        silences=silences,
        up_messages=sum(len(p) for p in ups.values()),
        down_messages=sum(len(p) for p in downs.values()),
        lost=lost,
        duplicated=duplicated,
        recovery_mean_s=round(sum(recoveries) / max(1, len(recoveries)), 3),
        recovery_max_s=round(max(recoveries, default=0.0), 3),
        recovery_max_timeouts=round(max(recoveries, default=0.0) / timeout, 2),
        seconds=round(seconds, 3),
    )


async def measure_all(settings: Settings, folder: Path) -> tuple[list[Throughput], Outages]:
    runs = [
        await measure_up(folder / "a", 1, settings.messages, settings.window, "node to gateway"),
        await measure_up(folder / "b", 1, settings.messages // 10, 1, "node to gateway, wait=True"),
        await measure_down(folder / "c", settings.messages // 5),
        await measure_up(
            folder / "d",
            settings.nodes,
            settings.messages_per_node,
            settings.window,
            f"{settings.nodes} nodes at once",
        ),
    ]
    return runs, await measure_outages(folder / "e", settings)


def table(runs: list[Throughput], outages: Outages) -> str:
    rows = [
        [
            r.run,
            str(r.nodes),
            str(r.window),
            str(r.messages),
            f"{r.per_node_per_s:,.0f}",
            f"{r.total_per_s:,.0f}",
            str(r.state_writes),
            f"{r.lost}/{r.duplicated}",
        ]
        for r in runs
    ]
    header = ["run", "nodes", "window", "messages", "msg/s/node", "msg/s", "writes", "lost/dup"]
    best = max(r.per_node_per_s for r in runs if r.nodes == 1)
    many = next((r for r in runs if r.nodes >= TARGET_NODES), None)
    return "\n".join(
        [
            "Wi-Fi node link on loopback (qos, state file fsynced before every ACK)",
            format_table(header, rows),
            f"outages: {outages.nodes} nodes, timeout {outages.timeout_ms} ms, a socket cut "
            f"every {outages.cut_every} messages ({outages.cuts} resets, {outages.silences} "
            f"silent outages); {outages.up_messages} messages up, {outages.down_messages} "
            f"down: {outages.lost} lost, {outages.duplicated} duplicated; recovery mean "
            f"{outages.recovery_mean_s:.3f} s, max {outages.recovery_max_s:.3f} s "
            f"({outages.recovery_max_timeouts:.2f} x timeout)",
            "targets: "
            f"{'met' if best >= TARGET_PER_NODE else 'MISSED'} >= 2,000 msg/s per node "
            f"({best:,.0f}); "
            f"{'met' if many is not None and many.lost == 0 else 'MISSED'} 100 nodes at once; "
            f"{'met' if outages.lost == outages.duplicated == 0 else 'MISSED'} zero lost and "
            "duplicated; "
            f"{'met' if outages.recovery_max_timeouts <= 2 else 'MISSED'} recovery within "
            "2 x timeout",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.link", description=__doc__.splitlines()[0])
    defaults = Settings()
    parser.add_argument("--messages", type=int, default=defaults.messages)
    parser.add_argument("--nodes", type=int, default=defaults.nodes)
    parser.add_argument("--messages-per-node", type=int, default=defaults.messages_per_node)
    parser.add_argument("--outage-nodes", type=int, default=defaults.outage_nodes)
    parser.add_argument("--outage-messages", type=int, default=defaults.outage_messages)
    parser.add_argument("--cut-every", type=int, default=defaults.cut_every)
    parser.add_argument("--timeout-ms", type=int, default=defaults.timeout_ms)
    parser.add_argument("--window", type=int, default=defaults.window)
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    settings = Settings(
        messages=args.messages,
        nodes=args.nodes,
        messages_per_node=args.messages_per_node,
        outage_nodes=args.outage_nodes,
        outage_messages=args.outage_messages,
        cut_every=args.cut_every,
        timeout_ms=args.timeout_ms,
        window=args.window,
    )
    with tempfile.TemporaryDirectory(prefix="bench-link-") as folder:
        runs, outages = run(measure_all(settings, Path(folder)), real_time=True)
    print(table(runs, outages))
    if args.json:
        document = {"runs": [asdict(r) for r in runs], "outages": asdict(outages)}
        print(json.dumps({"bench": "link", **document}, sort_keys=True))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
