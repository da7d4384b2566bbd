"""ZDO on a simulated node: descriptors for zigpy's interview, addresses, binding, leave.

Requests are parsed with zigpy's ZDO schemas and answered (unicasts only, plus address
requests by broadcast) with the request's TSN on cluster ``request | 0x8000``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t

from . import ztypes
from .delivery import DeliveryMode

if TYPE_CHECKING:
    from .device import SimDevice

ZDO_ENDPOINT = 0
ZDO_PROFILE = 0x0000
Status = zdo_t.Status
Cmd = zdo_t.ZDOCmd

type Answer = tuple[zdo_t.ZDOCmd, bytes] | None
type ZdoHandler = Callable[["SimDevice", list[Any], DeliveryMode], Answer]

BINDING_CAPACITY = 32
BINDINGS_PER_PAGE = 3


def _encode(command: zdo_t.ZDOCmd, *values: Any) -> bytes:
    types = ztypes.zdo_schema(command)
    return b"".join(kind(value).serialize() for kind, value in zip(types, values, strict=False))


def handle(device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode) -> list[t.ZigbeePacket]:
    """Answer a ZDO request; the frames to send back."""
    command_id = packet.cluster_id
    if command_id & 0x8000 or command_id not in zdo_t.CLUSTERS:
        return []
    command = ztypes.zdo_command(command_id)
    data = packet.data.serialize()
    try:
        hdr, rest = zdo_t.ZDOHeader.deserialize(command_id, data)
        args, _ = ztypes.deserialize(rest, ztypes.zdo_schema(command))
    except ValueError, KeyError, IndexError:
        return []
    handler = _HANDLERS.get(command)
    if handler is None:
        if mode is not DeliveryMode.UNICAST:
            return []
        answer: Answer = (ztypes.zdo_command(command_id | 0x8000), Status.NOT_SUPPORTED.serialize())
    else:
        answer = handler(device, args, mode)
    if answer is None:
        return []
    response, payload = answer
    return [
        device.packet(
            src_ep=ZDO_ENDPOINT,
            dst_ep=ZDO_ENDPOINT,
            cluster_id=response,
            data=bytes([hdr.tsn]) + payload,
            profile_id=ZDO_PROFILE,
            tsn=hdr.tsn,
        )
    ]


def device_announce(device: SimDevice) -> t.ZigbeePacket:
    """Device_annce, broadcast when a node (re)joins or powers up."""
    return device.packet(
        src_ep=ZDO_ENDPOINT,
        dst_ep=ZDO_ENDPOINT,
        cluster_id=Cmd.Device_annce,
        data=bytes([device.next_tsn()])
        + _encode(Cmd.Device_annce, device.nwk, device.ieee, int(device.mac_capabilities())),
        profile_id=ZDO_PROFILE,
        dst=t.AddrModeAddress(
            addr_mode=t.AddrMode.Broadcast, address=t.BroadcastAddress.RX_ON_WHEN_IDLE
        ),
    )


def _unicast_only(handler: ZdoHandler) -> ZdoHandler:
    def wrapped(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
        return handler(device, args, mode) if mode is DeliveryMode.UNICAST else None

    return wrapped


def _nwk_addr(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    if args[0] != device.ieee:
        return None
    return Cmd.NWK_addr_rsp, _encode(Cmd.NWK_addr_rsp, Status.SUCCESS, device.ieee, device.nwk)


def _ieee_addr(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    if args[0] != device.nwk:
        return None
    return Cmd.IEEE_addr_rsp, _encode(Cmd.IEEE_addr_rsp, Status.SUCCESS, device.ieee, device.nwk)


def _node_desc(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    return Cmd.Node_Desc_rsp, _encode(
        Cmd.Node_Desc_rsp, Status.SUCCESS, device.nwk, device.node_descriptor()
    )


def _power_desc(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    battery = device.profile.battery
    source = zdo_t.PowerSources.DisposableBattery if battery else zdo_t.PowerSources.MainsPower
    descriptor = zdo_t.PowerDescriptor(
        current_power_mode=(
            zdo_t.CurrentPowerMode.RxOnPeriodically
            if not device.rx_on_when_idle
            else zdo_t.CurrentPowerMode.RxOnSyncedWithNodeDesc
        ),
        available_power_sources=source,
        current_power_source=source,
        current_power_source_level=zdo_t.PowerSourceLevel.Percent100,
    )
    return Cmd.Power_Desc_rsp, _encode(Cmd.Power_Desc_rsp, Status.SUCCESS, device.nwk, descriptor)


def _active_ep(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    return Cmd.Active_EP_rsp, _encode(
        Cmd.Active_EP_rsp, Status.SUCCESS, device.nwk, sorted(device.endpoints)
    )


def _simple_desc(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    endpoint = device.endpoints.get(int(args[1]))
    if endpoint is None:
        # A zero length says "no descriptor" (SizePrefixedSimpleDescriptor).
        no_descriptor = Status.NOT_ACTIVE.serialize() + ztypes.nwk(device.nwk).serialize() + b"\x00"
        return Cmd.Simple_Desc_rsp, no_descriptor
    return Cmd.Simple_Desc_rsp, _encode(
        Cmd.Simple_Desc_rsp, Status.SUCCESS, device.nwk, endpoint.simple_descriptor()
    )


def _match_desc(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    _, profile, in_clusters, out_clusters = args
    matches = [
        endpoint_id
        for endpoint_id, endpoint in sorted(device.endpoints.items())
        if endpoint.profile_id == profile
        and (
            set(in_clusters) & set(endpoint.in_clusters)
            or set(out_clusters) & set(endpoint.out_clusters)
        )
    ]
    if not matches and mode is not DeliveryMode.UNICAST:
        return None
    return Cmd.Match_Desc_rsp, _encode(Cmd.Match_Desc_rsp, Status.SUCCESS, device.nwk, matches)


def _binding_entry(args: list[Any]) -> dict[str, Any]:
    _, src_ep, cluster_id, dst = args
    entry: dict[str, Any] = {"src_ep": int(src_ep), "cluster": int(cluster_id)}
    if dst.addrmode == 0x03:
        entry["dst"] = {"addrmode": 3, "ieee": str(dst.ieee), "endpoint": int(dst.endpoint)}
    else:
        entry["dst"] = {"addrmode": 1, "group": int(dst.nwk)}
    return entry


def _bind(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    entry = _binding_entry(args)
    if args[0] != device.ieee or entry["src_ep"] not in device.endpoints:
        status = Status.INVALID_EP
    elif entry in device.bindings:
        status = Status.SUCCESS
    elif len(device.bindings) >= BINDING_CAPACITY:
        status = Status.TABLE_FULL
    else:
        device.bindings.append(entry)
        device.changed()
        status = Status.SUCCESS
    return Cmd.Bind_rsp, _encode(Cmd.Bind_rsp, status)


def _unbind(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    entry = _binding_entry(args)
    if entry in device.bindings:
        device.bindings.remove(entry)
        device.changed()
        status = Status.SUCCESS
    else:
        status = Status.NO_ENTRY
    return Cmd.Unbind_rsp, _encode(Cmd.Unbind_rsp, status)


def _binding_record(device: SimDevice, entry: dict[str, Any]) -> zdo_t.Binding:
    dst = entry["dst"]
    if dst["addrmode"] == 3:
        address = zdo_t.MultiAddress(
            addrmode=3, ieee=t.EUI64.convert(dst["ieee"]), endpoint=dst["endpoint"]
        )
    else:
        address = zdo_t.MultiAddress(addrmode=1, nwk=dst["group"])
    return zdo_t.Binding(
        SrcAddress=device.ieee,
        SrcEndpoint=entry["src_ep"],
        ClusterId=entry["cluster"],
        DstAddress=address,
    )


def _mgmt_bind(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    start = int(args[0])
    page = device.bindings[start : start + BINDINGS_PER_PAGE]
    return Cmd.Mgmt_Bind_rsp, _encode(
        Cmd.Mgmt_Bind_rsp,
        Status.SUCCESS,
        len(device.bindings),
        start,
        [_binding_record(device, entry) for entry in page],
    )


def _mgmt_leave(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    target, options = args
    if target not in (device.ieee, ztypes.UNKNOWN_EUI64, ztypes.ZERO_EUI64):
        return Cmd.Mgmt_Leave_rsp, _encode(Cmd.Mgmt_Leave_rsp, Status.NOT_SUPPORTED)
    rejoin = bool(int(options) & 0x80)
    if device.host is not None:
        # Leave after the response is on its way, as a node does.
        device.host.call_later(0, lambda: device.leave(rejoin=rejoin))
    return Cmd.Mgmt_Leave_rsp, _encode(Cmd.Mgmt_Leave_rsp, Status.SUCCESS)


def _mgmt_permit(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    return Cmd.Mgmt_Permit_Joining_rsp, _encode(Cmd.Mgmt_Permit_Joining_rsp, Status.SUCCESS)


def _ignore(device: SimDevice, args: list[Any], mode: DeliveryMode) -> Answer:
    return None


_HANDLERS: dict[zdo_t.ZDOCmd, ZdoHandler] = {
    Cmd.NWK_addr_req: _nwk_addr,
    Cmd.IEEE_addr_req: _ieee_addr,
    Cmd.Node_Desc_req: _unicast_only(_node_desc),
    Cmd.Power_Desc_req: _unicast_only(_power_desc),
    Cmd.Active_EP_req: _unicast_only(_active_ep),
    Cmd.Simple_Desc_req: _unicast_only(_simple_desc),
    Cmd.Match_Desc_req: _match_desc,
    Cmd.Bind_req: _unicast_only(_bind),
    Cmd.Unbind_req: _unicast_only(_unbind),
    Cmd.Mgmt_Bind_req: _unicast_only(_mgmt_bind),
    Cmd.Mgmt_Leave_req: _unicast_only(_mgmt_leave),
    Cmd.Mgmt_Permit_Joining_req: _unicast_only(_mgmt_permit),
    Cmd.Mgmt_NWK_Update_req: _ignore,  # channel changes are handled by the air
    Cmd.Device_annce: _ignore,
}
