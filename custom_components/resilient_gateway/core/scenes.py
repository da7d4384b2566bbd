"""Gateway scenes: what each member of a group should show when a scene is recalled.

Zigbee scenes live in the devices' own scene tables, which firmware updates, resets and
full tables silently lose. The gateway therefore keeps the member states each scene stands
for, recalls with one groupcast for speed, and then checks every member against them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .change_results import GroupHandle
from .changes import ChangeEngine
from .inventory import Inventory, NotInNetwork
from .model import Attr, DeviceId
from .scheduler import Priority, SendScheduler
from .schemas import recover_scenes
from .storage import AtomicJsonFile, SetAside, jsonable, load_start_file
from .values import DeviceValues

SCENE_ATTRS: tuple[Attr, ...] = (Attr.ON, Attr.BRIGHTNESS, Attr.COLOR_TEMP, Attr.XY)
"""The attributes a light scene restores (the ZCL scene extension fields)."""

MAX_SCENE_ID = 0xFF


@dataclass(frozen=True, slots=True)
class GatewayScene:
    group_id: int
    scene_id: int
    name: str
    member_states: Mapping[DeviceId, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, int]:
        return (self.group_id, self.scene_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "scene_id": self.scene_id,
            "name": self.name,
            "member_states": {
                member: {str(attr): jsonable(value) for attr, value in values.items()}
                for member, values in self.member_states.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GatewayScene:
        return cls(
            group_id=int(data["group_id"]),
            scene_id=int(data["scene_id"]),
            name=str(data["name"]),
            member_states={
                member: {
                    Attr(attr): tuple(value) if isinstance(value, list) else value
                    for attr, value in values.items()
                }
                for member, values in data["member_states"].items()
            },
        )


def scene_state(values: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a light's state a scene stores: off is just off; on keeps its level and
    colour (xy wins over colour temperature, as in ZCL scene tables)."""
    if not values.get(Attr.ON):
        return {Attr.ON: False}
    state: dict[str, Any] = {Attr.ON: True}
    if (level := values.get(Attr.BRIGHTNESS)) is not None:
        state[Attr.BRIGHTNESS] = level
    if (xy := values.get(Attr.XY)) is not None:
        state[Attr.XY] = xy
    elif (mireds := values.get(Attr.COLOR_TEMP)) is not None:
        state[Attr.COLOR_TEMP] = mireds
    return state


class SceneBook:
    """The gateway's scenes, keyed by (group id, scene id)."""

    def __init__(self) -> None:
        self._scenes: dict[tuple[int, int], GatewayScene] = {}

    def __iter__(self) -> Iterator[GatewayScene]:
        return iter(self._scenes.values())

    def __len__(self) -> int:
        return len(self._scenes)

    def get(self, group_id: int, scene_id: int) -> GatewayScene | None:
        return self._scenes.get((group_id, scene_id))

    def find(self, group_id: int, name: str) -> GatewayScene | None:
        return next(
            (s for s in self._scenes.values() if s.group_id == group_id and s.name == name),
            None,
        )

    def next_scene_id(self, group_id: int) -> int:
        """The lowest scene id the group does not use yet."""
        used = {scene_id for group, scene_id in self._scenes if group == group_id}
        for scene_id in range(1, MAX_SCENE_ID + 1):
            if scene_id not in used:
                return scene_id
        raise ValueError(f"group 0x{group_id:04x} has no free scene id")

    def put(self, scene: GatewayScene) -> None:
        self._scenes[scene.key] = scene

    def as_list(self) -> list[dict[str, Any]]:
        return [scene.as_dict() for scene in self._scenes.values()]

    def load(self, items: list[Mapping[str, Any]]) -> None:
        self._scenes = {scene.key: scene for scene in map(GatewayScene.from_dict, items)}


class SceneKeeper:
    """Stores, recalls and merges the gateway's scenes, and keeps their file."""

    def __init__(
        self,
        file: AtomicJsonFile | None,
        scheduler: SendScheduler,
        engine: Callable[[], ChangeEngine],
        inventory: Inventory,
        values: DeviceValues,
        *,
        on_stored: Callable[[], None],
    ) -> None:
        """``engine``: the started gateway's; ``on_stored``: a scene was
        stored (the inventory of scenes changed)."""
        self.book = SceneBook()
        self.file = file
        self._scheduler = scheduler
        self._engine = engine
        self._inventory = inventory
        self._values = values
        self._on_stored = on_stored

    async def load(self, owner: str, on_set_aside: Callable[[SetAside], None]) -> None:
        """Take in the scenes the file holds (a damaged file is set aside and what it still
        holds is used)."""
        if self.file and (
            saved := await load_start_file(self.file, recover_scenes, owner, on_set_aside)
        ):
            self.book.load(saved)

    async def store(self, group_id: int, name: str) -> tuple[GatewayScene, list[DeviceId]]:
        """Make the members' current (device-reported) states a scene of the group.

        Each member's scene table gets its own entry with explicit values (an Add Scene
        per member, not one Store Scene groupcast that some would miss). Returns the scene
        and the members whose table could not be written; a recall repairs those anyway.
        """
        members = self._inventory.members(group_id)
        existing = self.book.find(group_id, name)
        scene_id = existing.scene_id if existing else self.book.next_scene_id(group_id)
        states = {member: scene_state(self._values.get(member)) for member in members}
        tickets = [
            self._scheduler.store_scene(member, group_id, scene_id, state, priority=Priority.USER)
            for member, state in states.items()
        ]
        outcomes = await asyncio.gather(*tickets, return_exceptions=True)
        not_written = [
            member
            for member, outcome in zip(states, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        scene = GatewayScene(group_id, scene_id, name, states)
        self.book.put(scene)
        await self._save()
        self._on_stored()
        return scene, not_written

    def recall(self, group_id: int, scene_id: int) -> GroupHandle:
        """One scene-recall groupcast, then every member checked against the scene's
        states, repaired by unicast, and its scene entry rewritten where it proved wrong."""
        scene = self.book.get(group_id, scene_id)
        if scene is None:
            raise NotInNetwork(f"no scene {scene_id} in group 0x{group_id:04x}")
        devices = self._inventory.devices
        members = {m: v for m, v in scene.member_states.items() if m in devices}
        return self._engine().recall_scene(group_id, scene_id, members)

    async def merge(self, scenes: list[GatewayScene]) -> int:
        """Scenes of a snapshot this gateway does not have; returns how many were added."""
        added = 0
        for scene in scenes:
            if self.book.get(scene.group_id, scene.scene_id) is None:
                self.book.put(scene)
                added += 1
        if added:
            await self._save()
        return added

    async def _save(self) -> None:
        if self.file is not None:
            await self.file.save(self.book.as_list())
