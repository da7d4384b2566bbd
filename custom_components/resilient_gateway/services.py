"""Services of the integration (registered once, they act on any of its config entries)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import probatio as vol
from homeassistant.components.light import (
    ATTR_BRIGHTNESS,
    ATTR_BRIGHTNESS_PCT,
    ATTR_COLOR_TEMP_KELVIN,
    ATTR_HS_COLOR,
    ATTR_RGB_COLOR,
    ATTR_TRANSITION,
    ATTR_XY_COLOR,
    LightEntity,
)
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import (
    EntityServiceResponse,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import service
from homeassistant.helpers.entity import Entity
from homeassistant.util import color as color_util
from homeassistant.util.json import JsonValueType

from .const import DOMAIN, STORAGE_DIR
from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.change_results import ChangeResult, ChangeStatus, GroupResult
from .core.model import Attr, DeviceId
from .core.radio import ForeignNetworkError, RadioError
from .core.restore import GatewayPausedError, RestoreInProgress, SnapshotMismatch
from .core.snapshot import SnapshotError
from .core.storage import write_json_atomic
from .light import GatewayGroupLight, GatewayLight, light_values
from .radios.ble.profiles.microbit import LED_TEXT_MAX_BYTES as MAX_TEXT_BYTES
from .radios.wifi_node.radio import NodeOutboxFullError, UnknownNodeError

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_FAULT = "fault"
ATTR_DEVICE_ID = "device_id"
ATTR_IEEE = "ieee"

RADIO_FAULTS = ("radio_failure", "radio_stalled", "radio_recovered", "radio_replaced")
DEVICE_FAULTS = (
    "device_power_off",
    "device_power_on",
    "device_scenes_wiped",
    "device_groups_wiped",
    "device_firmware_reset",
)

SIMULATE_FAULT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_FAULT): vol.In(RADIO_FAULTS + DEVICE_FAULTS),
        vol.Exclusive(ATTR_DEVICE_ID, "device"): cv.string,
        vol.Exclusive(ATTR_IEEE, "device"): cv.string,
    }
)


ATTR_STATE = "state"
ATTR_TIMEOUT = "timeout"
DEFAULT_APPLY_TIMEOUT = 30.0
MAX_APPLY_TIMEOUT = 3600.0


def _pair(first: str, second: str, first_range: Any, second_range: Any) -> Any:
    """Two numbers, as a list (``[0.52, 0.41]``, as light.turn_on takes them) or as the
    object the action form's fields give (``{x: 0.52, y: 0.41}``); a tuple either way."""
    first_number = vol.All(vol.Coerce(float), first_range)
    second_number = vol.All(vol.Coerce(float), second_range)
    as_list = vol.All(vol.ExactSequence((first_number, second_number)), vol.Coerce(tuple))
    as_object = vol.All(
        vol.Schema({vol.Required(first): first_number, vol.Required(second): second_number}),
        lambda value: (value[first], value[second]),
    )
    return vol.Any(as_list, as_object)


UNIT_RANGE = vol.Range(min=0, max=1)

# The entity ids a call names itself (not through a device, area or label): one that is not
# a light of the integration is refused, where Home Assistant would skip it in silence.
ATTR_NAMED_ENTITIES = "named_entities"


def _remember_named_entities(data: dict[str, Any]) -> dict[str, Any]:
    named = data.get(ATTR_ENTITY_ID)
    return {**data, ATTR_NAMED_ENTITIES: named if isinstance(named, list) else []}


def _light_service_schema(fields: dict[Any, Any]) -> Any:
    return vol.All(cv.make_entity_service_schema(fields), _remember_named_entities)


