"""Verified writes to a Bluetooth LE light against plain writes, on connections that drop.

    scripts/bench ble [--drops 0.1,0.3] [--writes N] [--seeds 1-5] [--json]

One simulated Nordic LED Button Service device (radios/ble/simulated.py, under the real
bleak-retry-connector and bleak client), its LED toggled ``--writes`` times, one command
after the other. A drop rate ``p`` is the chance that a write drops the connection; half of
those writes reach the device first (its answer is lost), half do not.

- **verified** (this integration): the gateway's change engine through ``BleLink``: write
  with response, read back, retried with back-off until the device shows the state.
- **write_no_verify** (a plain client): one write without response per command on a
  connection kept open, reconnected (bleak-retry-connector) after a drop; a write that
  fails is not repeated, nothing is read back.

Measured in simulated seconds (each GATT exchange takes the peripheral's 30 ms): writes
per second (commands / total time), the share of commands the device ended up showing,
and the time from command to verified (to the write's return for the plain client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from dataclasses import asdict, dataclass, field

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.radios.ble import BleLink
from custom_components.resilient_gateway.radios.ble.profiles import nordic_lbs
from custom_components.resilient_gateway.radios.ble.simulated import (
    SimulatedBluetooth,
    SimulatedClient,
    SimulatedPeripheral,
)

from .common import Spread, format_table, parse_seeds, run

ADDRESS = "AA:BB:CC:00:00:01"
STRATEGIES = ("verified", "write_no_verify")


@dataclass(slots=True)
class BleResult:
    strategy: str
    drop_rate: float
    seed: int
    writes: int
    converged: float  # share of commands the device showed afterwards
    writes_per_s: float  # commands per simulated second
    time_mean_s: float  # command to verified (verified) or to the write's return (plain)
    time_p95_s: float
    time_max_s: float
    attempts_mean: float  # writes sent per command
    drops: int
    connects: int
    cpu_ms_per_write: float


def _peripheral(drop_rate: float, seed: int) -> SimulatedPeripheral:
    device = SimulatedPeripheral(ADDRESS, "Blinky", [nordic_lbs.PROFILE], rng=random.Random(seed))
    device.drop_rate = drop_rate
    return device


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


@dataclass(slots=True)
class _Run:
    """What one strategy's run collects, command by command."""

    strategy: str
    drop_rate: float
    seed: int
    times: list[float] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    converged: int = 0

    def result(
        self, device: SimulatedPeripheral, *, elapsed: float, cpu: float, connects: int
    ) -> BleResult:
        writes = len(self.times)
        return BleResult(
            strategy=self.strategy,
            drop_rate=self.drop_rate,
            seed=self.seed,
            writes=writes,
            converged=self.converged / writes,
            writes_per_s=writes / elapsed,
            time_mean_s=statistics.fmean(self.times),
            time_p95_s=_p95(self.times),
            time_max_s=max(self.times),
            attempts_mean=statistics.fmean(self.attempts),
            drops=device.stats.drops,
            connects=connects,
            cpu_ms_per_write=1000 * cpu / writes,
        )


async def measure_verified(drop_rate: float, seed: int, writes: int) -> BleResult:
    device = _peripheral(0.0, seed)
    air = SimulatedBluetooth(device)

    def build(listener: RadioListener) -> BleLink:
        return BleLink(
            listener,
            ADDRESS,
            air.ble_device_from_address,
            client_class=SimulatedClient,
            rng=random.Random(seed),
        )

    gateway = Gateway(build, name="bench-ble", rng=random.Random(seed))
    await gateway.start()
    device.drop_rate = drop_rate
    loop = asyncio.get_running_loop()
    run = _Run("verified", drop_rate, seed)
    cpu = time.process_time()
    started = loop.time()
    try:
        for index in range(writes):
            state = index % 2 == 0
            result = await gateway.set_state(ADDRESS, {Attr.ON: state}).wait()
            run.times.append(result.elapsed)
            run.attempts.append(result.attempts)
            if result.status is ChangeStatus.VERIFIED and device.flag(nordic_lbs.LED) is state:
                run.converged += 1
        elapsed = loop.time() - started
        cpu = time.process_time() - cpu
        link = gateway.radio
        assert isinstance(link, BleLink)
        connects = link.connection.stats.connects
    finally:
        await gateway.stop()
    return run.result(device, elapsed=elapsed, cpu=cpu, connects=connects)


