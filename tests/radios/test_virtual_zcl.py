"""ZCL round trips through a real zigpy app: reads, writes, reporting, commands, groups,
scenes and binding, checked against the air's ground truth."""

from __future__ import annotations

from typing import Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation
from zigpy.zcl.clusters import general, hvac, lighting

from custom_components.resilient_gateway.radios.virtual import (
    SceneValues,
    SimKind,
    VirtualNetworkSpec,
    use_extended_scenes,
)

from .harness import running, sim, sims, sleep, state, truth, zigpy_endpoint

Status = foundation.Status


def _spec(name: str, **changes: Any) -> VirtualNetworkSpec:
    return VirtualNetworkSpec(network=name, loss=0.0, **changes)


async def test_read_and_write_attributes() -> None:
    async with running(_spec("zcl-rw")) as (air, app):
        light = sim(air, SimKind.COLOR_LIGHT)
        endpoint = zigpy_endpoint(app, light)
        success, failure = await endpoint.on_off.read_attributes(["on_off", "on_time"])
        assert success["on_off"] == state(air, light)["on"]
        assert success["on_time"] == 0
        success, failure = await endpoint.light_color.read_attributes(
            ["color_capabilities", "current_hue"]
        )
        assert failure == {"current_hue": Status.UNSUPPORTED_ATTRIBUTE}
        # A read-only attribute refuses a write.
        [records] = await endpoint.on_off.write_attributes({"on_off": True})
        assert records[0].status == Status.READ_ONLY

        thermostat = sim(air, SimKind.THERMOSTAT)
        cluster = zigpy_endpoint(app, thermostat).thermostat
        [records] = await cluster.write_attributes(
            {"occupied_heating_setpoint": 2150, "system_mode": hvac.SystemMode.Off}
        )
        assert [r.status for r in records] == [Status.SUCCESS, Status.SUCCESS]
        assert state(air, thermostat)["heating_setpoint"] == 21.5
        assert state(air, thermostat)["system_mode"] == "off"
        [records] = await cluster.write_attributes({"occupied_heating_setpoint": 4500})
        assert records[0].status == Status.INVALID_VALUE
        assert state(air, thermostat)["heating_setpoint"] == 21.5
        success, _ = await cluster.read_attributes(["local_temperature"])
        local = state(air, thermostat)["local_temperature"]
        assert success["local_temperature"] == round(local * 100)


async def test_commands_change_the_ground_truth() -> None:
    async with running(_spec("zcl-commands")) as (air, app):
        light = sim(air, SimKind.COLOR_LIGHT)
        endpoint = zigpy_endpoint(app, light)
        response = await endpoint.on_off.off()
        assert response == foundation.DefaultResponse(
            command_id=general.OnOff.ServerCommandDefs.off.id, status=Status.SUCCESS
        )
        assert state(air, light)["on"] is False
        await endpoint.on_off.toggle()
        assert state(air, light)["on"] is True
        await endpoint.level.move_to_level_with_on_off(level=77, transition_time=10)
        assert state(air, light)["level"] == 77
        await endpoint.level.move_to_level_with_on_off(level=0, transition_time=0)
        assert state(air, light)["on"] is False
        await endpoint.level.move_to_level_with_on_off(level=200, transition_time=0)
        assert state(air, light)["on"] is True
        assert state(air, light)["level"] == 200
        await endpoint.light_color.move_to_color_temp(color_temp_mireds=320, transition_time=0)
        assert state(air, light)["color_temp_mireds"] == 320
        assert state(air, light)["color_mode"] == "color_temp"
        await endpoint.light_color.move_to_color(
            color_x=int(0.3 * 65536), color_y=int(0.4 * 65536), transition_time=5
        )
        assert state(air, light)["xy"] == [0.3, 0.4]
        assert state(air, light)["color_mode"] == "xy"

        # A colour temperature light cannot do xy: the device says so.
        white = sim(air, SimKind.COLOR_TEMP_LIGHT)
        response = await zigpy_endpoint(app, white).light_color.move_to_color(
            color_x=1000, color_y=1000, transition_time=0
        )
        assert response.status == Status.UNSUP_CLUSTER_COMMAND
        # Level commands out of range are clamped to the light's limits.
        await zigpy_endpoint(app, white).level.move_to_level(level=255, transition_time=0)
        assert state(air, white)["level"] == 254

        plug = sim(air, SimKind.SMART_PLUG)
        await zigpy_endpoint(app, plug).on_off.on()
        assert state(air, plug)["power"] > 0
        await zigpy_endpoint(app, plug).on_off.off()
        assert state(air, plug)["power"] == 0