APPLY_STATE_SCHEMA = _light_service_schema(
    {
        vol.Required(ATTR_STATE): vol.In(["on", "off"]),
        vol.Exclusive(ATTR_BRIGHTNESS, "brightness"): vol.All(
            vol.Coerce(int), vol.Range(min=0, max=255)
        ),
        vol.Exclusive(ATTR_BRIGHTNESS_PCT, "brightness"): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=100)
        ),
        vol.Exclusive(ATTR_COLOR_TEMP_KELVIN, "color"): vol.All(
            vol.Coerce(int), vol.Range(min=1000, max=20000)
        ),
        vol.Exclusive(ATTR_XY_COLOR, "color"): _pair("x", "y", UNIT_RANGE, UNIT_RANGE),
        vol.Exclusive(ATTR_HS_COLOR, "color"): _pair(
            "hue", "saturation", vol.Range(min=0, max=360), vol.Range(min=0, max=100)
        ),
        vol.Exclusive(ATTR_RGB_COLOR, "color"): vol.All(
            vol.ExactSequence((cv.byte,) * 3), vol.Coerce(tuple)
        ),
        vol.Optional(ATTR_TRANSITION): vol.All(vol.Coerce(float), vol.Range(min=0, max=300)),
        vol.Optional(ATTR_TIMEOUT, default=DEFAULT_APPLY_TIMEOUT): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=MAX_APPLY_TIMEOUT)
        ),
    }
)


ATTR_NAME = "name"

STORE_SCENE_SCHEMA = _light_service_schema(
    {vol.Required(ATTR_NAME): vol.All(cv.string, vol.Strip, vol.Length(min=1, max=32))}
)


ATTR_PATH = "path"
ATTR_PASSWORD = "password"
ATTR_FORCE = "force"

ENTRY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
BACKUP_SCHEMA = ENTRY_SCHEMA.extend(
    {vol.Optional(ATTR_PASSWORD): vol.All(cv.string, vol.Length(min=1, max=256))}
)
RESTORE_SCHEMA = ENTRY_SCHEMA.extend(
    {
        vol.Optional(ATTR_PATH): cv.string,
        vol.Optional(ATTR_PASSWORD): vol.All(cv.string, vol.Length(min=1, max=256)),
        vol.Optional(ATTR_FORCE, default=False): cv.boolean,
    }
)
OPEN_COORDINATOR_BACKUP_FILE = "open_coordinator_backup.json"

ATTR_NODE_ID = "node_id"
ATTR_PAYLOAD = "payload"
ATTR_WAIT = "wait"
DEFAULT_ACK_TIMEOUT = 10.0
MAX_ACK_TIMEOUT = 300.0

SEND_TO_NODE_SCHEMA = vol.Schema(
    {
        vol.Exclusive(ATTR_DEVICE_ID, "node"): cv.string,
        vol.Exclusive(ATTR_NODE_ID, "node"): cv.string,
        # Any value: one that is not an object gets the translated error, not a schema one.
        vol.Required(ATTR_PAYLOAD): object,
        vol.Optional(ATTR_WAIT, default=False): cv.boolean,
        vol.Optional(ATTR_TIMEOUT, default=DEFAULT_ACK_TIMEOUT): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=MAX_ACK_TIMEOUT)
        ),
    }
)


