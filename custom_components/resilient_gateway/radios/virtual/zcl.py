"""ZCL on a simulated node: requests parsed with zigpy's header and schemas, answers built
from foundation types with the request's TSN and the direction flipped.

Global commands (read, write, reporting, discovery) are handled here; cluster commands go
to ``clusters``. Only unicasts are answered; a Default Response follows every command
without a specific response unless the request disabled it (errors are always answered).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import zigpy.types as t
from zigpy.zcl import foundation

from . import clusters
from .delivery import DeliveryMode
from .outcome import Outcome, fail
from .zcl_values import attribute_def, is_writable, to_stored, type_value

if TYPE_CHECKING:
    from .device import SimDevice, SimEndpoint

Status = foundation.Status
General = foundation.GeneralCommand
_General: Any = foundation.GeneralCommand  # its constructor is untyped
_ReportingDirection: Any = foundation.ReportingDirection
BROADCAST_ENDPOINT = 0xFF
_MANUFACTURER_SPECIFIC = 0b100  # (the frame control's bit)


def _schema(command: foundation.GeneralCommand) -> type[foundation.CommandSchema]:
    schema: type[foundation.CommandSchema] = foundation.GENERAL_COMMANDS[command].schema
    return schema


def handle(device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode) -> list[t.ZigbeePacket]:
    """Handle a ZCL frame on the endpoints it is for; the replies to send back."""
    try:
        hdr, payload = _parse_header(packet.data.serialize())
    except ValueError, KeyError:
        return []
    replies = []
    for endpoint in _target_endpoints(device, packet, mode):
        frames = handle_frame(endpoint, packet.cluster_id, hdr, payload)
        if mode is not DeliveryMode.UNICAST:
            continue
        for data in frames:
            replies.append(
                device.packet(
                    src_ep=endpoint.endpoint_id,
                    dst_ep=packet.src_ep,
                    cluster_id=packet.cluster_id,
                    data=data,
                    profile_id=packet.profile_id,
                    tsn=hdr.tsn,
                )
            )
    return replies


def _parse_header(data: bytes) -> tuple[foundation.ZCLHeader, bytes]:
    """A ZCL frame's header (ValueError: too short) and its payload."""
    size = 5 if data and data[0] & _MANUFACTURER_SPECIFIC else 3
    return _parsed_header(data[:size]), data[size:]


@functools.lru_cache(maxsize=4096)
def _parsed_header(data: bytes) -> foundation.ZCLHeader:
    # Parsed once per distinct header (zigpy's header types are slow to make: every frame
    # a node hears has one); the headers handed out are only read, never changed.
    hdr: foundation.ZCLHeader
    hdr, _ = foundation.ZCLHeader.deserialize(data)
    return hdr


def _target_endpoints(
    device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode
) -> list[SimEndpoint]:
    if mode is DeliveryMode.GROUPCAST:
        assert packet.dst is not None
        return [ep for ep in device.endpoints.values() if packet.dst.address in ep.groups]
    if mode is DeliveryMode.BROADCAST and packet.dst_ep in (None, BROADCAST_ENDPOINT):
        return list(device.endpoints.values())
    endpoint = device.endpoints.get(packet.dst_ep) if packet.dst_ep is not None else None
    return [endpoint] if endpoint is not None else []


def handle_frame(
    endpoint: SimEndpoint, cluster_id: int, hdr: foundation.ZCLHeader, payload: bytes
) -> list[bytes]:
    """Handle one ZCL frame on one endpoint; the ZCL frames it answers with."""
    to_server = hdr.direction == foundation.Direction.Client_to_Server
    supported = endpoint.in_clusters if to_server else endpoint.out_clusters
    general = hdr.frame_control.is_general
    if hdr.frame_control.frame_type not in (
        foundation.FrameType.GLOBAL_COMMAND,
        foundation.FrameType.CLUSTER_COMMAND,
    ):
        return []
    if general and hdr.command_id == General.Default_Response:
        return []  # never answer an answer
    outcome: Outcome | None
    if cluster_id not in supported:
        outcome = fail(Status.UNSUPPORTED_CLUSTER)
    elif hdr.frame_control.is_manufacturer_specific:
        outcome = fail(
            Status.UNSUP_MANUF_GENERAL_COMMAND if general else Status.UNSUP_MANUF_CLUSTER_COMMAND
        )
    elif general:
        outcome = _general(endpoint, cluster_id, hdr, payload)
    else:
        outcome = clusters.command(endpoint, cluster_id, hdr, payload)
    return _answer(hdr, outcome)


def _answer(hdr: foundation.ZCLHeader, outcome: Outcome | None) -> list[bytes]:
    if outcome is None:
        return []
    if outcome.response is not None:
        command_id, cluster_specific, payload = outcome.response
        return [response_header(hdr, command_id, cluster_specific=cluster_specific) + payload]
    if outcome.status != Status.SUCCESS or not hdr.frame_control.disable_default_response:
        return [default_response(hdr, outcome.status)]
    return []


def response_header(hdr: foundation.ZCLHeader, command_id: int, *, cluster_specific: bool) -> bytes:
    return _header(command_id, hdr.tsn, cluster_specific, hdr.direction.flip())


