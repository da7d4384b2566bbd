"""Cluster commands a simulated node understands, and what they do to its state.

On/Off, Level Control, Color Control, Groups, Scenes (with extension field sets),
Identify, Thermostat, IAS Zone; the OTA server's commands go to the node's OTA client
(``ota_client``), which answers with requests of its own, not with responses.
Transitions are not simulated: a command's end state is reached at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zigpy.zcl import Cluster, foundation
from zigpy.zcl.clusters import general, hvac, lighting, security

from ..zigbee.scenes import Scene, SceneValues, parse_extension_sets
from . import readings, ztypes
from .outcome import OK, Outcome, fail, respond, respond_raw
from .zcl_values import cluster_class

if TYPE_CHECKING:
    from .device import SimEndpoint

Status = foundation.Status
type Handler = Callable[["SimEndpoint", Any, bytes], Outcome | None]

MAX_GROUP_ID = 0xFFF7


def command(
    endpoint: SimEndpoint, cluster_id: int, hdr: foundation.ZCLHeader, payload: bytes
) -> Outcome | None:
    cls = cluster_class(cluster_id)
    if cls is None:
        return fail(Status.UNSUP_CLUSTER_COMMAND)
    to_server = hdr.direction == foundation.Direction.Client_to_Server
    definitions = cls.server_commands if to_server else cls.client_commands
    definition = definitions.get(hdr.command_id)
    handler = _HANDLERS.get((cluster_id, to_server, definition.name)) if definition else None
    if definition is None or handler is None:
        return fail(Status.UNSUP_CLUSTER_COMMAND)
    try:
        args, rest = definition.schema.deserialize(payload)
    except ValueError, KeyError, IndexError:
        return fail(Status.MALFORMED_COMMAND)
    return handler(endpoint, args, rest)


# -- On/Off -------------------------------------------------------------------------------


def set_on(endpoint: SimEndpoint, on: bool) -> None:
    if endpoint.set(general.OnOff, "on_off", on):
        readings.on_off_changed(endpoint)


def _on_off(target: bool | None) -> Handler:
    def handler(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
        current = bool(endpoint.get(general.OnOff, "on_off"))
        set_on(endpoint, (not current) if target is None else target)
        return OK

    return handler


# -- Level Control -------------------------------------------------------------------------


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def set_level(endpoint: SimEndpoint, level: int, *, with_on_off: bool) -> None:
    """Move to ``level``; with on/off, the minimum means off (the level is kept)."""
    low = int(endpoint.get(general.LevelControl, "min_level", 1))
    high = int(endpoint.get(general.LevelControl, "max_level", 254))
    if with_on_off and level <= low:
        set_on(endpoint, False)
        return
    endpoint.set(general.LevelControl, "current_level", _clamp(level, low, high))
    if with_on_off:
        set_on(endpoint, True)


def _move_to_level(with_on_off: bool) -> Handler:
    def handler(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
        set_level(endpoint, int(args.level), with_on_off=with_on_off)
        return OK

    return handler


def _move_level(with_on_off: bool) -> Handler:
    def handler(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
        up = args.move_mode == general.LevelControl.MoveMode.Up
        target = 254 if up else 0
        set_level(endpoint, target, with_on_off=with_on_off)
        return OK

    return handler


def _step_level(with_on_off: bool) -> Handler:
    def handler(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
        current = int(endpoint.get(general.LevelControl, "current_level", 254))
        step = int(args.step_size)
        up = args.step_mode == general.LevelControl.StepMode.Up
        set_level(endpoint, current + step if up else current - step, with_on_off=with_on_off)
        return OK

    return handler


def _accept(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    return OK


# -- Color Control -------------------------------------------------------------------------


def _capabilities(endpoint: SimEndpoint) -> int:
    return int(endpoint.get(lighting.Color, "color_capabilities", 0))


def set_color_temp(endpoint: SimEndpoint, mireds: int) -> None:
    low = int(endpoint.get(lighting.Color, "color_temp_physical_min", 153))
    high = int(endpoint.get(lighting.Color, "color_temp_physical_max", 500))
    endpoint.set(lighting.Color, "color_temperature", _clamp(mireds, low, high))
    endpoint.set(lighting.Color, "color_mode", int(lighting.ColorMode.Color_temperature))
    endpoint.set(
        lighting.Color, "enhanced_color_mode", int(lighting.EnhancedColorMode.Color_temperature)
    )


def set_xy(endpoint: SimEndpoint, x: int, y: int) -> None:
    endpoint.set(lighting.Color, "current_x", _clamp(x, 0, 0xFEFF))
    endpoint.set(lighting.Color, "current_y", _clamp(y, 0, 0xFEFF))
    endpoint.set(lighting.Color, "color_mode", int(lighting.ColorMode.X_and_Y))
    endpoint.set(lighting.Color, "enhanced_color_mode", int(lighting.EnhancedColorMode.X_and_Y))


def _move_to_color_temp(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    if not _capabilities(endpoint) & lighting.ColorCapabilities.Color_temperature:
        return fail(Status.UNSUP_CLUSTER_COMMAND)
    set_color_temp(endpoint, int(args.color_temp_mireds))
    return OK


def _move_to_color(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    if not _capabilities(endpoint) & lighting.ColorCapabilities.XY_attributes:
        return fail(Status.UNSUP_CLUSTER_COMMAND)
    set_xy(endpoint, int(args.color_x), int(args.color_y))
    return OK


def _mireds_bounds(endpoint: SimEndpoint, args: Any) -> tuple[int, int]:
    low = int(endpoint.get(lighting.Color, "color_temp_physical_min", 153))
    high = int(endpoint.get(lighting.Color, "color_temp_physical_max", 500))
    if getattr(args, "color_temp_min_mireds", 0):
        low = max(low, int(args.color_temp_min_mireds))
    if getattr(args, "color_temp_max_mireds", 0):
        high = min(high, int(args.color_temp_max_mireds))
    return low, high


def _move_color_temp(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    if not _capabilities(endpoint) & lighting.ColorCapabilities.Color_temperature:
        return fail(Status.UNSUP_CLUSTER_COMMAND)
    low, high = _mireds_bounds(endpoint, args)
    if args.move_mode == lighting.MoveMode.Up:
        set_color_temp(endpoint, high)
    elif args.move_mode == lighting.MoveMode.Down:
        set_color_temp(endpoint, low)
    return OK


def _step_color_temp(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    if not _capabilities(endpoint) & lighting.ColorCapabilities.Color_temperature:
        return fail(Status.UNSUP_CLUSTER_COMMAND)
    low, high = _mireds_bounds(endpoint, args)
    current = int(endpoint.get(lighting.Color, "color_temperature", low))
    step = int(args.step_size)
    target = current + step if args.step_mode == lighting.StepMode.Up else current - step
    set_color_temp(endpoint, _clamp(target, low, high))
    return OK


# -- Groups ------------------------------------------------------------------------------


def group_count(endpoint: SimEndpoint) -> int:
    return sum(len(ep.groups) for ep in endpoint.device.endpoints.values())


def add_group(endpoint: SimEndpoint, group_id: int, name: str) -> foundation.Status:
    if not 0x0001 <= group_id <= MAX_GROUP_ID:
        return Status.INVALID_VALUE
    if group_id in endpoint.groups:
        return Status.DUPLICATE_EXISTS
    if group_count(endpoint) >= endpoint.device.group_capacity:
        return Status.INSUFFICIENT_SPACE
    endpoint.groups[group_id] = name
    endpoint.device.changed()
    return Status.SUCCESS


def remove_group(endpoint: SimEndpoint, group_id: int) -> foundation.Status:
    if group_id not in endpoint.groups:
        return Status.NOT_FOUND
    del endpoint.groups[group_id]
    # A group's scenes go with it (ZCL Groups: Remove Group).
    for key in [key for key in endpoint.scenes if key[0] == group_id]:
        del endpoint.scenes[key]
    _update_scene_count(endpoint)
    endpoint.device.changed()
    return Status.SUCCESS


def _group_add(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    status = add_group(endpoint, int(args.group_id), str(args.group_name))
    return respond(general.Groups, "add_response", status=status, group_id=args.group_id)


def _group_view(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    group_id = int(args.group_id)
    if group_id not in endpoint.groups:
        return respond(
            general.Groups,
            "view_response",
            status=Status.NOT_FOUND,
            group_id=group_id,
            group_name="",
        )
    return respond(
        general.Groups,
        "view_response",
        status=Status.SUCCESS,
        group_id=group_id,
        group_name=endpoint.groups[group_id],
    )


def _group_membership(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    asked = [int(group) for group in args.groups]
    member = sorted(endpoint.groups) if not asked else [g for g in asked if g in endpoint.groups]
    capacity = max(0, endpoint.device.group_capacity - group_count(endpoint))
    return respond(
        general.Groups,
        "get_membership_response",
        capacity=min(capacity, 0xFD),
        groups=[ztypes.group(group) for group in member],
    )


def _group_remove(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    status = remove_group(endpoint, int(args.group_id))
    return respond(general.Groups, "remove_response", status=status, group_id=args.group_id)


def _group_remove_all(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    for group_id in list(endpoint.groups):
        remove_group(endpoint, group_id)
    return OK


def _group_add_if_identifying(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    if int(endpoint.get(general.Identify, "identify_time", 0)) > 0:
        status = add_group(endpoint, int(args.group_id), str(args.group_name))
        if status not in (Status.SUCCESS, Status.DUPLICATE_EXISTS):
            return fail(status)
    return OK


# -- Scenes ------------------------------------------------------------------------------


def _update_scene_count(endpoint: SimEndpoint) -> None:
    if endpoint.has(general.Scenes):
        endpoint.set(general.Scenes, "count", len(endpoint.scenes))


def _scene_group_ok(endpoint: SimEndpoint, group_id: int) -> bool:
    return group_id == 0 or group_id in endpoint.groups


def capture_scene(endpoint: SimEndpoint) -> SceneValues:
    """The current state of an endpoint as a scene would store it."""
    on = bool(endpoint.get(general.OnOff, "on_off")) if endpoint.has(general.OnOff) else None
    level = None
    if endpoint.has(general.LevelControl):
        level = int(endpoint.get(general.LevelControl, "current_level", 254))
    xy = None
    color_temp = None
    if endpoint.has(lighting.Color):
        mode = endpoint.get(lighting.Color, "color_mode")
        if mode == lighting.ColorMode.X_and_Y:
            xy = (
                int(endpoint.get(lighting.Color, "current_x", 0)),
                int(endpoint.get(lighting.Color, "current_y", 0)),
            )
        else:
            color_temp = int(endpoint.get(lighting.Color, "color_temperature", 0))
    return SceneValues(on=on, level=level, xy=xy, color_temp=color_temp)


def apply_scene(endpoint: SimEndpoint, values: SceneValues) -> None:
    if values.level is not None and endpoint.has(general.LevelControl) and values.level > 0:
        set_level(endpoint, values.level, with_on_off=False)
    if endpoint.has(lighting.Color):
        capabilities = _capabilities(endpoint)
        if values.xy is not None and capabilities & lighting.ColorCapabilities.XY_attributes:
            set_xy(endpoint, *values.xy)
        elif values.color_temp and capabilities & lighting.ColorCapabilities.Color_temperature:
            set_color_temp(endpoint, values.color_temp)
    if values.on is not None and endpoint.has(general.OnOff):
        set_on(endpoint, values.on)


def _scene_add(response: str) -> Handler:
    def handler(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
        group_id, scene_id = int(args.group_id), int(args.scene_id)
        key = (group_id, scene_id)
        if not _scene_group_ok(endpoint, group_id):
            status = Status.INVALID_FIELD
        elif key not in endpoint.scenes and len(endpoint.scenes) >= endpoint.device.scene_capacity:
            status = Status.INSUFFICIENT_SPACE
        else:
            try:
                extensions = parse_extension_sets(rest).serialize()
            except ValueError, KeyError, IndexError:
                return respond(
                    general.Scenes,
                    response,
                    status=Status.MALFORMED_COMMAND,
                    group_id=group_id,
                    scene_id=scene_id,
                )
            endpoint.scenes[key] = Scene(
                name=str(args.scene_name),
                transition_time=int(args.transition_time),
                extensions=extensions,
            )
            _update_scene_count(endpoint)
            endpoint.device.changed()
            status = Status.SUCCESS
        return respond(
            general.Scenes, response, status=status, group_id=group_id, scene_id=scene_id
        )

    return handler


def _scene_view(response: str) -> Handler:
    def handler(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
        group_id, scene_id = int(args.group_id), int(args.scene_id)
        scene = endpoint.scenes.get((group_id, scene_id))
        if not _scene_group_ok(endpoint, group_id) or scene is None:
            status = (
                Status.NOT_FOUND if _scene_group_ok(endpoint, group_id) else Status.INVALID_FIELD
            )
            return respond(
                general.Scenes, response, status=status, group_id=group_id, scene_id=scene_id
            )
        schema = getattr(general.Scenes.ClientCommandDefs, response).schema
        head = schema(
            status=Status.SUCCESS,
            group_id=group_id,
            scene_id=scene_id,
            transition_time=scene.transition_time,
            scene_name=scene.name,
        ).serialize()
        return respond_raw(general.Scenes, response, head + scene.extensions)

    return handler


def _scene_remove(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    group_id, scene_id = int(args.group_id), int(args.scene_id)
    if not _scene_group_ok(endpoint, group_id):
        status = Status.INVALID_FIELD
    elif (group_id, scene_id) not in endpoint.scenes:
        status = Status.NOT_FOUND
    else:
        del endpoint.scenes[(group_id, scene_id)]
        _update_scene_count(endpoint)
        endpoint.device.changed()
        status = Status.SUCCESS
    return respond(
        general.Scenes, "remove_scene_response", status=status, group_id=group_id, scene_id=scene_id
    )


def _scene_remove_all(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    group_id = int(args.group_id)
    if not _scene_group_ok(endpoint, group_id):
        status = Status.INVALID_FIELD
    else:
        for key in [key for key in endpoint.scenes if key[0] == group_id]:
            del endpoint.scenes[key]
        _update_scene_count(endpoint)
        endpoint.device.changed()
        status = Status.SUCCESS
    return respond(general.Scenes, "remove_all_scenes_response", status=status, group_id=group_id)


def _set_current_scene(endpoint: SimEndpoint, group_id: int, scene_id: int) -> None:
    endpoint.set(general.Scenes, "current_scene", scene_id)
    endpoint.set(general.Scenes, "current_group", group_id)
    endpoint.set(general.Scenes, "scene_valid", True)


def _scene_store(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    group_id, scene_id = int(args.group_id), int(args.scene_id)
    key = (group_id, scene_id)
    if not _scene_group_ok(endpoint, group_id):
        status = Status.INVALID_FIELD
    elif key not in endpoint.scenes and len(endpoint.scenes) >= endpoint.device.scene_capacity:
        status = Status.INSUFFICIENT_SPACE
    else:
        old = endpoint.scenes.get(key)
        endpoint.scenes[key] = Scene(
            name=old.name if old else "",
            transition_time=old.transition_time if old else 0,
            extensions=capture_scene(endpoint).to_extension_sets().serialize(),
        )
        _update_scene_count(endpoint)
        _set_current_scene(endpoint, group_id, scene_id)
        endpoint.device.changed()
        status = Status.SUCCESS
    return respond(
        general.Scenes, "store_scene_response", status=status, group_id=group_id, scene_id=scene_id
    )


def _scene_recall(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    group_id, scene_id = int(args.group_id), int(args.scene_id)
    scene = endpoint.scenes.get((group_id, scene_id))
    if scene is None:
        return fail(Status.NOT_FOUND)
    apply_scene(endpoint, SceneValues.from_extension_sets(parse_extension_sets(scene.extensions)))
    _set_current_scene(endpoint, group_id, scene_id)
    return OK


def _scene_membership(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    group_id = int(args.group_id)
    capacity = min(0xFD, max(0, endpoint.device.scene_capacity - len(endpoint.scenes)))
    if not _scene_group_ok(endpoint, group_id):
        return respond(
            general.Scenes,
            "get_scene_membership_response",
            status=Status.INVALID_FIELD,
            capacity=capacity,
            group_id=group_id,
        )
    scenes = sorted(scene for group, scene in endpoint.scenes if group == group_id)
    return respond(
        general.Scenes,
        "get_scene_membership_response",
        status=Status.SUCCESS,
        capacity=capacity,
        group_id=group_id,
        scenes=[ztypes.uint8(scene) for scene in scenes],
    )


# -- Identify, Thermostat, IAS Zone --------------------------------------------------------


def _identify(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    endpoint.set(general.Identify, "identify_time", int(args.identify_time))
    return OK


def _identify_query(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    remaining = int(endpoint.get(general.Identify, "identify_time", 0))
    if remaining:
        return respond(general.Identify, "identify_query_response", timeout=remaining)
    return OK


def _setpoint_raise_lower(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    if args.mode in (hvac.SetpointMode.Heat, hvac.SetpointMode.Both):
        current = int(endpoint.get(hvac.Thermostat, "occupied_heating_setpoint", 2000))
        low = int(endpoint.get(hvac.Thermostat, "min_heat_setpoint_limit", 500))
        high = int(endpoint.get(hvac.Thermostat, "max_heat_setpoint_limit", 3000))
        endpoint.set(
            hvac.Thermostat,
            "occupied_heating_setpoint",
            _clamp(current + int(args.amount) * 10, low, high),
        )
    return OK


def _enroll_response(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    if args.enroll_response_code == security.EnrollResponse.Success:
        endpoint.set(security.IasZone, "zone_state", 1)  # enrolled
        endpoint.set(security.IasZone, "zone_id", int(args.zone_id))
    return OK


# -- OTA client ----------------------------------------------------------------------------
# (The client answers with requests of its own; a Default Response only for the notify.)


def _ota_notify(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome:
    endpoint.device.ota.image_notify()
    return OK


def _ota_query(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome | None:
    endpoint.device.ota.query_response(args)
    return None


def _ota_block(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome | None:
    endpoint.device.ota.block_response(args)
    return None


def _ota_end(endpoint: SimEndpoint, args: Any, rest: bytes) -> Outcome | None:
    endpoint.device.ota.upgrade_end_response(args)
    return None


# -- attribute writes -------------------------------------------------------------------


_HEATING_MODES = frozenset({hvac.SystemMode.Off, hvac.SystemMode.Auto, hvac.SystemMode.Heat})
_START_UP_ON_OFF = frozenset(int(value) for value in general.OnOff.StartUpOnOff)


def validate_write(
    endpoint: SimEndpoint, cluster_id: int, name: str, value: Any
) -> foundation.Status:
    """Whether a written value is acceptable, as the device's firmware would judge it."""
    if cluster_id == hvac.Thermostat.cluster_id:
        if name == "occupied_heating_setpoint":
            low = int(endpoint.get(hvac.Thermostat, "min_heat_setpoint_limit", 500))
            high = int(endpoint.get(hvac.Thermostat, "max_heat_setpoint_limit", 3000))
            return Status.SUCCESS if low <= int(value) <= high else Status.INVALID_VALUE
        if name == "system_mode":
            return Status.SUCCESS if int(value) in _HEATING_MODES else Status.INVALID_VALUE
    if cluster_id == general.OnOff.cluster_id and name == "start_up_on_off":
        return Status.SUCCESS if int(value) in _START_UP_ON_OFF else Status.INVALID_VALUE
    return Status.SUCCESS


