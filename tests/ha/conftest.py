"""Fixtures for tests that run a real Home Assistant (2026.10.4 via the test plugin)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, PropertyMock, patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import Event, HomeAssistant, State, SupportsResponse, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util.async_ import create_eager_task
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.resilient_gateway.const import DOMAIN, EVENT_RADIO_STATE
from custom_components.resilient_gateway.radios.virtual.database_clock import (
    database_work_counted,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> Generator[None]:
    yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots of Home Assistant's objects without their random ids and times (the test
    plugin's fixture, which syrupy's own would otherwise shadow)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Entities disabled by default are enabled, for the tests that read them (as Home
    Assistant's own tests do)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture(autouse=True)
def isolated_config_dir(hass: HomeAssistant, tmp_path: Path) -> None:
    """Each test gets its own config directory: the gateway writes its files there."""
    hass.config.config_dir = str(tmp_path)
    # advance() moves the loop's clock inside a callback; that is not a slow callback.
    hass.loop.slow_callback_duration = 3600


@pytest.fixture(autouse=True)
async def unload_gateways(hass: HomeAssistant) -> AsyncGenerator[None]:
    """Unload every gateway at the end of a test, as a user would: the radio closes and
    zigpy's database shuts down before the harness looks for leftover tasks. (A set-up
    still running, such as the reload that saving options starts, finishes first.)"""
    yield
    await hass.async_block_till_done()
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def no_setup() -> Generator[AsyncMock]:
    """For tests of a flow on its own (setting an entry up is tested elsewhere): an entry
    the flow creates or reloads is marked loaded without starting a gateway."""
    with patch("custom_components.resilient_gateway.async_setup_entry", return_value=True) as mock:
        yield mock


class ThreadWork:
    """Work other threads do for the loop: zigpy's database (aiosqlite's own thread) and
    executor jobs.

    Time is frozen in these tests and moves only when a test advances it, so a thread's
    work takes no simulated time at all. ``advance`` waits for it (in real time) before
    moving the clock again, as the virtual-time loop does with executor jobs; otherwise a
    radio being shut down could wait through simulated minutes for a database write that
    has not had a real millisecond yet.
    """

    def __init__(self) -> None:
        self.pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self) -> None:
        self.pending += 1
        self._idle.clear()

    def end(self) -> None:
        self.pending -= 1
        if not self.pending:
            self._idle.set()

    async def finished(self) -> None:
        await self._idle.wait()


THREAD_WORK_KEY = "resilient_gateway_tests_thread_work"


@pytest.fixture(autouse=True)
def thread_work(hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch) -> Generator[ThreadWork]:
    """Count zigpy's database operations and executor jobs while they run."""
    work = ThreadWork()
    hass.data[THREAD_WORK_KEY] = work
    run_in_executor = hass.loop.run_in_executor

    def counted_executor_job(*args: Any) -> asyncio.Future[Any]:
        future = run_in_executor(*args)
        work.begin()
        future.add_done_callback(lambda _: work.end())
        return future

    monkeypatch.setattr(hass.loop, "run_in_executor", counted_executor_job)
    with database_work_counted(work.begin, work.end):
        yield work


VIRTUAL_DATA: dict[str, Any] = {
    "radio_type": "virtual",
    "network": "test",
    "lights": 4,
    "sensors": 3,
    "sleepy_sensors": 1,
    "loss": 0.0,
    "group_miss": 0.0,
    "seed": 7,
}


def virtual_entry(
    *, entry_id: str | None = None, options: dict[str, Any] | None = None, **overrides: Any
) -> MockConfigEntry:
    data = {**VIRTUAL_DATA, **overrides}
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Virtual gateway {data['network']}",
        data=data,
        options=options or {},
        unique_id=f"virtual:{data['network']}",
        entry_id=entry_id,
    )


