"""A standby coordinator radio (2N redundancy): a second, blank stick beside the primary,
which takes the network over once the primary's backup is written to it and an app starts
on it; of two radios running the network, the one started last is the coordinator."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest
import zigpy.backups
import zigpy.exceptions
import zigpy.types as t
from zigpy.zcl.clusters import general

from custom_components.resilient_gateway.core.storage import read_json
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.virtual import (
    PRIMARY,
    STANDBY,
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
    find_air,
    network_from_path,
    network_path,
    slot_from_path,
)
from custom_components.resilient_gateway.radios.virtual.device import SimDevice

from .harness import (
    app_config,
    connected_app,
    new_app,
    on_closed_port,
    on_command,
    running,
    shut_down,
    sim,
    sleep,
    state,
    truth,
    zigpy_endpoint,
)

RADIO_KEYS = {"state", "ieee", "formed", "identity_matches", "connected"}


def _spec(network: str, **changes: Any) -> VirtualNetworkSpec:
    """A small house of every kind with a standby radio; sleepers poll often enough that
    a frame kept for them reaches them before it expires."""
    settings: dict[str, Any] = {
        "lights": 4,
        "sensors": 3,
        "sleepy_sensors": 1,
        "loss": 0.0,
        "sleepy_poll_interval": 5.0,
        "standby_radio": True,
    }
    return VirtualNetworkSpec(network=network, **(settings | changes))


async def _fail_over(
    air: VirtualAir,
    dead: VirtualControllerApplication,
    backup: zigpy.backups.NetworkBackup,
    database: Path,
) -> VirtualControllerApplication:
    """What the gateway does when the primary dies: let go of the dead app (and so of
    zigpy's database), write the primary's network backup to the standby with zigpy's own
    restore, then start an app on the standby with the dead app's database (which tells
    it the devices)."""
    await shut_down(dead)
    restorer = await connected_app(air, database, slot=STANDBY)
    try:
        await restorer.backups.restore_backup(backup)
    finally:
        await shut_down(restorer)
    return await new_app(air, database, slot=STANDBY)


def _active(air: VirtualAir) -> str | None:
    active: str | None = air.ground_truth()["radio"]["active"]
    return active


def _notifications(app: VirtualControllerApplication, contact: SimDevice) -> list[int]:
    """The IAS Zone commands ``app`` receives from the contact sensor."""
    commands: list[int] = []

    class Listener:
        def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
            commands.append(command_id)

    zigpy_endpoint(app, contact).ias_zone.add_listener(Listener())
    return commands


class _Events:
    """Records zigpy listener events by name."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self.names.append(name)


def test_device_paths_name_a_radio_slot() -> None:
    assert network_path("house") == "virtual://house"
    assert network_path("house", PRIMARY) == "virtual://house"
    assert network_path("house", STANDBY) == "virtual://house/standby"
    assert network_from_path("virtual://house") == "house"
    assert network_from_path("virtual://house/standby") == "house"
    assert slot_from_path("virtual://house") == PRIMARY
    assert slot_from_path("virtual://house/standby") == STANDBY
    for path in (
        "virtual://",
        "virtual:///standby",
        "virtual://house/spare",
        "virtual://house/standby/again",
        "zigbee://house",
    ):
        with pytest.raises(ValueError, match="not a virtual radio path"):
            network_from_path(path)
    with pytest.raises(ValueError, match="radio slot"):
        network_path("house", "spare")  # type: ignore[arg-type]
    assert VirtualNetworkSpec(network="house").standby_radio is False
    with pytest.raises(ValueError, match="standby_radio"):
        VirtualNetworkSpec(network="house", standby_radio="yes").validate()  # type: ignore[arg-type]


