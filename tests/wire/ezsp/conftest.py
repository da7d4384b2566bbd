"""Sticks, radios and gateways for the wire-level EZSP tests: emulated NCPs on local TCP
ports, driven by bellows' real ControllerApplication in real time (every wait is bounded).
Everything a test makes is stopped after it, also when it fails."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import bellows.ezsp
import pytest

from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from ..conftest import end_zigpy_replies
from .emulator import EzspStick, Nvram
from .harness import MakeGateway, MakeRadio, MakeStick, QuietListener, ezsp_gateway, ezsp_radio

BELLOWS_THREAD_PREFIX = "bellows.thread"
EXECUTOR_THREAD_PREFIX = "asyncio_"
THREAD_EXIT_TIMEOUT = 10.0


HERE = Path(__file__).parent

# bellows 1.2.1 calls asyncio.iscoroutinefunction for every call into its serial thread:
# thousands of identical warnings about the library, none about this project.
BELLOWS_DEPRECATION = (
    "ignore:'asyncio.iscoroutinefunction' is deprecated:DeprecationWarning:bellows.thread"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.filterwarnings(BELLOWS_DEPRECATION))


@pytest.fixture(autouse=True)
def no_wait_for_an_unasked_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """bellows first waits 2 s for a network coordinator to announce a reset by itself
    (zigbeed does; an SLZB-07 or a ser2net bridge does not), then resets it. The emulated
    stick behaves like the latter: a shorter wait keeps the tests fast and changes nothing
    else."""
    monkeypatch.setattr(bellows.ezsp, "NETWORK_COORDINATOR_STARTUP_RESET_WAIT", 0.05)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(12)


@pytest.fixture
async def make_stick(socket_enabled: None) -> AsyncIterator[MakeStick]:
    """Plugs in sticks with the given NVRAM.

    Home Assistant's test plugin blocks sockets; these tests need local TCP (it still
    allows connections to 127.0.0.1 only)."""
    threads_before = set(threading.enumerate())
    sticks: list[EzspStick] = []

    async def make(nvram: Nvram) -> EzspStick:
        stick = EzspStick(nvram)
        await stick.start()
        sticks.append(stick)
        return stick

    yield make
    for stick in sticks:
        await stick.close()
    _serial_threads_gone(threads_before)


@pytest.fixture
async def make_radio(make_stick: MakeStick) -> AsyncIterator[MakeRadio]:
    """ZigbeeRadios (bellows) on emulated sticks."""
    radios: list[ZigbeeRadio] = []

    def make(
        stick: EzspStick, database: Path, listener: RadioListener | None = None
    ) -> ZigbeeRadio:
        radio = ezsp_radio(stick, database, listener if listener is not None else QuietListener())
        radios.append(radio)
        return radio

    yield make
    for radio in radios:
        await radio.stop()
    await end_zigpy_replies()


@pytest.fixture
async def make_gateway(make_radio: MakeRadio) -> AsyncIterator[MakeGateway]:
    """Gateways on emulated sticks, with their files in a folder of their own."""
    gateways: list[Gateway] = []

    def make(stick: EzspStick, folder: Path) -> Gateway:
        gateway = ezsp_gateway(stick, folder, make_radio=make_radio)
        gateways.append(gateway)
        return gateway

    yield make
    for gateway in gateways:
        await gateway.stop()
    await end_zigpy_replies()


def _serial_threads_gone(threads_before: set[threading.Thread]) -> None:
    """bellows runs each serial link in a thread with an event loop of its own, and that
    loop's executor threads (serialx opens the port there) are only told to stop when it
    closes: wait for both, so the harness finds no thread left behind. The test loop's own
    executor threads stay (the harness shuts that executor down itself)."""
    loop = asyncio.get_running_loop()
    executor = getattr(loop, "_default_executor", None)
    own_executor = set(getattr(executor, "_threads", ()))
    for thread in set(threading.enumerate()) - threads_before - own_executor:
        if thread.name.startswith((BELLOWS_THREAD_PREFIX, EXECUTOR_THREAD_PREFIX)):
            # Joined from the loop's thread: these threads need nothing from this loop.
            thread.join(THREAD_EXIT_TIMEOUT)
            assert not thread.is_alive(), f"{thread.name} outlived its radio"
