"""The firmware folder and catalog: standard OTA files indexed by their headers, a file
that does not parse left out with one log line, release notes beside an image, and what
fits which device."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from custom_components.resilient_gateway.core.firmware import (
    FirmwareCatalog,
    FirmwareFolder,
    FirmwareImage,
    FirmwareTarget,
)
from custom_components.resilient_gateway.core.virtual_time import run_virtual
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file
from custom_components.resilient_gateway.radios.virtual.kinds import (
    MANUFACTURER_CODE,
    PROFILES,
    SimKind,
)
from custom_components.resilient_gateway.radios.zigbee.ota import parse_ota_file

LIGHT = FirmwareTarget(MANUFACTURER_CODE, PROFILES[SimKind.COLOR_LIGHT].image_type, 0x01000000)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "firmware"
    folder.mkdir()
    (folder / "light-1.2.ota").write_bytes(ota_file(SimKind.COLOR_LIGHT, 0x01020000))
    (folder / "light-1.3.ota").write_bytes(ota_file(SimKind.COLOR_LIGHT, 0x01030000))
    (folder / "light-1.3.ota.md").write_text("Brighter blues", encoding="utf-8")
    (folder / "plug-2.0.ota").write_bytes(ota_file(SimKind.SMART_PLUG, 0x02000000))
    (folder / "readme.txt").write_text("not firmware", encoding="utf-8")
    (folder / "truncated.ota").write_bytes(ota_file(SimKind.COLOR_LIGHT, 0x01040000)[:100])
    return folder


def test_the_folder_is_indexed_by_header_and_bad_files_are_ignored_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = FirmwareFolder(_folder(tmp_path), parse_ota_file)

    async def scan() -> FirmwareCatalog:
        catalog = FirmwareCatalog(await folder.images())
        catalog.replace(await folder.images())  # a second scan logs nothing new
        return catalog

    with caplog.at_level(logging.WARNING):
        catalog = run_virtual(scan())
    assert len(catalog) == 3
    ignored = [r.getMessage() for r in caplog.records]
    assert len(ignored) == 2  # readme.txt and truncated.ota, once each
    assert all("is ignored" in message for message in ignored)
    newest = catalog.newest(LIGHT)
    assert newest is not None
    assert (newest.key, newest.version, newest.release_notes) == (
        "local:light-1.3.ota",
        0x01030000,
        "Brighter blues",
    )
    assert [image.version for image in catalog.for_target(LIGHT)] == [0x01030000, 0x01020000]
    plug = catalog.get("local:plug-2.0.ota")
    assert plug is not None and not plug.fits(LIGHT)
    assert run_virtual(newest.load()) == ota_file(SimKind.COLOR_LIGHT, 0x01030000)


def test_a_missing_folder_offers_nothing(tmp_path: Path) -> None:
    images = run_virtual(FirmwareFolder(tmp_path / "absent", parse_ota_file).images())
    assert images == []


def test_an_image_outside_the_hardware_range_does_not_fit() -> None:
    assert FirmwareCatalog().newest(LIGHT) is None

    async def load() -> bytes:
        return b""

    limited = FirmwareImage(
        key="x",
        source="test",
        manufacturer_code=LIGHT.manufacturer_code,
        image_type=LIGHT.image_type,
        version=2,
        size=1,
        load=load,
        min_hardware=2,
        max_hardware=3,
    )
    assert limited.fits(LIGHT)  # hardware unknown: the header's ids decide
    assert limited.fits(replace(LIGHT, hardware_version=3))
    assert not limited.fits(replace(LIGHT, hardware_version=1))