async def test_a_standby_is_a_blank_stick_of_its_own() -> None:
    air = await VirtualAir.load_or_create(_spec("standby-stick"))
    plain = await VirtualAir.load_or_create(VirtualNetworkSpec(network="standby-none"))
    try:
        assert air.standby is not None
        assert not air.standby.formed
        assert air.standby.ieee not in {air.radio.ieee, *air.devices}
        assert find_air(air.path) is air
        assert find_air(air.standby_path) is air
        assert air.standby_path == "virtual://standby-stick/standby"
        radio = air.ground_truth()["radio"]
        assert radio["active"] is None  # no app has started a network yet
        assert radio["standby"] == {
            "state": "up",
            "ieee": str(air.standby.ieee),
            "formed": False,
            "identity_matches": False,
            "connected": False,
        }

        # Without a standby: the ground truth as before, and no standby to connect to.
        assert plain.standby is None
        assert set(plain.ground_truth()["radio"]) == RADIO_KEYS
        assert find_air(plain.standby_path) is plain
        with pytest.raises(ConnectionRefusedError, match="no standby radio"):
            await connected_app(plain, slot=STANDBY)
        with pytest.raises(KeyError, match="no standby radio"):
            plain.radio_failure(STANDBY)
        with pytest.raises(ValueError, match="radio slot"):
            air.radio_failure("spare")  # type: ignore[arg-type]
    finally:
        await air.stop()
        await plain.stop()

    # The standby is seeded apart: the same house, with or without it.
    spec = VirtualNetworkSpec(network="standby-seeded")
    without = await VirtualAir.load_or_create(spec, register=False)
    with_standby = await VirtualAir.load_or_create(
        dataclasses.replace(spec, standby_radio=True), register=False
    )
    try:
        assert with_standby.identity == without.identity
        assert with_standby.radio.ieee == without.radio.ieee
        assert with_standby.ground_truth()["devices"] == without.ground_truth()["devices"]
    finally:
        await without.stop()
        await with_standby.stop()


async def test_the_standby_takes_over_from_a_dead_primary(tmp_path: Path) -> None:
    database = tmp_path / "zigbee.db"
    async with running(_spec("standby-failover"), database=database) as (air, primary):
        assert _active(air) == PRIMARY
        backup = await primary.backups.create_backup(load_devices=True)
        air.radio_failure()
        await sleep(0)
        assert _active(air) is None
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        with on_closed_port():
            await zigpy_endpoint(primary, light).on_off.on()

        air.reset_stats()
        standby = await _fail_over(air, primary, backup, database)
        try:
            radio = air.ground_truth()["radio"]
            assert radio["active"] == STANDBY
            assert radio["state"] == "failed"
            # The backup's IEEE address was adopted: the devices' coordinator is back.
            assert radio["standby"] == {
                "state": "up",
                "ieee": radio["ieee"],
                "formed": True,
                "identity_matches": True,
                "connected": True,
            }
            # zigpy knew every device from its database: nothing was interviewed again.
            assert standby.interviewed()
            assert air.stats.reads == 0

            # Every device answers the standby.
            for device in air.devices.values():
                basic = zigpy_endpoint(standby, device).basic
                success, _ = await basic.read_attributes(["model"], allow_cache=False)
                assert success["model"] == device.profile.model
            switches = [d for d in air.devices.values() if d.endpoint.has(general.OnOff)]
            assert len(switches) == 5  # the lights and the plug
            for device in switches:
                await zigpy_endpoint(standby, device).on_off.off()
                assert state(air, device)["on"] is False
                await zigpy_endpoint(standby, device).on_off.on()
                assert state(air, device)["on"] is True

            # Frames from the devices go to the standby's app.
            contact = sim(air, SimKind.CONTACT_SENSOR)
            heard = _notifications(standby, contact)
            air.device_set_open(str(contact.ieee), True)
            await sleep(0.1)
            assert heard == [0x00]  # Zone Status Change Notification

            # The dead stick is swapped for a blank one: the standby still knows the
            # devices its network has (from the air, not from the primary slot).
            air.radio_replaced()
            backup = await standby.backups.create_backup(load_devices=True)
            assert set(backup.network_info.nwk_addresses) == set(air.devices)
            assert standby.interviewed() and not air.reachable_devices()
        finally:
            await shut_down(standby)


