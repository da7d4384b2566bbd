"""The radio link dropping under the gateway, on a virtual radio that fails the way zigpy's
radio libraries do (issue 12): pending confirmations cancelled from inside the library,
requests on the closed port, a blank stick where a network was."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.gateway import Gateway, GatewayListener
from custom_components.resilient_gateway.core.health import RadioHealth
from custom_components.resilient_gateway.core.model import Attr, AttributeValues, DeviceId
from custom_components.resilient_gateway.core.radio import (
    DeliveryError,
    LinkState,
    RadioError,
    RadioListener,
)
from custom_components.resilient_gateway.core.snapshot import SnapshotStore
from custom_components.resilient_gateway.radios.virtual import (
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from .harness import SETTLE, sim, sleep, state


def _spec(network: str, **faults: Any) -> VirtualNetworkSpec:
    return VirtualNetworkSpec(
        network=network, lights=2, sensors=0, sleepy_sensors=0, loss=0.0, **faults
    )


def _radio_factory(air: VirtualAir, database: Path) -> Any:
    def radio(listener: RadioListener) -> ZigbeeRadio:
        config = {"device": {"path": air.path}, "database_path": str(database)}
        return ZigbeeRadio(VirtualControllerApplication, config, listener)

    return radio


def _app(radio: Any) -> VirtualControllerApplication:
    assert isinstance(radio, ZigbeeRadio)
    app = radio.app
    assert isinstance(app, VirtualControllerApplication)
    return app


@contextlib.asynccontextmanager
async def _gateway(
    spec: VirtualNetworkSpec,
    database: Path,
    *,
    snapshots: SnapshotStore | None = None,
    listener: GatewayListener | None = None,
) -> AsyncIterator[tuple[VirtualAir, Gateway]]:
    """A started gateway on ``spec``'s air, every device interviewed, pairing over."""
    air = await VirtualAir.load_or_create(spec)
    gateway = Gateway(_radio_factory(air, database), snapshots=snapshots, rng=random.Random(1))
    if listener is not None:
        gateway.add_listener(listener)
    try:
        await gateway.start()
        await _app(gateway.radio).wait_until_interviewed()
        await sleep(SETTLE)
        yield air, gateway
    finally:
        await gateway.stop()
        await air.stop()


class _Quiet(RadioListener):
    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        pass

    def device_seen(self, device_id: DeviceId) -> None:
        pass

    def device_announced(self, device_id: DeviceId) -> None:
        pass

    def devices_changed(self) -> None:
        pass

    def radio_state_changed(self, state: LinkState) -> None:
        pass


async def test_a_command_on_air_when_the_link_drops_is_sent_again_after_recovery(
    tmp_path: Path,
) -> None:
    """The stick is unplugged while the Off frame waits for its confirmation: the ladder's
    reconnect closes the library, which cancels that confirmation. The command is sent
    again once the radio is back, and verified."""

    async with _gateway(_spec("drop-on-air", latency=0.5), tmp_path / "z.db") as (air, gw):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        device_id = str(light.ieee)
        switched_on = await gw.set_state(device_id, {Attr.ON: True}).wait()
        assert switched_on.status is ChangeStatus.VERIFIED
        air.device_power_off(device_id)  # (so the frame cannot take effect)
        handle = gw.set_state(device_id, {Attr.ON: False})
        await sleep(0.1)
        assert handle.result().attempts == 1  # on air, unacknowledged
        air.radio_failure()
        await sleep(0.5)
        air.device_power_on(device_id)  # lights come back on after power
        await sleep(0.5)
        air.radio_recovered()  # replugged: the ladder's next reconnect finds it

        result = await handle.wait()
        assert result.status is ChangeStatus.VERIFIED
        assert result.attempts >= 2
        assert result.elapsed < 60  # long before its deadline
        assert state(air, light)["on"] is False
        assert gw.radio_status is RadioHealth.OK


async def test_requests_on_a_dropped_link_fail_at_once_with_a_radio_error(tmp_path: Path) -> None:
    air = await VirtualAir.load_or_create(_spec("drop-requests"))
    radio = _radio_factory(air, tmp_path / "z.db")(_Quiet())
    try:
        await radio.start()
        await _app(radio).wait_until_interviewed()
        await sleep(SETTLE)
        light = str(sim(air, SimKind.DIMMABLE_LIGHT).ieee)
        air.radio_failure()
        await sleep(0)
        assert radio.state is LinkState.DOWN
        loop = asyncio.get_running_loop()
        dropped_at = loop.time()
        with pytest.raises(RadioError):
            await radio.probe()
        with pytest.raises(DeliveryError):
            await radio.send(light, {Attr.ON: True})
        with pytest.raises(DeliveryError):
            await radio.read(light, [Attr.ON])
        with pytest.raises(DeliveryError):
            await radio.ping(light)
        with pytest.raises(RadioError):
            await radio.export_section()
        assert loop.time() == dropped_at  # nothing waited on the dead link
    finally:
        await radio.stop()
        await air.stop()


