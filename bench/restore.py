"""Snapshot and restore of a virtual Zigbee network: a dead radio replaced by a blank one and
the gateway restored onto it, for 50, 200 and 500 devices.

    scripts/bench restore [--devices 50,200,500] [--seed S] [--loss L] [--latency S]
                          [--jitter S] [--dir PATH] [--verbose] [--json]

For each size: a virtual house (the device mix of ``bench.startup``: two thirds lights, a
ninth sleepy sensors, the rest plugs, thermostats and contact sensors), a ``Gateway`` on a
``ZigbeeRadio`` over it with zigpy's database on disk (as in Home Assistant), every device
interviewed, every light in the "All lights" group and holding the gateway scene "Evening"
(``Gateway.store_scene``). Then:

1. **Snapshot**: ``Gateway.take_snapshot`` timed in wall seconds (``perf_counter``: the
   zigpy network backup, the export, encoding, checksum and the atomic write), its size,
   the same with a password (scrypt + AES-256-GCM), and reading each back
   (``SnapshotStore.read``: parse, checksum, decrypt) as a restore does.
2. **Replacement**: ``VirtualAir.radio_replaced()`` puts a blank stick in the radio's place;
   the gateway's supervisor finds it blank and sets ``needs_restore`` (the state in which
   Home Assistant raises the *Restore onto its new radio* repair). The devices keep their
   tables: only the coordinator is new.
3. **Restore**: ``Gateway.restore(payload, on_progress=...)`` with the snapshot read from
   disk. Phase 1 (the network identity onto the radio) and phase 2 (every device's groups,
   scene entries, bindings and reporting through the send scheduler; sleepers when they
   wake) are timed from the progress callbacks, in simulated seconds (``loop.time()``) and
   wall seconds. ``mains verified`` is the simulated time from the start of phase 2 until
   every mains device is configured and the gateway has heard its whole state on the new
   radio (a re-confirmation read, the restore's read, or reports).
4. **Working**: every mains device is switched off on the device itself, then switched on
   through the restored gateway (one groupcast to "All lights", verified and repaired by
   the change engine, plus one command per plug); ``working`` is the fraction of mains
   devices seen on in the simulated devices' own state (ground truth). ``tables`` is the
   fraction of devices whose group and scene tables are what they were at the snapshot.

**Frames.** Phase 2's window runs from the end of phase 1 to ``mains verified`` (or the
end of the restore, whichever is later). ``frames`` counts every transmission by the
coordinator's radio in that window (the radio's own retransmissions included, as
``AirStats.radio_frames`` does; acknowledgements not), ``minimum`` the frames the configure
step must send for the devices it configured in that window, derived from the snapshot
payload and the devices' tables before the restore (``core/restore.py`` →
``DeviceConfigurer.configure`` → ``ZigbeeRadio.configure_device``, and the restore's
verification read):

    minimum(device) = [G > 0] * (1 + G_missing)   Get Group Membership; Add Group per missing
                    + S + S_missing               View Scene per entry; Add Scene per missing
                    + 2 * R                       Bind + Configure Reporting per cluster
                    + V                           Read Attributes per cluster (awake devices)

with G the groups the snapshot puts the device in, S its scene entries (``configurations``
in ``core/restore.py``), R its clusters with reportable attributes
(``radios/zigbee/attributes.py``; one bind and one Configure Reporting each) and V the
clusters holding the attributes it describes (one read each; sleepers configured when they
wake get no read). Every request counted once, as if nothing were lost: answers,
acknowledgements and reports are the devices' frames and not counted. ``requests`` counts
what zigpy handed the radio in the window (its own request retries included, the radio's
retransmissions not; a frame kept for a sleeper that does not poll in time is a request
that never goes on air: ``expired``). The issue's "within 1.5x of the frames it must send"
is checked on both: frames / minimum and requests / minimum ≤ 1.5. ``restored f/min``
restricts frames and minimum to the devices phase 2 itself restores (``restored`` in the
restore's report: the mains devices here).

**Budget.** ``budget_s`` = the restored devices' minimum ÷ the radio budget's unicasts per
second (``RadioBudget``, 20/s): how long phase 2 would take if the budget were its only
limit. ``mains verified / budget`` ≤ 1.5 is the time side of "bounded by the radio
budget"; ``peak/s`` is the largest number of frames handed to the radio in any one second
of the window (zigpy's requests, the radio's own retransmissions not counted), which the
budget says should not exceed 20.

zigpy's database works in aiosqlite's own thread, which the virtual-time loop cannot see;
the benchmark runs inside ``clock_waits_for_database`` (``radios/virtual/database_clock.py``),
so database work takes no simulated time and does not let timers fire early. Without that,
closing zigpy's database alone would let about a simulated minute pass in phase 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import zigpy.types as t
from zigpy.zcl.clusters.general import Groups, OnOff, Scenes

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.configuration import (
    DeviceConfiguration,
    configurations,
)
from custom_components.resilient_gateway.core.gateway import (
    SNAPSHOT_DEBOUNCE,
    Gateway,
    GatewayListener,
)
from custom_components.resilient_gateway.core.health import HealthEvent
from custom_components.resilient_gateway.core.model import (
    Attr,
    AttributeValues,
    DeviceId,
    PowerSource,
)
from custom_components.resilient_gateway.core.radio import RadioBudget, RadioListener
from custom_components.resilient_gateway.core.restore import (
    DeviceRestoreStatus,
    RestorePhase,
    RestoreProgress,
    RestoreReport,
)
from custom_components.resilient_gateway.core.scenes import GatewayScene
from custom_components.resilient_gateway.core.snapshot import SnapshotStore
from custom_components.resilient_gateway.radios.virtual import (
    ALL_LIGHTS_GROUP_ID,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.virtual.database_clock import (
    clock_waits_for_database,
)
from custom_components.resilient_gateway.radios.virtual.delivery import DeliveryMode
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.zigbee.attributes import (
    BY_ATTR,
    BY_CLUSTER_AND_NAME,
)
from custom_components.resilient_gateway.radios.zigbee.radio import (
    APP_ENDPOINTS_EXCLUDED,
    ZigbeeRadio,
)
from custom_components.resilient_gateway.radios.zigbee.snapshot import SECTION

from .common import format_table, run
from .startup import device_mix

PASSWORD = "correct horse battery staple"
SCENE_NAME = "Evening"
QUIET = 5.0  # simulated seconds for reports to settle
DETECT_GIVE_UP = 900.0  # simulated seconds for the supervisor to find the blank radio
PHASE2_GIVE_UP = 6 * 3600.0  # simulated seconds: a restore still running then is stopped
VERIFY_GIVE_UP = 900.0  # simulated seconds after the restore for the last state to come back
COMMAND_GIVE_UP = 900.0  # simulated seconds for the "on" commands of the working check

# The targets.
SNAPSHOT_WALL_S = 1.0  # a snapshot of 500 devices
FRAMES_VS_MINIMUM = 1.5
WORKING = 1.0
# A further check: phase 2's time against what the radio budget alone would allow.
TIME_VS_BUDGET = 1.5

MAX_DEVICES = 750  # two thirds are lights, and a virtual house holds at most 500 of them
REPORTING_CLUSTERS = frozenset(cluster_id for cluster_id, _ in BY_CLUSTER_AND_NAME)


@dataclass(slots=True)
class Settings:
    devices: list[int] = field(default_factory=lambda: [50, 200, 500])
    seed: int = 1
    loss: float = 0.02
    latency: float = 0.03
    jitter: float = 0.02


@dataclass(slots=True)
class Result:
    devices: int
    lights: int
    sensors: int
    sleepy_sensors: int
    mains: int
    # 1. snapshot (wall seconds, bytes)
    snapshot_wall_s: float = 0.0
    snapshot_bytes: int = 0
    encrypted_wall_s: float = 0.0
    encrypted_bytes: int = 0
    read_wall_s: float = 0.0
    decrypt_wall_s: float = 0.0
    # 2. the blank radio found (simulated seconds)
    detect_s: float = 0.0
    # 3. restore
    phase1_s: float = 0.0
    phase1_wall_s: float = 0.0
    phase2_s: float | None = None  # end of phase 1 to the restore's end (None: gave up)
    phase2_wall_s: float = 0.0
    mains_verified_s: float | None = None  # end of phase 1 to the last mains state heard
    mains_verified: int = 0
    restored: int = 0
    pending: int = 0
    failed: int = 0
    configured_in_window: int = 0
    frames: int = 0  # radio transmissions in the phase-2 window
    frames_restored: int = 0  # ... to the devices phase 2 restores
    minimum: int = 0  # what the configure step must send for the devices configured
    minimum_restored: int = 0
    frames_expired: int = 0  # kept for a sleeper that did not poll in time
    delivery_failures: int = 0
    requests: dict[str, int] = field(default_factory=dict)  # handed to the radio, by kind
    minimum_by_kind: dict[str, int] = field(default_factory=dict)
    peak_per_s: int = 0
    budget_s: float = 0.0
    # 4. afterwards
    tables_intact: float = 0.0
    working: float = 0.0
    working_s: float | None = None  # the "on" commands to the last mains device on
    commands_failed: int = 0
    wall_s: float = 0.0

    @property
    def frames_ratio(self) -> float:
        return self.frames / self.minimum if self.minimum else float("nan")

    @property
    def requests_total(self) -> int:
        return sum(self.requests.values())

    @property
    def restored_ratio(self) -> float:
        return self.frames_restored / self.minimum_restored if self.minimum_restored else 0.0

    @property
    def time_ratio(self) -> float | None:
        if self.mains_verified_s is None or not self.budget_s:
            return None
        return self.mains_verified_s / self.budget_s

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["frames_ratio"] = round(self.frames_ratio, 3)
        data["requests_total"] = self.requests_total
        data["restored_ratio"] = round(self.restored_ratio, 3)
        ratio = self.time_ratio
        data["time_ratio"] = None if ratio is None else round(ratio, 3)
        return data


# ---- instrumentation --------------------------------------------------------------------


class _TimedGateway(Gateway):
    """The gateway, noting when each device's configuration ended and when its state was
    first heard once the restore began (the benchmark's only addition). A device is
    verified when both happened: configured, and its state known on the new radio."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configured_at: dict[DeviceId, float] = {}
        self.heard_at: dict[DeviceId, float] = {}
        self.restoring = False
        self.add_listener(_Configured(self.configured_at))

    def verified_at(self, device_id: DeviceId) -> float | None:
        if device_id not in self.configured_at or device_id not in self.heard_at:
            return None
        return max(self.configured_at[device_id], self.heard_at[device_id])

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        super().attributes_reported(device_id, values)
        if values and self.restoring and device_id not in self.heard_at:
            self.heard_at[device_id] = asyncio.get_running_loop().time()


class _Configured(GatewayListener):
    """Notes when each device's configuration was written."""

    def __init__(self, configured_at: dict[DeviceId, float]) -> None:
        self._configured_at = configured_at

    def device_configured(self, device_id: DeviceId) -> None:
        self._configured_at[device_id] = asyncio.get_running_loop().time()


async def restoring(
    gateway: _TimedGateway, payload: Mapping[str, Any], progress: Any
) -> RestoreReport:
    gateway.restoring = True
    return await gateway.restore(payload, on_progress=progress)


class _NeedsRestore(GatewayListener):
    """When the supervisor decided that only a restore brings the radio back."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.at: float | None = None

    def health_changed(self, event: HealthEvent) -> None:
        if event.needs_restore and self.at is None:
            self.at = asyncio.get_running_loop().time()
            self.event.set()


class _AirLog:
    """What the coordinator's radio is asked to send and puts on air: each unicast request
    zigpy hands it (with its kind), each unicast transmission (retransmissions included)
    with its destination, and each groupcast or broadcast."""

    def __init__(self, air: VirtualAir) -> None:
        self._air = air
        self.requests: list[tuple[float, str]] = []  # (time, kind) of unicast requests
        self.transmissions: list[tuple[float, DeviceId]] = []  # unicast transmissions
        self.other_frames: list[float] = []  # groupcasts and broadcasts
        self._undo: list[Callable[[], None]] = []

    def start(self) -> None:
        air = self._air
        original = air.send
        loop = asyncio.get_running_loop()

        async def send(host: Any, packet: t.ZigbeePacket) -> None:
            now = loop.time()
            if packet.dst is not None and packet.dst.addr_mode in (
                t.AddrMode.NWK,
                t.AddrMode.IEEE,
            ):
                self.requests.append((now, _kind(packet)))
            else:
                self.other_frames.append(now)
            await original(host, packet)

        def told(device: SimDevice, mode: DeliveryMode, _arrives: bool) -> None:
            if mode is DeliveryMode.UNICAST:
                self.transmissions.append((loop.time(), str(device.ieee)))

        air.send = send  # type: ignore[method-assign]
        self._undo.append(lambda: vars(air).pop("send", None))
        self._undo.append(air.transport.add_delivery_listener(told))

    def stop(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def _kind(packet: t.ZigbeePacket) -> str:
    """What a unicast request is, for the breakdown of phase 2's frames."""
    if packet.profile_id == 0 or packet.dst_ep == 0:
        return "bind" if packet.cluster_id == 0x0021 else f"zdo_0x{packet.cluster_id:04x}"
    data = packet.data.serialize()
    if len(data) < 3:
        return "other"
    command = data[4 if data[0] & 0b100 else 2]
    if data[0] & 0b11 == 0:  # a global command
        return {0x00: "read", 0x06: "configure_reporting", 0x0B: "default_response"}.get(
            command, f"global_0x{command:02x}"
        )
    if packet.cluster_id == Groups.cluster_id:
        return {0x00: "group_add", 0x02: "group_membership"}.get(command, "groups_other")
    if packet.cluster_id == Scenes.cluster_id:
        return {0x00: "scene_add", 0x01: "scene_view", 0x40: "scene_add"}.get(
            command, "scenes_other"
        )
    return "command"


def _peak(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any ``window`` seconds."""
    ordered = sorted(times)
    best = first = 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


# ---- the minimum ------------------------------------------------------------------------


def minimum_requests(
    payload: Mapping[str, Any],
    held: Mapping[str, Mapping[str, Any]],
    *,
    with_read: bool,
) -> dict[DeviceId, Counter[str]]:
    """Per device of the snapshot, the requests the configure step must send to it, by kind
    (see the module's docstring); ``held``: the devices' ground truth before the restore."""
    groups = {
        int(item["group_id"]): tuple(item.get("members", ())) for item in payload.get("groups", ())
    }
    scenes = [GatewayScene.from_dict(item) for item in payload.get("scenes", ())]
    wanted = configurations(groups, scenes)
    described = {item["device_id"]: item for item in payload.get("devices", ())}
    minimum: dict[DeviceId, Counter[str]] = {}
    for item in payload["sections"][SECTION]["devices"]:
        device_id = item["ieee"]
        config = wanted.get(device_id, DeviceConfiguration(frozenset(), ()))
        truth = held.get(device_id, {})
        held_scenes = {tuple(entry) for entry in truth.get("scenes", ())}
        requests: Counter[str] = Counter()
        if config.groups:
            requests["group_membership"] += 1
            requests["group_add"] += len(config.groups - set(truth.get("groups", ())))
        requests["scene_view"] += len(config.scenes)
        requests["scene_add"] += sum(
            1 for group, scene, _ in config.scenes if (group, scene) not in held_scenes
        )
        reporting = sum(
            1
            for endpoint in item["endpoints"]
            if endpoint["id"] not in APP_ENDPOINTS_EXCLUDED
            for cluster_id in endpoint["in_clusters"]
            if cluster_id in REPORTING_CLUSTERS
        )
        requests["bind"] += reporting
        requests["configure_reporting"] += reporting
        if with_read:
            attributes = described.get(device_id, {}).get("attributes", ())
            requests["read"] += len(
                {zcl.cluster_id for a in attributes for zcl in BY_ATTR.get(Attr(a), ())}
            )
        minimum[device_id] = +requests  # (drops the kinds it needs none of)
    return minimum


# ---- one size ---------------------------------------------------------------------------


def _tables(truth: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {ieee: (d["groups"], d["scenes"]) for ieee, d in truth["devices"].items()}


def _fresh_database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "zigbee.db"
    database.unlink(missing_ok=True)
    return database


async def _house(
    settings: Settings, devices: int, folder: Path
) -> tuple[VirtualAir, _TimedGateway, SnapshotStore]:
    """A started gateway on a fresh air: every device interviewed, the lights in "All
    lights" and in the scene "Evening", the automatic snapshots taken, the radio quiet."""
    lights, sensors, sleepy = device_mix(devices)
    spec = VirtualNetworkSpec(
        network=f"bench-restore-{devices}",
        lights=lights,
        sensors=sensors,
        sleepy_sensors=sleepy,
        loss=settings.loss,
        seed=settings.seed,
        latency=settings.latency,
        jitter=settings.jitter,
        save_delay=0.0,
    )
    air = await VirtualAir.load_or_create(spec, None)
    database = _fresh_database(folder)
    store = SnapshotStore(folder / "snapshots", keep=10)

    def radio(listener: RadioListener) -> ZigbeeRadio:
        config = {"device": {"path": air.path}, "database_path": str(database)}
        return ZigbeeRadio(VirtualControllerApplication, config, listener)

    gateway = _TimedGateway(radio, snapshots=store, rng=random.Random(settings.seed))
    loop = asyncio.get_running_loop()
    try:
        await gateway.start(form_new_network=True)
        app = getattr(gateway.radio, "app", None)
        assert isinstance(app, VirtualControllerApplication)
        await app.wait_until_interviewed(within=3600)
        pairing_over = max(device.pairing_until for device in air.devices.values())
        # Past the lossless pairing window and the automatic snapshot after the joins.
        await asyncio.sleep(max(0.0, pairing_over - loop.time()) + SNAPSHOT_DEBOUNCE + QUIET)
        if len(gateway.devices) != devices:
            raise RuntimeError(f"{len(gateway.devices)} of {devices} devices are known")
        _scene, not_written = await gateway.store_scene(ALL_LIGHTS_GROUP_ID, SCENE_NAME)
        if not_written:
            raise RuntimeError(f"the scene was not written to {len(not_written)} lights")
        await asyncio.sleep(QUIET)
    except BaseException:
        await gateway.stop()
        await air.stop()
        raise
    return air, gateway, store


async def measure(settings: Settings, devices: int, folder: Path) -> Result:
    wall_start = time.perf_counter()
    loop = asyncio.get_running_loop()
    air, gateway, store = await _house(settings, devices, folder)
    lights, sensors, sleepy = device_mix(devices)
    mains = [d.device_id for d in gateway.devices.values() if d.power_source is PowerSource.MAINS]
    result = Result(devices, lights, sensors, sleepy, mains=len(mains))
    log = _AirLog(air)
    try:
        # 1. snapshots
        start = time.perf_counter()
        info = await gateway.take_snapshot()
        result.snapshot_wall_s = time.perf_counter() - start
        result.snapshot_bytes = info.size
        start = time.perf_counter()
        encrypted = await gateway.take_snapshot(password=PASSWORD)
        result.encrypted_wall_s = time.perf_counter() - start
        result.encrypted_bytes = encrypted.size
        start = time.perf_counter()
        snapshot = await store.async_read(info.path)
        result.read_wall_s = time.perf_counter() - start
        start = time.perf_counter()
        await store.async_read(encrypted.path, PASSWORD)
        result.decrypt_wall_s = time.perf_counter() - start
        payload = snapshot.payload
        before = air.ground_truth()

        # 2. the radio dies; a blank one takes its place
        found = _NeedsRestore()
        stop_listening = gateway.add_listener(found)
        air.radio_replaced()
        replaced = loop.time()
        try:
            await asyncio.wait_for(found.event.wait(), DETECT_GIVE_UP)
        except TimeoutError:
            raise RuntimeError("the gateway never found the blank radio") from None
        finally:
            stop_listening()
        assert gateway.needs_restore and found.at is not None
        result.detect_s = found.at - replaced

        # 3. restore
        marks: dict[str, tuple[float, float]] = {}

        def progress(step: RestoreProgress) -> None:
            now = (loop.time(), time.perf_counter())
            if step.phase is RestorePhase.NETWORK:
                marks.setdefault("phase1_start" if step.done == 0 else "phase1_end", now)
            elif step.phase is RestorePhase.DONE:
                marks["done"] = now

        air.reset_stats()
        log.start()
        gave_up = False
        try:
            report = await asyncio.wait_for(restoring(gateway, payload, progress), PHASE2_GIVE_UP)
        except TimeoutError:
            gave_up = True
            report = None
        restore_end = loop.time()
        phase1_start, phase1_start_wall = marks["phase1_start"]
        phase2_start, phase2_start_wall = marks["phase1_end"]
        result.phase1_s = phase2_start - phase1_start
        result.phase1_wall_s = phase2_start_wall - phase1_start_wall
        if not gave_up and "done" in marks:
            result.phase2_s = marks["done"][0] - phase2_start
            result.phase2_wall_s = marks["done"][1] - phase2_start_wall
        if report is not None:
            result.restored = len(report.ids(DeviceRestoreStatus.RESTORED))
            result.pending = len(report.ids(DeviceRestoreStatus.PENDING))
            result.failed = len(report.ids(DeviceRestoreStatus.FAILED))
        while not all(gateway.verified_at(m) is not None for m in mains):
            if loop.time() - restore_end > VERIFY_GIVE_UP:
                break
            await asyncio.sleep(0.5)
        heard = [at for m in mains if (at := gateway.verified_at(m)) is not None]
        result.mains_verified = len(heard)
        if len(heard) == len(mains):
            result.mains_verified_s = max([*heard, phase2_start]) - phase2_start
        window_end = max([restore_end, *heard])
        log.stop()
        _count_frames(
            result,
            log=log,
            payload=payload,
            before=before,
            gateway=gateway,
            report=report,
            start=phase2_start,
            end=window_end,
        )
        result.frames_expired = air.stats.frames_expired
        result.delivery_failures = air.stats.delivery_failures
        budget = gateway.radio.budget
        result.budget_s = result.minimum_restored / budget.unicasts_per_s

        # 4. tables and commands
        after = air.ground_truth()
        intact = _tables(before)
        result.tables_intact = sum(
            _tables(after).get(ieee) == tables for ieee, tables in intact.items()
        ) / len(intact)
        await _working(air, gateway, mains, result)
    finally:
        log.stop()
        await gateway.stop()
        await air.stop()
    result.wall_s = time.perf_counter() - wall_start
    return result


def _count_frames(
    result: Result,
    *,
    log: _AirLog,
    payload: Mapping[str, Any],
    before: Mapping[str, Any],
    gateway: _TimedGateway,
    report: RestoreReport | None,
    start: float,
    end: float,
) -> None:
    """Phase 2's frames against the minimum for what it configured in its window."""
    restored: set[DeviceId] = set()
    if report is not None:
        restored = set(report.ids(DeviceRestoreStatus.RESTORED))
    with_read = minimum_requests(payload, before["devices"], with_read=True)
    without_read = minimum_requests(payload, before["devices"], with_read=False)
    configured = {d for d, at in gateway.configured_at.items() if start <= at <= end}
    result.configured_in_window = len(configured)
    minimum: Counter[str] = Counter()
    for device_id in configured:
        minimum += (with_read if device_id in restored else without_read).get(device_id, Counter())
    result.minimum = minimum.total()
    result.minimum_by_kind = dict(minimum.most_common())
    result.minimum_restored = sum(with_read[d].total() for d in restored)
    in_window = [(at, d) for at, d in log.transmissions if start <= at <= end]
    others = sum(1 for at in log.other_frames if start <= at <= end)
    result.frames = len(in_window) + others
    result.frames_restored = sum(1 for _, d in in_window if d in restored)
    requests = [(at, kind) for at, kind in log.requests if start <= at <= end]
    result.requests = dict(Counter(kind for _, kind in requests).most_common())
    result.peak_per_s = _peak([at for at, _ in requests])


async def _working(
    air: VirtualAir, gateway: Gateway, mains: Sequence[DeviceId], result: Result
) -> None:
    """Every mains device off on the device itself, then on through the gateway: one
    groupcast to "All lights" (verified, repaired by unicast) and one command per other
    mains device. The fraction seen on in the devices' own state."""
    loop = asyncio.get_running_loop()
    sims = {str(device.ieee): device for device in air.devices.values()}
    for device_id in mains:
        sims[device_id].endpoint.set(OnOff, "on_off", False)
    await asyncio.sleep(QUIET)
    on_since: dict[DeviceId, float] = {}

    def changed(device: SimDevice) -> None:
        device_id = str(device.ieee)
        if device_id in on_since or device_id not in mains:
            return
        if device.endpoint.get(OnOff, "on_off"):
            on_since[device_id] = loop.time()

    unsubscribe = air.add_change_listener(changed)
    start = loop.time()
    try:
        members = set(gateway.groups[ALL_LIGHTS_GROUP_ID].members)
        group = gateway.set_group_state(ALL_LIGHTS_GROUP_ID, {Attr.ON: True})
        singles = [gateway.set_state(d, {Attr.ON: True}) for d in mains if d not in members]
        group_result = await group.wait(timeout=COMMAND_GIVE_UP)
        statuses = [member.status for member in group_result.members.values()]
        for handle in singles:
            statuses.append((await handle.wait(timeout=COMMAND_GIVE_UP)).status)
        result.commands_failed = sum(status is not ChangeStatus.VERIFIED for status in statuses)
        await asyncio.sleep(QUIET)
    finally:
        unsubscribe()
    on = [d for d in mains if sims[d].endpoint.get(OnOff, "on_off")]
    result.working = len(on) / len(mains) if mains else 1.0
    if len(on) == len(mains) and on_since:
        result.working_s = max(on_since.values()) - start


# ---- report -----------------------------------------------------------------------------


def targets(results: Sequence[Result]) -> dict[str, bool]:
    """The issue's targets: the snapshot's at 500 devices (or the largest size run), the
    others at every size."""
    largest = max(results, key=lambda r: r.devices)
    big = [r for r in results if r.devices >= 500] or [largest]
    sizes = ", ".join(str(r.devices) for r in big)
    return {
        f"snapshot of {sizes} devices < {SNAPSHOT_WALL_S:g} s": all(
            r.snapshot_wall_s < SNAPSHOT_WALL_S for r in big
        ),
        f"phase 2 sends <= {FRAMES_VS_MINIMUM}x the frames it must send (on air and asked)": all(
            r.phase2_s is not None
            and max(r.frames, r.requests_total) <= FRAMES_VS_MINIMUM * r.minimum
            for r in results
        ),
        "100% of mains devices working after restore": all(
            r.working >= WORKING and r.mains_verified == r.mains for r in results
        ),
    }


def further_checks(results: Sequence[Result], budget: RadioBudget) -> dict[str, bool]:
    """Stricter than the issue asks: how close phase 2 comes to what the budget allows."""
    return {
        f"phase 2 time to all mains verified <= {TIME_VS_BUDGET}x its budget time": all(
            (ratio := r.time_ratio) is not None and ratio <= TIME_VS_BUDGET for r in results
        ),
        # (The scheduler's token bucket holds one token: 20 per second plus one.)
        f"phase 2 keeps the radio budget (<= {budget.unicasts_per_s:g} frames in any second)": all(
            r.peak_per_s <= budget.unicasts_per_s + 1 for r in results
        ),
    }


def _s(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(settings: Settings, results: Sequence[Result], budget: RadioBudget) -> str:
    snapshot_rows = [
        [
            str(r.devices),
            f"{r.snapshot_wall_s * 1000:.0f}",
            f"{r.snapshot_bytes / 1024:.0f}",
            f"{r.encrypted_wall_s * 1000:.0f}",
            f"{r.encrypted_bytes / 1024:.0f}",
            f"{r.read_wall_s * 1000:.0f}",
            f"{r.decrypt_wall_s * 1000:.0f}",
        ]
        for r in results
    ]
    restore_rows = [
        [
            str(r.devices),
            f"{r.detect_s:.1f}",
            f"{r.phase1_s:.1f} ({r.phase1_wall_s:.2f})",
            f"{_s(r.phase2_s)} ({r.phase2_wall_s:.1f})",
            _s(r.mains_verified_s),
            f"{r.budget_s:.1f}",
            _s(r.time_ratio, ".2f"),
            str(r.peak_per_s),
        ]
        for r in results
    ]
    frame_rows = [
        [
            str(r.devices),
            str(r.configured_in_window),
            str(r.minimum),
            str(r.frames),
            f"{r.frames_ratio:.2f}",
            f"{r.restored_ratio:.2f}",
            str(r.requests_total),
            f"{r.requests_total / r.minimum:.2f}" if r.minimum else "-",
            str(r.frames_expired),
        ]
        for r in results
    ]
    outcome_rows = [
        [
            str(r.devices),
            f"{r.restored}/{r.pending}/{r.failed}",
            f"{r.mains_verified}/{r.mains}",
            f"{r.tables_intact:.0%}",
            f"{r.working:.0%}",
            _s(r.working_s),
            f"{r.wall_s:.1f}",
        ]
        for r in results
    ]
    lines = [
        f"snapshot and restore on the virtual radio: seed {settings.seed}, loss "
        f"{settings.loss:g}, one-way delay {settings.latency * 1000:.0f}-"
        f"{(settings.latency + settings.jitter) * 1000:.0f} ms; radio budget "
        f"{budget.unicasts_per_s:g} unicasts/s, {budget.max_in_flight} in flight",
        "  snapshot, wall ms and KiB: write, size; with a password; reading it back",
        format_table(
            ["devices", "write ms", "KiB", "encrypted ms", "KiB", "read ms", "decrypt ms"],
            snapshot_rows,
        ),
        "  restore, simulated s (wall s): blank radio found; phase 1; phase 2; to all mains",
        "  devices verified; budget time (restored devices' minimum / unicasts per s);",
        "  verified / budget; most frames handed to the radio in one second",
        format_table(
            [
                "devices",
                "detect",
                "phase 1",
                "phase 2",
                "mains verified",
                "budget",
                "ratio",
                "peak/s",
            ],
            restore_rows,
        ),
        "  phase 2 frames: devices configured in the window, minimum, frames on air (radio",
        "  retransmissions included), frames / minimum, the same for the restored devices",
        "  only, requests handed to the radio, requests / minimum, frames expired unpolled",
        format_table(
            [
                "devices",
                "configured",
                "minimum",
                "frames",
                "f/min",
                "restored f/min",
                "requests",
                "req/min",
                "expired",
            ],
            frame_rows,
        ),
        "  outcome: restored/pending/failed devices, mains devices heard back, group and scene",
        "  tables intact, mains devices working, simulated s to the last one on, wall s",
        format_table(
            ["devices", "r/p/f", "mains heard", "tables", "working", "on after", "wall s"],
            outcome_rows,
        ),
    ]
    for r in results:
        kinds = ", ".join(
            f"{kind} {count} ({r.minimum_by_kind.get(kind, 0)})"
            for kind, count in r.requests.items()
        )
        lines.append(f"  requests (minimum) in phase 2, {r.devices} devices: {kinds}")
    lines.append("  targets:")
    for name, ok in targets(results).items():
        lines.append(f"    [{'PASS' if ok else 'FAIL'}] {name}")
    lines.append("  further checks (beyond the issue's targets):")
    for name, ok in further_checks(results, budget).items():
        lines.append(f"    [{'PASS' if ok else 'FAIL'}] {name}")
    return "\n".join(lines)


# ---- main ---------------------------------------------------------------------------------


async def measure_all(settings: Settings, folder: Path) -> list[Result]:
    results = []
    with clock_waits_for_database():
        for devices in settings.devices:
            results.append(await measure(settings, devices, folder / f"devices-{devices}"))
    return results


def _sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or any(not 9 <= size <= MAX_DEVICES for size in sizes):
        raise argparse.ArgumentTypeError(
            f"sizes are comma-separated device counts from 9 to {MAX_DEVICES}"
        )
    return sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.restore", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=_sizes, default=[50, 200, 500], help="e.g. 50,200,500")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loss", type=float, default=0.02, help="per transmission")
    parser.add_argument("--latency", type=float, default=0.03, help="one-way delay, s")
    parser.add_argument("--jitter", type=float, default=0.02, help="random extra delay, s")
    parser.add_argument(
        "--dir",
        type=Path,
        help="keep zigpy's databases and the snapshots here (default: a "
        "temporary folder, removed afterwards)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the gateway's warnings")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    settings = Settings(
        devices=args.devices,
        seed=args.seed,
        loss=args.loss,
        latency=args.latency,
        jitter=args.jitter,
    )
    if not args.verbose:
        # The replaced radio is logged as warnings and errors: expected here.
        logging.getLogger("custom_components.resilient_gateway").setLevel(logging.CRITICAL)
        logging.getLogger("zigpy").setLevel(logging.CRITICAL)
    wall_start = time.perf_counter()
    if args.dir is not None:
        results = run(measure_all(settings, args.dir.resolve()))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-restore-") as folder:
            results = run(measure_all(settings, Path(folder)))
    wall = time.perf_counter() - wall_start
    budget = RadioBudget()
    print(table(settings, results, budget))
    print(f"  wall time {wall:.1f} s")
    if args.json:
        document = {
            "bench": "restore",
            "settings": asdict(settings),
            "results": [r.as_dict() for r in results],
            "targets": targets(results),
            "further_checks": further_checks(results, budget),
            "wall_s": round(wall, 1),
        }
        print(json.dumps(document, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
