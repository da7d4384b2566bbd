"""Wire-level tests: the real radio libraries driven through ``ZigbeeRadio`` and the
gateway against emulated sticks on TCP ports (``tcp_stick``), in real time.

Nothing here waits a fixed time: tests wait for what they expect (a stick's or the
gateway's state) with generous timeouts, so a loaded machine only makes them slower.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from zigpy.application import ControllerApplication
from zigpy.util import CatchingTaskMixin

from custom_components.resilient_gateway.core.change_results import ChangeResult
from custom_components.resilient_gateway.core.gateway import Gateway, GatewayListener
from custom_components.resilient_gateway.core.health import HealthEvent, HealthPolicy
from custom_components.resilient_gateway.core.model import Attr, AttributeValues, DeviceId
from custom_components.resilient_gateway.core.policy import Backoff
from custom_components.resilient_gateway.core.radio import LinkState, RadioListener
from custom_components.resilient_gateway.core.snapshot import SnapshotStore
from custom_components.resilient_gateway.core.storage import AtomicJsonFile
from custom_components.resilient_gateway.radios.virtual import SimKind
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from .tcp_stick import Air, Firmware, Signal, TcpStick

WAIT = 30.0
"""Seconds a test waits for something that takes well under one on an idle machine."""

QUICK_LADDER = HealthPolicy(
    check_interval=60.0,
    check_timeout=10.0,
    retry_delay=0.2,
    backoff=Backoff(initial=0.2, factor=2.0, maximum=1.0, jitter=0.0),
)
"""The supervisor's ladder with short pauses between attempts (real time passes here)."""


@pytest.fixture(autouse=True)
def sockets_to_localhost(socket_enabled: None) -> None:
    """The emulated sticks listen on 127.0.0.1 (the harness allows no other host)."""


def radio_config(path: str, database: Path | None) -> dict[str, Any]:
    """zigpy's configuration for a radio at ``path``, as the integration builds it."""
    return {
        "device": {"path": path, "baudrate": 115200, "flow_control": None},
        "database_path": None if database is None else str(database),
    }


class RadioEvents(RadioListener):
    """What a ZigbeeRadio tells its owner, recorded; ``changed`` wakes waiters."""

    def __init__(self) -> None:
        self.states: list[LinkState] = []
        self.changed = Signal()

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        self.changed.notify()

    def device_seen(self, device_id: DeviceId) -> None:
        pass

    def device_announced(self, device_id: DeviceId) -> None:
        pass

    def devices_changed(self) -> None:
        self.changed.notify()

    def radio_state_changed(self, state: LinkState) -> None:
        self.states.append(state)
        self.changed.notify()


class GatewayEvents(GatewayListener):
    """What a gateway tells its listeners, recorded; ``changed`` wakes waiters."""

    def __init__(self) -> None:
        self.health: list[HealthEvent] = []
        self.changed = Signal()

    def device_updated(self, device_id: DeviceId) -> None:
        self.changed.notify()

    def inventory_changed(self) -> None:
        self.changed.notify()

    def radio_state_changed(self, state: LinkState) -> None:
        self.changed.notify()

    def health_changed(self, event: HealthEvent) -> None:
        self.health.append(event)
        self.changed.notify()

    def change_finished(self, result: ChangeResult) -> None:
        self.changed.notify()


@dataclass
class WiredGateway:
    gateway: Gateway
    events: GatewayEvents

    @property
    def radio(self) -> ZigbeeRadio:
        radio = self.gateway.radio
        assert isinstance(radio, ZigbeeRadio)
        return radio

    async def wait_until(self, condition: Callable[[], bool], seconds: float = WAIT) -> None:
        await self.events.changed.wait_until(condition, seconds)