def default_response(hdr: foundation.ZCLHeader, status: foundation.Status) -> bytes:
    body = foundation.DefaultResponse(command_id=hdr.command_id, status=status)
    return response_header(hdr, General.Default_Response, cluster_specific=False) + body.serialize()


def _global_response(command: foundation.GeneralCommand, payload: bytes) -> Outcome:
    return Outcome(response=(command, False, payload))


def _general(
    endpoint: SimEndpoint, cluster_id: int, hdr: foundation.ZCLHeader, payload: bytes
) -> Outcome | None:
    command = hdr.command_id
    try:
        if command == General.Read_Attributes:
            return _read_attributes(endpoint, cluster_id, payload)
        if command in (
            General.Write_Attributes,
            General.Write_Attributes_Undivided,
            General.Write_Attributes_No_Response,
        ):
            return _write_attributes(endpoint, cluster_id, payload, command)
        if command == General.Configure_Reporting:
            return _configure_reporting(endpoint, cluster_id, payload)
        if command == General.Read_Reporting_Configuration:
            return _read_reporting_configuration(endpoint, cluster_id, payload)
        if command == General.Discover_Attributes:
            return _discover_attributes(endpoint, cluster_id, payload)
    except ValueError, KeyError, IndexError:
        return fail(Status.MALFORMED_COMMAND)
    return fail(Status.UNSUP_GENERAL_COMMAND)


def _read_attributes(endpoint: SimEndpoint, cluster_id: int, payload: bytes) -> Outcome:
    request: Any
    request, _ = _schema(General.Read_Attributes).deserialize(payload)
    stored = endpoint.attributes.get(cluster_id, {})
    records = []
    for attr_id in request.attribute_ids:
        attr = attribute_def(cluster_id, attr_id)
        if attr is None or attr_id not in stored:
            records.append(
                foundation.ReadAttributeRecord(attrid=attr_id, status=Status.UNSUPPORTED_ATTRIBUTE)
            )
        else:
            records.append(
                foundation.ReadAttributeRecord(
                    attrid=attr_id, status=Status.SUCCESS, value=type_value(attr, stored[attr_id])
                )
            )
    response = foundation.ReadAttributesResponse(status_records=records)
    return _global_response(General.Read_Attributes_rsp, response.serialize())


def _write_attributes(
    endpoint: SimEndpoint, cluster_id: int, payload: bytes, command: int
) -> Outcome | None:
    request: Any
    request, _ = foundation.GENERAL_COMMANDS[_General(command)].schema.deserialize(payload)
    stored = endpoint.attributes.get(cluster_id, {})
    checked: list[tuple[int, Status, object]] = []
    for record in request.attributes:
        attr = attribute_def(cluster_id, record.attrid)
        value: object = None
        if attr is None or record.attrid not in stored:
            status = Status.UNSUPPORTED_ATTRIBUTE
        elif not is_writable(attr):
            status = Status.READ_ONLY
        elif record.value.type != attr.zcl_type:
            status = Status.INVALID_DATA_TYPE
        else:
            value = to_stored(attr, record.value.value)
            status = clusters.validate_write(endpoint, cluster_id, attr.name, value)
        checked.append((record.attrid, status, value))
    undivided = command == General.Write_Attributes_Undivided
    if not (undivided and any(status != Status.SUCCESS for _, status, _ in checked)):
        for attr_id, status, value in checked:
            if status == Status.SUCCESS:
                endpoint.device.set_attribute(endpoint.endpoint_id, cluster_id, attr_id, value)
                clusters.after_write(endpoint, cluster_id, attr_id)
    if command == General.Write_Attributes_No_Response:
        return None
    response = foundation.WriteAttributesResponseSchema(
        status_records=foundation.WriteAttributesResponse(
            foundation.WriteAttributesStatusRecord(status=status, attrid=attr_id)
            for attr_id, status, _ in checked
        )
    )
    return _global_response(General.Write_Attributes_rsp, response.serialize())


def _configure_reporting(endpoint: SimEndpoint, cluster_id: int, payload: bytes) -> Outcome:
    request: Any
    request, _ = _schema(General.Configure_Reporting).deserialize(payload)
    stored = endpoint.attributes.get(cluster_id, {})
    records = []
    for config in request.config_records:
        status = Status.SUCCESS
        if config.direction == foundation.ReportingDirection.SendReports:
            attr = attribute_def(cluster_id, config.attrid)
            if attr is None or config.attrid not in stored:
                status = Status.UNSUPPORTED_ATTRIBUTE
            elif config.datatype != attr.zcl_type:
                status = Status.INVALID_DATA_TYPE
            elif 0 < config.max_interval < config.min_interval:
                status = Status.INVALID_VALUE
            else:
                endpoint.device.configure_reporting(
                    endpoint.endpoint_id,
                    cluster_id,
                    config.attrid,
                    min_interval=config.min_interval,
                    max_interval=config.max_interval,
                    change=float(getattr(config, "reportable_change", 0) or 0),
                )
        records.append(
            foundation.ConfigureReportingResponseRecord(
                status=status, direction=config.direction, attrid=config.attrid
            )
        )
    schema = _schema(General.Configure_Reporting_rsp)
    response = schema(status_records=foundation.ConfigureReportingResponse(records))
    return _global_response(General.Configure_Reporting_rsp, response.serialize())


