"""The change engine over a grid of group sizes, airs and seeds (issue 14), in simulated time.

    scripts/bench changes --matrix [--seeds 1-5] [--sizes 1,3,8,20,50,200,500]
                                   [--airs 0/0,0.05/0.05,0.2/0.2,0.4/0.5] [--jobs 2]
                                   [--out docs/bench] [--from-json PATH] [--markdown]

Every cell (group size x (loss, group miss)) runs ``verified`` (the engine),
``unicast_retry`` and the ``ideal`` on every seed, each on a fresh copy of the house with
the air's dice keyed per device and kind of frame (``bench/changes.py``), so the three meet
the same air and the same fresh radio budget. One light is commanded as a single light
(one unicast); there the engine also runs on a light that is already on
(``verified_unchanged``: no report comes). Writes ``matrix.json`` and one heat map per
measure into ``--out``, each cell that misses a goal of the issue marked; ``--from-json``
draws them (and ``--markdown`` prints the tables for the docs) from an earlier run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .changes import (
    IDEAL,
    IDEAL_ACKED,
    VERIFIED_UNCHANGED,
    WARMUP,
    Run,
    Settings,
)
from .common import Spread, format_table, parse_seeds
from .copies import run_on_copies

SIZES = (1, 3, 8, 20, 50, 200, 500)
AIRS = ((0.0, 0.0), (0.05, 0.05), (0.2, 0.2), (0.4, 0.5))
ENGINE = "verified"
UNICAST_RETRY = "unicast_retry"
STRATEGIES = (ENGINE, UNICAST_RETRY, IDEAL, IDEAL_ACKED)  # the last for reference only

# The goals.
TIME_VS_IDEAL = 2.0
TIME_OVER_IDEAL_S = 0.25  # ... or the ideal plus about one report round trip, the larger
FRAMES_VS_IDEAL = 1.5
FRAMES_GOAL_FROM = 20  # lights
DONE_VS_TIME = 1.5
CPU_MS_PER_CHANGE = 1.0
# The engine's CPU of a small cell comes from a few changes: its run is repeated on fresh
# copies until about this many changes were measured (at most CPU_REPEATS runs), and the
# least CPU of them counts (bench/copies.py says why).
CPU_CHANGES = 50
CPU_REPEATS = 5
POPCORN_SLACK_S = 0.001

GOALS: dict[str, str] = {
    "converged": "100 % converged and every light verified",
    "time_vs_unicast_retry": "time to the last light <= unicast_retry's",
    "time_vs_ideal": "time <= max(2x ideal, ideal + 0.25 s)",
    "frames_vs_ideal": "frames <= 1.5x ideal (>= 20 lights)",
    "frames_vs_unicast_retry": "frames <= unicast_retry's",
    "done_vs_time": "all verified within 1.5x the time to the last light (or its report's flight)",
    "single_light": "one light: round trip + report, no read (clean); radio's retries (lossy)",
    "popcorn": "popcorn spread at the groupcast's (the ideal's)",
    "cpu": "engine CPU < 1 ms per verified change",
}
SHORT: dict[str, str] = {
    "converged": "conv",
    "time_vs_unicast_retry": "t>uni",
    "time_vs_ideal": "t>ideal",
    "frames_vs_ideal": "f>1.5i",
    "frames_vs_unicast_retry": "f>uni",
    "done_vs_time": "done",
    "single_light": "1 light",
    "popcorn": "popcorn",
    "cpu": "cpu",
}


@dataclass(frozen=True, slots=True)
class Air:
    loss: float
    group_miss: float

    @property
    def label(self) -> str:
        return f"{self.loss:g} / {self.group_miss:g}"

    @property
    def clean(self) -> bool:
        return self.loss == 0 and self.group_miss == 0


@dataclass(frozen=True, slots=True)
class Task:
    lights: int
    air: Air
    seed: int
    strategy: str
    house_seed: int
    policy: tuple[tuple[str, float], ...] = ()  # change-engine options (what-if runs)
    warmup: int = WARMUP

    def settings(self) -> Settings:
        return Settings(
            lights=self.lights,
            loss=self.air.loss,
            group_miss=self.air.group_miss,
            seeds=[self.seed],
            house_seed=self.house_seed,
            policy=dict(self.policy),
            warmup=self.warmup,
        )


def run_cell(tasks: Sequence[Task]) -> list[tuple[Task, Run]]:
    """The runs of one cell (one size, one air): the house built once, each run on a copy
    of it (``bench/copies.py``), so each strategy meets a fresh house."""
    settings = tasks[0].settings()
    runs = run_on_copies(
        settings,
        [(task.seed, task.strategy) for task in tasks],
        cpu_repeats=cpu_repeats(settings.lights),
    )
    return list(zip(tasks, runs, strict=True))


def cpu_repeats(lights: int) -> int:
    """How many times the engine's run of a cell of ``lights`` is made, for its CPU."""
    return max(1, min(CPU_REPEATS, math.ceil(CPU_CHANGES / max(1, lights))))