async def test_a_send_whose_confirmation_the_library_cancels_is_a_delivery_error(
    tmp_path: Path,
) -> None:
    """Closing the radio (a reconnect, a pause) while a frame waits for its confirmation:
    the library cancels the wait, which reaches the sender as a delivery error, not as a
    cancellation of the sender."""

    air = await VirtualAir.load_or_create(_spec("close-on-air", latency=0.5))
    radio = _radio_factory(air, tmp_path / "z.db")(_Quiet())
    try:
        await radio.start()
        await _app(radio).wait_until_interviewed()
        await sleep(SETTLE)
        light = str(sim(air, SimKind.DIMMABLE_LIGHT).ieee)
        sending = asyncio.ensure_future(radio.send(light, {Attr.ON: True}))
        await sleep(0.1)
        await radio.stop()
        with pytest.raises(DeliveryError):
            await sending
    finally:
        await radio.stop()
        await air.stop()


class _UnplugWhenUp(GatewayListener):
    """Unplugs the stick the moment the radio comes up (before the start-up snapshot)."""

    def __init__(self, air: VirtualAir) -> None:
        self.air = air
        self.armed = False

    def radio_state_changed(self, state: LinkState) -> None:
        if self.armed and state is LinkState.UP:
            self.armed = False
            self.air.radio_failure()


async def test_a_start_up_snapshot_meeting_a_dropped_link_is_no_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    air = await VirtualAir.load_or_create(_spec("drop-at-start"))
    unplug = _UnplugWhenUp(air)
    store = SnapshotStore(tmp_path / "snapshots")
    gateway = Gateway(_radio_factory(air, tmp_path / "z.db"), snapshots=store)
    gateway.add_listener(unplug)
    try:
        unplug.armed = True
        with caplog.at_level(logging.DEBUG, "custom_components.resilient_gateway"):
            await gateway.start()
            await sleep(1.0)
        assert not gateway.radio_up
        assert await store.async_newest() is None
        assert "background work failed" not in caplog.text
        assert "background work stopped, the radio is down" in caplog.text
    finally:
        await gateway.stop()
        await air.stop()


def _forget_network_backups(database: Path) -> None:
    """zigpy's database keeps its devices but has lost every network backup."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name.startswith("network_backups")
        ]
        assert tables
        for table in tables:
            db.execute(f"DELETE FROM {table}")
        db.commit()


async def test_a_blank_radio_is_not_formed_when_zigpy_knows_devices(tmp_path: Path) -> None:
    """No network backup and no snapshot, but zigpy's database holds the devices of a
    network this gateway ran: the blank stick asks for a restore instead of being formed."""

    database = tmp_path / "z.db"
    async with _gateway(_spec("blank-known-devices"), database):
        pass
    _forget_network_backups(database)
    air = await VirtualAir.load_or_create(_spec("blank-known-devices"))
    air.radio_replaced()
    gateway = Gateway(_radio_factory(air, database))
    try:
        await gateway.start(form_new_network=True)
        assert gateway.needs_restore
        assert air.ground_truth()["radio"]["formed"] is False
    finally:
        await gateway.stop()
        await air.stop()


async def test_a_blank_radio_is_not_formed_when_a_snapshot_exists(tmp_path: Path) -> None:
    """zigpy's database is gone (a new machine), a snapshot is there: restore, not form."""

    store = SnapshotStore(tmp_path / "snapshots")
    spec = _spec("blank-snapshot")
    async with _gateway(spec, tmp_path / "old.db", snapshots=store) as (_, gateway):
        await gateway.take_snapshot()
    air = await VirtualAir.load_or_create(spec)
    air.radio_replaced()
    gateway = Gateway(_radio_factory(air, tmp_path / "new.db"), snapshots=store)
    try:
        await gateway.start(form_new_network=True)
        assert gateway.needs_restore
        assert air.ground_truth()["radio"]["formed"] is False
    finally:
        await gateway.stop()
        await air.stop()


async def test_a_new_gateway_forms_its_network_on_a_blank_radio(tmp_path: Path) -> None:
    air = await VirtualAir.load_or_create(_spec("blank-new"))
    air.radio_replaced()
    store = SnapshotStore(tmp_path / "snapshots")
    gateway = Gateway(_radio_factory(air, tmp_path / "z.db"), snapshots=store)
    try:
        await gateway.start(form_new_network=True)
        assert not gateway.needs_restore and gateway.radio_up
        assert air.ground_truth()["radio"]["formed"] is True
    finally:
        await gateway.stop()
        await air.stop()