ATTR_TEXT = "text"
SHOW_TEXT_SCHEMA = vol.Schema(
    # Any text: one the matrix cannot show gets the translated error, not a schema one.
    {vol.Required(ATTR_DEVICE_ID): cv.string, vol.Required(ATTR_TEXT): cv.string}
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    for name, handler, schema, response in (
        ("backup", _async_backup, BACKUP_SCHEMA, SupportsResponse.OPTIONAL),
        ("restore", _async_restore, RESTORE_SCHEMA, SupportsResponse.OPTIONAL),
        ("list_snapshots", _async_list_snapshots, ENTRY_SCHEMA, SupportsResponse.ONLY),
        ("export_network", _async_export_network, ENTRY_SCHEMA, SupportsResponse.OPTIONAL),
        ("pause", _async_pause, ENTRY_SCHEMA, SupportsResponse.OPTIONAL),
        ("resume", _async_resume, ENTRY_SCHEMA, SupportsResponse.OPTIONAL),
        ("send_to_node", _async_send_to_node, SEND_TO_NODE_SCHEMA, SupportsResponse.OPTIONAL),
        ("show_text", _async_show_text, SHOW_TEXT_SCHEMA, SupportsResponse.NONE),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=response
        )
    hass.services.async_register(
        DOMAIN,
        "simulate_fault",
        _async_simulate_fault,
        schema=SIMULATE_FAULT_SCHEMA,
    )
    # Light services: targets by entity, device, area or label, as light.turn_on's. One
    # call for all the targets (batched): every target is checked before any is sent.
    service.async_register_batched_platform_entity_service(
        hass,
        DOMAIN,
        "apply_state",
        entity_domain=LIGHT_DOMAIN,
        func=_async_apply_state,
        schema=APPLY_STATE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    service.async_register_batched_platform_entity_service(
        hass,
        DOMAIN,
        "store_scene",
        entity_domain=LIGHT_DOMAIN,
        func=_async_store_scene,
        schema=STORE_SCENE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _named_lights_only(entities: list[Entity], call: ServiceCall, kind: type[Entity]) -> None:
    """Refuse the call when it names an entity itself that is not a ``kind`` of the
    integration (a sensor, another integration's light), before anything is sent."""
    ours = {entity.entity_id for entity in entities if isinstance(entity, kind)}
    for entity_id in call.data[ATTR_NAMED_ENTITIES]:
        if entity_id not in ours:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=(
                    "not_a_gateway_group" if kind is GatewayGroupLight else "not_a_gateway_light"
                ),
                translation_placeholders={"entity_id": entity_id},
            )


async def _async_store_scene(entities: list[Entity], call: ServiceCall) -> EntityServiceResponse:
    """Store each targeted group's members' current states as a named gateway scene (the
    single lights an area or a device brings along are left out)."""
    _named_lights_only(entities, call, GatewayGroupLight)
    response: EntityServiceResponse = {}
    for group in entities:
        if not isinstance(group, GatewayGroupLight):
            continue
        scene, not_written = await group.async_store_scene(call.data[ATTR_NAME])
        response[group.entity_id] = {
            "group_id": scene.group_id,
            "scene_id": scene.scene_id,
            "members": len(scene.member_states),
            "not_written": list[JsonValueType](not_written),
        }
    return response


def _requested_values(data: dict[str, Any]) -> dict[str, Any]:
    """The neutral values an apply_state call asks for (light.turn_on's fields)."""
    if data[ATTR_STATE] == "off":
        return {Attr.ON: False}
    kwargs = dict(data)
    if (pct := kwargs.pop(ATTR_BRIGHTNESS_PCT, None)) is not None:
        kwargs[ATTR_BRIGHTNESS] = round(pct * 255 / 100)
    if (hs := kwargs.pop(ATTR_HS_COLOR, None)) is not None:
        kwargs[ATTR_XY_COLOR] = color_util.color_hs_to_xy(*hs)
    if (rgb := kwargs.pop(ATTR_RGB_COLOR, None)) is not None:
        kwargs[ATTR_XY_COLOR] = color_util.color_RGB_to_xy(*rgb)
    return light_values(kwargs)


async def _async_apply_state(entities: list[Entity], call: ServiceCall) -> EntityServiceResponse:
    """Set lights and light groups, then wait (up to ``timeout``) until each device shows
    the state, and answer with what really happened."""
    _named_lights_only(entities, call, LightEntity)
    lights = [entity for entity in entities if isinstance(entity, GatewayLight | GatewayGroupLight)]
    values = _requested_values(call.data)
    transition = call.data.get(ATTR_TRANSITION)
    # Every target's values are checked before any is sent: a refusal changes nothing.
    fitted = [(light, light.fit(values)) for light in lights]
    handles = [(light, await light.async_command(fit, transition)) for light, fit in fitted]
    timeout = call.data[ATTR_TIMEOUT]
    outcomes: list[ChangeResult | GroupResult] = await asyncio.gather(
        *(handle.wait(timeout) for _, handle in handles)
    )
    return {
        light.entity_id: _describe_outcome(light.coordinator, outcome)
        for (light, _), outcome in zip(handles, outcomes, strict=True)
    }


def _describe_outcome(
    coordinator: GatewayCoordinator, outcome: ChangeResult | GroupResult
) -> dict[str, Any]:
    if isinstance(outcome, GroupResult):
        members = outcome.members.values()

        def labels(devices: Iterable[DeviceId]) -> list[dict[str, Any]]:
            # Entity id and name first (what a person reads), the address for the record.
            return [coordinator.device_label(device) for device in sorted(devices)]

        return {
            "result": _result_word(outcome.status),
            "attempts": sum(member.attempts for member in members),
            "members": len(outcome.members),
            "repaired": labels(outcome.repaired),
            "failed": labels(outcome.members_with(ChangeStatus.FAILED)),
            "pending": labels(outcome.members_with(ChangeStatus.PENDING)),
        }
    return {"result": _result_word(outcome.status), "attempts": outcome.attempts}


def _result_word(status: ChangeStatus) -> str:
    # A superseded change was replaced by a newer command: for this call it is still open.
    return "pending" if status is ChangeStatus.SUPERSEDED else str(status)


def _coordinator(hass: HomeAssistant, entry_id: str) -> GatewayCoordinator:
    """The running gateway of a config entry, or Home Assistant's translated error."""
    entry: ResilientGatewayConfigEntry = service.async_get_config_entry(hass, DOMAIN, entry_id)
    return entry.runtime_data


def _target_ieee(hass: HomeAssistant, call: ServiceCall) -> str:
    if (ieee := call.data.get(ATTR_IEEE)) is not None:
        return str(ieee).lower()
    if (device_id := call.data.get(ATTR_DEVICE_ID)) is not None:
        device = dr.async_get(hass).async_get(device_id)
        for domain, identifier in device.identifiers if device else ():
            if domain == DOMAIN and ":" in identifier:
                return identifier
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="device_required")


async def _async_simulate_fault(call: ServiceCall) -> None:
    """Inject a fault into a virtual gateway's simulated network."""
    hass = call.hass
    coordinator = _coordinator(hass, call.data[ATTR_CONFIG_ENTRY_ID])
    air = coordinator.air
    if air is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_virtual",
            translation_placeholders={"title": coordinator.entry.title},
        )
    fault: str = call.data[ATTR_FAULT]
    if fault in RADIO_FAULTS:
        getattr(air, fault)()
        if fault == "radio_recovered":
            # As a real stick plugged back in: its port appears, the radio is tried at once.
            coordinator.async_radio_port_appeared("the virtual radio was plugged back in")
        return
    ieee = _target_ieee(hass, call)
    if ieee not in air.ground_truth()["devices"]:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_device",
            translation_placeholders={"device": ieee},
        )
    action: Any = getattr(air, fault)
    action(ieee)


