"""What each device must hold for the gateway (groups, scene entries, bindings and
reporting), and making it hold that: now, or for a sleeper when it next wakes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from .model import DeviceId
from .policy import SLEEPER
from .radio import RadioError, RadioLink
from .scenes import GatewayScene
from .scheduler import ClassLimitReached, Priority, SendScheduler

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceConfiguration:
    """What a device must hold for the gateway: groups and scene entries (and reporting)."""

    groups: frozenset[int]
    scenes: tuple[tuple[int, int, Mapping[str, Any]], ...]


NOTHING = DeviceConfiguration(frozenset(), ())
"""The configuration of a device in no group and no scene (it still gets reporting)."""


def configurations(
    groups: Mapping[int, tuple[DeviceId, ...]], scenes: list[GatewayScene]
) -> dict[DeviceId, DeviceConfiguration]:
    """Per device, the group memberships and scene entries it must hold."""
    member_of: dict[DeviceId, set[int]] = {}
    for group_id, members in groups.items():
        for member in members:
            member_of.setdefault(member, set()).add(group_id)
    entries: dict[DeviceId, list[tuple[int, int, Mapping[str, Any]]]] = {}
    for scene in scenes:
        for member, state in scene.member_states.items():
            entries.setdefault(member, []).append((scene.group_id, scene.scene_id, state))
    return {
        device_id: DeviceConfiguration(
            frozenset(member_of.get(device_id, ())), tuple(entries.get(device_id, ()))
        )
        for device_id in member_of.keys() | entries.keys()
    }


class DeviceConfigurer:
    """Writes configurations through the radio's send scheduler (paced like every frame),
    and keeps those of sleepers until they are next heard."""

    def __init__(
        self,
        radio: RadioLink,
        scheduler: SendScheduler,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        *,
        on_configured: Callable[[DeviceId], None] | None = None,
    ) -> None:
        """``spawn``: runs background work; ``on_configured``: a device holds its
        configuration now."""
        self._radio = radio
        self._scheduler = scheduler
        self._spawn = spawn
        self._on_configured = on_configured or (lambda _: None)
        self._awaiting_wake: dict[DeviceId, DeviceConfiguration] = {}

    @property
    def awaiting_wake(self) -> frozenset[DeviceId]:
        """The sleepers whose configuration waits for their next wake."""
        return frozenset(self._awaiting_wake)

    async def configure(
        self,
        device_id: DeviceId,
        config: DeviceConfiguration,
        priority: Priority,
        *,
        retry_delivery: bool = True,
        limit: str | None = None,
    ) -> None:
        """Make the device hold its groups, scenes, bindings and reporting (paced; in the
        scheduler's ``limit`` class if given)."""
        scenes = [(g, s, dict(v)) for g, s, v in config.scenes]
        await self._scheduler.call(
            lambda: self._radio.configure_device(device_id, config.groups, scenes),
            device_id=device_id,
            priority=priority,
            retry_delivery=retry_delivery,
            frames=self._radio.configuration_frames(device_id, config.groups, len(scenes)),
            limit=limit,
        )
        self._on_configured(device_id)

    def when_awake(self, device_id: DeviceId, config: DeviceConfiguration) -> None:
        """Configure the sleeper the next time it is heard."""
        self._awaiting_wake[device_id] = config

    def device_awake(self, device_id: DeviceId) -> None:
        """The device was heard: a sleeper whose configuration waits gets it now."""
        if (config := self._awaiting_wake.pop(device_id, None)) is not None:
            self._spawn(self.configure_awake(device_id, config))

    async def configure_awake(self, device_id: DeviceId, config: DeviceConfiguration) -> None:
        """One try while the sleeper is awake; the next wake if it fails."""
        # Urgent (it is awake only briefly) but tried once per wake, by a few at a time: a
        # sleeper that dozed off again holds its frame slot until the parent drops the
        # frame, and the awake devices must not wait behind a crowd of those.
        try:
            await self.configure(
                device_id, config, Priority.USER, retry_delivery=False, limit=SLEEPER
            )
        except ClassLimitReached:
            self._awaiting_wake.setdefault(device_id, config)  # the next wake, then
        except RadioError as exc:
            _LOGGER.debug("Configuring %s while awake failed: %s", device_id, exc)
            self._awaiting_wake.setdefault(device_id, config)
