"""Shared set-up for the virtual radio tests: an air, a zigpy app on it, and lookups."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import zigpy.device
import zigpy.endpoint
import zigpy.types as t
from zigpy.zcl import foundation

from custom_components.resilient_gateway.radios.virtual import (
    PRIMARY,
    RadioSlot,
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
    network_path,
    ztypes,
)
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.virtual.transport import PAIRING_TIME

# Past the pairing window (lossless) and the frames still on their way.
SETTLE = PAIRING_TIME + 5.0


def app_config(
    air: VirtualAir, database: Path | None = None, slot: RadioSlot = PRIMARY, **config: Any
) -> dict[str, Any]:
    """zigpy's configuration for an app on the radio in ``slot`` of ``air``."""
    return {
        "device": {"path": network_path(air.name, slot)},
        "database_path": str(database) if database is not None else None,
        **config,
    }


async def loaded_app(
    air: VirtualAir, database: Path | None = None, *, slot: RadioSlot = PRIMARY, **config: Any
) -> VirtualControllerApplication:
    """An app on the radio in ``slot`` with zigpy's database loaded, not connected yet."""
    app = await VirtualControllerApplication.new(
        config=app_config(air, database, slot, **config), auto_form=False, start_radio=False
    )
    return cast(VirtualControllerApplication, app)


async def new_app(
    air: VirtualAir, database: Path | None = None, *, slot: RadioSlot = PRIMARY, **config: Any
) -> VirtualControllerApplication:
    """A started app on the radio in ``slot`` (zigpy's database loaded)."""
    app = await loaded_app(air, database, slot=slot, **config)
    await app.startup()  # which shuts the app down if it fails, as zigpy's new() does
    return app


async def connected_app(
    air: VirtualAir, database: Path | None = None, *, slot: RadioSlot = PRIMARY
) -> VirtualControllerApplication:
    """An app connected to the radio in ``slot`` whose network it has not started (as
    before a restore onto a blank radio)."""
    app = await loaded_app(air, database, slot=slot)
    try:
        await app.connect()
    except BaseException:
        await shut_down(app)
        raise
    return app


_SHUT_DOWN: weakref.WeakSet[VirtualControllerApplication] = weakref.WeakSet()


async def shut_down(app: VirtualControllerApplication) -> None:
    """Shut ``app`` down unless this did already (zigpy's database closes once)."""
    if app in _SHUT_DOWN:
        return
    _SHUT_DOWN.add(app)
    await app.shutdown()


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
            await shut_down(app)
        await air.stop()


def on_closed_port() -> pytest.RaisesExc[AttributeError]:
    """What a request on a dropped link raises: the write to the serial transport that is
    gone, as in zigpy-znp (not a zigpy error)."""
    return pytest.raises(AttributeError, match="'NoneType' object has no attribute 'write'")


def sims(air: VirtualAir, kind: SimKind) -> list[SimDevice]:
    return [device for device in air.devices.values() if device.kind is kind]


def sim(air: VirtualAir, kind: SimKind) -> SimDevice:
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


def on_command(device: SimDevice, tsn: int, *, default_response: bool = True) -> t.ZigbeePacket:
    """An On command to ``device`` as zigpy would hand it to the radio (without a default
    response: only the air acknowledges it)."""
    header = foundation.ZCLHeader.cluster(tsn=tsn, command_id=0x01)
    if not default_response:
        header.frame_control = header.frame_control.replace(disable_default_response=1)
    return ztypes.packet(
        src=ztypes.nwk_address(0x0000),
        src_ep=1,
        dst=ztypes.nwk_address(device.nwk),
        dst_ep=1,
        tsn=tsn,
        profile_id=0x0104,
        cluster_id=0x0006,
        data=header.serialize(),
    )
