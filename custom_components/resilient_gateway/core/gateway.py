"""The gateway: one radio, what it knows about its devices, and who wants to hear of it.

Home-Assistant-free, so the benchmark drives exactly what Home Assistant drives. The Home
Assistant glue (``coordinator.py``) builds one per config entry and only adapts it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from .change_results import ChangeCounts, ChangeHandle, ChangeResult, GroupHandle, SyncState
from .changes import ChangeEngine
from .model import (
    Attr,
    AttributeValues,
    DeviceDescription,
    DeviceId,
    GroupDescription,
    Radio,
    RadioListener,
    RadioState,
    SleepMode,
)
from .policy import ChangePolicy
from .scenes import GatewayScene, SceneBook, scene_state
from .scheduler import Priority, Ticket
from .storage import AtomicJsonFile

_LOGGER = logging.getLogger(__name__)

type Unsubscribe = Callable[[], None]


class RadioLink(Radio, Protocol):
    """A radio the gateway can run: the send contract plus lifecycle and inventory."""

    @property
    def state(self) -> RadioState: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def devices(self) -> list[DeviceDescription]: ...

    def groups(self) -> list[GroupDescription]: ...

    def cached_values(self, device_id: DeviceId) -> dict[str, Any]: ...

    def diagnostics(self) -> dict[str, Any]:
        """What the radio knows about itself and its network (secrets included: the
        caller redacts them)."""
        ...


class GatewayListener(Protocol):
    """What the gateway tells its users (entities, services, the benchmark)."""

    def device_updated(self, device_id: DeviceId) -> None: ...

    def inventory_changed(self) -> None: ...

    def radio_state_changed(self, state: RadioState) -> None: ...

    def change_finished(self, result: ChangeResult) -> None: ...

    def counts_changed(self, counts: ChangeCounts) -> None: ...


REFRESH_READ_TIMEOUT = 30.0
"""Seconds a background state read may take before it is given up."""

INVENTORY_DEBOUNCE = 0.2
"""Seconds of quiet before inventory changes (joins, group members) are taken in."""

SAVE_DELAY = 1.0
"""Seconds to gather engine changes before writing them to disk (one write per burst)."""


class Gateway(RadioListener):
    """Runs one radio, follows every command with the change engine, and keeps the last
    values each device itself reported."""

    def __init__(
        self,
        radio_factory: Callable[[RadioListener], RadioLink],
        *,
        changes_file: AtomicJsonFile | None = None,
        scenes_file: AtomicJsonFile | None = None,
        policy: ChangePolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.radio: RadioLink = radio_factory(self)
        self.devices: dict[DeviceId, DeviceDescription] = {}
        self.groups: dict[int, GroupDescription] = {}
        self._values: dict[DeviceId, dict[str, Any]] = {}
        self._last_heard: dict[DeviceId, float] = {}
        self._listeners: list[GatewayListener] = []
        self._changes_file = changes_file
        self._scenes_file = scenes_file
        self.scenes = SceneBook()
        self._policy = policy
        self._rng = rng
        self._engine: ChangeEngine | None = None
        self._save_timer: asyncio.TimerHandle | None = None
        self._inventory_timer: asyncio.TimerHandle | None = None
        self._save_task: asyncio.Task[None] | None = None

    @property
    def engine(self) -> ChangeEngine:
        if self._engine is None:
            raise RuntimeError("the gateway is not started")
        return self._engine

    async def start(self) -> None:
        """Start the radio, then resume the changes that were pending at the last stop."""
        await self.radio.start()
        self._refresh_inventory()
        engine = ChangeEngine(
            self.radio, describe=self.devices.get, policy=self._policy, rng=self._rng
        )
        self._engine = engine
        engine.add_device_listener(self._sync_changed)
        engine.add_result_listener(self._change_finished)
        engine.add_counts_listener(self._counts_changed)
        if self._changes_file is not None and (saved := await self._changes_file.load()):
            engine.restore(saved)
        if self._scenes_file is not None and (scenes := await self._scenes_file.load()):
            self.scenes.load(scenes)
        for device in self.devices.values():
            self._refresh(device)

    async def stop(self) -> None:
        """Stop following changes (they are saved and resume at the next start)."""
        for timer in (self._save_timer, self._inventory_timer):
            if timer is not None:
                timer.cancel()
        self._save_timer = self._inventory_timer = None
        if self._engine is not None:
            await self._engine.stop()
            await self._save()
        await self.radio.stop()

    def _save_soon(self) -> None:
        if self._changes_file is None or self._save_timer is not None:
            return

        def save() -> None:
            self._save_timer = None
            self._save_task = asyncio.ensure_future(self._save())

        self._save_timer = asyncio.get_running_loop().call_later(SAVE_DELAY, save)

    async def _save(self) -> None:
        if self._changes_file is not None and self._engine is not None:
            await self._changes_file.save(self._engine.snapshot())

    async def flush(self) -> None:
        """Write the pending changes now (before a Home Assistant backup)."""
        await self._save()

    def sync_state(self, device_id: DeviceId) -> SyncState:
        """Whether the device shows what it was last told: verified, pending or failed."""
        state = self.engine.sync_state(device_id) if self._engine else None
        return state or SyncState.VERIFIED

    def _sync_changed(self, device_id: DeviceId) -> None:
        for listener in tuple(self._listeners):
            listener.device_updated(device_id)

    def _change_finished(self, result: ChangeResult) -> None:
        for listener in tuple(self._listeners):
            listener.change_finished(result)

    def _counts_changed(self, counts: ChangeCounts) -> None:
        self._save_soon()
        for listener in tuple(self._listeners):
            listener.counts_changed(counts)

    def add_listener(self, listener: GatewayListener) -> Unsubscribe:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def radio_up(self) -> bool:
        return self.radio.state is RadioState.UP

    def values(self, device_id: DeviceId) -> dict[str, Any]:
        """The device's state as last seen from the device itself (never the commanded one)."""
        return self._values.get(device_id, {})

    # -- commands --------------------------------------------------------------------

    def set_state(
        self,
        device_id: DeviceId,
        values: AttributeValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> ChangeHandle:
        """Make ``values`` the device's desired state; the handle tells how it ended."""
        return self.engine.set_state(device_id, values, transition=transition, deadline=deadline)

    def set_group_state(
        self,
        group_id: int,
        values: AttributeValues,
        *,
        transition: float | None = None,
        deadline: float | None = None,
    ) -> GroupHandle:
        """One groupcast, then every member verified and repaired by unicast."""
        members = [m for m in self.groups[group_id].members if m in self.devices]
        return self.engine.set_group_state(
            group_id, members, values, transition=transition, deadline=deadline
        )

    async def store_scene(self, group_id: int, name: str) -> tuple[GatewayScene, list[DeviceId]]:
        """Make the members' current (device-reported) states a scene of the group.

        Each member's scene table gets its own entry with explicit values (an Add Scene
        per member, not one Store Scene groupcast that some would miss). Returns the scene
        and the members whose table could not be written; a recall repairs those anyway.
        """
        members = [m for m in self.groups[group_id].members if m in self.devices]
        existing = self.scenes.find(group_id, name)
        scene_id = existing.scene_id if existing else self.scenes.next_scene_id(group_id)
        states = {member: scene_state(self.values(member)) for member in members}
        tickets = [
            self.engine.scheduler.store_scene(
                member, group_id, scene_id, state, priority=Priority.USER
            )
            for member, state in states.items()
        ]
        outcomes = await asyncio.gather(*tickets, return_exceptions=True)
        not_written = [
            member
            for member, outcome in zip(states, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        scene = GatewayScene(group_id, scene_id, name, states)
        self.scenes.put(scene)
        if self._scenes_file is not None:
            await self._scenes_file.save(self.scenes.as_list())
        for listener in tuple(self._listeners):
            listener.inventory_changed()
        return scene, not_written

    def recall_scene(self, group_id: int, scene_id: int) -> GroupHandle:
        """One scene-recall groupcast, then every member checked against the scene's
        states, repaired by unicast, and its scene entry rewritten where it proved wrong."""
        scene = self.scenes.get(group_id, scene_id)
        if scene is None:
            raise KeyError(f"no scene {scene_id} in group 0x{group_id:04x}")
        members = {m: v for m, v in scene.member_states.items() if m in self.devices}
        return self.engine.recall_scene(group_id, scene_id, members)

    # -- what the radio tells us -----------------------------------------------------

    def heard_within(self, device_id: DeviceId, seconds: float) -> bool:
        """Whether any frame came from the device in the last ``seconds``."""
        heard = self._last_heard.get(device_id)
        return heard is not None and heard >= asyncio.get_running_loop().time() - seconds

    def _heard(self, device_id: DeviceId) -> None:
        self._last_heard[device_id] = asyncio.get_running_loop().time()

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        self._heard(device_id)
        if not values:
            return
        self._values.setdefault(device_id, {}).update(values)
        if self._engine is not None:
            self._engine.attributes_reported(device_id, values)
        for listener in tuple(self._listeners):
            listener.device_updated(device_id)

    def device_seen(self, device_id: DeviceId) -> None:
        self._heard(device_id)
        if self._engine is not None:
            self._engine.device_seen(device_id)

    def device_announced(self, device_id: DeviceId) -> None:
        _LOGGER.debug("Device %s announced itself", device_id)
        if self._engine is not None:
            self._engine.device_announced(device_id)

    def devices_changed(self) -> None:
        # A network start or a join brings a burst of these (one per device and group
        # member): describe the whole inventory once per burst, not once per event.
        if self._inventory_timer is None:
            self._inventory_timer = asyncio.get_running_loop().call_later(
                INVENTORY_DEBOUNCE, self._inventory_settled
            )

    def _inventory_settled(self) -> None:
        self._inventory_timer = None
        self._refresh_inventory()
        for listener in tuple(self._listeners):
            listener.inventory_changed()

    def radio_state_changed(self, state: RadioState) -> None:
        for listener in tuple(self._listeners):
            listener.radio_state_changed(state)

    def _refresh(self, device: DeviceDescription) -> None:
        """Ask an awake device for its state, in the background (sleepers report by
        themselves when they wake)."""
        if device.sleep_mode is SleepMode.SLEEPY or not device.attributes:
            return
        ticket = self.engine.scheduler.read(
            device.device_id,
            device.attributes,
            priority=Priority.BACKGROUND,
            timeout=REFRESH_READ_TIMEOUT,
        )
        ticket.add_done_callback(_log_failed_refresh)

    def _refresh_inventory(self) -> None:
        previous = self.devices
        self.devices = {device.device_id: device for device in self.radio.devices()}
        if self._engine is not None:
            for device_id, device in self.devices.items():
                if device_id not in previous:
                    self._refresh(device)
        self.groups = {group.group_id: group for group in self.radio.groups()}
        for device_id in self.devices:
            if device_id not in self._values:
                self._values[device_id] = self.radio.cached_values(device_id)


def _log_failed_refresh(ticket: Ticket[dict[Attr, Any]]) -> None:
    if not ticket.cancelled() and (error := ticket.exception()) is not None:
        _LOGGER.debug("Background state read failed: %s", error)