def after_write(endpoint: SimEndpoint, cluster_id: int, attr_id: int) -> None:
    if cluster_id == hvac.Thermostat.cluster_id:
        readings.thermostat_changed(endpoint)


# -- power-on --------------------------------------------------------------------------


def apply_start_up(endpoint: SimEndpoint) -> None:
    """The state a mains device takes when power returns (StartUp* attributes)."""
    if endpoint.has(general.OnOff):
        start_up = endpoint.get(general.OnOff, "start_up_on_off", 0xFF)
        current = bool(endpoint.get(general.OnOff, "on_off"))
        if start_up == general.OnOff.StartUpOnOff.Off:
            set_on(endpoint, False)
        elif start_up == general.OnOff.StartUpOnOff.On:
            set_on(endpoint, True)
        elif start_up == general.OnOff.StartUpOnOff.Toggle:
            set_on(endpoint, not current)
    if endpoint.has(general.LevelControl):
        level = int(endpoint.get(general.LevelControl, "start_up_current_level", 0xFF))
        if level == 0:
            endpoint.set(
                general.LevelControl,
                "current_level",
                int(endpoint.get(general.LevelControl, "min_level", 1)),
            )
        elif level != 0xFF:
            set_level(endpoint, level, with_on_off=False)
    if endpoint.has(lighting.Color):
        mireds = int(endpoint.get(lighting.Color, "start_up_color_temperature", 0xFFFF))
        if mireds != 0xFFFF:
            set_color_temp(endpoint, mireds)