def tasks_for(
    sizes: Sequence[int],
    airs: Sequence[Air],
    seeds: Sequence[int],
    policy: Mapping[str, float] | None = None,
    warmup: int = WARMUP,
) -> list[Task]:
    """Every run of the grid, the biggest groups first (they take longest)."""
    options = tuple(sorted((policy or {}).items()))
    tasks = []
    for lights in sorted(sizes, reverse=True):
        strategies = (*STRATEGIES, VERIFIED_UNCHANGED) if lights == 1 else STRATEGIES
        for air in airs:
            for seed in seeds:
                for strategy in strategies:
                    tasks.append(Task(lights, air, seed, strategy, seeds[0], options, warmup))
    return tasks


def run_grid(tasks: Sequence[Task], jobs: int) -> list[tuple[Task, Run]]:
    """Run every task, cell by cell, in ``jobs`` worker processes (1: in this one)."""
    cells: dict[tuple[int, Air], list[Task]] = {}
    for task in tasks:
        cells.setdefault((task.lights, task.air), []).append(task)
    done: list[tuple[Task, Run]] = []
    wall_start = time.perf_counter()

    def progress(lights: int, air: Air) -> None:
        print(
            f"  {len(done)}/{len(tasks)} runs after {time.perf_counter() - wall_start:.0f} s "
            f"({lights} lights, {air.label} done)",
            file=sys.stderr,
            flush=True,
        )

    if jobs <= 1:
        for (lights, air), mine in cells.items():
            done.extend(run_cell(mine))
            progress(lights, air)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(run_cell, mine): key for key, mine in cells.items()}
            for future in as_completed(futures):
                done.extend(future.result())
                progress(*futures[future])
    return done


# ---- per cell -----------------------------------------------------------------------


def _every(values: Iterable[bool | None]) -> bool | None:
    checked = [v for v in values if v is not None]
    return all(checked) if checked else None


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None:
        return None
    if reference <= 0:
        return None if value > 0 else 1.0
    return value / reference


def _spread(values: Iterable[float | None]) -> Spread:
    return Spread.of(v for v in values if v is not None)


def single_light_bounds(settings: Settings) -> tuple[float, float]:
    """How soon one light should be verified: on clean air a round trip (command out, the
    light's report back) plus one more one-way delay for the report; on lossy air, the
    time the radio takes for all its transmissions of one unicast, plus the report."""
    one_way = settings.latency + settings.jitter
    round_trip = 2.0 * one_way
    ack_wait = settings.ack_timeout + round_trip
    attempts = 4  # VirtualNetworkSpec.unicast_attempts, as the radio's own retries
    return round_trip + one_way, attempts * ack_wait + one_way


