"""The radio contract: what every radio kind (Zigbee, the simulated radio, and the
Bluetooth LE and Wi-Fi node links to come) offers the gateway, and what it tells back.

Devices and attributes are described in ``model.py``; this file is the interface a new
radio kind implements.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from .model import Attr, AttributeValues, DeviceDescription, DeviceId, GroupDescription


class LinkState(StrEnum):
    """Whether the link to the radio (the stick, the device, the node server) is up."""

    UP = "up"
    DOWN = "down"


class RadioError(Exception):
    """A radio could not do what was asked."""


class DeliveryError(RadioError):
    """The radio reported that a frame could not be sent (queue full, no route, no ack)."""


class NoResponseError(RadioError):
    """A device did not answer in time."""


class UnsupportedValue(ValueError):
    """A value the radio cannot send (a mode its protocol has no code for): refused
    before anything is queued. ``translation_key`` and ``translation_placeholders`` word
    it for users."""

    translation_key = "unsupported_value"

    def __init__(self, attribute: str, value: Any, reason: str) -> None:
        super().__init__(f"{attribute} cannot be set to {value!r}: {reason}")
        self.attribute = attribute
        self.value = value
        self.translation_placeholders = {
            "attribute": str(attribute),
            "value": str(value),
            "reason": reason,
        }


class RadioIdentityError(RadioError):
    """The radio does not hold this gateway's network: it must be restored, not used."""


class BlankRadioError(RadioIdentityError):
    """The radio holds no network at all (a new or replaced stick, wiped NVRAM)."""


class ForeignNetworkError(RadioIdentityError):
    """The radio runs a network other than this gateway's."""


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something that happened on a device and is no state to keep (a button pressed):
    reported once, never verified, never stored among the device's values."""

    device_id: DeviceId
    event_type: str  # what happened: "button"
    subtype: str  # where: which button ("button", "button_a")
    value: str  # how: "press", "release", "long_press"


class RadioListener(Protocol):
    """What a radio tells its gateway. Values only ever come from the device itself."""

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        """Values the device reported or returned in a read response."""

    def device_seen(self, device_id: DeviceId) -> None:
        """Any frame from the device: a sleeper is awake now."""

    def device_announced(self, device_id: DeviceId) -> None:
        """The device (re)joined or powered on."""

    def devices_changed(self) -> None:
        """The device or group inventory changed."""

    def radio_state_changed(self, state: LinkState) -> None:
        """The radio went up or down."""

    def device_event(self, event: DeviceEvent) -> None:
        """A momentary event from a device (a button press). Ignored unless the listener
        takes it: radio kinds without events never call it."""
        return None


@dataclass(frozen=True, slots=True)
class RadioBudget:
    """What a radio can put on air without its own queue overflowing.

    The scheduler paces sends by it; exceeding it makes real radios report delivery
    failures ("bridge busy"), so the scheduler never does.
    """

    unicasts_per_s: float = 20.0
    groupcasts_per_s: float = 1.0
    max_in_flight: int = 8


class Radio(Protocol):
    """What the change engine (and the gateway) may ask of any radio."""

    @property
    def budget(self) -> RadioBudget:
        """Sending limits of this radio."""

    async def send(
        self, device_id: DeviceId, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        """Send the command(s) that set ``values`` on one device.

        Returns once the radio accepted the frames; success on the device is learned only
        from its reports or reads. Raises DeliveryError when the radio could not send.
        """

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        """Read attributes from the device (values also go to the listener).

        Raises NoResponseError when the device does not answer in time.
        """

    async def send_group(
        self, group_id: int, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        """One groupcast that sets ``values`` on every member of a radio group."""

    def frames_to_send(self, values: AttributeValues) -> int:
        """The frames one ``send`` or ``send_group`` of ``values`` puts on air (a radio
        may need one per cluster: on and level in one, colour in another)."""

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        """The frames one ``read`` of ``attributes`` puts on air."""

    async def recall_scene(self, group_id: int, scene_id: int) -> None:
        """One groupcast recalling a scene stored on the members."""

    async def store_scene(
        self, device_id: DeviceId, group_id: int, scene_id: int, values: AttributeValues
    ) -> None:
        """Write a scene entry with explicit values into one device's scene table."""


class RadioLink(Radio, Protocol):
    """A radio the gateway can run: the send contract plus lifecycle and inventory."""

    @property
    def state(self) -> LinkState: ...

    async def start(self, *, form_new_network: bool = False) -> None:
        """Start the radio; BlankRadioError/ForeignNetworkError when it does not hold
        this gateway's network. ``form_new_network``: the caller knows of no network this
        gateway ever had, so a blank radio may be formed into a new one, unless the radio
        itself keeps a trace of an earlier network (then it raises BlankRadioError)."""

    async def stop(self) -> None: ...

    def devices(self) -> list[DeviceDescription]: ...

    def groups(self) -> list[GroupDescription]: ...

    def diagnostics(self) -> dict[str, Any]:
        """What the radio knows about itself and its network (secrets included: the
        caller redacts them)."""
        ...

    # Health and recovery (the supervisor's ladder).
    async def probe(self) -> None:
        """End to end: the radio answers and holds this gateway's network."""

    async def reconnect(self) -> None: ...

    async def restart(self) -> None: ...

    @property
    def has_standby(self) -> bool: ...

    async def failover(self, section: Mapping[str, Any]) -> None:
        """Move to the standby radio, writing this snapshot section's network to it."""

    async def ping(self, device_id: DeviceId) -> None:
        """The cheapest question the device answers (availability)."""

    def check_values(self, device_id: DeviceId | None, values: AttributeValues) -> None:
        """Raise UnsupportedValue for a value the radio cannot send to the device (None:
        to a group); called before a command is queued, so every queued value can be
        put on air."""

    async def configure_device(
        self,
        device_id: DeviceId,
        groups: Collection[int],
        scenes: Collection[tuple[int, int, AttributeValues]],
    ) -> None:
        """Make the device hold its groups, scene entries, bindings and reporting."""

    def configuration_frames(
        self, device_id: DeviceId, groups: Collection[int], scene_count: int
    ) -> int:
        """The frames ``configure_device`` sends to a device that holds everything (its
        checks, bindings and reporting): what the send scheduler charges for it."""

    # Snapshots (the radio's own section: Tuya's "put/get config file").
    @property
    def section_name(self) -> str: ...

    def network_id(self) -> str | None: ...

    async def export_section(self) -> dict[str, Any]: ...

    async def export_network(self) -> dict[str, Any]:
        """The network identity in the radio kind's interchange format."""
        ...

    async def write_network_identity(
        self, section: Mapping[str, Any], *, force: bool = False
    ) -> None:
        """Phase 1 of a restore, with the radio stopped."""

    async def adopt(self, section: Mapping[str, Any]) -> list[DeviceId]:
        """Devices and groups of the section the running radio does not know yet."""
        ...

    def check_section(self, section: Mapping[str, Any]) -> None:
        """Raise ValueError unless a restore can use this snapshot section as it is
        (called in a worker thread: it reads the section and nothing else)."""


class SnapshotSection(Protocol):
    """Private data another part of the gateway keeps in every snapshot, under ``name``."""

    name: str

    async def export_section(self) -> Mapping[str, Any]: ...

    async def import_section(self, data: Mapping[str, Any]) -> None: ...