async def setup_virtual(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    *,
    entry_id: str | None = None,
    options: dict[str, Any] | None = None,
    **overrides: Any,
) -> MockConfigEntry:
    """A loaded virtual gateway whose simulated devices have all joined, been interviewed
    and read once (the first start of a house pairs every device)."""
    entry = virtual_entry(entry_id=entry_id, options=options, **overrides)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await entry.runtime_data.gateway.radio.app.wait_until_interviewed()
    await advance(hass, freezer, 2)
    return entry


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, step: float = 0.1
) -> None:
    """Let ``seconds`` of time pass in steps: the loop's clock moves (freezegun moves
    time.monotonic) and every timer that falls due fires, as real time would; work in
    other threads finishes before the clock moves on (see ``ThreadWork``)."""
    work: ThreadWork = hass.data[THREAD_WORK_KEY]
    for _ in range(max(1, round(seconds / step))):
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        while work.pending:
            await work.finished()
            await hass.async_block_till_done()


def start_call(
    hass: HomeAssistant, service: str, data: dict[str, Any], *, domain: str = DOMAIN
) -> asyncio.Task[Any]:
    """Start a blocking service call (with a response, if the service gives one) without
    waiting for it: for calls that only end as simulated time passes, or that must overlap
    another call. It runs at once up to its first wait; Home Assistant does not track it,
    so ``hass.async_block_till_done`` (inside ``advance``) does not wait for it."""
    return create_eager_task(
        hass.services.async_call(
            domain,
            service,
            data,
            blocking=True,
            return_response=_has_response(hass, domain, service),
        ),
        loop=hass.loop,
    )


def _has_response(hass: HomeAssistant, domain: str, service: str) -> bool:
    return hass.services.supports_response(domain, service) is not SupportsResponse.NONE


