"""Start-up time of a 200-device virtual Zigbee network: the zigpy app up and every device
interviewed over the simulated air.

    scripts/python -m bench.startup [--devices N] [--loss P] [--seed S] [--real-time] [--json]

By default the run uses the virtual-time loop (simulated waits cost no wall time), so the
wall time is the cost of the simulation and of zigpy themselves; ``--real-time`` runs on a
plain asyncio loop, where the air budget (unicasts per second) paces the interviews.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import cast

from custom_components.resilient_gateway.radios.virtual import (
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)

from .common import run


@dataclass(slots=True)
class StartupResult:
    loop: str
    devices: int
    lights: int
    sensors: int
    sleepy_sensors: int
    create_wall_s: float
    app_up_wall_s: float
    interviewed_wall_s: float
    total_wall_s: float
    simulated_s: float
    unicasts: int
    broadcasts: int
    frames_lost: int


def device_mix(devices: int) -> tuple[int, int, int]:
    """Lights, sensors and sleepy sensors in the proportions of the default house."""
    lights = devices * 2 // 3
    sleepy = devices // 9
    return lights, devices - lights - sleepy, sleepy


async def measure(devices: int, loss: float, seed: int, loop_name: str) -> StartupResult:
    lights, sensors, sleepy = device_mix(devices)
    spec = VirtualNetworkSpec(
        network="bench-startup",
        lights=lights,
        sensors=sensors,
        sleepy_sensors=sleepy,
        loss=loss,
        seed=seed,
    )
    loop = asyncio.get_running_loop()
    wall_start = time.perf_counter()
    loop_start = loop.time()
    air = await VirtualAir.load_or_create(spec, None)
    created = time.perf_counter()
    app: VirtualControllerApplication | None = None
    try:
        app = cast(
            VirtualControllerApplication,
            await VirtualControllerApplication.new(
                config={"device": {"path": air.path}}, auto_form=False, start_radio=True
            ),
        )
        app_up = time.perf_counter()
        await app.wait_until_interviewed(within=3600)
        interviewed = time.perf_counter()
        simulated = loop.time() - loop_start
        stats = air.stats
    finally:
        if app is not None:
            await app.shutdown()
        await air.stop()
    return StartupResult(
        loop=loop_name,
        devices=devices,
        lights=lights,
        sensors=sensors,
        sleepy_sensors=sleepy,
        create_wall_s=round(created - wall_start, 3),
        app_up_wall_s=round(app_up - created, 3),
        interviewed_wall_s=round(interviewed - app_up, 3),
        total_wall_s=round(interviewed - wall_start, 3),
        simulated_s=round(simulated, 2),
        unicasts=stats.unicasts,
        broadcasts=stats.broadcasts,
        frames_lost=stats.frames_lost,
    )


def table(result: StartupResult) -> str:
    return "\n".join(
        [
            f"virtual network start-up: {result.devices} devices "
            f"({result.lights} lights, {result.sensors} sensors, "
            f"{result.sleepy_sensors} sleepy sensors), {result.loop} loop",
            f"  {'phase':<28}{'wall s':>10}",
            f"  {'create the house':<28}{result.create_wall_s:>10.3f}",
            f"  {'zigpy app up':<28}{result.app_up_wall_s:>10.3f}",
            f"  {'every device interviewed':<28}{result.interviewed_wall_s:>10.3f}",
            f"  {'total':<28}{result.total_wall_s:>10.3f}",
            f"  simulated time {result.simulated_s:.2f} s; on air {result.unicasts} unicasts, "
            f"{result.broadcasts} broadcasts, {result.frames_lost} frames lost",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--loss", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--real-time", action="store_true", help="run on a plain asyncio loop")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    loop_name = "real-time" if args.real_time else "virtual-time"
    result = run(measure(args.devices, args.loss, args.seed, loop_name), real_time=args.real_time)
    print(table(result))
    if args.json:
        print(json.dumps({"bench": "virtual_startup", **asdict(result)}, sort_keys=True))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