@dataclass
class Bench:
    """Sticks, radios and gateways of one test; everything is stopped at its end."""

    tmp_path: Path
    air: Air
    sticks: list[TcpStick] = field(default_factory=list)
    radios: list[ZigbeeRadio] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)

    async def plug(self, firmware: Firmware) -> TcpStick:
        """``firmware`` on a TCP port, plugged in."""
        stick = TcpStick(firmware)
        await stick.plug_in()
        self.sticks.append(stick)
        return stick

    def database(self, name: str = "zigbee") -> Path:
        return self.tmp_path / f"{name}.db"

    def radio(
        self,
        app_class: type[ControllerApplication],
        path: str,
        *,
        database: str = "zigbee",
    ) -> tuple[ZigbeeRadio, RadioEvents]:
        """A ZigbeeRadio on its own (no gateway), not started."""
        events = RadioEvents()
        radio = ZigbeeRadio(app_class, radio_config(path, self.database(database)), events)
        self.radios.append(radio)
        return radio, events

    def gateway(
        self,
        app_class: type[ControllerApplication],
        path: str,
        *,
        name: str = "gw",
        health_policy: HealthPolicy = QUICK_LADDER,
        standby_path: str | None = None,
    ) -> WiredGateway:
        """A gateway (not started) whose files live below ``tmp_path/name``, with a
        standby radio at ``standby_path`` if given."""
        folder = self.tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        config = radio_config(path, folder / "zigbee.db")
        standby = None if standby_path is None else {**config["device"], "path": standby_path}
        gateway = Gateway(
            lambda listener: ZigbeeRadio(app_class, config, listener, standby_device=standby),
            name=name,
            changes_file=AtomicJsonFile(folder / "changes.json"),
            scenes_file=AtomicJsonFile(folder / "scenes.json"),
            snapshots=SnapshotStore(folder / "snapshots"),
            health_policy=health_policy,
        )
        events = GatewayEvents()
        gateway.add_listener(events)
        self.gateways.append(gateway)
        return WiredGateway(gateway, events)

    async def close(self) -> None:
        for gateway in reversed(self.gateways):
            with contextlib.suppress(Exception):
                await gateway.stop()
        for radio in reversed(self.radios):
            with contextlib.suppress(Exception):
                await radio.stop()
        firmwares = {id(stick.firmware): stick.firmware for stick in self.sticks}
        for stick in self.sticks:
            await stick.close()
        for firmware in firmwares.values():
            firmware.stop()
        self.air.stop()
        await end_zigpy_replies()
        problems = [problem for firmware in firmwares.values() for problem in firmware.problems()]
        assert not problems, "the emulated stick met what it does not handle"


async def end_zigpy_replies() -> None:
    """zigpy answers a device (a default response, a ZDO reply) in a task of its own that
    waits for the radio library's send confirmation, up to its APS timeout; a radio stopped
    or unplugged meanwhile leaves it waiting. Once every radio of a test is stopped, those
    replies can only fail: end them, so the harness finds no task left behind."""
    loop = asyncio.get_running_loop()
    replies = [
        task
        for task in CatchingTaskMixin._tasks
        if not task.done() and task.get_loop() is loop and task is not asyncio.current_task()
    ]
    for task in replies:
        task.cancel()
    await asyncio.gather(*replies, return_exceptions=True)


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path, Air())
    try:
        yield bench
    finally:
        await bench.close()


LIGHT_IEEE = "00:12:4b:00:2a:1c:77:01"
LIGHT_NWK = 0x4A1B


class JoiningStick(Firmware, Protocol):
    def join(self, device: SimDevice) -> None:
        """``device`` joins the network the stick runs."""


async def gateway_with_light(
    bench: Bench, app_class: type[ControllerApplication], stick: JoiningStick
) -> tuple[TcpStick, WiredGateway, SimDevice]:
    """``stick`` plugged in, a gateway started on it, an On/Off light joined, interviewed
    and read by the gateway."""
    tcp = await bench.plug(stick)
    wired = bench.gateway(app_class, tcp.path)
    await wired.gateway.start()
    light = bench.air.add_device(SimKind.ON_OFF_LIGHT, ieee=LIGHT_IEEE, nwk=LIGHT_NWK, name="Light")
    stick.join(light)
    await wired.wait_until(lambda: Attr.ON in wired.gateway.values(str(light.ieee)))
    return tcp, wired, light
