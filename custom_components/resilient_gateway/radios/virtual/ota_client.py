"""The OTA upgrade client of a simulated node (ZCL OTA cluster 0x0019, client side).

It behaves as real Zigbee OTA clients do, so zigpy on the coordinator's side sees real
frames: an Image Notify (or its own schedule) makes it send Query Next Image; a
``SUCCESS`` answer starts (or resumes, when it already holds part of the same image) a
download of Image Block Requests, one block at a time, each re-requested after
``BLOCK_TIMEOUT`` without an answer, the download set aside (its offset kept, so a later
query resumes it) after ``BLOCK_ATTEMPTS`` unanswered requests; ``WAIT_FOR_DATA`` makes it
wait, ``ABORT`` drops the download. With the whole image it checks the header (magic,
manufacturer code, image type, version, size): a wrong image is refused with Upgrade End
``INVALID_IMAGE``, a good one announced with Upgrade End ``SUCCESS``; the Upgrade End
Response's times say when to reboot into the new version (``REBOOT_TIME`` of silence).
Some firmware updates wipe the scene table (``KindProfile.update_wipes_scenes``), as the
seed's bulbs did.

A sleepy node polls fast (``FAST_POLL``) while it downloads, as real end devices do, so
the coordinator's answers, kept by its parent, reach it at its polls.

What the node holds of a download persists with the node (``device.extras["ota"]``): the
image's identity, the offset, the first bytes (the header) and a CRC of the rest.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Final

from zigpy.ota.image import OTAImageHeader
from zigpy.zcl import foundation
from zigpy.zcl.clusters import general

from . import zcl
from .kinds import MANUFACTURER_CODE, PROFILES
from .timers import Timer

if TYPE_CHECKING:
    from .device import SimDevice

Status = foundation.Status
Ota = general.Ota
UpgradeStatus = general.Ota.ImageUpgradeStatus
_FIELD_CONTROL_NONE: Final = 0  # (no optional fields)

MAX_DATA_SIZE: Final = 64
"""Bytes of image asked for per Image Block Request (what fits one frame)."""

BLOCK_TIMEOUT: Final = 5.0
"""Seconds without an answer before a block is asked for again."""

BLOCK_ATTEMPTS: Final = 4
"""Unanswered requests of one block before the download is set aside (resumable)."""

QUERY_TIMEOUT: Final = 5.0
QUERY_ATTEMPTS: Final = 3
END_ATTEMPTS: Final = 3
NOTIFY_JITTER: Final = 0.1
"""Seconds between an Image Notify and the query it prompts."""

REBOOT_TIME: Final = 5.0
"""Seconds a node is silent while it boots into a new image."""

FAST_POLL: Final = 10.0
"""Seconds a sleepy node stays awake (polling fast) after each download step."""

HEAD_BYTES: Final = 256
"""Bytes of the image the node keeps verbatim: enough for any OTA header."""


class OtaClient:
    """One node's OTA client. Timers run on the node's host; nothing happens while the
    node is unpowered or detached."""

    def __init__(self, device: SimDevice) -> None:
        self._device = device
        self._timer: Timer | None = None
        self._attempts = 0
        self._waiting: str | None = None  # "query", "block", "end"
        self._end_status: Status = Status.SUCCESS

    # -- persisted download state ---------------------------------------------------

    @property
    def download(self) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._device.extras.get("ota")
        return found

    def _set_download(self, download: dict[str, Any] | None) -> None:
        if download is None:
            self._device.extras.pop("ota", None)
        else:
            self._device.extras["ota"] = download
        self._device.changed()

    @property
    def image_type(self) -> int:
        return PROFILES[self._device.kind].image_type

    @property
    def version(self) -> int:
        return int(self._device.endpoint.get(Ota, "current_file_version", 0))

    def identify(self) -> None:
        """Keep the manufacturer code and image type in the client's attributes (what a
        server reads to know which images fit)."""
        attributes = self._device.endpoint.attributes.setdefault(Ota.cluster_id, {})
        attributes.setdefault(Ota.AttributeDefs.manufacturer_id.id, MANUFACTURER_CODE)
        attributes.setdefault(Ota.AttributeDefs.image_type_id.id, self.image_type)

    # -- what the coordinator sends -------------------------------------------------

    def image_notify(self) -> None:
        """The server has something: ask (once the jitter passed)."""
        if self._waiting is None:
            self._start_query(NOTIFY_JITTER)

    def query_response(self, args: Any) -> None:
        if self._waiting != "query":
            return
        self._cancel_timer()
        self._waiting = None
        if args.status != Status.SUCCESS:
            return
        wanted = {
            "manufacturer_code": int(args.manufacturer_code),
            "image_type": int(args.image_type),
            "file_version": int(args.file_version),
            "image_size": int(args.image_size),
        }
        download = self.download
        if download is None or any(download.get(k) != v for k, v in wanted.items()):
            download = {**wanted, "offset": 0, "head": "", "crc": 0}
            self._set_download(download)
        self._set_status(UpgradeStatus.Download_in_progress)
        self._request_block()

    def block_response(self, args: Any) -> None:
        download = self.download
        if self._waiting != "block" or download is None:
            return
        if args.status == Status.ABORT:
            self._cancel_timer()
            self._waiting = None
            self._set_download(None)
            self._set_status(UpgradeStatus.Normal)
            return
        if args.status == Status.WAIT_FOR_DATA:
            self._cancel_timer()
            delay = max(
                float(int(args.request_time) - int(args.current_time)),
                int(args.minimum_block_period) / 1000,
                0.0,
            )
            self._attempts = 0
            self._later(delay, self._send_block_request)
            return
        if args.status != Status.SUCCESS or int(args.file_offset) != download["offset"]:
            return  # an old or stray answer: the timer asks again
        self._cancel_timer()
        data = bytes(args.image_data)
        if not data:
            return
        head = bytes.fromhex(download["head"])
        if len(head) < HEAD_BYTES:
            head += data[: HEAD_BYTES - len(head)]
        download = {
            **download,
            "offset": download["offset"] + len(data),
            "head": head.hex(),
            "crc": zlib.crc32(data, download["crc"]),
        }
        self._set_download(download)
        self._device.endpoint.set(Ota, "file_offset", download["offset"])
        if download["offset"] >= download["image_size"]:
            self._finish_download(download)
        else:
            self._request_block()

    def upgrade_end_response(self, args: Any) -> None:
        if self._waiting != "end":
            return
        self._cancel_timer()
        self._waiting = None
        delay = max(0, int(args.upgrade_time) - int(args.current_time))
        self._later(float(delay), self._reboot)

    # -- what the node sends --------------------------------------------------------

    def _start_query(self, delay: float) -> None:
        self._waiting = "query"
        self._attempts = 0
        self._later(delay, self._send_query)

    def _send_query(self) -> None:
        if self._attempts >= QUERY_ATTEMPTS:
            self._waiting = None
            return
        self._attempts += 1
        self._send(
            Ota.ServerCommandDefs.query_next_image,
            field_control=_FIELD_CONTROL_NONE,
            manufacturer_code=MANUFACTURER_CODE,
            image_type=self.image_type,
            current_file_version=self.version,
        )
        self._later(QUERY_TIMEOUT, self._send_query)

    def _request_block(self) -> None:
        self._waiting = "block"
        self._attempts = 0
        self._send_block_request()

    def _send_block_request(self) -> None:
        download = self.download
        if download is None:
            self._waiting = None
            return
        if self._attempts >= BLOCK_ATTEMPTS:
            # Set aside, offset kept: the next query (an Image Notify) resumes it.
            self._waiting = None
            self._set_status(UpgradeStatus.Normal)
            return
        self._attempts += 1
        self._stay_awake()
        self._send(
            Ota.ServerCommandDefs.image_block,
            field_control=_FIELD_CONTROL_NONE,
            manufacturer_code=download["manufacturer_code"],
            image_type=download["image_type"],
            file_version=download["file_version"],
            file_offset=download["offset"],
            maximum_data_size=MAX_DATA_SIZE,
        )
        self._later(BLOCK_TIMEOUT, self._send_block_request)

    def _finish_download(self, download: dict[str, Any]) -> None:
        self._end_status = Status.SUCCESS if self._fits(download) else Status.INVALID_IMAGE
        if self._end_status == Status.SUCCESS:
            self._set_status(UpgradeStatus.Download_complete)
        else:
            self._set_download(None)
            self._set_status(UpgradeStatus.Normal)
        self._waiting = "end"
        self._attempts = 0
        self._send_upgrade_end(download)

    def _send_upgrade_end(self, download: dict[str, Any]) -> None:
        if self._attempts >= END_ATTEMPTS:
            # No answer: a good image is applied anyway, as most clients do.
            self._waiting = None
            if self._end_status == Status.SUCCESS:
                self._reboot()
            return
        self._attempts += 1
        self._stay_awake()
        self._send(
            Ota.ServerCommandDefs.upgrade_end,
            status=self._end_status,
            manufacturer_code=download["manufacturer_code"],
            image_type=download["image_type"],
            file_version=download["file_version"],
        )
        if self._end_status == Status.SUCCESS:
            self._later(QUERY_TIMEOUT, self._send_upgrade_end, download)
        else:
            self._waiting = None

    def _fits(self, download: dict[str, Any]) -> bool:
        """The image's own header names this node's kind and the version offered."""
        try:
            header, _ = OTAImageHeader.deserialize(bytes.fromhex(download["head"]))
        except ValueError, KeyError:
            return False
        return (
            int(header.manufacturer_id) == MANUFACTURER_CODE
            and int(header.image_type) == self.image_type
            and int(header.file_version) == download["file_version"]
            and int(header.image_size) == download["image_size"]
        )

    def _reboot(self) -> None:
        """Silent for ``REBOOT_TIME``, then up on the new image (and announce)."""
        download = self.download
        device = self._device
        if download is None or device.host is None:
            return
        device.power_off()
        self._later(REBOOT_TIME, self._booted, download)

    def _booted(self, download: dict[str, Any]) -> None:
        device = self._device
        version = int(download["file_version"])
        endpoint = device.endpoint
        endpoint.set(Ota, "current_file_version", version)
        endpoint.set(Ota, "file_offset", 0)
        endpoint.set(general.Basic, "sw_build_id", version_string(version))
        if device.profile.update_wipes_scenes:
            wipe_scenes(device)
        self._set_download(None)
        self._set_status(UpgradeStatus.Normal)
        device.power_on()
        self._start_query(NOTIFY_JITTER)  # (as clients do after booting a new image)

    # -- plumbing ---------------------------------------------------------------------

    def _send(self, command: foundation.ZCLCommandDef, **fields: Any) -> None:
        device = self._device
        payload = command.schema(**fields).serialize()
        data = zcl.client_command_frame(command.id, device.next_tsn(), payload)
        device.send(
            device.packet(
                src_ep=device.endpoint.endpoint_id,
                dst_ep=1,
                cluster_id=Ota.cluster_id,
                data=data,
            )
        )

    def _set_status(self, status: int) -> None:
        self._device.endpoint.set(Ota, "image_upgrade_status", int(status))

    def _stay_awake(self) -> None:
        device = self._device
        if device.host is not None and not device.rx_on_when_idle:
            device.awake_until = max(device.awake_until, device.host.now() + FAST_POLL)

    def _later(self, delay: float, callback: Any, *args: Any) -> None:
        self._cancel_timer()
        host = self._device.host
        if host is None:
            return

        def fire() -> None:
            self._timer = None
            if self._device.reachable or callback == self._booted:
                callback(*args)
            else:
                self._waiting = None  # unpowered: it forgets what it waited for

        self._timer = host.call_later(delay, fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def stop(self) -> None:
        """Power lost or detached: what was under way is forgotten (not the download)."""
        self._cancel_timer()
        self._waiting = None


def version_string(version: int) -> str:
    """A file version as the Basic cluster's software build id ("1.2.0.0")."""
    return ".".join(str((version >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def wipe_scenes(device: SimDevice) -> None:
    """The scene table emptied (a firmware update or reset that forgets it)."""
    for endpoint in device.endpoints.values():
        endpoint.scenes.clear()
        if endpoint.has(general.Scenes):
            endpoint.set(general.Scenes, "count", 0)
            endpoint.set(general.Scenes, "scene_valid", False)
    device.changed()
