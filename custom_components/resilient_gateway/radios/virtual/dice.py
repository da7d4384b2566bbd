"""The air's dice: the random draws that decide each frame's fate (lost or not, missed
groupcast or not) and its delay.

Two ways to roll them, both replayable from a key (the spec's seed and network name):

- ``SharedDice`` (the default): one stream each for loss, groupcast misses and jitter,
  shared by every frame in the order frames go on air. A frame's fate then depends on all
  the traffic before it: one extra report somewhere shifts every later draw.
- ``KeyedDice``: one stream per device and per kind of frame (``Stream``), so the n-th
  frame to (or from) a device meets the same draw whatever else is on air. Benchmarks use
  it to put different sending strategies on the same air: the ideal's repair to a member
  and the engine's, both the first unicast to it, share their fate even though the engine
  heard seven reports in between.
"""

from __future__ import annotations

import random
from enum import StrEnum
from typing import Protocol

import zigpy.types as t


class Stream(StrEnum):
    """Which kind of frame a draw is for (``KeyedDice`` keeps one stream per kind)."""

    GROUP = "group"  # whether a member misses a groupcast (on top of loss)
    TO_DEVICE = "to-device"  # a frame from the radio to the device (any delivery mode)
    DEVICE_ACK = "device-ack"  # the device's acknowledgement of a unicast copy
    FROM_DEVICE = "from-device"  # a frame from the device
    RADIO_ACK = "radio-ack"  # the coordinator's acknowledgement of it


class AirDice(Protocol):
    """Uniform draws in [0, 1) for one frame of ``stream`` to or from ``device``."""

    def chance(self, device: t.EUI64, stream: Stream) -> float:
        """The draw compared with ``loss`` or ``group_miss`` (below it: lost, missed)."""

    def jitter(self, device: t.EUI64, stream: Stream) -> float:
        """The draw that scales the frame's extra delay (``jitter`` seconds at most)."""


class SharedDice:
    """Three streams (loss, groupcast misses, jitter) shared by every frame on air."""

    def __init__(self, key: str) -> None:
        self._loss = random.Random(f"loss:{key}")
        self._group = random.Random(f"group:{key}")
        self._jitter = random.Random(f"jitter:{key}")

    def chance(self, device: t.EUI64, stream: Stream) -> float:
        return (self._group if stream is Stream.GROUP else self._loss).random()

    def jitter(self, device: t.EUI64, stream: Stream) -> float:
        return self._jitter.random()


class KeyedDice:
    """One stream of draws per (device, kind of frame): the n-th frame of a kind to or
    from a device meets the same draws, whatever else goes on air meanwhile."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._streams: dict[tuple[str, t.EUI64, Stream], random.Random] = {}

    def _stream(self, what: str, device: t.EUI64, stream: Stream) -> random.Random:
        rng = self._streams.get((what, device, stream))
        if rng is None:
            rng = random.Random(f"{what}:{self._key}:{device}:{stream.value}")
            self._streams[(what, device, stream)] = rng
        return rng

    def chance(self, device: t.EUI64, stream: Stream) -> float:
        return self._stream("chance", device, stream).random()

    def jitter(self, device: t.EUI64, stream: Stream) -> float:
        return self._stream("jitter", device, stream).random()
