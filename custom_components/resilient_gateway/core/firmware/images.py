"""Firmware images and where they come from: a local folder of OTA files, indexed
automatically, and the radio library's providers. What fits a device is decided by the
image header's manufacturer code, image type and version (and hardware range)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .contract import FirmwareTarget, ServedImage

_LOGGER = logging.getLogger(__name__)

RELEASE_NOTES_SUFFIX = ".md"
"""A file beside an image, of the same name plus this, holds its release notes."""


@dataclass(frozen=True, slots=True)
class ParsedImage:
    """What a parsed OTA file says of itself, and the bytes to serve."""

    manufacturer_code: int
    image_type: int
    version: int
    data: bytes
    min_hardware: int | None = None
    max_hardware: int | None = None


type ImageParser = Callable[[bytes], ParsedImage]
"""Parses a whole OTA file; raises ValueError when it is not one."""


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    """One image a source offers."""

    key: str  # unique within the catalog ("local:<file name>", "zigpy:<…>")
    source: str
    manufacturer_code: int
    image_type: int
    version: int
    size: int
    load: Callable[[], Awaitable[bytes]] = field(repr=False, compare=False)
    release_notes: str | None = None
    min_hardware: int | None = None
    max_hardware: int | None = None

    @property
    def served(self) -> ServedImage:
        return ServedImage(self.manufacturer_code, self.image_type, self.version, self.size)

    def fits(self, target: FirmwareTarget) -> bool:
        """The header names the device's manufacturer code and image type (and its
        hardware version lies in the image's range)."""
        if (self.manufacturer_code, self.image_type) != (
            target.manufacturer_code,
            target.image_type,
        ):
            return False
        hardware = target.hardware_version
        if hardware is None:
            return True
        low = self.min_hardware if self.min_hardware is not None else 0
        high = self.max_hardware if self.max_hardware is not None else 0xFFFF
        return low <= hardware <= high


class ImageSource(Protocol):
    async def images(self) -> list[FirmwareImage]: ...


class FirmwareCatalog:
    """Every image the sources offer, newest first per device."""

    def __init__(self, images: Iterable[FirmwareImage] = ()) -> None:
        self._images = {image.key: image for image in images}

    def replace(self, images: Iterable[FirmwareImage]) -> None:
        self._images = {image.key: image for image in images}

    def get(self, key: str) -> FirmwareImage | None:
        return self._images.get(key)

    def for_target(self, target: FirmwareTarget) -> list[FirmwareImage]:
        """Images that fit the device, newest version first."""
        fitting = [image for image in self._images.values() if image.fits(target)]
        return sorted(fitting, key=lambda image: (-image.version, image.key))

    def newest(self, target: FirmwareTarget) -> FirmwareImage | None:
        fitting = self.for_target(target)
        return fitting[0] if fitting else None

    def __len__(self) -> int:
        return len(self._images)


class FirmwareFolder:
    """A folder of OTA files (``<config>/resilient_gateway/firmware/``), read off the
    event loop. A file whose header does not parse is left out with one log line (once
    per file and content size, not at every scan)."""

    def __init__(self, folder: Path, parse: ImageParser) -> None:
        self.folder = folder
        self._parse = parse
        self._reported: set[tuple[str, int]] = set()

    async def images(self) -> list[FirmwareImage]:
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, self._scan)
        images = []
        for path, size, parsed, notes, problem in found:
            if parsed is None:
                mark = (path.name, size)
                if mark not in self._reported:
                    self._reported.add(mark)
                    _LOGGER.warning("Firmware file %s is ignored: %s", path, problem)
                continue
            images.append(
                FirmwareImage(
                    key=f"local:{path.name}",
                    source="local",
                    manufacturer_code=parsed.manufacturer_code,
                    image_type=parsed.image_type,
                    version=parsed.version,
                    size=len(parsed.data),
                    load=_loader(path, self._parse),
                    release_notes=notes,
                    min_hardware=parsed.min_hardware,
                    max_hardware=parsed.max_hardware,
                )
            )
        return images

    def _scan(self) -> list[tuple[Path, int, ParsedImage | None, str | None, str | None]]:
        """Per file: its path, size, what it parsed to (or the problem), release notes."""
        if not self.folder.is_dir():
            return []
        found: list[tuple[Path, int, ParsedImage | None, str | None, str | None]] = []
        for path in sorted(self.folder.iterdir()):
            if not path.is_file() or path.is_symlink() or path.suffix == RELEASE_NOTES_SUFFIX:
                continue
            if path.name.startswith("."):
                continue
            size = -1
            try:
                data = path.read_bytes()
                size = len(data)
                parsed: ParsedImage | None = self._parse(data)
                problem = None
            except (ValueError, KeyError, IndexError, OSError) as exc:
                parsed, problem = None, f"not a Zigbee OTA file ({exc})"
            found.append((path, size, parsed, _release_notes(path), problem))
        return found


def _release_notes(image: Path) -> str | None:
    """The Markdown beside an image (None when there is none or it is not text)."""
    try:
        return image.with_name(image.name + RELEASE_NOTES_SUFFIX).read_text(encoding="utf-8")
    except OSError, ValueError:
        return None


def _loader(path: Path, parse: ImageParser) -> Callable[[], Awaitable[bytes]]:
    async def load() -> bytes:
        def read() -> bytes:
            return parse(path.read_bytes()).data

        return await asyncio.get_running_loop().run_in_executor(None, read)

    return load
