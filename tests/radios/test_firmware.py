"""Firmware updates end to end on the virtual radio: zigpy sees real OTA cluster frames
from the simulated devices' OTA clients, the updater answers through the send scheduler
(issue 15). Simulated time: an update of minutes takes no wall time."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from zigpy.zcl.clusters.general import Ota

from custom_components.resilient_gateway.core.change_results import ChangeStatus
from custom_components.resilient_gateway.core.firmware import (
    FailureReason,
    FirmwareCatalog,
    FirmwareFolder,
    FirmwareImage,
    FirmwareUpdater,
    GatewayFirmwareHooks,
    Phase,
    UpdateFailed,
    UpdatePolicy,
    UpdateProgress,
    UpdateResult,
)
from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.model import Attr, DeviceId
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.core.scenes import GatewayScene
from custom_components.resilient_gateway.core.storage import AtomicJsonFile
from custom_components.resilient_gateway.radios.virtual import (
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
)
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file
from custom_components.resilient_gateway.radios.virtual.house import ALL_LIGHTS_GROUP_ID
from custom_components.resilient_gateway.radios.virtual.kinds import FIRMWARE_VERSION
from custom_components.resilient_gateway.radios.zigbee.ota import parse_ota_file
from custom_components.resilient_gateway.radios.zigbee.radio import ZigbeeRadio

from .harness import SETTLE, sim, sleep

NEW_VERSION = 0x01020000


def _spec(network: str, **settings: Any) -> VirtualNetworkSpec:
    base: dict[str, Any] = {"lights": 4, "sensors": 0, "sleepy_sensors": 0, "loss": 0.0}
    return VirtualNetworkSpec(network=network, **(base | settings))


class _Events:
    def __init__(self) -> None:
        self.progress: list[UpdateProgress] = []
        self.finished: list[tuple[DeviceId, UpdateResult | None, UpdateFailed | None]] = []

    def update_progress(self, progress: UpdateProgress) -> None:
        self.progress.append(progress)

    def update_finished(
        self, device_id: DeviceId, result: UpdateResult | None, failure: UpdateFailed | None
    ) -> None:
        self.finished.append((device_id, result, failure))


class _Setup:
    def __init__(self, air: VirtualAir, gateway: Gateway, updater: FirmwareUpdater) -> None:
        self.air = air
        self.gateway = gateway
        self.updater = updater
        self.events = _Events()
        updater.add_listener(self.events)

    def version(self, device: SimDevice) -> int:
        return int(device.endpoint.get(Ota, "current_file_version"))


def _radio(air: VirtualAir, database: Path) -> Any:
    def radio(listener: RadioListener) -> ZigbeeRadio:
        config = {"device": {"path": air.path}, "database_path": str(database)}
        return ZigbeeRadio(VirtualControllerApplication, config, listener)

    return radio


async def _catalog(folder: Path) -> FirmwareCatalog:
    return FirmwareCatalog(await FirmwareFolder(folder, parse_ota_file).images())


@contextlib.asynccontextmanager
async def _updating(
    tmp_path: Path,
    spec: VirtualNetworkSpec,
    *,
    air: VirtualAir | None = None,
    policy: UpdatePolicy | None = None,
    settle: bool = True,
) -> AsyncIterator[_Setup]:
    """A started gateway on ``spec``'s air (or on ``air``, kept running) with a firmware
    updater on its radio, images from ``tmp_path / firmware``."""
    own_air = air is None
    if air is None:
        air = await VirtualAir.load_or_create(spec)
    gateway = Gateway(
        _radio(air, tmp_path / "zigbee.db"),
        scenes_file=AtomicJsonFile(tmp_path / "scenes.json"),
        rng=random.Random(1),
    )
    radio = gateway.radio
    assert isinstance(radio, ZigbeeRadio)
    updater = FirmwareUpdater(
        radio.firmware,
        GatewayFirmwareHooks(gateway),
        await _catalog(tmp_path / "firmware"),
        file=AtomicJsonFile(tmp_path / "firmware.json"),
        policy=policy,
    )
    try:
        await gateway.start()
        app = radio.app
        assert isinstance(app, VirtualControllerApplication)
        await app.wait_until_interviewed()
        if settle:
            await sleep(SETTLE)
        await updater.start()
        yield _Setup(air, gateway, updater)
    finally:
        await updater.stop()
        await gateway.stop()
        if own_air:
            await air.stop()


def _write_image(tmp_path: Path, kind: SimKind, version: int = NEW_VERSION, **kw: Any) -> str:
    folder = tmp_path / "firmware"
    folder.mkdir(exist_ok=True)
    name = f"{kind}-{version:08x}.ota"
    (folder / name).write_bytes(ota_file(kind, version, **kw))
    return f"local:{name}"


async def test_an_update_from_the_local_folder_completes_on_lossy_air_with_progress(
    tmp_path: Path,
) -> None:
    _write_image(tmp_path, SimKind.DIMMABLE_LIGHT, size=20_000)
    (tmp_path / "firmware" / "dimmable_light-01020000.ota.md").write_text("Faster dimming")

    async with _updating(tmp_path, _spec("fw-lossy", loss=0.1)) as setup:
        light = sim(setup.air, SimKind.DIMMABLE_LIGHT)
        device_id = str(light.ieee)
        (image,) = setup.updater.images_for(device_id)
        assert image.release_notes == "Faster dimming"
        assert setup.version(light) == FIRMWARE_VERSION
        result = await setup.updater.install(device_id)
        assert result.from_version == FIRMWARE_VERSION
        assert result.to_version == NEW_VERSION
        assert setup.version(light) == NEW_VERSION
        percents = [p.percent for p in setup.events.progress if p.phase is Phase.TRANSFERRING]
        assert len(set(percents)) > 20  # progress moves in steps
        assert percents == sorted(percents)
        assert setup.events.finished == [(device_id, result, None)]


async def test_a_colour_lights_update_wipes_its_scenes_and_the_verification_repairs_them(
    tmp_path: Path,
) -> None:
    _write_image(tmp_path, SimKind.COLOR_LIGHT, size=4096)

    async with _updating(tmp_path, _spec("fw-scenes")) as setup:
        gateway = setup.gateway
        light = sim(setup.air, SimKind.COLOR_LIGHT)
        scene, _ = await gateway.store_scene(ALL_LIGHTS_GROUP_ID, "Evening")
        assert isinstance(scene, GatewayScene)
        assert (ALL_LIGHTS_GROUP_ID, scene.scene_id) in light.endpoint.scenes
        result = await setup.updater.install(str(light.ieee))
        assert result.repaired == (f"scene 0x{ALL_LIGHTS_GROUP_ID:04x}/{scene.scene_id}",)
        assert (ALL_LIGHTS_GROUP_ID, scene.scene_id) in light.endpoint.scenes
        assert ALL_LIGHTS_GROUP_ID in light.endpoint.groups


def _offsets(setup: _Setup) -> list[int]:
    return [p.offset for p in setup.events.progress if p.phase is Phase.TRANSFERRING]


async def test_an_update_resumes_from_its_offset_after_a_radio_outage(tmp_path: Path) -> None:
    _write_image(tmp_path, SimKind.DIMMABLE_LIGHT, size=20_000)

    async with _updating(tmp_path, _spec("fw-outage", loss=0.05)) as setup:
        light = sim(setup.air, SimKind.DIMMABLE_LIGHT)
        future = await setup.updater.schedule(str(light.ieee))
        await sleep(10)
        before = light.ota.download
        assert before is not None and 0 < before["offset"] < 20_000
        setup.air.radio_failure()
        await sleep(40)
        assert light.ota.download is not None
        assert light.ota.download["offset"] == before["offset"] or (
            light.ota.download["offset"] < before["offset"] + 1000
        )
        setup.air.radio_recovered()  # (the supervisor's next reconnect finds it)
        result = await future
        assert result.to_version == NEW_VERSION
        assert setup.version(light) == NEW_VERSION
        offsets = _offsets(setup)
        assert offsets == sorted(offsets)  # never started over
        # Blocks answered twice are few: the outage cost time, not the transfer so far.
        assert setup.updater.answers_sent < 20_000 / 64 * 1.2


async def test_an_update_resumes_after_a_restart_mid_transfer(tmp_path: Path) -> None:
    _write_image(tmp_path, SimKind.DIMMABLE_LIGHT, size=20_000)

    spec = _spec("fw-restart")
    air = await VirtualAir.load_or_create(spec)
    try:
        async with _updating(tmp_path, spec, air=air) as setup:
            light = sim(air, SimKind.DIMMABLE_LIGHT)
            await setup.updater.schedule(str(light.ieee))
            await sleep(10)
            half = light.ota.download
            assert half is not None and 0 < half["offset"] < 20_000
            answers_before = setup.updater.answers_sent
        saved = await AtomicJsonFile(tmp_path / "firmware.json").load()
        assert [u["device_id"] for u in saved["updates"]] == [str(light.ieee)]
        await sleep(30)  # Home Assistant restarts
        async with _updating(tmp_path, spec, air=air, settle=False) as setup:
            assert setup.updater.running() == [str(light.ieee)]
            while setup.updater.running():
                await sleep(5)
            ((_, result, failure),) = setup.events.finished
            assert failure is None and result is not None
            assert result.to_version == NEW_VERSION
            assert setup.version(light) == NEW_VERSION
            offsets = _offsets(setup)
            assert offsets and offsets[0] >= half["offset"]  # resumed, not restarted
            total = answers_before + setup.updater.answers_sent
            assert total < 20_000 / 64 * 1.2
    finally:
        await air.stop()


async def test_an_image_for_another_device_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    key = _write_image(tmp_path, SimKind.SMART_PLUG)

    async with _updating(tmp_path, _spec("fw-wrong")) as setup:
        light = sim(setup.air, SimKind.DIMMABLE_LIGHT)
        setup.air.reset_stats()
        with pytest.raises(UpdateFailed) as failed:
            await setup.updater.install(str(light.ieee), key)
        assert failed.value.reason is FailureReason.DOES_NOT_FIT
        assert setup.air.stats.radio_frames == 0
        with pytest.raises(UpdateFailed) as failed:
            await setup.updater.install(str(light.ieee))  # nothing fits it
        assert failed.value.reason is FailureReason.DOES_NOT_FIT


async def test_a_device_that_refuses_the_image_stays_on_its_version_and_works(
    tmp_path: Path,
) -> None:
    """A source whose metadata lies (the file inside is for another kind): the device
    checks the header it downloaded and refuses it with Upgrade End INVALID_IMAGE."""

    async with _updating(tmp_path, _spec("fw-invalid")) as setup:
        light = sim(setup.air, SimKind.DIMMABLE_LIGHT)
        plug_file = ota_file(SimKind.SMART_PLUG, NEW_VERSION, size=2048)

        async def load() -> bytes:
            return plug_file

        lying = FirmwareImage(
            key="zigpy:lying",
            source="zigpy",
            manufacturer_code=light_target(setup, light).manufacturer_code,
            image_type=light_target(setup, light).image_type,
            version=NEW_VERSION,
            size=len(plug_file),
            load=load,
        )
        setup.updater.catalog.replace([lying])
        with pytest.raises(UpdateFailed) as failed:
            await setup.updater.install(str(light.ieee))
        assert failed.value.reason is FailureReason.DOES_NOT_FIT
        assert "invalid_image" in str(failed.value)
        assert setup.version(light) == FIRMWARE_VERSION
        await _still_works(setup, light)


def light_target(setup: _Setup, light: SimDevice) -> Any:
    target = setup.updater.target(str(light.ieee))
    assert target is not None
    return target


async def _still_works(setup: _Setup, light: SimDevice) -> None:
    on = not bool(setup.gateway.values(str(light.ieee)).get(Attr.ON))
    handle = setup.gateway.set_state(str(light.ieee), {Attr.ON: on})
    result = await handle.wait()
    assert result.status is ChangeStatus.VERIFIED


async def test_a_passed_deadline_fails_the_update_and_leaves_the_device_working(
    tmp_path: Path,
) -> None:
    _write_image(tmp_path, SimKind.DIMMABLE_LIGHT, size=60_000)

    policy = UpdatePolicy(deadline=30.0)
    async with _updating(tmp_path, _spec("fw-deadline"), policy=policy) as setup:
        light = sim(setup.air, SimKind.DIMMABLE_LIGHT)
        with pytest.raises(UpdateFailed) as failed:
            await setup.updater.install(str(light.ieee))
        assert failed.value.reason is FailureReason.DEADLINE
        await sleep(30)  # the device gives its download up
        assert setup.version(light) == FIRMWARE_VERSION
        assert setup.updater.running() == []
        await _still_works(setup, light)


async def test_a_sleepy_devices_update_is_scheduled_then_done_at_its_polls(tmp_path: Path) -> None:
    _write_image(tmp_path, SimKind.CLIMATE_SENSOR, size=6_000)

    spec = _spec("fw-sleepy", lights=1, sleepy_sensors=1)
    async with _updating(tmp_path, spec) as setup:
        sensor = sim(setup.air, SimKind.CLIMATE_SENSOR)
        device_id = str(sensor.ieee)
        future = await setup.updater.schedule(device_id)
        await sleep(0.5)
        progress = setup.updater.progress(device_id)
        assert progress is not None and progress.phase is Phase.SCHEDULED
        result = await future
        assert result.to_version == NEW_VERSION
        assert setup.version(sensor) == NEW_VERSION
        phases = [p.phase for p in setup.events.progress]
        assert phases[0] is Phase.SCHEDULED and Phase.TRANSFERRING in phases


async def test_groups_and_scenes_a_firmware_reset_forgot_are_repaired_and_reported(
    tmp_path: Path,
) -> None:
    _write_image(tmp_path, SimKind.DIMMABLE_LIGHT, size=4096)

    async with _updating(tmp_path, _spec("fw-reset")) as setup:
        light = sim(setup.air, SimKind.DIMMABLE_LIGHT)
        scene, _ = await setup.gateway.store_scene(ALL_LIGHTS_GROUP_ID, "Reading")
        future = await setup.updater.schedule(str(light.ieee))
        await sleep(2)
        setup.air.device_firmware_reset(str(light.ieee))  # (simulate_fault's)
        assert not light.endpoint.groups and not light.endpoint.scenes
        result = await future
        assert result.repaired == (
            f"group 0x{ALL_LIGHTS_GROUP_ID:04x}",
            f"scene 0x{ALL_LIGHTS_GROUP_ID:04x}/{scene.scene_id}",
        )
        assert ALL_LIGHTS_GROUP_ID in light.endpoint.groups
        assert (ALL_LIGHTS_GROUP_ID, scene.scene_id) in light.endpoint.scenes


async def test_an_update_needs_an_upgrade_client_and_a_fitting_image(tmp_path: Path) -> None:
    async with _updating(tmp_path, _spec("fw-none", lights=1)) as setup:
        light = next(iter(setup.air.devices.values()))
        with pytest.raises(UpdateFailed) as failed:
            await setup.updater.install(str(light.ieee))
        assert failed.value.reason is FailureReason.DOES_NOT_FIT
        with pytest.raises(UpdateFailed):
            await setup.updater.install("00:11:22:33:44:55:66:77")
        assert setup.updater.running() == []