# -- backup, restore, export ---------------------------------------------------------


def _radio_running(coordinator: GatewayCoordinator) -> None:
    if not coordinator.gateway.runs_its_network:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="radio_not_running",
            translation_placeholders={"title": coordinator.entry.title},
        )


async def _async_backup(call: ServiceCall) -> ServiceResponse:
    """Write a snapshot of the gateway now (encrypted with the given or stored password)."""
    coordinator = _coordinator(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    # (No "radio running" check first: a restore under way closes it; this waits for it.)
    info = await coordinator.async_backup(password=call.data.get(ATTR_PASSWORD))
    return info.as_dict() if call.return_response else None


async def _async_list_snapshots(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    snapshots = coordinator.gateway.snapshots
    infos = await snapshots.async_list() if snapshots is not None else []
    return {"snapshots": [info.as_dict() for info in infos]}


def _allowed_path(hass: HomeAssistant, raw: str) -> Path:
    """``raw`` (relative to the config folder) if Home Assistant lets us read it: our own
    folder, or one of the folders allowed in ``allowlist_external_dirs``."""
    try:
        path = Path(hass.config.path(raw)).resolve()
    except ValueError, OSError:  # a NUL byte, a name too long for the file system
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="path_invalid",
            translation_placeholders={"path": raw.replace("\0", "\\0")},
        ) from None
    own = Path(hass.config.path(STORAGE_DIR)).resolve()
    if not (path.is_relative_to(own) or hass.config.is_allowed_path(str(path))):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="path_not_allowed",
            translation_placeholders={"path": raw},
        )
    return path


