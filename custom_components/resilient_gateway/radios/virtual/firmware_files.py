"""Zigbee OTA upgrade files for the simulated devices (the demo's sample image, tests and
benchmarks): standard files (ZCL 11.4: header, one upgrade-image sub-element) built with
zigpy's own OTA image types, so they parse as any vendor's file does."""

from __future__ import annotations

import hashlib
from typing import Any

from zigpy.ota.image import ElementTagId, OTAImage, OTAImageHeader, SubElement

from .kinds import MANUFACTURER_CODE, PROFILES, SimKind

_HEADER_LENGTH = 56  # no optional header fields
_SUB_ELEMENT_HEADER = 6  # tag id and length
_OTA: Any = OTAImage  # zigpy's structs are untyped to mypy
_HEADER: Any = OTAImageHeader
_ELEMENT: Any = SubElement


def ota_file(
    kind: SimKind,
    version: int,
    *,
    size: int = 4096,
    header_string: str = "Resilient Sim firmware",
    manufacturer_code: int = MANUFACTURER_CODE,
    image_type: int | None = None,
) -> bytes:
    """A whole OTA file of ``size`` bytes for ``kind`` at ``version`` (the payload is
    reproducible filler)."""
    payload_size = size - _HEADER_LENGTH - _SUB_ELEMENT_HEADER
    if payload_size < 0:
        raise ValueError(f"an OTA file has at least {size - payload_size} bytes")
    seed = f"{kind}:{version}".encode()
    payload = bytearray()
    while len(payload) < payload_size:
        seed = hashlib.sha256(seed).digest()
        payload += seed
    header = _HEADER(
        upgrade_file_id=OTAImageHeader.MAGIC_VALUE,
        header_version=0x0100,
        header_length=_HEADER_LENGTH,
        field_control=0,
        manufacturer_id=manufacturer_code,
        image_type=PROFILES[kind].image_type if image_type is None else image_type,
        file_version=version,
        stack_version=2,
        header_string=header_string,
        image_size=size,
    )
    element = _ELEMENT(tag_id=ElementTagId.UPGRADE_IMAGE, data=bytes(payload[:payload_size]))
    data: bytes = _OTA(header=header, subelements=[element]).serialize()
    return data