def _command(
    cluster: type[Cluster], name: str, handler: Handler, *, to_server: bool = True
) -> tuple[tuple[int, bool, str], Handler]:
    definitions = cluster.ServerCommandDefs if to_server else cluster.ClientCommandDefs
    getattr(definitions, name)  # fail at import time if zigpy renamed the command
    return (cluster.cluster_id, to_server, name), handler


_HANDLERS: dict[tuple[int, bool, str], Handler] = dict(
    [
        _command(general.OnOff, "off", _on_off(False)),
        _command(general.OnOff, "on", _on_off(True)),
        _command(general.OnOff, "toggle", _on_off(None)),
        _command(general.OnOff, "off_with_effect", _on_off(False)),
        _command(general.OnOff, "on_with_recall_global_scene", _on_off(True)),
        _command(general.OnOff, "on_with_timed_off", _on_off(True)),
        _command(general.LevelControl, "move_to_level", _move_to_level(False)),
        _command(general.LevelControl, "move_to_level_with_on_off", _move_to_level(True)),
        _command(general.LevelControl, "move", _move_level(False)),
        _command(general.LevelControl, "move_with_on_off", _move_level(True)),
        _command(general.LevelControl, "step", _step_level(False)),
        _command(general.LevelControl, "step_with_on_off", _step_level(True)),
        _command(general.LevelControl, "stop", _accept),
        _command(general.LevelControl, "stop_with_on_off", _accept),
        _command(lighting.Color, "move_to_color_temp", _move_to_color_temp),
        _command(lighting.Color, "move_to_color", _move_to_color),
        _command(lighting.Color, "move_color_temp", _move_color_temp),
        _command(lighting.Color, "step_color_temp", _step_color_temp),
        _command(lighting.Color, "stop_move_step", _accept),
        _command(general.Groups, "add", _group_add),
        _command(general.Groups, "view", _group_view),
        _command(general.Groups, "get_membership", _group_membership),
        _command(general.Groups, "remove", _group_remove),
        _command(general.Groups, "remove_all", _group_remove_all),
        _command(general.Groups, "add_if_identifying", _group_add_if_identifying),
        _command(general.Scenes, "add", _scene_add("add_scene_response")),
        _command(general.Scenes, "enhanced_add", _scene_add("enhanced_add_response")),
        _command(general.Scenes, "view", _scene_view("view_response")),
        _command(general.Scenes, "enhanced_view", _scene_view("enhanced_view_response")),
        _command(general.Scenes, "remove", _scene_remove),
        _command(general.Scenes, "remove_all", _scene_remove_all),
        _command(general.Scenes, "store", _scene_store),
        _command(general.Scenes, "recall", _scene_recall),
        _command(general.Scenes, "get_scene_membership", _scene_membership),
        _command(general.Identify, "identify", _identify),
        _command(general.Identify, "identify_query", _identify_query),
        _command(general.Identify, "trigger_effect", _accept),
        _command(general.Basic, "reset_fact_default", _accept),
        _command(hvac.Thermostat, "setpoint_raise_lower", _setpoint_raise_lower),
        _command(security.IasZone, "enroll_response", _enroll_response),
        _command(security.IasZone, "init_normal_op_mode", _accept),
        _command(security.IasZone, "init_test_mode", _accept),
        _command(general.Ota, "image_notify", _ota_notify, to_server=False),
        _command(general.Ota, "query_next_image_response", _ota_query, to_server=False),
        _command(general.Ota, "image_block_response", _ota_block, to_server=False),
        _command(general.Ota, "upgrade_end_response", _ota_end, to_server=False),
    ]
)
