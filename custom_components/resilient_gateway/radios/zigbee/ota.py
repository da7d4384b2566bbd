"""Firmware updates over Zigbee: the coordinator's side of the ZCL OTA cluster (0x0019).

The devices' OTA client clusters are watched; while the firmware updater holds a device,
zigpy's own OTA handling stays silent for it (``ota_in_progress``: zigpy otherwise answers
every query with "no image" and every block request with "abort") and its requests go to
the updater, whose answers (built with zigpy's command definitions) go out here. OTA
files are parsed with zigpy's own image parser (standard, IKEA, Legrand, Telink, …).
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from typing import Any, Final, Protocol

from zigpy.application import ControllerApplication
from zigpy.device import Device
from zigpy.ota.image import OTAImage, parse_ota_image
from zigpy.zcl import Cluster, foundation
from zigpy.zcl.clusters.general import Groups, Ota, Scenes

from ...core.firmware import (
    BlockRequest,
    FirmwareListener,
    FirmwareTarget,
    ImageQuery,
    ParsedImage,
    ServedImage,
    UpgradeEnd,
)
from ...core.model import DeviceId
from ...core.radio import DeliveryError, RadioError


class _RadioParts(Protocol):
    """What of a ZigbeeRadio its firmware side uses (the radio builds it: no import back)."""

    @property
    def app(self) -> ControllerApplication: ...

    def _link_up(self) -> ControllerApplication: ...

    def _device(self, device_id: DeviceId) -> Device: ...

    async def _translate_errors[T](self, call: Awaitable[T]) -> T: ...


MAX_BLOCK_SIZE: Final = 64
"""Image bytes per Image Block Response: 17 bytes of ZCL around them fit one frame."""

_QUERY = Ota.ServerCommandDefs.query_next_image.id
_BLOCK = Ota.ServerCommandDefs.image_block.id
_UPGRADE_END = Ota.ServerCommandDefs.upgrade_end.id
_Status: Any = foundation.Status


def parse_ota_file(data: bytes) -> ParsedImage:
    """An OTA file's header and the image to serve; ValueError when it is none."""
    image, _rest = parse_ota_image(data)
    header = getattr(image, "header", None)
    if header is None:
        raise ValueError("no Zigbee OTA header")
    served: bytes = image.serialize()  # type: ignore[no-untyped-call]
    hardware = isinstance(image, OTAImage) and bool(header.hardware_versions_present)
    return ParsedImage(
        manufacturer_code=int(header.manufacturer_id),
        image_type=int(header.image_type),
        version=int(header.file_version),
        data=served,
        min_hardware=int(header.minimum_hardware_version) if hardware else None,
        max_hardware=int(header.maximum_hardware_version) if hardware else None,
    )