async def advance_until_done(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    *calls: Awaitable[Any],
    limit: float = 600.0,
    step: float = 0.25,
) -> None:
    """Let simulated time pass (``advance``) until every call has ended, at most ``limit``
    seconds (then the test fails: a call that never ends is a defect too). Their results
    or errors stay in them."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    waited = 0.0
    while not all(task.done() for task in tasks):
        assert waited < limit, f"still running after {limit} simulated seconds"
        await advance(hass, freezer, step, step=step)
        waited += step


async def call_while_time_passes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    service: str,
    data: dict[str, Any],
    *,
    domain: str = DOMAIN,
    limit: float = 600.0,
) -> Any:
    """Call a blocking service while simulated time advances (in ``advance`` steps, so
    timers fire and other threads' work finishes), until it returns; its response, or
    its error raised here."""
    call = start_call(hass, service, data, domain=domain)
    await advance_until_done(hass, freezer, call, limit=limit)
    return call.result()


# -- the virtual house and its entities -----------------------------------------------


def truth(hass: HomeAssistant, entry: Any) -> dict[str, Any]:
    air = entry.runtime_data.air
    assert air is not None
    result: dict[str, Any] = air.ground_truth()
    return result


def light_entities(hass: HomeAssistant, entry: Any) -> dict[str, str]:
    """ieee → entity id of every single light."""
    registry = er.async_get(hass)
    return {
        entity.unique_id.removesuffix("-light"): entity.entity_id
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
        if entity.domain == LIGHT_DOMAIN and entity.unique_id.endswith("-light")
    }


def group_entity(hass: HomeAssistant, entry: Any) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        LIGHT_DOMAIN, DOMAIN, f"{entry.entry_id}-group-1"
    )
    assert entity_id is not None
    return entity_id


def lights_on(hass: HomeAssistant, entry: Any) -> dict[str, bool]:
    return {
        ieee: device["state"]["on"]
        for ieee, device in truth(hass, entry)["devices"].items()
        if device["kind"].endswith("light")
    }


async def apply_state(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, **data: Any
) -> dict[str, Any]:
    """Call apply_state and let simulated time run while it waits for the devices
    (``seconds`` must exceed the call's ``timeout``, default 30)."""
    assert seconds > data.get("timeout", 30), "the call would still be waiting"
    call = asyncio.ensure_future(
        hass.services.async_call(DOMAIN, "apply_state", data, blocking=True, return_response=True)
    )
    await advance(hass, freezer, seconds, step=0.25)
    response = await call
    assert response is not None
    return response


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def gateway_sensor(hass: HomeAssistant, entry: Any, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}-{key}")
    assert entity_id is not None
    return entity_id


def radio_status(hass: HomeAssistant, entry: Any) -> str:
    return str(state_of(hass, gateway_sensor(hass, entry, "radio_status")).state)


def recorded_events(hass: HomeAssistant, event_type: str) -> list[Event]:
    """Every ``event_type`` event from now on, recorded as it is fired (a listener that is
    not a callback would run in a worker thread, some time later)."""
    events: list[Event] = []

    @callback
    def record(event: Event) -> None:
        events.append(event)

    hass.bus.async_listen(event_type, record)
    return events


def radio_events(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Every ``resilient_gateway_radio_state`` event from now on."""
    events: list[dict[str, Any]] = []

    @callback
    def record(event: Event) -> None:
        events.append(dict(event.data))

    hass.bus.async_listen(EVENT_RADIO_STATE, record)
    return events


async def fault(hass: HomeAssistant, entry: Any, name: str, **data: Any) -> None:
    await hass.services.async_call(
        DOMAIN,
        "simulate_fault",
        {"config_entry_id": entry.entry_id, "fault": name, **data},
        blocking=True,
    )


async def switch(hass: HomeAssistant, entity_id: str, on: bool) -> None:
    """Turn a light on or off from the UI (the call returns at once)."""
    await hass.services.async_call(
        LIGHT_DOMAIN,
        SERVICE_TURN_ON if on else SERVICE_TURN_OFF,
        {ATTR_ENTITY_ID: entity_id},
        blocking=True,
    )


def shows(hass: HomeAssistant, entity_id: str, on: bool) -> bool:
    """Whether the entity shows the light on (``on``) or off: not unknown, not unavailable."""
    return str(state_of(hass, entity_id).state) == (STATE_ON if on else STATE_OFF)


async def advance_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    done: Callable[[], bool],
    limit: float,
    step: float = 0.5,
) -> float:
    """Let simulated time pass until ``done()``; returns how long that took (fails after
    ``limit`` seconds)."""
    waited = 0.0
    while not done():
        assert waited < limit, f"not done within {limit} s"
        await advance(hass, freezer, step, step=step)
        waited += step
    return waited


# -- config and options flows ------------------------------------------------------------

TRANSLATIONS_FILE = (
    Path(__file__).parents[2] / "custom_components/resilient_gateway/translations/en.json"
)
TRANSLATIONS: dict[str, Any] = json.loads(TRANSLATIONS_FILE.read_text(encoding="utf-8"))


def error_text(result: Mapping[str, Any], field: str, flow: str = "config") -> str:
    """The error a form shows on ``field``, as the user reads it (placeholders filled)."""
    text: str = TRANSLATIONS[flow]["error"][result["errors"][field]]
    return text.format(**(result["description_placeholders"] or {}))


def suggested_values(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a form shows in its fields (suggested values, else defaults)."""
    values: dict[str, Any] = {}
    for key in result["data_schema"].schema:
        if (key.description or {}).get("suggested_value") is not None:
            values[str(key)] = key.description["suggested_value"]
        elif callable(key.default):
            values[str(key)] = key.default()
    return values


@pytest.fixture
def stick_port(tmp_path: Path) -> str:
    """A serial port that exists (a file standing in for the stick's device file; the
    radio library's probe is mocked)."""
    port = tmp_path / "dev" / "ttyUSB7"
    port.parent.mkdir()
    port.touch()
    return str(port)


@pytest.fixture
async def coordinator_address(socket_enabled: None) -> AsyncGenerator[str]:
    """socket://127.0.0.1:<port> of a stand-in network coordinator: it accepts TCP
    connections (the radio library's probe is mocked)."""
    server = await asyncio.start_server(lambda _reader, writer: writer.close(), "127.0.0.1", 0)
    yield f"socket://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


@pytest.fixture
def unused_address(socket_enabled: None) -> str:
    """socket://127.0.0.1:<port> where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"socket://127.0.0.1:{port}"
