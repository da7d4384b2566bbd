"""What a radio offers for firmware updates, in neutral terms: the frames of an OTA
upgrade client (image query, block request, upgrade end) coming in, the server's answers
going out, and the few questions the verification afterwards asks.

Zigbee's OTA cluster is the model (``radios/zigbee/ota.py``); other radio kinds map their
own transfer onto the same steps.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from ..model import DeviceId


@dataclass(frozen=True, slots=True)
class FirmwareTarget:
    """Which images fit a device: its manufacturer code, image type and current version
    (None until the device told it)."""

    manufacturer_code: int
    image_type: int
    version: int | None = None
    hardware_version: int | None = None


@dataclass(frozen=True, slots=True)
class ImageQuery:
    """The device asks whether there is a newer image (Query Next Image)."""

    tsn: int
    manufacturer_code: int
    image_type: int
    version: int


@dataclass(frozen=True, slots=True)
class BlockRequest:
    """The device asks for ``max_size`` bytes of the image at ``offset`` (Image Block
    Request): everything before ``offset`` it holds, so the offset is its progress."""

    tsn: int
    manufacturer_code: int
    image_type: int
    version: int
    offset: int
    max_size: int


@dataclass(frozen=True, slots=True)
class UpgradeEnd:
    """The device has the whole image (``ok``) or refuses it (``status`` says why:
    ``invalid_image``, ``abort``, …)."""

    tsn: int
    ok: bool
    status: str
    manufacturer_code: int
    image_type: int
    version: int


@dataclass(frozen=True, slots=True)
class ServedImage:
    """The image a transfer serves, as the device sees it in the answers."""

    manufacturer_code: int
    image_type: int
    version: int
    size: int


class FirmwareListener(Protocol):
    """What the radio tells the firmware updater (only for devices it holds)."""

    def image_queried(self, device_id: DeviceId, query: ImageQuery) -> None: ...

    def block_requested(self, device_id: DeviceId, request: BlockRequest) -> None: ...

    def upgrade_ended(self, device_id: DeviceId, end: UpgradeEnd) -> None: ...

    def device_heard(self, device_id: DeviceId) -> None:
        """Any frame from a held device (a sleeper is awake now)."""


class FirmwareRadio(Protocol):
    """A radio that can update its devices' firmware."""

    max_block_size: int
    """Bytes of image one answer carries at most (what fits a frame)."""

    def set_firmware_listener(self, listener: FirmwareListener | None) -> None: ...

    def has_client(self, device_id: DeviceId) -> bool:
        """Whether the device has a firmware upgrade client."""

    def firmware_target(self, device_id: DeviceId) -> FirmwareTarget | None:
        """The device's firmware identity as last learnt; None when it has no upgrade
        client or has not told it yet."""

    def hold(self, device_id: DeviceId, held: bool) -> None:
        """While held, the device's upgrade frames go to the listener, and the radio
        library answers none of them itself."""

    async def read_firmware_target(self, device_id: DeviceId) -> FirmwareTarget | None:
        """Read the device's firmware identity and version from it."""

    async def read_firmware_version(self, device_id: DeviceId) -> int:
        """The version the device runs, read from it."""

    async def notify_image(self, device_id: DeviceId) -> None:
        """Tell the device an image waits (it answers with an image query)."""

    async def answer_query(
        self, device_id: DeviceId, query: ImageQuery, image: ServedImage | None
    ) -> None:
        """Offer ``image``, or say there is none."""

    async def answer_block(
        self, device_id: DeviceId, request: BlockRequest, image: ServedImage, data: bytes
    ) -> None:
        """Send ``data``, the image's bytes at ``request.offset``."""

    async def abort_block(self, device_id: DeviceId, request: BlockRequest) -> None:
        """Tell the device to drop its download."""

    async def answer_upgrade_end(
        self, device_id: DeviceId, end: UpgradeEnd, image: ServedImage
    ) -> None:
        """Tell the device to run the new image now."""

    def groups_restored(self, device_id: DeviceId, groups: Collection[int]) -> None:
        """The device is in ``groups`` again (the radio's own group model learns it)."""

    async def held_tables(
        self, device_id: DeviceId, groups: Collection[int]
    ) -> tuple[set[int], set[tuple[int, int]]]:
        """The groups the device is in, and its scene entries in ``groups``."""