async def test_a_standby_without_the_restore_reaches_no_device() -> None:
    async with running(_spec("standby-unrestored")) as (air, _):
        air.radio_failure()
        # A blank stick: zigpy finds no network on it.
        with pytest.raises(zigpy.exceptions.NetworkNotFormed):
            await new_app(air, slot=STANDBY)
        # A network of its own: it starts, but the devices joined another one.
        app = cast(
            VirtualControllerApplication,
            await VirtualControllerApplication.new(
                config=app_config(air, slot=STANDBY), auto_form=True
            ),
        )
        try:
            assert air.standby is not None and air.standby.network_up
            radio = air.ground_truth()["radio"]
            assert radio["standby"]["formed"] is True
            assert radio["standby"]["identity_matches"] is False
            assert radio["active"] is None
            # No device for it to interview: none is on its network.
            assert app.interviewed()
            light = sim(air, SimKind.DIMMABLE_LIGHT)
            with pytest.raises(zigpy.exceptions.DeliveryError, match="no route"):
                await app.send_packet(on_command(light, 1))
            assert state(air, light)["on"] is False
            # Nor does anything from the devices reach it.
            contact = sim(air, SimKind.CONTACT_SENSOR)
            lost = air.stats.frames_lost
            air.device_set_open(str(contact.ieee), True)
            await sleep(5.0)
            assert air.stats.frames_lost == lost + air.spec.unicast_attempts
            assert contact.ieee not in app.devices
        finally:
            await shut_down(app)


async def test_the_radio_started_last_coordinates(tmp_path: Path) -> None:
    database = tmp_path / "zigbee.db"
    async with running(_spec("standby-both"), database=database) as (air, primary):
        backup = await primary.backups.create_backup(load_devices=True)
        air.radio_failure()
        standby = await _fail_over(air, primary, backup, database)
        restarted: VirtualControllerApplication | None = None
        try:
            light = sim(air, SimKind.DIMMABLE_LIGHT)
            contact = sim(air, SimKind.CONTACT_SENSOR)
            # The primary answers again but runs nothing: the standby keeps the network.
            air.radio_recovered()
            assert _active(air) == STANDBY
            await zigpy_endpoint(standby, light).on_off.off()
            assert state(air, light)["on"] is False

            # An app starts on the old primary (a database of its own: it interviews
            # the devices over the air, through the primary).
            restarted = await new_app(air, tmp_path / "restarted.db")
            await restarted.wait_until_interviewed()
            assert _active(air) == PRIMARY
            with pytest.raises(zigpy.exceptions.DeliveryError, match="coordinates"):
                await zigpy_endpoint(standby, light).on_off.on()
            assert state(air, light)["on"] is False
            await zigpy_endpoint(restarted, light).on_off.on()
            assert state(air, light)["on"] is True
            to_primary = _notifications(restarted, contact)
            to_standby = _notifications(standby, contact)
            air.device_set_open(str(contact.ieee), True)
            await sleep(0.1)
            assert (to_primary, to_standby) == ([0x00], [])

            # The standby's app starts again: now it is the coordinator.
            await shut_down(standby)
            standby = await new_app(air, database, slot=STANDBY)
            assert _active(air) == STANDBY
            with pytest.raises(zigpy.exceptions.DeliveryError, match="coordinates"):
                await zigpy_endpoint(restarted, light).on_off.off()
            assert state(air, light)["on"] is True
            await zigpy_endpoint(standby, light).on_off.off()
            assert state(air, light)["on"] is False
            to_standby = _notifications(standby, contact)
            air.device_set_open(str(contact.ieee), False)
            await sleep(0.1)
            assert (to_primary, to_standby) == ([0x00], [0x00])

            # Joining opened through the outranked primary lets nobody back in;
            # opened by the coordinator, it does.
            plug = sim(air, SimKind.SMART_PLUG)
            air.force_leave(plug.ieee)
            assert truth(air, plug)["joined"] is False
            await restarted.permit_ncp(60)
            assert truth(air, plug)["joined"] is False
            await standby.permit_ncp(60)
            assert truth(air, plug)["joined"] is True
        finally:
            await shut_down(standby)
            if restarted is not None:
                await shut_down(restarted)