def cell_summary(lights: int, air: Air, runs: Sequence[Run]) -> dict[str, Any]:
    """Spreads per strategy, per-seed ratios, and each goal of the issue (met on every
    seed: True; missed on one: False; not applicable: None)."""
    by = {(r.strategy, r.seed): r for r in runs}
    seeds = sorted({r.seed for r in runs})
    strategies: dict[str, Any] = {}
    for strategy in (*STRATEGIES, VERIFIED_UNCHANGED):
        mine = [r for r in runs if r.strategy == strategy]
        if not mine:
            continue
        entry: dict[str, Any] = {
            "converged": Spread.of(r.converged for r in mine),
            "all_converged": sum(r.converged == 1.0 for r in mine) / len(mine),
            "time_s": _spread(r.time_s for r in mine),
            "done_s": _spread(r.done_s for r in mine),
            "frames": Spread.of(r.frames for r in mine),
            "reads": Spread.of(r.reads for r in mine),
            "popcorn_s": _spread(r.popcorn_s for r in mine),
            "spread_s": _spread(r.spread_s for r in mine),
            "gave_up": sum(r.gave_up for r in mine),
        }
        if strategy in (ENGINE, VERIFIED_UNCHANGED):
            entry["first_unicast_s"] = _spread(r.first_unicast_s for r in mine)
            if lights > 1:  # members repaired although the groupcast reached them
                entry["needless_repairs"] = Spread.of(
                    r.repaired - (r.lights - r.reached) for r in mine
                )
            entry["verified"] = Spread.of(r.verified / r.lights for r in mine)
            entry["all_verified"] = sum(r.verified == r.lights for r in mine) / len(mine)
            entry["cpu_ms_per_change"] = _spread(r.cpu_ms_per_change for r in mine)
        if strategy == UNICAST_RETRY:
            entry["confirmed"] = Spread.of(r.confirmed / r.lights for r in mine)
        strategies[strategy] = entry

    ratios: dict[str, list[float | None]] = {
        "time_vs_ideal": [],
        "frames_vs_ideal": [],
        "time_vs_unicast_retry": [],
        "frames_vs_unicast_retry": [],
        "done_vs_time": [],
    }
    goals: dict[str, list[bool | None]] = {name: [] for name in GOALS}
    settings = Settings(lights=lights, loss=air.loss, group_miss=air.group_miss)
    clean_bound, lossy_bound = single_light_bounds(settings)
    # Nothing is verified before the last light's report has come back: on clean air,
    # where the last light is on within 50 ms, 1.5x that is out of reach.
    report_flight = settings.latency + settings.jitter
    for seed in seeds:
        engine = by.get((ENGINE, seed))
        ideal = by.get((IDEAL, seed))
        uni = by.get((UNICAST_RETRY, seed))
        if engine is None or ideal is None or uni is None:
            continue
        ratios["time_vs_ideal"].append(_ratio(engine.time_s, ideal.time_s))
        ratios["frames_vs_ideal"].append(_ratio(engine.frames, ideal.frames))
        ratios["time_vs_unicast_retry"].append(_ratio(engine.time_s, uni.time_s))
        ratios["frames_vs_unicast_retry"].append(_ratio(engine.frames, uni.frames))
        ratios["done_vs_time"].append(_ratio(engine.done_s, engine.time_s))
        time_s = engine.time_s
        goals["converged"].append(engine.converged == 1.0 and engine.verified == engine.lights)
        goals["time_vs_unicast_retry"].append(
            time_s is not None and uni.time_s is not None and time_s <= uni.time_s
        )
        goals["time_vs_ideal"].append(
            time_s is not None
            and ideal.time_s is not None
            and time_s <= max(TIME_VS_IDEAL * ideal.time_s, ideal.time_s + TIME_OVER_IDEAL_S) + 1e-9
        )
        goals["frames_vs_ideal"].append(
            engine.frames <= FRAMES_VS_IDEAL * ideal.frames if lights >= FRAMES_GOAL_FROM else None
        )
        goals["frames_vs_unicast_retry"].append(engine.frames <= uni.frames)
        goals["done_vs_time"].append(
            time_s is not None
            and engine.done_s <= max(DONE_VS_TIME * time_s, time_s + report_flight) + 1e-9
        )
        if lights == 1:
            bound = clean_bound if air.clean else lossy_bound
            no_read = engine.reads == 0 if air.clean else True
            goals["single_light"].append(engine.done_s <= bound and no_read)
        else:
            goals["single_light"].append(None)
        if lights > 1 and engine.popcorn_s is not None and ideal.popcorn_s is not None:
            goals["popcorn"].append(engine.popcorn_s <= ideal.popcorn_s + POPCORN_SLACK_S)
        else:
            goals["popcorn"].append(None)
        cpu = engine.cpu_ms_per_change
        goals["cpu"].append(cpu is not None and cpu < CPU_MS_PER_CHANGE)
    met = {name: _every(values) for name, values in goals.items()}
    return {
        "lights": lights,
        "loss": air.loss,
        "group_miss": air.group_miss,
        "seeds": seeds,
        "strategies": strategies,
        "ratios": {name: _spread(values) for name, values in ratios.items()},
        "ratios_by_seed": ratios,
        "goals": met,
        "missed": [name for name, ok in met.items() if ok is False],
        "single_light_bounds_s": [round(clean_bound, 3), round(lossy_bound, 3)]
        if lights == 1
        else None,
    }


