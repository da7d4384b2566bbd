"""What each device itself showed: its reported values and when it was last heard."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from .model import Attr, AttributeValues, DeviceId


class DeviceValues:
    """The last values each device reported or answered to a read (never a commanded
    one), and the time any frame last came from it."""

    def __init__(self) -> None:
        self._values: dict[DeviceId, dict[str, Any]] = {}
        self._last_heard: dict[DeviceId, float] = {}

    def get(self, device_id: DeviceId) -> dict[str, Any]:
        """The device's state as last seen from the device itself."""
        return self._values.get(device_id, {})

    def update(self, device_id: DeviceId, values: AttributeValues) -> None:
        self._values.setdefault(device_id, {}).update(values)

    def heard(self, device_id: DeviceId) -> None:
        """A frame came from the device now."""
        self._last_heard[device_id] = asyncio.get_running_loop().time()

    def heard_within(self, device_id: DeviceId, seconds: float) -> bool:
        """Whether any frame came from the device in the last ``seconds``."""
        heard = self._last_heard.get(device_id)
        return heard is not None and heard >= asyncio.get_running_loop().time() - seconds

    def missing(self, device_id: DeviceId, attributes: Collection[Attr]) -> set[Attr]:
        """Which of ``attributes`` the device has not shown."""
        shown = self._values.get(device_id, {}).keys()
        return {attr for attr in attributes if attr not in shown}

    def forget(self, device_id: DeviceId | None = None) -> None:
        """What one device (or every device) showed can no longer be trusted."""
        if device_id is None:
            self._values.clear()
        else:
            self._values.pop(device_id, None)