async def test_each_app_drives_the_radio_of_its_slot() -> None:
    spec = _spec("standby-own-radio", sensors=0, sleepy_sensors=0)
    async with running(spec) as (air, primary):
        assert air.standby is not None
        backup = await primary.backups.create_backup(load_devices=True)
        primary_node = air.radio.node_info
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        channels = t.Channels.CHANNEL_15 | t.Channels.CHANNEL_20
        standby = await connected_app(air, slot=STANDBY)
        try:
            with pytest.raises(zigpy.exceptions.NetworkNotFormed):
                await standby.load_network_info()
            await standby.write_network_info(
                network_info=backup.network_info, node_info=backup.node_info
            )
            assert air.identity_matches(air.standby)
            assert standby.state.node_info.ieee == air.radio.ieee
            assert air.identity_matches() and air.radio.node_info == primary_node
            assert set(await standby.energy_scan(channels, 4, 1)) == {15, 20}
            # Connected but not started: the primary still coordinates.
            assert _active(air) == PRIMARY
            await zigpy_endpoint(primary, light).on_off.off()
            assert state(air, light)["on"] is False

            events = _Events()
            standby.add_listener(events)
            air.radio_failure(STANDBY)
            await sleep(0)
            assert "connection_lost" in events.names
            with on_closed_port():
                await standby.watchdog_feed()
            with on_closed_port():
                await standby.energy_scan(channels, 4, 1)
            radio = air.ground_truth()["radio"]
            assert (radio["state"], radio["standby"]["state"]) == ("up", "failed")
            await primary.watchdog_feed()  # the primary is untouched
            await zigpy_endpoint(primary, light).on_off.on()
            assert state(air, light)["on"] is True
        finally:
            await shut_down(standby)

        air.radio_recovered(STANDBY)
        again = await connected_app(air, slot=STANDBY)
        try:
            await again.reset_network_info()
            assert not air.standby.formed
            assert air.identity_matches() and air.radio.node_info == primary_node

            old = air.standby.ieee
            air.radio_replaced(STANDBY)
            assert air.standby.ieee not in {old, air.radio.ieee, *air.devices}
            assert air.ground_truth()["radio"]["standby"]["ieee"] == str(air.standby.ieee)
            with pytest.raises(zigpy.exceptions.DeliveryError):
                await again.watchdog_feed()  # its stick was pulled out
            await primary.watchdog_feed()
        finally:
            await shut_down(again)


def test_the_standby_survives_save_and_load(tmp_path: Path) -> None:
    state_path = tmp_path / "air.json"
    database = tmp_path / "zigbee.db"
    spec = _spec("standby-saved")

    async def first_run() -> dict[str, Any]:
        async with running(spec, state_path=state_path, database=database) as (air, primary):
            backup = await primary.backups.create_backup(load_devices=True)
            air.radio_failure()
            standby = await _fail_over(air, primary, backup, database)
            await shut_down(standby)
            radio: dict[str, Any] = air.ground_truth()["radio"]
            return radio

    async def second_run(before: dict[str, Any]) -> None:
        air = await VirtualAir.load_or_create(spec, state_path)
        app = None
        try:
            radio = air.ground_truth()["radio"]
            assert radio == before
            assert radio["standby"]["formed"] and radio["standby"]["identity_matches"]
            assert radio["state"] == "failed"  # the primary's fault was saved as well
            app = await new_app(air, database, slot=STANDBY)
            assert _active(air) == STANDBY
            light = sim(air, SimKind.COLOR_LIGHT)
            await zigpy_endpoint(app, light).on_off.off()
            assert state(air, light)["on"] is False
        finally:
            if app is not None:
                await shut_down(app)
            await air.stop()

    before = run_virtual(first_run())
    assert before["active"] is None and before["standby"]["connected"] is False
    run_virtual(second_run(before))


async def test_a_saved_house_without_a_standby_gets_a_blank_one(tmp_path: Path) -> None:
    state_path = tmp_path / "air.json"
    plain = VirtualNetworkSpec(network="standby-added", lights=2, sensors=0, sleepy_sensors=0)

    air = await VirtualAir.load_or_create(plain, state_path)
    primary, devices = air.radio.ieee, sorted(air.devices)
    await air.stop()
    saved = read_json(state_path)
    assert saved is not None and "standby" not in saved

    air = await VirtualAir.load_or_create(
        dataclasses.replace(plain, standby_radio=True), state_path
    )
    try:
        assert air.standby is not None and not air.standby.formed
        standby = air.standby.ieee
        assert standby not in {primary, *devices}
        assert (air.radio.ieee, sorted(air.devices)) == (primary, devices)
        saved = read_json(state_path)  # saved at once
        assert saved is not None and saved["standby"]["ieee"] == str(standby)
    finally:
        await air.stop()

    # The house keeps its standby once it has one.
    air = await VirtualAir.load_or_create(plain, state_path)
    try:
        assert air.standby is not None and air.standby.ieee == standby
    finally:
        await air.stop()