async def _async_restore(call: ServiceCall) -> ServiceResponse:
    """Restore a snapshot (default: the newest) or an Open Coordinator Backup onto the
    gateway's radio, in two phases; answers with the per-device report."""
    hass = call.hass
    coordinator = _coordinator(hass, call.data[ATTR_CONFIG_ENTRY_ID])
    path = _allowed_path(hass, call.data[ATTR_PATH]) if ATTR_PATH in call.data else None
    if path is not None and not await hass.async_add_executor_job(path.is_file):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="snapshot_not_found",
            translation_placeholders={"path": call.data[ATTR_PATH]},
        )
    try:
        report = await coordinator.async_restore(
            path, password=call.data.get(ATTR_PASSWORD), force=call.data[ATTR_FORCE]
        )
    except (SnapshotError, RadioError) as exc:
        raise _restore_error(exc) from exc
    except OSError as exc:  # unreadable (permissions, an I/O error)
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="snapshot_unreadable",
            translation_placeholders={"error": exc.strerror or str(exc)},
        ) from exc
    return report.as_dict() if call.return_response else None


def _restore_error(exc: SnapshotError | RadioError) -> HomeAssistantError:
    """A refused restore is the user's to fix (the file, the force flag); a failed one
    is the radio's."""
    error: type[HomeAssistantError] = ServiceValidationError
    if isinstance(exc, SnapshotError):
        key = exc.translation_key
    elif isinstance(exc, ForeignNetworkError):
        key = "foreign_network"
    elif isinstance(exc, SnapshotMismatch):
        key = "snapshot_wrong_radio"
    elif isinstance(exc, RestoreInProgress):
        key = "restore_in_progress"
    elif isinstance(exc, GatewayPausedError):
        key = "restore_while_paused"
    else:
        error, key = HomeAssistantError, "restore_failed"
    return error(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"error": str(exc)},
    )


async def _async_export_network(call: ServiceCall) -> ServiceResponse:
    """Write the network identity as Open Coordinator Backup JSON (for ZHA, Zigbee2MQTT,
    zigpy) next to the gateway's other files; answers with its path (never the keys)."""
    hass = call.hass
    coordinator = _coordinator(hass, call.data[ATTR_CONFIG_ENTRY_ID])
    _radio_running(coordinator)
    document = await coordinator.gateway.radio.export_network()
    path = coordinator.storage_path / OPEN_COORDINATOR_BACKUP_FILE
    await hass.async_add_executor_job(write_json_atomic, path, document)
    if not call.return_response:
        return None
    return {"path": str(path), "network_id": coordinator.gateway.radio.network_id()}


# -- pause / resume ------------------------------------------------------------------


def _run_status(coordinator: GatewayCoordinator) -> dict[str, Any]:
    gateway = coordinator.gateway
    return {"current_status": gateway.current_status, "target_status": gateway.target_status}