async def measure_plain(drop_rate: float, seed: int, writes: int) -> BleResult:
    device = _peripheral(drop_rate, seed)
    loop = asyncio.get_running_loop()
    client: BleakClientWithServiceCache | None = None
    connects = 0
    run = _Run("write_no_verify", drop_rate, seed)
    cpu = time.process_time()
    started = loop.time()
    for index in range(writes):
        state = index % 2 == 0
        sent_at = loop.time()
        try:
            if client is None or not client.is_connected:
                client = await establish_connection(SimulatedClient, device.ble_device(), "plain")
                connects += 1
            led = client.services.get_characteristic(nordic_lbs.LED)
            assert isinstance(led, BleakGATTCharacteristic)
            await client.write_gatt_char(led, bytes([state]), response=False)
        except BleakError:
            pass  # lost: a plain client does not know, and does not repeat it
        run.times.append(loop.time() - sent_at)
        run.attempts.append(1)
        if device.flag(nordic_lbs.LED) is state:
            run.converged += 1
    elapsed = loop.time() - started
    cpu = time.process_time() - cpu
    if client is not None:
        await client.disconnect()
    return run.result(device, elapsed=elapsed, cpu=cpu, connects=connects)


async def measure_all(drops: list[float], seeds: list[int], writes: int) -> list[BleResult]:
    results = []
    for drop_rate in drops:
        for seed in seeds:
            results.append(await measure_verified(drop_rate, seed, writes))
            results.append(await measure_plain(drop_rate, seed, writes))
    return results


def table(results: list[BleResult]) -> str:
    rows = []
    for drop_rate in sorted({r.drop_rate for r in results}):
        for strategy in STRATEGIES:
            runs = [r for r in results if r.drop_rate == drop_rate and r.strategy == strategy]
            if not runs:
                continue

            def spread(measure: str, runs: list[BleResult] = runs) -> Spread:
                return Spread.of(getattr(r, measure) for r in runs)

            rows.append(
                [
                    f"{drop_rate:g}",
                    strategy,
                    f"{100 * spread('converged').mean:.1f} %",
                    spread("writes_per_s").format(".2f"),
                    spread("time_mean_s").format(".2f"),
                    spread("time_p95_s").format(".2f"),
                    spread("time_max_s").format(".2f"),
                    spread("attempts_mean").format(".2f"),
                    spread("cpu_ms_per_write").format(".2f"),
                ]
            )
    header = [
        "drop",
        "strategy",
        "converged",
        "writes/s",
        "time mean s",
        "p95 s",
        "max s",
        "writes/cmd",
        "CPU ms/cmd",
    ]
    return format_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", default="0.1,0.3", help="drop rates, comma-separated")
    parser.add_argument("--writes", type=int, default=200, help="commands per run")
    parser.add_argument("--seeds", default="1-5", help="seeds, e.g. 1-5 or 1,3")
    parser.add_argument("--json", action="store_true", help="one JSON line per run")
    args = parser.parse_args()
    drops = [float(part) for part in args.drops.split(",")]
    results = run(measure_all(drops, parse_seeds(args.seeds), args.writes))
    if args.json:
        for result in results:
            print(json.dumps(asdict(result)))
        return
    print(
        f"Bluetooth LE light, {args.writes} toggles per run, seeds {args.seeds} "
        "(mean, and range over seeds):"
    )
    print(table(results))


if __name__ == "__main__":
    main()
