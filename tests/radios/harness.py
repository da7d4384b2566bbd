"""Shared set-up for the virtual radio tests: an air, a zigpy app on it, and lookups."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import zigpy.device
import zigpy.endpoint

from custom_components.resilient_gateway.radios.virtual import (
    DeviceKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.virtual.transport import PAIRING_TIME

# Past the pairing window (lossless) and the frames still on their way.
SETTLE = PAIRING_TIME + 5.0


async def new_app(
    air: VirtualAir, database: Path | None = None, **config: Any
) -> VirtualControllerApplication:
    app = await VirtualControllerApplication.new(
        config={
            "device": {"path": air.path},
            "database_path": str(database) if database is not None else None,
            **config,
        },
        auto_form=False,
        start_radio=True,
    )
    return cast(VirtualControllerApplication, app)


@contextlib.asynccontextmanager
async def running(
    spec: VirtualNetworkSpec,
    *,
    state_path: Path | None = None,
    database: Path | None = None,
    interview: bool = True,
) -> AsyncIterator[tuple[VirtualAir, VirtualControllerApplication]]:
    """A started air and app (every device interviewed, then quiet until pairing is over);
    both are shut down after."""
    air = await VirtualAir.load_or_create(spec, state_path)
    app: VirtualControllerApplication | None = None
    try:
        app = await new_app(air, database)
        if interview:
            await app.wait_until_interviewed()
            await asyncio.sleep(SETTLE)
        yield air, app
    finally:
        if app is not None:
            await app.shutdown()
        await air.stop()


def sims(air: VirtualAir, kind: DeviceKind) -> list[SimDevice]:
    return [device for device in air.devices.values() if device.kind is kind]


def sim(air: VirtualAir, kind: DeviceKind) -> SimDevice:
    return sims(air, kind)[0]


def zigpy_endpoint(app: VirtualControllerApplication, device: SimDevice) -> zigpy.endpoint.Endpoint:
    zigpy_device = app.devices[device.ieee]
    assert isinstance(zigpy_device, zigpy.device.ZigbeeDevice)
    endpoint = zigpy_device.endpoints[1]
    assert isinstance(endpoint, zigpy.endpoint.Endpoint)
    return endpoint


def state(air: VirtualAir, device: SimDevice) -> dict[str, Any]:
    result: dict[str, Any] = air.ground_truth()["devices"][str(device.ieee)]["state"]
    return result


def truth(air: VirtualAir, device: SimDevice) -> dict[str, Any]:
    result: dict[str, Any] = air.ground_truth()["devices"][str(device.ieee)]
    return result


async def sleep(seconds: float) -> None:
    """Let simulated time pass (instant on the virtual-time loop)."""
    await asyncio.sleep(seconds)
