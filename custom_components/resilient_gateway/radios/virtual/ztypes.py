"""Typed entry points to zigpy's type constructors, which mypy sees as untyped.

Each helper converts a plain value to the zigpy type a frame or structure expects.
"""

from __future__ import annotations

from typing import Any, Final, cast

import zigpy.types as t
import zigpy.zdo.types as zdo_t

_t: Any = t
_zdo: Any = zdo_t

UNKNOWN_EUI64: Final = cast(t.EUI64, _t.EUI64.UNKNOWN)
ZERO_EUI64: Final = cast(t.EUI64, _t.EUI64([0] * 8))


def nwk(value: int) -> t.NWK:
    return cast(t.NWK, _t.NWK(value))


def uint8(value: int) -> t.uint8_t:
    return cast(t.uint8_t, _t.uint8_t(value))


def uint16(value: int) -> t.uint16_t:
    return cast(t.uint16_t, _t.uint16_t(value))


def int8s(value: int) -> t.int8s:
    return cast(t.int8s, _t.int8s(value))


def group(value: int) -> t.Group:
    return cast(t.Group, _t.Group(value))


def channels(channel_list: list[int]) -> t.Channels:
    return cast(t.Channels, _t.Channels.from_channel_list(channel_list))


def nwk_address(value: int) -> t.AddrModeAddress:
    return t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=nwk(value))


def zdo_command(value: int) -> zdo_t.ZDOCmd:
    return cast(zdo_t.ZDOCmd, _zdo.ZDOCmd(value))


def node_descriptor(**fields: Any) -> zdo_t.NodeDescriptor:
    return cast(zdo_t.NodeDescriptor, _zdo.NodeDescriptor(**fields))


def packet(
    *,
    src: t.AddrModeAddress,
    src_ep: int,
    dst: t.AddrModeAddress,
    dst_ep: int | None,
    tsn: int,
    profile_id: int,
    cluster_id: int,
    data: bytes,
    lqi: int | None = None,
    rssi: int | None = None,
) -> t.ZigbeePacket:
    """A received frame as a radio library hands it to zigpy."""
    return t.ZigbeePacket(
        src=src,
        src_ep=uint8(src_ep),
        dst=dst,
        dst_ep=uint8(dst_ep) if dst_ep is not None else None,
        tsn=uint8(tsn),
        profile_id=uint16(profile_id),
        cluster_id=uint16(cluster_id),
        data=t.SerializableBytes(data),
        lqi=uint8(lqi) if lqi is not None else None,
        rssi=int8s(rssi) if rssi is not None else None,
    )


def deserialize(data: bytes, types: list[Any]) -> tuple[list[Any], bytes]:
    result, rest = _t.deserialize(data, types)
    return cast(list[Any], result), cast(bytes, rest)


def pan_id(value: int) -> t.PanId:
    return cast(t.PanId, _t.PanId(value))


def extended_pan_id(value: Any) -> t.ExtendedPanId:
    return cast(t.ExtendedPanId, _t.ExtendedPanId(value))


def limited_string(max_length: int) -> type[str]:
    return cast(type[str], _t.LimitedCharString(max_length))


def zdo_schema(command: zdo_t.ZDOCmd) -> list[Any]:
    """The parameter types of a ZDO command."""
    return cast(list[Any], zdo_t.CLUSTERS[command][1])