def _read_reporting_configuration(
    endpoint: SimEndpoint, cluster_id: int, payload: bytes
) -> Outcome:
    request: Any
    request, _ = _schema(General.Read_Reporting_Configuration).deserialize(payload)
    reporter = endpoint.device.reporter
    results = []
    for record in request.attribute_records:
        out = foundation.AttributeReportingConfig()
        out.direction = _ReportingDirection(record.direction)
        out.attrid = record.attrid
        attr = attribute_def(cluster_id, record.attrid)
        config = reporter.configs.get((endpoint.endpoint_id, cluster_id, record.attrid))
        if attr is None or record.attrid not in endpoint.attributes.get(cluster_id, {}):
            status = Status.UNSUPPORTED_ATTRIBUTE
        elif config is None or out.direction != foundation.ReportingDirection.SendReports:
            status = Status.NOT_FOUND
        else:
            status = Status.SUCCESS
            out.datatype = attr.zcl_type
            out.min_interval = config.min_interval
            out.max_interval = config.max_interval
            out.reportable_change = int(config.change)
        results.append(foundation.AttributeReportingConfigWithStatus(status=status, config=out))
    response = _schema(General.Read_Reporting_Configuration_rsp)(attribute_configs=results)
    return _global_response(General.Read_Reporting_Configuration_rsp, response.serialize())


def _discover_attributes(endpoint: SimEndpoint, cluster_id: int, payload: bytes) -> Outcome:
    request: Any
    request, _ = _schema(General.Discover_Attributes).deserialize(payload)
    start = request.start_attribute_id
    ids = sorted(a for a in endpoint.attributes.get(cluster_id, {}) if a >= start)
    chosen = ids[: request.max_attribute_ids]
    info = []
    for attr_id in chosen:
        attr = attribute_def(cluster_id, attr_id)
        if attr is not None:
            info.append(
                foundation.DiscoverAttributesResponseRecord(attrid=attr_id, datatype=attr.zcl_type)
            )
    response = _schema(General.Discover_Attributes_rsp)(
        discovery_complete=len(chosen) == len(ids), attribute_info=info
    )
    return _global_response(General.Discover_Attributes_rsp, response.serialize())


def report_attributes_frame(
    endpoint: SimEndpoint, cluster_id: int, attr_ids: list[int], tsn: int
) -> bytes | None:
    """A Report Attributes frame (server to client) with the current values."""
    reports = []
    for attr_id in attr_ids:
        attr = attribute_def(cluster_id, attr_id)
        value = endpoint.value(cluster_id, attr_id)
        if attr is not None and value is not None:
            reports.append(foundation.Attribute(attrid=attr_id, value=type_value(attr, value)))
    if not reports:
        return None
    return (
        _unsolicited_header(General.Report_Attributes, tsn, cluster_specific=False)
        + _schema(General.Report_Attributes)(attribute_reports=reports).serialize()
    )


def _unsolicited_header(
    command_id: int,
    tsn: int,
    *,
    cluster_specific: bool,
    direction: foundation.Direction = foundation.Direction.Server_to_Client,
) -> bytes:
    return _header(command_id, tsn, cluster_specific, direction)


def _header(
    command_id: int, tsn: int, cluster_specific: bool, direction: foundation.Direction
) -> bytes:
    """A ZCL header without manufacturer code, default response disabled."""
    # The header is frame control, TSN, command id: the TSN's byte goes into a template.
    template = _header_template(command_id, cluster_specific, direction)
    return template[:1] + bytes((tsn,)) + template[2:]


@functools.cache
def _header_template(
    command_id: int, cluster_specific: bool, direction: foundation.Direction
) -> bytes:
    """The header with TSN 0, built once per kind (zigpy's header types are slow to make:
    every frame a node sends has one)."""
    frame_control = foundation.FrameControl(
        frame_type=(
            foundation.FrameType.CLUSTER_COMMAND
            if cluster_specific
            else foundation.FrameType.GLOBAL_COMMAND
        ),
        is_manufacturer_specific=0,
        direction=direction,
        disable_default_response=1,
        reserved=0,
    )
    data: bytes = foundation.ZCLHeader(
        frame_control=frame_control, tsn=0, command_id=command_id
    ).serialize()
    return data


def client_command_frame(command_id: int, tsn: int, payload: bytes) -> bytes:
    """A cluster command from a client cluster to the coordinator's server (the OTA
    client's requests); its answer is a specific response, so no Default Response."""
    direction = foundation.Direction.Client_to_Server
    return (
        _unsolicited_header(command_id, tsn, cluster_specific=True, direction=direction) + payload
    )


def cluster_command_frame(command_id: int, tsn: int, payload: bytes) -> bytes:
    """An unsolicited cluster command from a server cluster (e.g. an IAS notification)."""
    return _unsolicited_header(command_id, tsn, cluster_specific=True) + payload