async def _async_pause(call: ServiceCall) -> ServiceResponse:
    """Release the radio for other software; returns once its port is free."""
    coordinator = _coordinator(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    await coordinator.gateway.pause()
    return _run_status(coordinator) if call.return_response else None


async def _async_resume(call: ServiceCall) -> ServiceResponse:
    """Take the radio back and deliver the commands queued meanwhile."""
    coordinator = _coordinator(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    try:
        await coordinator.gateway.resume()
    except RadioError as exc:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="resume_failed",
            translation_placeholders={"error": str(exc)},
        ) from exc
    return _run_status(coordinator) if call.return_response else None


# -- Wi-Fi nodes ---------------------------------------------------------------------


def _running_coordinators(
    hass: HomeAssistant, entry_ids: Iterable[str]
) -> Iterator[GatewayCoordinator]:
    """The gateways among ``entry_ids`` that are set up (a device's entries may include
    other integrations')."""
    for entry_id in entry_ids:
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is not None and entry.domain == DOMAIN and hasattr(entry, "runtime_data"):
            yield entry.runtime_data


def _node_target(hass: HomeAssistant, call: ServiceCall) -> tuple[GatewayCoordinator, str]:
    """The Wi-Fi node link that knows the node the call names, and the node's ID."""
    wanted = call.data.get(ATTR_NODE_ID)
    entry_ids: Iterable[str] = ()
    if (device_id := call.data.get(ATTR_DEVICE_ID)) is not None:
        device = dr.async_get(hass).async_get(device_id)
        if device is not None:
            wanted = next((i for d, i in device.identifiers if d == DOMAIN), None)
            entry_ids = device.config_entries
    elif wanted is not None:
        entry_ids = [entry.entry_id for entry in hass.config_entries.async_entries(DOMAIN)]
    else:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="node_required")
    for coordinator in _running_coordinators(hass, entry_ids):
        if coordinator.node_status(str(wanted)) is not None:
            return coordinator, str(wanted)
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_node",
        translation_placeholders={"node": str(wanted or device_id)},
    )


async def _async_send_to_node(call: ServiceCall) -> ServiceResponse:
    """Queue a JSON object for a Wi-Fi node (delivered exactly once, in order, across
    outages and restarts); with ``wait``, answer once the node ACKed it or ``timeout``."""
    coordinator, node_id = _node_target(call.hass, call)
    payload = call.data[ATTR_PAYLOAD]
    if not isinstance(payload, dict):
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="payload_not_object"
        )
    link = coordinator.wifi_node_radio
    assert link is not None  # (node_status found the node on it)
    try:
        result = await link.send_to_node(
            node_id, payload, wait=call.data[ATTR_WAIT], ack_timeout=call.data[ATTR_TIMEOUT]
        )
    except UnknownNodeError as exc:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_node",
            translation_placeholders={"node": node_id},
        ) from exc
    except NodeOutboxFullError as exc:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="node_outbox_full",
            translation_placeholders={"node": node_id, "error": str(exc)},
        ) from exc
    except ValueError as exc:  # not JSON, or longer than a line may be
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="payload_invalid",
            translation_placeholders={"error": str(exc)},
        ) from exc
    return result if call.return_response else None


# -- Bluetooth LE devices ------------------------------------------------------------


async def _async_show_text(call: ServiceCall) -> None:
    """Scroll a text across a micro:bit's LED matrix (written with response; the matrix
    cannot be read back, so it is not verified)."""
    hass = call.hass
    device = dr.async_get(hass).async_get(call.data[ATTR_DEVICE_ID])
    address = next((i for d, i in device.identifiers if d == DOMAIN), None) if device else None
    target: GatewayCoordinator | None = None
    for coordinator in _running_coordinators(hass, device.config_entries if device else ()):
        bluetooth = coordinator.bluetooth
        if bluetooth is not None and bluetooth.address == address and bluetooth.shows_text:
            target = coordinator
    if target is None or target.bluetooth is None:
        name = (device.name_by_user or device.name) if device else None
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_led_matrix",
            translation_placeholders={"device": name or str(call.data[ATTR_DEVICE_ID])},
        )
    text = call.data[ATTR_TEXT]
    if problem := target.bluetooth.text_problem(text):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=problem,
            translation_placeholders={"text": text, "max": str(MAX_TEXT_BYTES)},
        )
    await target.bluetooth.async_show_text(target.gateway, text)
