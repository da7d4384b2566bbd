"""Firmware updates: one OTA image to 1, 10 and 50 lights on lossy air (issue 15).

For each number of lights and loss: a house of four times as many lights (the kinds
cycle, so a quarter are colour lights), a scene stored on the "All lights" group, then the
colour lights are updated with one image from the local firmware folder (their update
wipes their scene table, so the verification afterwards has something to repair).
Measured, in simulated time: the time per update and in total; the frames the transfers
put on air per image byte against the minimum (one request and one answer per block);
the time from a user command to its verification on an idle network and while the
transfers run (a command to a light that is not being updated every few seconds); and
whether every light holds its group and scene entries afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from zigpy.zcl.clusters.general import Ota

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.firmware import (
    FirmwareCatalog,
    FirmwareFolder,
    FirmwareUpdater,
    GatewayFirmwareHooks,
    UpdateFailed,
    UpdatePolicy,
    UpdateResult,
)
from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.radios.virtual import (
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file
from custom_components.resilient_gateway.radios.virtual.house import ALL_LIGHTS_GROUP_ID
from custom_components.resilient_gateway.radios.zigbee.ota import MAX_BLOCK_SIZE, parse_ota_file
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from .common import format_table, run

NEW_VERSION = 0x01020000
COMMAND_INTERVAL = 2.0  # seconds between user commands while transfers run
IDLE_COMMANDS = 60
LATENCY_GOAL = 1.2


@dataclass(frozen=True, slots=True)
class Settings:
    lights: tuple[int, ...] = (1, 10, 50)
    losses: tuple[float, ...] = (0.05, 0.2)
    size: int = 300_000
    seed: int = 1
    share: float = UpdatePolicy().share
    parallel: int = UpdatePolicy().parallel
    latency: float = 0.03  # one-way, seconds (as the restore benchmark's air)
    jitter: float = 0.02


@dataclass(slots=True)
class Outcome:
    lights: int
    loss: float
    updated: int = 0
    failed: list[str] = field(default_factory=list)
    per_update_s: list[float] = field(default_factory=list)
    total_s: float = 0.0
    radio_frames: int = 0  # coordinator transmissions during the transfers (retries too)
    uplink_frames: int = 0  # device transmissions (requests, their retries, reports)
    blocks_answered: int = 0
    minimum_blocks: int = 0
    idle_latency: list[float] = field(default_factory=list)
    busy_latency: list[float] = field(default_factory=list)
    commands_failed: int = 0
    tables_intact: bool = False
    repaired: int = 0

    def frames_per_byte(self, size: int) -> float:
        return (self.radio_frames + self.uplink_frames) / (self.lights * size)

    def minimum_per_byte(self, size: int) -> float:
        return 2 * self.minimum_blocks / (self.lights * size)

    def latency_ratio(self) -> float:
        idle = statistics.median(self.idle_latency) if self.idle_latency else math.nan
        busy = statistics.median(self.busy_latency) if self.busy_latency else math.nan
        return busy / idle if idle else math.nan


def _radio(air: VirtualAir) -> Any:
    def radio(listener: RadioListener) -> ZigbeeRadio:
        config = {"device": {"path": air.path}, "database_path": None}
        return ZigbeeRadio(VirtualControllerApplication, config, listener)

    return radio


async def _command_latency(gateway: Gateway, device_id: str, outcome: Outcome) -> float | None:
    """Toggle a light; seconds until the engine verified it (None: it failed)."""
    loop = asyncio.get_running_loop()
    on = not bool(gateway.values(device_id).get(Attr.ON))
    start = loop.time()
    result = await gateway.set_state(device_id, {Attr.ON: on}).wait()
    if result.status is not ChangeStatus.VERIFIED:
        outcome.commands_failed += 1
        return None
    return loop.time() - start


async def measure(settings: Settings, lights: int, loss: float, folder: Path) -> Outcome:
    outcome = Outcome(lights=lights, loss=loss)
    spec = VirtualNetworkSpec(
        network=f"bench-ota-{lights}-{loss}",
        lights=4 * lights,
        sensors=0,
        sleepy_sensors=0,
        loss=loss,
        seed=settings.seed,
        latency=settings.latency,
        jitter=settings.jitter,
        save_delay=0.0,
    )
    air = await VirtualAir.load_or_create(spec, None)
    gateway = Gateway(_radio(air), rng=random.Random(settings.seed))
    radio = gateway.radio
    assert isinstance(radio, ZigbeeRadio)
    policy = UpdatePolicy(share=settings.share, parallel=settings.parallel, deadline=7 * 86400.0)
    catalog = FirmwareCatalog(await FirmwareFolder(folder, parse_ota_file).images())
    updater = FirmwareUpdater(radio.firmware, GatewayFirmwareHooks(gateway), catalog, policy=policy)
    loop = asyncio.get_running_loop()
    try:
        await gateway.start()
        app = radio.app
        assert isinstance(app, VirtualControllerApplication)
        await app.wait_until_interviewed()
        pairing_over = max(device.pairing_until for device in air.devices.values())
        await asyncio.sleep(max(0.0, pairing_over - loop.time()) + 5.0)
        await updater.start()
        scene, _ = await gateway.store_scene(ALL_LIGHTS_GROUP_ID, "Bench")
        targets = [d for d in air.devices.values() if d.kind is SimKind.COLOR_LIGHT][:lights]
        others = [str(d.ieee) for d in air.devices.values() if d.kind is not SimKind.COLOR_LIGHT]
        for index in range(IDLE_COMMANDS):
            latency = await _command_latency(gateway, others[index % len(others)], outcome)
            if latency is not None:
                outcome.idle_latency.append(latency)
            await asyncio.sleep(1.0)
        await asyncio.sleep(10.0)
        air.reset_stats()
        started = loop.time()

        async def one(device_id: str) -> None:
            begin = loop.time()
            try:
                result: UpdateResult = await updater.install(device_id)
            except UpdateFailed as failure:
                outcome.failed.append(f"{device_id}: {failure.reason}")
                return
            outcome.updated += 1
            outcome.repaired += len(result.repaired)
            outcome.per_update_s.append(loop.time() - begin)

        updates = [asyncio.ensure_future(one(str(d.ieee))) for d in targets]
        index = 0
        while not all(task.done() for task in updates):
            latency = await _command_latency(gateway, others[index % len(others)], outcome)
            index += 1
            if latency is not None:
                outcome.busy_latency.append(latency)
            await asyncio.sleep(COMMAND_INTERVAL)
        await asyncio.gather(*updates)
        outcome.total_s = loop.time() - started
        outcome.radio_frames = air.stats.radio_frames
        outcome.uplink_frames = air.stats.uplink_unicasts
        outcome.blocks_answered = updater.answers_sent
        outcome.minimum_blocks = lights * math.ceil(settings.size / MAX_BLOCK_SIZE)
        await asyncio.sleep(30.0)
        versions_ok = all(
            int(d.endpoint.get(Ota, "current_file_version", 0)) == NEW_VERSION for d in targets
        )
        key = (ALL_LIGHTS_GROUP_ID, scene.scene_id)
        outcome.tables_intact = versions_ok and all(
            ALL_LIGHTS_GROUP_ID in d.endpoint.groups and key in d.endpoint.scenes
            for d in air.devices.values()
        )
    finally:
        await updater.stop()
        await gateway.stop()
        await air.stop()
    return outcome


async def measure_all(settings: Settings, folder: Path) -> list[Outcome]:
    firmware = folder / "firmware"
    firmware.mkdir(parents=True, exist_ok=True)
    image = ota_file(SimKind.COLOR_LIGHT, NEW_VERSION, size=settings.size)
    await asyncio.get_running_loop().run_in_executor(
        None, (firmware / "color_light.ota").write_bytes, image
    )
    return [
        await measure(settings, lights, loss, firmware)
        for loss in settings.losses
        for lights in settings.lights
    ]


def measure_row(settings: Settings, lights: int, loss: float, verbose: bool = False) -> Outcome:
    """One row on a loop of its own, as a process of its own would measure it."""
    if not verbose:
        logging.getLogger("custom_components.resilient_gateway").setLevel(logging.CRITICAL)
        logging.getLogger("zigpy").setLevel(logging.CRITICAL)
    row = replace(settings, lights=(lights,), losses=(loss,))
    with tempfile.TemporaryDirectory(prefix="bench-ota-") as folder:
        [outcome] = run(measure_all(row, Path(folder)))
    return outcome


def run_rows(settings: Settings, jobs: int, verbose: bool = False) -> list[Outcome]:
    """Every row (lights by loss), each on a fresh loop, in ``jobs`` worker processes
    (1: one after another in this one); in the table's order."""
    rows = [(lights, loss) for loss in settings.losses for lights in settings.lights]
    wall_start = time.perf_counter()

    def progress(outcome: Outcome) -> None:
        print(
            f"  {outcome.lights} @ {outcome.loss} done after"
            f" {time.perf_counter() - wall_start:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    if jobs <= 1 or len(rows) <= 1:
        outcomes = []
        for lights, loss in rows:
            outcomes.append(measure_row(settings, lights, loss, verbose))
            progress(outcomes[-1])
        return outcomes
    with ProcessPoolExecutor(max_workers=min(jobs, len(rows))) as pool:
        # The most lights first: the longest rows do not end up queued behind the others.
        futures = {
            row: pool.submit(measure_row, settings, *row, verbose)
            for row in sorted(rows, key=lambda row: -row[0])
        }
        for future in as_completed(futures.values()):
            progress(future.result())
        return [futures[row].result() for row in rows]


def _summary(values: list[float]) -> dict[str, float]:
    """Median, 90th percentile and count of a list of seconds."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "median": round(statistics.median(ordered), 4),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def table(settings: Settings, outcomes: list[Outcome]) -> str:
    rows = []
    for o in outcomes:
        rows.append(
            [
                f"{o.lights} @ {o.loss}",
                f"{o.updated}/{o.lights}",
                f"{_median(o.per_update_s) / 60:.1f} min",
                f"{o.total_s / 60:.1f} min",
                f"{o.frames_per_byte(settings.size) * 1000:.1f}",
                f"{o.frames_per_byte(settings.size) / o.minimum_per_byte(settings.size):.2f}",
                f"{_median(o.idle_latency):.2f} s",
                f"{_median(o.busy_latency):.2f} s",
                f"{o.latency_ratio():.2f}" + (" ✔" if o.latency_ratio() <= LATENCY_GOAL else " ✘"),
                "yes" if o.tables_intact else "NO",
                str(o.repaired),
            ]
        )
    header = [
        "lights @ loss",
        "updated",
        "per update",
        "total",
        "frames/kB",
        "÷ minimum",
        "cmd idle",
        "cmd busy",
        "busy/idle",
        "tables intact",
        "repaired",
    ]
    return (
        f"One {settings.size // 1000} kB image, share {settings.share} of the unicast budget,"
        f" {settings.parallel} transfers at once, seed {settings.seed}\n"
        + format_table(header, rows)
    )


def _tuple[T](kind: type[T]) -> Any:
    def parse(text: str) -> tuple[T, ...]:
        return tuple(kind(part) for part in text.split(",") if part.strip())  # type: ignore[call-arg]

    return parse


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.ota", description=__doc__.splitlines()[0])
    defaults = Settings()
    parser.add_argument("--lights", type=_tuple(int), default=defaults.lights, help="e.g. 1,10,50")
    parser.add_argument("--loss", type=_tuple(float), default=defaults.losses, help="e.g. 0.05,0.2")
    parser.add_argument("--size", type=int, default=defaults.size, help="image bytes")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--share", type=float, default=defaults.share)
    parser.add_argument("--parallel", type=int, default=defaults.parallel)
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="rows measured at once, each in a process of its own (default: 2, or 1 on a"
        " single core)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the gateway's warnings")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    settings = Settings(
        lights=args.lights,
        losses=args.loss,
        size=args.size,
        seed=args.seed,
        share=args.share,
        parallel=args.parallel,
    )
    wall_start = time.perf_counter()
    outcomes = run_rows(settings, args.jobs, args.verbose)
    print(table(settings, outcomes))
    processes = max(1, min(args.jobs, len(settings.lights) * len(settings.losses)))
    print(f"  wall time {time.perf_counter() - wall_start:.1f} s with {processes} process(es)")
    if args.json:
        document = {
            "bench": "ota",
            "settings": asdict(settings),
            "outcomes": [
                {
                    **{
                        k: v
                        for k, v in asdict(o).items()
                        if k not in ("idle_latency", "busy_latency", "per_update_s")
                    },
                    "per_update_s": _summary(o.per_update_s),
                    "idle_latency_s": _summary(o.idle_latency),
                    "busy_latency_s": _summary(o.busy_latency),
                    "frames_per_byte": o.frames_per_byte(settings.size),
                    "minimum_per_byte": o.minimum_per_byte(settings.size),
                    "latency_ratio": o.latency_ratio(),
                }
                for o in outcomes
            ],
        }
        print(json.dumps(document))
    ok = all(o.updated == o.lights and o.tables_intact for o in outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