async def test_answers_echo_tsn_flip_direction_and_come_from_the_addressed_endpoint() -> None:
    async with running(_spec("zcl-frames")) as (air, app):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        endpoint = zigpy_endpoint(app, light)
        received: list[t.ZigbeePacket] = []
        original = app.packet_received

        def spy(packet: t.ZigbeePacket) -> None:
            received.append(packet)
            original(packet)

        app.packet_received = spy  # type: ignore[method-assign]
        await endpoint.on_off.on(tsn=0x42)
        await endpoint.basic.read_attributes(["model"], tsn=0x43)
        app.packet_received = original  # type: ignore[method-assign]
        assert [p.src_ep for p in received] == [1, 1]
        assert [p.dst_ep for p in received] == [1, 1]
        headers = [foundation.ZCLHeader.deserialize(p.data.serialize())[0] for p in received]
        assert [h.tsn for h in headers] == [0x42, 0x43]
        assert all(h.direction == foundation.Direction.Server_to_Client for h in headers)
        assert headers[0].command_id == foundation.GeneralCommand.Default_Response
        assert headers[1].command_id == foundation.GeneralCommand.Read_Attributes_rsp
        # With the default response disabled a successful command gets no answer.
        received.clear()
        app.packet_received = spy  # type: ignore[method-assign]
        await endpoint.on_off.off(disable_default_response=True, expect_reply=False)
        await sleep(1)
        app.packet_received = original  # type: ignore[method-assign]
        assert not [p for p in received if p.src is not None and p.src.address == light.nwk]
        assert state(air, light)["on"] is False


async def test_configured_reporting_reaches_zigpy() -> None:
    async with running(_spec("zcl-reporting")) as (air, app):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        endpoint = zigpy_endpoint(app, light)
        reports: list[Any] = []
        endpoint.on_off.on_event("attribute_report", reports.append)
        endpoint.level.on_event("attribute_report", reports.append)
        result = await endpoint.on_off.configure_reporting("on_off", 0, 300, 0)
        assert set(result.values()) == {Status.SUCCESS}
        await endpoint.level.configure_reporting("current_level", 1, 600, 10)
        await endpoint.on_off.off()
        await sleep(0.1)
        await endpoint.on_off.on()
        await endpoint.on_off.off()
        await sleep(0.1)
        assert [(r.attribute_name, r.value) for r in reports][-2:] == [
            ("on_off", True),
            ("on_off", False),
        ]
        # Below the reportable change: no report; above it: a report, but not sooner
        # than min_interval after the previous one.
        reports.clear()
        level = state(air, light)["level"]
        await endpoint.level.move_to_level(
            level=level + 5 if level < 200 else level - 5, transition_time=0
        )
        await sleep(2)
        assert not reports
        await endpoint.level.move_to_level(level=30, transition_time=0)
        await sleep(0.1)
        assert [(r.attribute_name, r.value) for r in reports] == [("current_level", 30)]
        await endpoint.level.move_to_level(level=60, transition_time=0)
        await sleep(0.5)
        assert len(reports) == 1
        await sleep(0.6)
        assert [(r.attribute_name, r.value) for r in reports][-1] == ("current_level", 60)
        # max_interval: a periodic report even without change.
        reports.clear()
        await sleep(301)
        assert ("on_off", False) in [(r.attribute_name, r.value) for r in reports]
        # The configuration reads back.
        response = await endpoint.level.general_command(
            foundation.GeneralCommand.Read_Reporting_Configuration,
            [foundation.ReadReportingConfigRecord(direction=0, attrid=0x0000)],
        )
        [record] = response.attribute_configs
        assert (record.config.min_interval, record.config.max_interval) == (1, 600)
        # A max interval of 0xFFFF switches reporting off.
        await endpoint.on_off.configure_reporting("on_off", 0, 0xFFFF, 0)
        reports.clear()
        await endpoint.on_off.on()
        await sleep(1)
        assert not [r for r in reports if r.attribute_name == "on_off"]


