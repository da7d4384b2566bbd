"""Network start: every device kind joins and is interviewed by zigpy over the air."""

from __future__ import annotations

import pytest
import zigpy.device
import zigpy.exceptions
import zigpy.zdo.types as zdo_t

from custom_components.resilient_gateway.radios.virtual import (
    ALL_LIGHTS_GROUP_ID,
    MANUFACTURER,
    SimKind,
    VirtualAir,
    VirtualControllerApplication,
    VirtualNetworkSpec,
    find_air,
)
from custom_components.resilient_gateway.radios.virtual.kinds import PROFILES

from .harness import running, sims

EXPECTED_MODELS = {kind: PROFILES[kind].model for kind in SimKind}


async def test_every_kind_is_interviewed() -> None:
    spec = VirtualNetworkSpec(network="start-kinds", lights=8, sensors=3, sleepy_sensors=2)
    async with running(spec) as (air, app):
        assert {device.kind for device in air.devices.values()} == set(SimKind)
        for simulated in air.devices.values():
            device = app.devices[simulated.ieee]
            assert isinstance(device, zigpy.device.ZigbeeDevice)
            assert device.is_initialized
            assert device.manufacturer == MANUFACTURER
            assert device.model == EXPECTED_MODELS[simulated.kind]
            assert device.nwk == simulated.nwk
            assert device.node_desc is not None
            profile = simulated.profile
            assert device.node_desc.is_router is profile.is_router
            assert device.node_desc.is_receiver_on_when_idle is profile.is_router
            endpoint = device.endpoints[1]
            assert sorted(endpoint.in_clusters) == sorted(profile.in_clusters)
            assert sorted(endpoint.out_clusters) == sorted(profile.out_clusters)
        # The interview read Basic and the OTA client's firmware version.
        light = sims(air, SimKind.DIMMABLE_LIGHT)[0]
        ota = app.devices[light.ieee].endpoints[1].out_clusters[0x0019]
        assert ota.get("current_file_version") == 0x01000000
        assert air.handler_errors == 0


async def test_all_lights_group_is_known_to_zigpy() -> None:
    async with running(VirtualNetworkSpec(network="start-group")) as (air, app):
        lights = [d for d in air.devices.values() if d.profile.is_light]
        group = app.groups[ALL_LIGHTS_GROUP_ID]
        assert group.name == "All lights"
        assert {ieee for ieee, _ in group.members} == {d.ieee for d in lights}
        for light in lights:
            assert air.ground_truth()["devices"][str(light.ieee)]["groups"] == [ALL_LIGHTS_GROUP_ID]


async def test_radio_holds_the_identity_devices_joined() -> None:
    async with running(VirtualNetworkSpec(network="start-identity")) as (air, app):
        info = app.state.network_info
        assert info.pan_id == air.identity.pan_id
        assert info.extended_pan_id == air.identity.extended_pan_id
        assert info.network_key.key == air.identity.network_key
        assert info.channel == air.identity.channel
        assert app.state.node_info.ieee == air.radio.ieee
        assert app.state.node_info.logical_type == zdo_t.LogicalType.Coordinator
        backup = await app.backups.create_backup(load_devices=True)
        assert backup.is_complete()
        assert len(backup.network_info.nwk_addresses) == len(air.devices)
        assert find_air(air.path) is air
        truth = air.ground_truth()
        assert truth["radio"] == {
            "state": "up",
            "ieee": str(air.radio.ieee),
            "formed": True,
            "identity_matches": True,
            "connected": True,
        }
    with pytest.raises(KeyError, match="start-identity"):
        find_air(air.path)


async def test_same_seed_same_house_other_seed_other_house() -> None:
    async def house(network: str, seed: int) -> dict[str, object]:
        air = await VirtualAir.load_or_create(VirtualNetworkSpec(network=network, seed=seed))
        await air.stop()
        return air.as_dict()

    first = await house("seed-a", 7)
    assert await house("seed-a", 7) == first
    assert await house("seed-a", 8) != first
    assert (await house("seed-b", 7))["identity"] != first["identity"]


def test_device_mix_follows_the_spec() -> None:
    spec = VirtualNetworkSpec(network="mix", lights=5, sensors=4, sleepy_sensors=3)
    kinds = spec.device_kinds()
    assert kinds[:5] == [
        SimKind.DIMMABLE_LIGHT,
        SimKind.COLOR_TEMP_LIGHT,
        SimKind.COLOR_LIGHT,
        SimKind.ON_OFF_LIGHT,
        SimKind.DIMMABLE_LIGHT,
    ]
    assert kinds[5:9] == [
        SimKind.SMART_PLUG,
        SimKind.THERMOSTAT,
        SimKind.CONTACT_SENSOR,
        SimKind.SMART_PLUG,
    ]
    assert kinds[9:] == [SimKind.CLIMATE_SENSOR] * 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loss", 0.95, "loss must be in 0..0.9"),
        ("group_miss", -0.1, "group_miss must be in 0..0.9"),
        ("lights", 501, "lights must be in 0..500"),
        ("sensors", -1, "sensors must be in 0..500"),
        ("sleepy_sensors", 1.5, "sleepy_sensors must be an integer"),
        ("network", "", "network name must be a non-empty string"),
        ("network", "a b", "without spaces"),
        ("unicast_rate", 0, "unicast_rate must be positive"),
        ("send_queue", 0, "send_queue must be in 1..100000"),
    ],
)
def test_spec_validation(field: str, value: object, message: str) -> None:
    spec = VirtualNetworkSpec(network="valid")
    spec.validate()
    setattr(spec, field, value)
    with pytest.raises(ValueError, match=message):
        spec.validate()


async def test_an_unknown_network_refuses_the_connection() -> None:
    with pytest.raises(zigpy.exceptions.TransientConnectionError) as caught:
        await VirtualControllerApplication.new(
            config={"device": {"path": "virtual://nobody-runs-this"}}, auto_form=False
        )
    assert "nobody-runs-this" in str(caught.value.__cause__)