def summarise_grid(results: Sequence[tuple[Task, Run]]) -> list[dict[str, Any]]:
    cells: dict[tuple[int, Air], list[Run]] = {}
    for task, run_ in results:
        cells.setdefault((task.lights, task.air), []).append(run_)
    return [
        cell_summary(lights, air, runs)
        for (lights, air), runs in sorted(
            cells.items(), key=lambda item: (item[0][0], item[0][1].loss)
        )
    ]


def _json_ready(value: Any) -> Any:
    if isinstance(value, Spread):
        return _json_ready(value.as_dict())
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def document(
    results: Sequence[tuple[Task, Run]],
    *,
    sizes: Sequence[int],
    airs: Sequence[Air],
    seeds: Sequence[int],
    jobs: int,
    wall_s: float,
    policy: Mapping[str, float] | None = None,
    warmup: int = WARMUP,
) -> dict[str, Any]:
    settings = Settings()
    return {
        "bench": "changes-matrix",
        "policy": dict(policy or {}),
        "warmup": warmup,
        "sizes": list(sizes),
        "airs": [[air.loss, air.group_miss] for air in airs],
        "seeds": list(seeds),
        "house_seed": seeds[0],
        "air": {
            "latency": settings.latency,
            "jitter": settings.jitter,
            "ack_timeout": settings.ack_timeout,
            "dice": "keyed per device and kind of frame, fresh house per run",
        },
        "goals": GOALS,
        "cpu": {
            "measure": "the engine's run repeated on fresh copies of the house until about "
            f"{CPU_CHANGES} changes were measured (at most {CPU_REPEATS} runs); the least "
            "CPU of them",
            "repeats": {str(lights): cpu_repeats(lights) for lights in sizes},
        },
        "jobs": jobs,
        "wall_s": round(wall_s, 1),
        "run_wall_s": round(sum(r.wall_s for _, r in results), 1),
        "cells": _json_ready(summarise_grid(results)),
        "runs": [
            {"loss": task.air.loss, "group_miss": task.air.group_miss, **asdict(run_)}
            for task, run_ in sorted(
                results,
                key=lambda item: (item[0].lights, item[0].air.loss, item[1].seed, item[1].strategy),
            )
        ],
    }


def dump(doc: dict[str, Any]) -> str:
    """The document as JSON text: indented, but one line per run (580 of them)."""
    head = json.dumps({k: v for k, v in doc.items() if k != "runs"}, indent=1, sort_keys=True)
    runs = ",\n".join(
        "  " + json.dumps(run_, sort_keys=True, separators=(",", ":")) for run_ in doc["runs"]
    )
    return f'{head[:-2]},\n "runs": [\n{runs}\n ]\n}}\n'


# ---- heat maps ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeatMap:
    name: str  # file stem
    title: str
    ratio: str  # key in a cell's "ratios"
    goal: str  # key in a cell's "goals" marked on the map
    centre: float  # the colour scale's neutral value (the goal's ratio)