async def test_sensor_readings_drift_and_are_reported() -> None:
    async with running(_spec("zcl-drift", drift_interval=30.0)) as (air, app):
        sensor = sim(air, SimKind.CLIMATE_SENSOR)
        cluster = zigpy_endpoint(app, sensor).temperature
        reports: list[Any] = []
        cluster.on_event("attribute_report", reports.append)
        start = state(air, sensor)["temperature"]
        await sleep(4 * 3600)
        assert reports, "a sleepy sensor reports its temperature on its own"
        # The last report is within the reportable change (0.5 degrees) of the truth.
        assert abs(reports[-1].value - round(state(air, sensor)["temperature"] * 100)) < 50
        assert state(air, sensor)["temperature"] != start
        assert air.stats.reports >= len(reports)


async def test_groups_and_groupcast() -> None:
    async with running(_spec("zcl-groups", group_capacity=3)) as (air, app):
        lights = sims(air, SimKind.DIMMABLE_LIGHT)
        members = lights[:2]
        for light in members:
            status = await zigpy_endpoint(app, light).add_to_group(0x0100, "Kitchen")
            assert status == Status.SUCCESS
        assert 0x0100 in app.groups
        for light in members:
            assert 0x0100 in truth(air, light)["groups"]
        group_endpoint = app.groups[0x0100].endpoint
        await group_endpoint.on_off.off()
        await group_endpoint.on_off.on()
        await sleep(0.1)
        assert air.stats.groupcasts == 2
        assert all(state(air, light)["on"] for light in members)
        outsider = lights[2]
        await zigpy_endpoint(app, outsider).on_off.off()
        await group_endpoint.on_off.on()
        await sleep(0.1)
        assert state(air, outsider)["on"] is False

        groups = zigpy_endpoint(app, members[0]).groups
        response = await groups.view(0x0100)
        assert (response.status, response.group_name) == (Status.SUCCESS, "Kitchen")
        response = await groups.get_membership([])
        assert sorted(response.groups) == [0x0001, 0x0100]
        assert response.capacity == 1
        response = await groups.add(0x0100, "Kitchen")
        assert response.status == Status.DUPLICATE_EXISTS
        response = await groups.add(0x0200, "Hall")
        assert response.status == Status.SUCCESS
        response = await groups.add(0x0300, "Full")
        assert response.status == Status.INSUFFICIENT_SPACE
        response = await groups.remove(0x0200)
        assert response.status == Status.SUCCESS
        response = await groups.remove(0x0200)
        assert response.status == Status.NOT_FOUND
        await groups.remove_all()
        assert truth(air, members[0])["groups"] == []


