"""An in-memory radio for change-engine tests, following the real Zigbee model.

- a unicast returns when delivered (acknowledged) and raises DeliveryError when not;
  delivery is not execution: a device may ignore a command it acknowledged;
- devices with reporting report changed values shortly after applying them (after the
  transition), never values that did not change;
- groupcasts and scene recalls are unacknowledged; members may miss them (seeded);
- sleepy devices take frames only while awake; light sleepers take them at their next poll;
- every operation is logged with its simulated start time, so tests can measure the budget;
  exceeding the budget is recorded as a violation and fails like a real radio ("busy").
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from custom_components.resilient_gateway.core.model import (
    Attr,
    AttributeValues,
    DeviceDescription,
    DeviceId,
    DeviceKind,
    PowerSource,
    SleepMode,
)
from custom_components.resilient_gateway.core.radio import (
    DeliveryError,
    NoResponseError,
    RadioBudget,
)
from custom_components.resilient_gateway.core.scheduler import CommandValues

INDIRECT_HOLD = 7.68  # seconds a parent keeps a frame for a sleeping child (Zigbee)
_WINDOW_SLACK = 1e-6


class Listener(Protocol):
    def attributes_reported(self, device_id: DeviceId, values: CommandValues) -> None: ...

    def device_seen(self, device_id: DeviceId) -> None: ...

    def device_announced(self, device_id: DeviceId) -> None: ...


@dataclass
class FakeDevice:
    device_id: DeviceId
    sleep_mode: SleepMode = SleepMode.ALWAYS_ON
    kind: DeviceKind = DeviceKind.LIGHT
    state: dict[str, Any] = field(
        default_factory=lambda: {Attr.ON: False, Attr.BRIGHTNESS: 100, Attr.COLOR_TEMP: 300}
    )
    reports: bool = True  # attribute reporting configured
    online: bool = True
    ignores_commands: bool = False  # acknowledges, does nothing (a stuck device)
    lose_next: int = 0  # the next N unicasts to it get no acknowledgement
    miss_next_groupcasts: int = 0
    lose_next_answers: int = 0  # the next N reads reach it, but their answers are lost
    groups: set[int] = field(default_factory=set)
    scenes: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    awake_until: float = float("-inf")  # sleepy devices
    poll_interval: float = 3.0  # light sleepers

    @property
    def description(self) -> DeviceDescription:
        return DeviceDescription(
            device_id=self.device_id,
            name=self.device_id,
            kind=self.kind,
            power_source=PowerSource.MAINS
            if self.sleep_mode is SleepMode.ALWAYS_ON
            else PowerSource.BATTERY,
            sleep_mode=self.sleep_mode,
            attributes=frozenset(Attr(a) for a in self.state if a in Attr),
        )


@dataclass(frozen=True)
class Frame:
    at: float
    kind: str  # "send" | "read" | "group" | "scene" | "store"
    target: DeviceId | int
    values: Mapping[str, Any]


class FakeRadio:
    def __init__(
        self,
        *,
        seed: int = 1,
        budget: RadioBudget | None = None,
        loss: float = 0.0,
        report_loss: float = 0.0,
        group_miss: float = 0.0,
        latency: float = 0.02,
        report_delay: float = 0.1,
        read_timeout: float = 2.0,
        enforce_budget: bool = True,
    ) -> None:
        self.rng = random.Random(seed)
        self._budget = budget or RadioBudget()
        self.loss = loss
        self.report_loss = report_loss
        self.group_miss = group_miss
        self.latency = latency
        self.report_delay = report_delay
        self.read_timeout = read_timeout
        self.enforce_budget = enforce_budget  # off where the loop's clock does not move
        self.listener: Listener | None = None
        self.devices: dict[DeviceId, FakeDevice] = {}
        self.frames: list[Frame] = []
        self.violations: list[str] = []
        self.in_flight = 0
        self.max_in_flight_seen = 0
        self.delivery_failures = 0

    # ---- set-up and helpers for tests -----------------------------------------------

    @property
    def budget(self) -> RadioBudget:
        return self._budget

    def add(self, device: FakeDevice) -> FakeDevice:
        self.devices[device.device_id] = device
        return device

    def describe(self, device_id: DeviceId) -> DeviceDescription | None:
        device = self.devices.get(device_id)
        return device.description if device else None

    def members(self, group_id: int) -> list[FakeDevice]:
        return [d for d in self.devices.values() if group_id in d.groups]

    def wake(self, device_id: DeviceId, seconds: float = 3.0) -> None:
        """A sleepy device polls its parent: it listens for ``seconds`` and is seen."""
        device = self.devices[device_id]
        device.awake_until = self._now() + seconds
        if self.listener is not None:
            self.listener.device_seen(device_id)

    def sent(self, kind: str | None = None, target: DeviceId | int | None = None) -> list[Frame]:
        return [
            f
            for f in self.frames
            if (kind is None or f.kind == kind) and (target is None or f.target == target)
        ]

    # ---- the Radio protocol ---------------------------------------------------------

    async def send(
        self, device_id: DeviceId, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        self._begin("send", device_id, values)
        try:
            device = await self._deliver(device_id)
            self._apply(device, values, transition)
        finally:
            self.in_flight -= 1

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        self._begin("read", device_id, {a: None for a in attributes})
        try:
            try:
                device = await self._deliver(device_id)
            except DeliveryError as err:
                await asyncio.sleep(self.read_timeout)
                raise NoResponseError(device_id) from err
            if device.lose_next_answers > 0:
                device.lose_next_answers -= 1
                await asyncio.sleep(self.read_timeout)  # the radio library's reply timeout
                raise NoResponseError(device_id)
            values = {a: device.state[a] for a in attributes if a in device.state}
            await asyncio.sleep(self.latency)
            if self.listener is not None:
                self.listener.device_seen(device_id)
                self.listener.attributes_reported(device_id, values)
            return values
        finally:
            self.in_flight -= 1

    def frames_to_send(self, values: AttributeValues) -> int:
        return 1  # one frame carries every attribute here

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        return 1

    async def send_group(
        self, group_id: int, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        self._begin("group", group_id, values)
        try:
            await asyncio.sleep(self.latency)
            for device in self._hearing(group_id):
                self._apply(device, values, transition)
        finally:
            self.in_flight -= 1

    async def recall_scene(self, group_id: int, scene_id: int) -> None:
        self._begin("scene", group_id, {"scene": scene_id})
        try:
            await asyncio.sleep(self.latency)
            for device in self._hearing(group_id):
                stored = device.scenes.get((group_id, scene_id))
                if stored is not None:
                    self._apply(device, stored, None)
        finally:
            self.in_flight -= 1

    async def store_scene(
        self, device_id: DeviceId, group_id: int, scene_id: int, values: AttributeValues
    ) -> None:
        self._begin("store", device_id, values)
        try:
            device = await self._deliver(device_id)
            device.scenes[(group_id, scene_id)] = dict(values)
        finally:
            self.in_flight -= 1

    # ---- the air --------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _begin(self, kind: str, target: DeviceId | int, values: AttributeValues) -> None:
        now = self._now()
        airtime = "group" if kind in ("group", "scene") else "unicast"
        rate = self._budget.groupcasts_per_s if airtime == "group" else self._budget.unicasts_per_s
        recent = [
            f
            for f in self.frames
            if (f.kind in ("group", "scene")) == (airtime == "group")
            and f.at > now - 1.0 + _WINDOW_SLACK
        ]
        self.frames.append(Frame(now, kind, target, dict(values)))
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        busy = None
        if not self.enforce_budget:
            pass
        elif self.in_flight > self._budget.max_in_flight:
            busy = f"{self.in_flight} in flight at {now:.3f}"
        elif len(recent) + 1 > max(1.0, rate) + _WINDOW_SLACK:
            busy = f"{len(recent) + 1} {airtime}s within 1 s at {now:.3f}"
        if busy is not None:
            self.violations.append(busy)
            self.in_flight -= 1
            raise DeliveryError(f"bridge busy: {busy}")

    async def _deliver(self, device_id: DeviceId) -> FakeDevice:
        """Wait for the frame to reach the device; DeliveryError when it is not acknowledged."""
        device = self.devices[device_id]
        if device.sleep_mode is SleepMode.LIGHT_SLEEPER:
            await asyncio.sleep(self.rng.uniform(0.0, device.poll_interval))
        elif device.sleep_mode is SleepMode.SLEEPY and self._now() > device.awake_until:
            await asyncio.sleep(INDIRECT_HOLD)  # the parent holds it; the child may poll
        else:
            await asyncio.sleep(self.latency)
        lost = device.lose_next > 0 or self.rng.random() < self.loss
        if device.lose_next > 0:
            device.lose_next -= 1
        asleep = device.sleep_mode is SleepMode.SLEEPY and self._now() > device.awake_until
        if lost or asleep or not device.online:
            self.delivery_failures += 1
            raise DeliveryError(f"no acknowledgement from {device_id}")
        return device

    def _hearing(self, group_id: int) -> list[FakeDevice]:
        """Members that receive a groupcast: awake routers that did not miss it."""
        hearing = []
        for device in self.members(group_id):
            if device.sleep_mode is not SleepMode.ALWAYS_ON or not device.online:
                continue
            if device.miss_next_groupcasts > 0:
                device.miss_next_groupcasts -= 1
                continue
            if self.rng.random() < self.group_miss:
                continue
            hearing.append(device)
        return hearing

    def _apply(self, device: FakeDevice, values: AttributeValues, transition: float | None) -> None:
        if device.ignores_commands:
            return
        # A device ignores what it has no cluster for (an on/off bulb and a level).
        values = {a: v for a, v in values.items() if a in device.state}
        changed = {a: v for a, v in values.items() if device.state.get(a) != v}
        device.state.update(values)
        if not changed or not device.reports or self.rng.random() < self.report_loss:
            return
        delay = self.report_delay + (transition or 0.0)
        asyncio.get_running_loop().call_later(delay, self._report, device.device_id, changed)

    def _report(self, device_id: DeviceId, values: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener.device_seen(device_id)
            self.listener.attributes_reported(device_id, values)
