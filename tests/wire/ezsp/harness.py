"""Shared set-up of the wire-level EZSP tests: radios and gateways on emulated sticks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zigpy.types as zt
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import OnOff

from custom_components.resilient_gateway.core.gateway import Gateway, GatewayListener
from custom_components.resilient_gateway.core.health import HealthEvent, HealthPolicy
from custom_components.resilient_gateway.core.policy import Backoff
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.core.snapshot import SnapshotStore
from custom_components.resilient_gateway.core.storage import AtomicJsonFile
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.virtual.kinds import SimKind
from custom_components.resilient_gateway.radios.zigbee.libraries import RADIO_LIBRARIES
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from .emulator import EzspStick, Nvram, OutgoingFrame

type MakeStick = Callable[[Nvram], Awaitable[EzspStick]]
type MakeRadio = Callable[..., ZigbeeRadio]
type MakeGateway = Callable[..., Gateway]

ON_COMMAND_ID = OnOff.ServerCommandDefs.on.id

# Every wait for something the radio does in real time is bounded by this: generous,
# for a loaded machine; a passing run waits far less.
PATIENCE = 30.0

# The supervisor's ladder at test speed: the same steps, shorter pauses between them.
FAST_HEALTH = HealthPolicy(
    check_interval=60.0,
    check_timeout=10.0,
    retry_delay=0.1,
    backoff=Backoff(initial=0.2, factor=2.0, maximum=1.0, jitter=0.0),
    action_timeout=PATIENCE,
)


def ezsp_config(path: str, database: Path) -> dict[str, Any]:
    """zigpy's configuration as the integration builds it for an EZSP radio."""
    library = RADIO_LIBRARIES["ezsp"]
    return {
        "device": {"path": path, "baudrate": library.default_baudrate, "flow_control": None},
        "database_path": str(database),
    }


class QuietListener:
    """A RadioListener for radios tested without a gateway above them."""

    def attributes_reported(self, device_id: str, values: dict[Any, Any]) -> None:
        pass

    def device_seen(self, device_id: str) -> None:
        pass

    def device_announced(self, device_id: str) -> None:
        pass

    def devices_changed(self) -> None:
        pass

    def radio_state_changed(self, state: Any) -> None:
        pass


def ezsp_radio(stick: EzspStick, database: Path, listener: RadioListener) -> ZigbeeRadio:
    """A ZigbeeRadio driving bellows on ``stick``, as the integration builds one."""
    return ZigbeeRadio(
        RADIO_LIBRARIES["ezsp"].controller_class(), ezsp_config(stick.path, database), listener
    )


def ezsp_gateway(stick: EzspStick, folder: Path, *, make_radio: MakeRadio) -> Gateway:
    """A gateway on ``stick`` keeping its files in ``folder`` (its config entry's)."""
    return Gateway(
        lambda listener: make_radio(stick, folder / "zigbee.db", listener),
        name="wire",
        changes_file=AtomicJsonFile(folder / "changes.json"),
        scenes_file=AtomicJsonFile(folder / "scenes.json"),
        snapshots=SnapshotStore(folder / "snapshots"),
        health_policy=FAST_HEALTH,
    )


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds (checked often), at most PATIENCE seconds."""
    try:
        async with asyncio.timeout(PATIENCE):
            # Polled: the conditions are states of libraries that signal nothing.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {PATIENCE:g} s: {what}") from None


class HealthLog(GatewayListener):
    """Remembers the supervisor's health events."""

    def __init__(self) -> None:
        self.events: list[HealthEvent] = []

    def health_changed(self, event: HealthEvent) -> None:
        self.events.append(event)


async def join_light(stick: EzspStick, gateway: Gateway, rng: random.Random) -> SimDevice:
    """A dimmable light joins the stick's network; returns once the gateway knows it
    (zigpy interviewed it over the wire)."""
    light = SimDevice.new(
        ieee=zt.EUI64(rng.randbytes(8)),
        nwk=rng.randrange(0x0001, 0xFFF7),
        kind=SimKind.DIMMABLE_LIGHT,
        name="Light",
        rng=rng,
    )
    light.endpoint.set(OnOff, "on_off", False)
    stick.ncp.join(light)
    await eventually(lambda: str(light.ieee) in gateway.devices, "the light was interviewed")
    return light


def is_on(light: SimDevice) -> bool:
    return bool(light.endpoint.get(OnOff, "on_off"))


def is_on_command(frame: OutgoingFrame) -> bool:
    """Whether the host asked the stick to send an On Off cluster "on" command."""
    if frame.aps_frame.clusterId != OnOff.cluster_id:
        return False
    header, _ = foundation.ZCLHeader.deserialize(frame.data)
    return bool(header.frame_control.is_cluster) and header.command_id == ON_COMMAND_ID