async def test_scenes_store_recall_view_and_add_with_extension_fields() -> None:
    async with running(_spec("zcl-scenes")) as (air, app):
        lights = [d for d in air.devices.values() if d.kind is SimKind.COLOR_LIGHT]
        light = lights[0]
        endpoint = zigpy_endpoint(app, light)
        await endpoint.on_off.on()
        await endpoint.level.move_to_level(level=80, transition_time=0)
        await endpoint.light_color.move_to_color_temp(color_temp_mireds=300, transition_time=0)
        response = await endpoint.scenes.store(group_id=0x0001, scene_id=1)
        assert response.status == Status.SUCCESS
        await endpoint.level.move_to_level(level=200, transition_time=0)
        await endpoint.on_off.off()
        await app.groups[0x0001].endpoint.scenes.recall(group_id=0x0001, scene_id=1)
        await sleep(0.1)
        assert state(air, light)["on"] is True
        assert state(air, light)["level"] == 80
        assert state(air, light)["color_temp_mireds"] == 300
        assert truth(air, light)["scenes"] == [[1, 1]]

        # Scenes whose group the light is not in are refused.
        response = await endpoint.scenes.store(group_id=0x0777, scene_id=1)
        assert response.status == Status.INVALID_FIELD

        # Add a scene with member state, read it back, recall it.
        scenes = use_extended_scenes(endpoint)
        wanted = SceneValues(on=True, level=30, xy=(20000, 21000))
        response = await scenes.add(
            group_id=0x0001,
            scene_id=2,
            transition_time=4,
            scene_name="Evening",
            extension_field_sets=wanted.to_extension_sets(),
        )
        assert response.status == Status.SUCCESS
        response = await scenes.view(group_id=0x0001, scene_id=2)
        assert (response.status, response.scene_name, response.transition_time) == (
            Status.SUCCESS,
            "Evening",
            4,
        )
        assert SceneValues.from_extension_sets(response.extension_field_sets) == wanted
        response = await scenes.get_scene_membership(group_id=0x0001)
        assert (response.status, list(response.scenes)) == (Status.SUCCESS, [1, 2])
        await scenes.recall(group_id=0x0001, scene_id=2)
        assert state(air, light)["level"] == 30
        assert state(air, light)["xy"] == [round(20000 / 65536, 4), round(21000 / 65536, 4)]
        response = await scenes.view(group_id=0x0001, scene_id=9)
        assert response.status == Status.NOT_FOUND
        response = await scenes.recall(group_id=0x0001, scene_id=9)
        assert response.status == Status.NOT_FOUND
        response = await scenes.remove(group_id=0x0001, scene_id=1)
        assert response.status == Status.SUCCESS
        response = await scenes.remove_all(group_id=0x0001)
        assert response.status == Status.SUCCESS
        assert truth(air, light)["scenes"] == []
        # The standard zigpy cluster still reads what it knows of a view.
        plain = zigpy_endpoint(app, lights[1]).scenes
        await plain.add(0x0001, 5, 0, "Plain")
        response = await plain.view(0x0001, 5)
        assert (response.status, response.scene_name) == (Status.SUCCESS, "Plain")


async def test_bind_and_unbind() -> None:
    async with running(_spec("zcl-bind")) as (air, app):
        light = sim(air, SimKind.ON_OFF_LIGHT)
        cluster = zigpy_endpoint(app, light).on_off
        [status] = await cluster.bind()
        assert status == zdo_t.Status.SUCCESS
        assert light.bindings == [
            {
                "src_ep": 1,
                "cluster": 6,
                "dst": {"addrmode": 3, "ieee": str(air.radio.ieee), "endpoint": 1},
            }
        ]
        device = app.devices[light.ieee]
        status, entries, start, bindings = await device.zdo.Mgmt_Bind_req(0)
        assert (status, entries, start) == (zdo_t.Status.SUCCESS, 1, 0)
        assert bindings[0].ClusterId == 6
        [status] = await cluster.unbind()
        assert status == zdo_t.Status.SUCCESS
        [status] = await cluster.unbind()
        assert status == zdo_t.Status.NO_ENTRY