HEAT_MAPS = (
    HeatMap(
        "matrix_time_vs_ideal",
        "engine time to the last light / ideal's  (goal: <= max(2x, ideal + 0.25 s))",
        "time_vs_ideal",
        "time_vs_ideal",
        TIME_VS_IDEAL,
    ),
    HeatMap(
        "matrix_frames_vs_ideal",
        "engine frames / ideal's  (goal: <= 1.5x from 20 lights)",
        "frames_vs_ideal",
        "frames_vs_ideal",
        FRAMES_VS_IDEAL,
    ),
    HeatMap(
        "matrix_time_vs_unicast_retry",
        "engine time to the last light / unicast_retry's  (goal: <= 1)",
        "time_vs_unicast_retry",
        "time_vs_unicast_retry",
        1.0,
    ),
)


def _grid(cells: Sequence[dict[str, Any]]) -> tuple[list[int], list[Air], dict[Any, Any]]:
    sizes = sorted({c["lights"] for c in cells})
    airs = sorted({Air(c["loss"], c["group_miss"]) for c in cells}, key=lambda a: a.loss)
    by = {(c["lights"], Air(c["loss"], c["group_miss"])): c for c in cells}
    return sizes, airs, by


def plot_heat_maps(doc: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    cells = doc["cells"]
    sizes, airs, by = _grid(cells)
    seeds = doc["seeds"]
    seeds_text = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 2 else ",".join(map(str, seeds))
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for heat in HEAT_MAPS:
        values = [[math.nan] * len(airs) for _ in sizes]
        for i, lights in enumerate(sizes):
            for j, air in enumerate(airs):
                cell = by.get((lights, air))
                ratio = cell["ratios"][heat.ratio] if cell else None
                if ratio and ratio.get("mean") is not None:
                    values[i][j] = math.log2(ratio["mean"])
        finite = [v for row in values for v in row if not math.isnan(v)]
        centre = math.log2(heat.centre)
        # (A factor of 16 either way of the goal is the deepest colour.)
        reach = min(4.0, max([abs(v - centre) for v in finite] + [1.0]))
        norm = TwoSlopeNorm(vcenter=centre, vmin=centre - reach, vmax=centre + reach)
        figure, axis = plt.subplots(figsize=(7.6, 6.2))
        image = axis.imshow(values, cmap="RdYlGn_r", norm=norm, aspect="auto")
        for i, lights in enumerate(sizes):
            for j, air in enumerate(airs):
                cell = by.get((lights, air))
                if cell is None:
                    continue
                ratio = cell["ratios"][heat.ratio]
                if not ratio or ratio.get("mean") is None:
                    axis.text(j, i, "n/a", ha="center", va="center", fontsize=8)
                    continue
                goal = cell["goals"].get(heat.goal)
                dark = abs(values[i][j] - centre) > 0.7 * reach  # the scale's deep ends
                mean, low, high = ratio["mean"], ratio["min"], ratio["max"]
                digits = ".3f" if mean < 0.1 else ".2f"
                colour = "white" if dark else "black" if goal is not None else "#555555"
                text = f"{mean:{digits}}\n({low:{digits}}-{high:{digits}})"
                others = [SHORT[m] for m in cell["missed"] if m != heat.goal]
                while others:
                    text += "\n" + " ".join(others[:3])
                    others = others[3:]
                axis.text(
                    j,
                    i,
                    ("\u2717 " if goal is False else "") + text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    fontweight="bold" if goal is False else "normal",
                    color=colour,
                )
                if goal is False:
                    axis.add_patch(
                        Rectangle(
                            (j - 0.46, i - 0.46),
                            0.92,
                            0.92,
                            fill=False,
                            lw=2.5,
                            ec="white" if dark else "black",
                        )
                    )
        axis.set_xticks(range(len(airs)), [a.label for a in airs])
        axis.set_yticks(range(len(sizes)), [str(s) for s in sizes])
        axis.set_xlabel("loss / group miss")
        axis.set_ylabel("lights in the group")
        axis.set_title(heat.title, fontsize=9.5)
        colour_bar = figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
        ticks = sorted(
            {heat.centre}
            | {
                2.0**power
                for power in range(-8, 9)
                if abs(power - centre) <= reach and abs(power - centre) >= 0.3
            }
        )
        colour_bar.set_ticks(
            [math.log2(tick) for tick in ticks], labels=[f"{tick:g}x" for tick in ticks]
        )
        figure.text(
            0.01,
            0.01,
            f"mean (min-max) over seeds {seeds_text}; black frame and \u2717: the goal is missed "
            "on at least one seed;\nsmall print: other goals missed in the cell "
            "(see docs/benchmarks.md); grey: goal not applicable",
            fontsize=7,
        )
        figure.tight_layout(rect=(0, 0.05, 1, 1))
        path = out / f"{heat.name}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


# ---- tables -----------------------------------------------------------------------------


def _fmt(spread: dict[str, Any] | None, spec: str, scale: float = 1.0) -> str:
    if not spread or spread.get("mean") is None:
        return "-"
    return format(spread["mean"] * scale, spec)


def _strategy(cell: dict[str, Any], strategy: str) -> dict[str, Any]:
    entry: dict[str, Any] = cell["strategies"].get(strategy, {})
    return entry


def grid_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per cell: the three strategies' times and frames, the engine's extras."""
    header = [
        "lights",
        "loss/miss",
        "conv %",
        "verified %",
        "time s",
        "uni time",
        "ideal time",
        "acked ideal time",
        "done s",
        "1st repair s",
        "frames",
        "uni frames",
        "ideal frames",
        "acked ideal frames",
        "popcorn ms",
        "uni spread ms",
        "cpu ms",
        "missed goals",
    ]
    rows = []
    for cell in doc["cells"]:
        engine = _strategy(cell, ENGINE)
        uni = _strategy(cell, UNICAST_RETRY)
        ideal = _strategy(cell, IDEAL)
        acked = _strategy(cell, IDEAL_ACKED)
        rows.append(
            [
                str(cell["lights"]),
                Air(cell["loss"], cell["group_miss"]).label,
                _fmt(engine.get("converged"), ".1f", 100),
                _fmt(engine.get("verified"), ".1f", 100),
                _fmt(engine.get("time_s"), ".2f"),
                _fmt(uni.get("time_s"), ".2f"),
                _fmt(ideal.get("time_s"), ".2f"),
                _fmt(acked.get("time_s"), ".2f"),
                _fmt(engine.get("done_s"), ".2f"),
                _fmt(engine.get("first_unicast_s"), ".2f"),
                _fmt(engine.get("frames"), ".0f"),
                _fmt(uni.get("frames"), ".0f"),
                _fmt(ideal.get("frames"), ".0f"),
                _fmt(acked.get("frames"), ".0f"),
                _fmt(engine.get("popcorn_s"), ".0f", 1000),
                _fmt(uni.get("spread_s"), ".0f", 1000),
                _fmt(engine.get("cpu_ms_per_change"), ".2f"),
                ", ".join(SHORT[m] for m in cell["missed"]) or "-",
            ]
        )
    return header, rows


def goal_counts(doc: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, text in GOALS.items():
        verdicts = [c["goals"].get(name) for c in doc["cells"]]
        applicable = [v for v in verdicts if v is not None]
        missed = [
            f"{c['lights']}@{Air(c['loss'], c['group_miss']).label}"
            for c in doc["cells"]
            if c["goals"].get(name) is False
        ]
        rows.append(
            [
                text,
                f"{sum(applicable)}/{len(applicable)}",
                "; ".join(missed) if missed else "-",
            ]
        )
    return rows


UNCHANGED_HEADER = ["loss/miss", "done s", "reads", "frames"]


def unchanged_rows(doc: dict[str, Any]) -> list[list[str]]:
    """One light that is already on, commanded on: what verifying costs without a report."""
    rows = []
    for cell in doc["cells"]:
        entry = cell["strategies"].get(VERIFIED_UNCHANGED)
        if entry:
            rows.append(
                [
                    Air(cell["loss"], cell["group_miss"]).label,
                    _fmt(entry.get("done_s"), ".2f"),
                    _fmt(entry.get("reads"), ".1f"),
                    _fmt(entry.get("frames"), ".1f"),
                ]
            )
    return rows


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown(doc: dict[str, Any]) -> str:
    header, rows = grid_rows(doc)
    lines = _markdown_table(header, rows)
    goals_header = ["goal", "cells met", "cells missed (lights@loss / miss)"]
    lines += ["", *_markdown_table(goals_header, goal_counts(doc))]
    if unchanged := unchanged_rows(doc):
        lines += ["", "One light already on:", "", *_markdown_table(UNCHANGED_HEADER, unchanged)]
    return "\n".join(lines)


def text_report(doc: dict[str, Any]) -> str:
    header, rows = grid_rows(doc)
    seeds = doc["seeds"]
    lines = [
        f"change engine matrix: {len(doc['cells'])} cells, seeds {seeds[0]}-{seeds[-1]} "
        "(means; uni = unicast_retry)",
        format_table(header, rows),
        "  goals (met on every seed of a cell):",
        format_table(["goal", "cells met", "missed in"], goal_counts(doc), indent="    "),
    ]
    if unchanged := unchanged_rows(doc):
        lines += [
            "  one light already on, commanded on (verified_unchanged):",
            format_table(UNCHANGED_HEADER, unchanged, indent="    "),
        ]
    lines += [
        f"  wall time {doc['wall_s']:.0f} s with {doc['jobs']} process(es) "
        f"({doc['run_wall_s']:.0f} s of runs)",
    ]
    return "\n".join(lines)


# ---- command line ----------------------------------------------------------------------


def _parse_airs(text: str) -> list[Air]:
    airs = []
    for part in text.split(","):
        loss, _, miss = part.partition("/")
        airs.append(Air(float(loss), float(miss or loss)))
    return airs


def _parse_policy(text: str) -> dict[str, float]:
    policy = {}
    for part in text.split(","):
        if part.strip():
            key, _, value = part.partition("=")
            policy[key.strip()] = float(value)
    return policy


def _parse_sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str], *, runner: Callable[[Sequence[Task], int], Any] = run_grid) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.changes --matrix", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seeds", default="1-5", help="e.g. 1-5 or 1,4,9 (default 1-5)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument(
        "--airs",
        default=",".join(f"{loss:g}/{miss:g}" for loss, miss in AIRS),
        help="loss/group-miss pairs, comma-separated",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes (default: 2, or 1 on a single core)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    parser.add_argument("--from-json", type=Path, help="draw and print an earlier run's JSON")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--policy",
        default="",
        help="change-engine options to try, e.g. group_report_quiet=0.15,report_wait=0.6 "
        "(ChangePolicy.from_options keys; default: the engine's own)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=WARMUP,
        help="commands the engine makes while the house is built, before the runs "
        f"(default {WARMUP}; 0: an engine that has learned nothing)",
    )
    args = parser.parse_args(argv)

    if args.from_json is not None:
        doc = json.loads(args.from_json.read_text())
    else:
        seeds = parse_seeds(args.seeds)
        sizes = _parse_sizes(args.sizes)
        airs = _parse_airs(args.airs)
        policy = _parse_policy(args.policy)
        tasks = tasks_for(sizes, airs, seeds, policy, args.warmup)
        print(f"  {len(tasks)} runs in {args.jobs} process(es)", file=sys.stderr)
        wall_start = time.perf_counter()
        results = runner(tasks, args.jobs)
        wall = time.perf_counter() - wall_start
        doc = document(
            results,
            sizes=sizes,
            airs=airs,
            seeds=seeds,
            jobs=args.jobs,
            wall_s=wall,
            policy=policy,
            warmup=args.warmup,
        )
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "matrix.json"
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(dump(doc))
        temporary.replace(path)
        print(f"  written {path}", file=sys.stderr)
    print(markdown(doc) if args.markdown else text_report(doc))
    if not args.no_plots:
        for path in plot_heat_maps(doc, args.out):
            print(f"  heat map written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
