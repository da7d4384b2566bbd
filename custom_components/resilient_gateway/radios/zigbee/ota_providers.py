"""zigpy's OTA providers (IKEA, Ledvance, Sonoff, …) as the options choose them: zigpy's
``ota`` configuration, and an image source that lists their images for the firmware
updater beside the local folder.

None by default: no network access is assumed. zigpy's own periodic OTA broadcasts stay
off either way (the updater tells the devices it updates itself, within the budget).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Final

import zigpy.config
from zigpy.ota.providers import BaseOtaImageMetadata, BaseOtaProvider

from ...core.firmware import FirmwareImage
from .ota import parse_ota_file

_LOGGER = logging.getLogger(__name__)

OTA_PROVIDER_KINDS: Final = (
    "ikea",
    "inovelli",
    "ledvance",
    "salus",
    "sonoff",
    "thirdreality",
    "zigpy_ota",
)
"""The provider types of zigpy's ``ota`` schema that need no further settings (a URL,
a folder)."""

FETCH_TIMEOUT: Final = 60.0
"""Seconds a provider's index may take to load."""


def ota_config(providers: Collection[str]) -> dict[str, Any]:
    """zigpy's ``ota`` section: exactly ``providers`` (none: zigpy's OTA off)."""
    return {
        zigpy.config.CONF_OTA_ENABLED: bool(providers),
        zigpy.config.CONF_OTA_BROADCAST_ENABLED: False,
        zigpy.config.CONF_OTA_PROVIDERS: [
            {zigpy.config.CONF_OTA_PROVIDER_TYPE: kind} for kind in providers
        ],
    }


def build_providers(providers: Collection[str]) -> list[BaseOtaProvider]:
    """zigpy's provider objects, built by zigpy's own schema from the same section."""
    section = zigpy.config.SCHEMA_OTA(ota_config(providers))
    return list(section[zigpy.config.CONF_OTA_PROVIDERS])


class ZigpyProviderImages:
    """The images zigpy's providers list (an ``ImageSource``). Each provider's index is
    loaded when zigpy's own expiry allows (once a day); a provider that fails keeps the
    images it listed before. Only images whose index gives manufacturer code, image type
    and size are offered (what fits which device is decided by them); the file is fetched
    (and checked by zigpy against the index's size and checksum) when an update starts."""

    def __init__(self, providers: Iterable[BaseOtaProvider]) -> None:
        self._providers = list(providers)
        self._images: dict[BaseOtaProvider, list[FirmwareImage]] = {}

    async def images(self) -> list[FirmwareImage]:
        for provider in self._providers:
            try:
                async with asyncio.timeout(FETCH_TIMEOUT):
                    index = await provider.load_index()
            except Exception as exc:  # (any network or format failure: keep the old list)
                _LOGGER.warning("The OTA provider %s could not be read: %r", provider.NAME, exc)
                continue
            if index is not None:
                self._images[provider] = [
                    image for meta in index if (image := _image(provider, meta)) is not None
                ]
        return [image for images in self._images.values() for image in images]


def _image(provider: BaseOtaProvider, meta: BaseOtaImageMetadata) -> FirmwareImage | None:
    if meta.manufacturer_id is None or meta.image_type is None or not meta.file_size:
        return None
    return FirmwareImage(
        key=(
            f"zigpy:{provider.NAME}:{meta.manufacturer_id:04x}:{meta.image_type:04x}"
            f":{meta.file_version:08x}"
        ),
        source=f"zigpy:{provider.NAME}",
        manufacturer_code=meta.manufacturer_id,
        image_type=meta.image_type,
        version=meta.file_version,
        size=meta.file_size,
        load=_loader(meta),
        release_notes=meta.release_notes or meta.changelog,
        min_hardware=meta.min_hardware_version,
        max_hardware=meta.max_hardware_version,
    )


def _loader(meta: BaseOtaImageMetadata) -> Callable[[], Awaitable[bytes]]:
    async def load() -> bytes:
        image = await meta.fetch()  # (zigpy checks the size and checksum)
        data: bytes = image.serialize()  # type: ignore[no-untyped-call]
        return parse_ota_file(data).data

    return load