async def test_ias_zone_enrolls_and_notifies() -> None:
    async with running(_spec("zcl-ias")) as (air, app):
        contact = sim(air, SimKind.CONTACT_SENSOR)
        cluster = zigpy_endpoint(app, contact).ias_zone
        await sleep(120)  # the join window is over: the sensor sleeps
        commands: list[tuple[int, Any]] = []

        class Listener:
            def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
                commands.append((command_id, args))

        cluster.add_listener(Listener())
        air.device_set_open(str(contact.ieee), True)
        await sleep(0.1)
        assert state(air, contact)["open"] is True
        assert commands and commands[0][0] == 0x00
        # Right after it transmitted the sensor polls, so an answer reaches it.
        await cluster.write_attributes({"cie_addr": air.radio.ieee})
        await cluster.enroll_response(enroll_response_code=0, zone_id=5)
        assert state(air, contact)["enrolled"] is True


async def test_reading_the_firmware_version_of_the_ota_client() -> None:
    async with running(_spec("zcl-ota")) as (air, app):
        light = sim(air, SimKind.DIMMABLE_LIGHT)
        air.set_firmware_version(str(light.ieee), 0x01020304)
        ota = zigpy_endpoint(app, light).out_clusters[general.Ota.cluster_id]
        success, _ = await ota.read_attributes(["current_file_version"])
        assert success["current_file_version"] == 0x01020304
        assert truth(air, light)["firmware_version"] == 0x01020304
        _ = lighting  # the colour cluster is used above through the endpoint


async def test_move_step_identify_and_setpoint_commands() -> None:
    """The relative commands remotes and other stacks send: move and step level and colour
    temperature (within the bulb's and the command's limits), identify, the thermostat's
    setpoint raise/lower, and a group added only while identifying."""

    async with running(_spec("zcl-relative")) as (air, app):
        white = sim(air, SimKind.COLOR_TEMP_LIGHT)
        endpoint = zigpy_endpoint(app, white)
        await endpoint.level.move_to_level(level=100, transition_time=0)
        await endpoint.level.step(step_mode=0, step_size=20, transition_time=0)
        assert state(air, white)["level"] == 120
        await endpoint.level.step_with_on_off(step_mode=1, step_size=50, transition_time=0)
        assert state(air, white)["level"] == 70
        await endpoint.level.move(move_mode=0, rate=10)
        assert state(air, white)["level"] == 254
        await endpoint.level.move_with_on_off(move_mode=1, rate=10)
        assert state(air, white)["on"] is False

        color = endpoint.light_color
        await color.move_color_temp(
            move_mode=lighting.MoveMode.Up,
            rate=10,
            color_temp_min_mireds=0,
            color_temp_max_mireds=400,
        )
        assert state(air, white)["color_temp_mireds"] == 400
        await color.move_color_temp(
            move_mode=lighting.MoveMode.Down,
            rate=10,
            color_temp_min_mireds=200,
            color_temp_max_mireds=0,
        )
        assert state(air, white)["color_temp_mireds"] == 200
        await color.step_color_temp(
            step_mode=lighting.StepMode.Up,
            step_size=50,
            transition_time=0,
            color_temp_min_mireds=0,
            color_temp_max_mireds=0,
        )
        assert state(air, white)["color_temp_mireds"] == 250
        identify = endpoint.identify
        assert (await identify.identify_query()).status == Status.SUCCESS  # not identifying
        await endpoint.groups.add_if_identifying(group_id=0x0042, group_name="")
        await identify.identify(identify_time=30)
        answer = await identify.identify_query()
        assert answer.timeout == 30
        await endpoint.groups.add_if_identifying(group_id=0x0042, group_name="")
        assert 0x0042 in truth(air, white)["groups"]

        thermostat = sim(air, SimKind.THERMOSTAT)
        cluster = zigpy_endpoint(app, thermostat).thermostat
        await cluster.write_attributes({"occupied_heating_setpoint": 2000})
        await cluster.setpoint_raise_lower(mode=hvac.SetpointMode.Heat, amount=15)
        assert state(air, thermostat)["heating_setpoint"] == 21.5