class ZigbeeFirmware:
    """The FirmwareRadio of a ZigbeeRadio (it outlives the radio's apps: restarts)."""

    max_block_size = MAX_BLOCK_SIZE

    def __init__(self, radio: _RadioParts) -> None:
        self._radio = radio
        self._listener: FirmwareListener | None = None
        self._held: set[DeviceId] = set()

    def set_firmware_listener(self, listener: FirmwareListener | None) -> None:
        self._listener = listener

    # -- watching ------------------------------------------------------------------

    def watch(self, device: Device, device_id: DeviceId) -> list[Any]:
        """Listen to a device's OTA client; the unsubscribers (called by the radio)."""
        cluster = ota_client(device)
        if cluster is None:
            return []
        watcher = _OtaWatcher(self, device_id, cluster)
        cluster.add_listener(watcher)
        device.add_listener(watcher)
        if device_id in self._held:
            device.ota_in_progress = True
        return [
            lambda: cluster.remove_listener(watcher),
            lambda: device.remove_listener(watcher),
        ]

    def hold(self, device_id: DeviceId, held: bool) -> None:
        if held:
            self._held.add(device_id)
        else:
            self._held.discard(device_id)
        try:
            device = self._radio._device(device_id)
        except RadioError:
            return  # (applied by ``watch`` when the radio runs again)
        device.ota_in_progress = held

    def _request(self, device_id: DeviceId, command_id: int, tsn: int, args: Any) -> None:
        listener = self._listener
        if listener is None or device_id not in self._held:
            return
        if command_id == _QUERY:
            listener.image_queried(
                device_id,
                ImageQuery(
                    tsn=tsn,
                    manufacturer_code=int(args.manufacturer_code),
                    image_type=int(args.image_type),
                    version=int(args.current_file_version),
                ),
            )
        elif command_id == _BLOCK:
            listener.block_requested(
                device_id,
                BlockRequest(
                    tsn=tsn,
                    manufacturer_code=int(args.manufacturer_code),
                    image_type=int(args.image_type),
                    version=int(args.file_version),
                    offset=int(args.file_offset),
                    max_size=int(args.maximum_data_size),
                ),
            )
        elif command_id == _UPGRADE_END:
            status = _Status(args.status)
            listener.upgrade_ended(
                device_id,
                UpgradeEnd(
                    tsn=tsn,
                    ok=status == foundation.Status.SUCCESS,
                    status=status.name.lower(),
                    manufacturer_code=int(args.manufacturer_code),
                    image_type=int(args.image_type),
                    version=int(args.file_version),
                ),
            )

    def _heard(self, device_id: DeviceId) -> None:
        if self._listener is not None and device_id in self._held:
            self._listener.device_heard(device_id)

    # -- what the updater asks -------------------------------------------------------

    def _cluster(self, device_id: DeviceId) -> Cluster:
        self._radio._link_up()
        cluster = ota_client(self._radio._device(device_id))
        if cluster is None:
            raise DeliveryError(f"{device_id} has no OTA client")
        return cluster

    def has_client(self, device_id: DeviceId) -> bool:
        try:
            return ota_client(self._radio._device(device_id)) is not None
        except RadioError:
            return False

    def firmware_target(self, device_id: DeviceId) -> FirmwareTarget | None:
        try:
            device = self._radio._device(device_id)
        except RadioError:
            return None
        cluster = ota_client(device)
        if cluster is None:
            return None
        query = cluster.last_query_cmd if isinstance(cluster, Ota) else None
        image_type = cluster.get("image_type_id")
        if image_type is None and query is not None:
            image_type = query.image_type
        version = cluster.get("current_file_version")
        if version is None and query is not None:
            version = query.current_file_version
        manufacturer = cluster.get("manufacturer_id") or device.manufacturer_id
        if manufacturer is None or image_type is None:
            return None
        return FirmwareTarget(
            manufacturer_code=int(manufacturer),
            image_type=int(image_type),
            version=None if version is None else int(version),
        )

    async def read_firmware_target(self, device_id: DeviceId) -> FirmwareTarget | None:
        """Read the ids and version the device's OTA client keeps (cached for later)."""
        cluster = self._cluster(device_id)
        await self._radio._translate_errors(
            cluster.read_attributes(
                ["current_file_version", "manufacturer_id", "image_type_id"], allow_cache=False
            )
        )
        return self.firmware_target(device_id)

    async def read_firmware_version(self, device_id: DeviceId) -> int:
        cluster = self._cluster(device_id)
        success, _ = await self._radio._translate_errors(
            cluster.read_attributes(["current_file_version"], allow_cache=False)
        )
        version = success.get("current_file_version")
        if version is None:
            raise RadioError(f"{device_id} did not tell its firmware version")
        return int(version)

    async def notify_image(self, device_id: DeviceId) -> None:
        cluster = self._cluster(device_id)
        await self._radio._translate_errors(
            cluster.image_notify(
                payload_type=Ota.ImageNotifyCommand.PayloadType.QueryJitter, query_jitter=100
            )
        )

    async def answer_query(
        self, device_id: DeviceId, query: ImageQuery, image: ServedImage | None
    ) -> None:
        cluster = self._cluster(device_id)
        if image is None:
            call = cluster.query_next_image_response(
                foundation.Status.NO_IMAGE_AVAILABLE, tsn=query.tsn
            )
        else:
            call = cluster.query_next_image_response(
                status=foundation.Status.SUCCESS,
                manufacturer_code=image.manufacturer_code,
                image_type=image.image_type,
                file_version=image.version,
                image_size=image.size,
                tsn=query.tsn,
            )
        await self._radio._translate_errors(call)

    async def answer_block(
        self, device_id: DeviceId, request: BlockRequest, image: ServedImage, data: bytes
    ) -> None:
        cluster = self._cluster(device_id)
        await self._radio._translate_errors(
            cluster.image_block_response(
                status=foundation.Status.SUCCESS,
                manufacturer_code=image.manufacturer_code,
                image_type=image.image_type,
                file_version=image.version,
                file_offset=request.offset,
                image_data=data,
                tsn=request.tsn,
            )
        )

    async def abort_block(self, device_id: DeviceId, request: BlockRequest) -> None:
        cluster = self._cluster(device_id)
        await self._radio._translate_errors(
            cluster.image_block_response(status=foundation.Status.ABORT, tsn=request.tsn)
        )

    async def answer_upgrade_end(
        self, device_id: DeviceId, end: UpgradeEnd, image: ServedImage
    ) -> None:
        cluster = self._cluster(device_id)
        await self._radio._translate_errors(
            cluster.upgrade_end_response(
                manufacturer_code=image.manufacturer_code,
                image_type=image.image_type,
                file_version=image.version,
                current_time=0,
                upgrade_time=0,  # (both zero: now)
                tsn=end.tsn,
            )
        )

    def groups_restored(self, device_id: DeviceId, groups: Collection[int]) -> None:
        try:
            device = self._radio._device(device_id)
        except RadioError:
            return
        app = self._radio.app
        for endpoint_id, endpoint in device.endpoints.items():
            if endpoint_id == 0 or Groups.cluster_id not in endpoint.in_clusters:
                continue
            for group_id in groups:
                group = app.groups.get(group_id)
                if group is not None and endpoint.unique_id not in group.members:
                    group.add_member(endpoint)
            return

    async def held_tables(
        self, device_id: DeviceId, groups: Collection[int]
    ) -> tuple[set[int], set[tuple[int, int]]]:
        self._radio._link_up()
        device = self._radio._device(device_id)
        clusters = {
            cluster.cluster_id: cluster
            for endpoint_id, endpoint in device.endpoints.items()
            if endpoint_id != 0
            for cluster in endpoint.in_clusters.values()
        }
        held_groups: set[int] = set()
        held_scenes: set[tuple[int, int]] = set()
        if (group_cluster := clusters.get(Groups.cluster_id)) is not None:
            response = await self._radio._translate_errors(group_cluster.get_membership(groups=[]))
            held_groups = {int(group) for group in getattr(response, "groups", ())}
        if (scene_cluster := clusters.get(Scenes.cluster_id)) is not None:
            for group_id in groups:
                if group_id not in held_groups:
                    continue  # (a device keeps no scenes of a group it is not in)
                response = await self._radio._translate_errors(
                    scene_cluster.get_scene_membership(group_id=group_id)
                )
                if getattr(response, "status", None) == foundation.Status.SUCCESS:
                    held_scenes |= {
                        (group_id, int(scene)) for scene in getattr(response, "scenes", ()) or ()
                    }
        return held_groups, held_scenes


def ota_client(device: Device) -> Cluster | None:
    """The device's OTA client cluster (an output cluster of an application endpoint)."""
    for endpoint_id, endpoint in device.endpoints.items():
        if endpoint_id == 0:
            continue
        cluster = endpoint.out_clusters.get(Ota.cluster_id)
        if cluster is not None:
            return cluster  # type: ignore[no-any-return]
    return None


class _OtaWatcher:
    """Listens to one device's OTA client cluster (and hears the device)."""

    def __init__(self, firmware: ZigbeeFirmware, device_id: DeviceId, cluster: Cluster) -> None:
        self._firmware = firmware
        self._device_id = device_id
        self._cluster = cluster

    def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
        if command_id == _QUERY and hasattr(args, "current_file_version"):
            # What the device runs, as it says itself (zigpy keeps it only when it
            # answers the query, which it does not while the device is held).
            self._cluster.update_attribute(
                Ota.AttributeDefs.current_file_version.id, int(args.current_file_version)
            )
        self._firmware._request(self._device_id, command_id, tsn, args)

    def device_last_seen_updated(self, *_: Any) -> None:
        self._firmware._heard(self._device_id)
