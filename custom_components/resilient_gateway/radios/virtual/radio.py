"""The coordinator radio: a stick with an IEEE address, NVRAM and a link to one zigpy app.

The radio is separate from the air so it can fail, be unplugged or be swapped for a blank
one while the devices stay where they are. Devices answer it only when the network
identity in its NVRAM is the one they joined (and, with a standby stick beside it, only
while it is the one running that network: see ``VirtualAir.active_radio``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

import zigpy.state
import zigpy.types as t
import zigpy.zdo.types as zdo_t

from . import ztypes
from .kinds import MANUFACTURER

RADIO_MODEL = "Virtual Radio"
RADIO_VERSION = "1.0"
CHANNELS = (11, 15, 20, 25)


class RadioHost(Protocol):
    """The zigpy side of the link: what the radio reports to its app."""

    def packet_received(self, packet: t.ZigbeePacket) -> None: ...

    def connection_lost(self, exc: Exception) -> None: ...

    def handle_join(self, nwk: t.NWK, ieee: t.EUI64, parent_nwk: t.NWK) -> None: ...

    def handle_leave(self, nwk: t.NWK, ieee: t.EUI64) -> None: ...


@dataclass(frozen=True, slots=True)
class NetworkIdentity:
    """What a device checks before it talks to a coordinator."""

    pan_id: int
    extended_pan_id: t.ExtendedPanId
    network_key: t.KeyData
    channel: int

    @classmethod
    def generate(cls, rng: random.Random) -> NetworkIdentity:
        return cls(
            pan_id=rng.randint(0x0001, 0xFFFE),
            extended_pan_id=ztypes.extended_pan_id(rng.randbytes(8)),
            network_key=t.KeyData(rng.randbytes(16)),
            channel=rng.choice(CHANNELS),
        )

    @classmethod
    def of(cls, info: zigpy.state.NetworkInfo) -> NetworkIdentity:
        """The identity in a coordinator's network settings."""
        return cls(
            pan_id=int(info.pan_id),
            extended_pan_id=ztypes.extended_pan_id(info.extended_pan_id),
            network_key=t.KeyData(info.network_key.key),
            channel=int(info.channel),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "pan_id": self.pan_id,
            "extended_pan_id": str(self.extended_pan_id),
            "network_key": str(self.network_key),
            "channel": self.channel,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkIdentity:
        return cls(
            pan_id=data["pan_id"],
            extended_pan_id=ztypes.extended_pan_id(t.EUI64.convert(data["extended_pan_id"])),
            network_key=t.KeyData.convert(data["network_key"]),
            channel=data["channel"],
        )

    def network_info(self, *, coordinator: t.EUI64) -> zigpy.state.NetworkInfo:
        """NVRAM contents of a coordinator that formed this network."""
        return zigpy.state.NetworkInfo(
            extended_pan_id=self.extended_pan_id,
            pan_id=ztypes.pan_id(self.pan_id),
            nwk_update_id=ztypes.uint8(0),
            nwk_manager_id=ztypes.nwk(0x0000),
            channel=ztypes.uint8(self.channel),
            channel_mask=ztypes.channels([self.channel]),
            security_level=ztypes.uint8(5),
            network_key=zigpy.state.Key(key=self.network_key),
            tc_link_key=zigpy.state.Key(
                key=t.KeyData(b"ZigBeeAlliance09"), partner_ieee=coordinator
            ),
            source="resilient_gateway.virtual",
        )


def coordinator_node_info(ieee: t.EUI64) -> zigpy.state.NodeInfo:
    return zigpy.state.NodeInfo(
        nwk=ztypes.nwk(0x0000),
        ieee=ieee,
        logical_type=zdo_t.LogicalType.Coordinator,
        model=RADIO_MODEL,
        manufacturer=MANUFACTURER,
        version=RADIO_VERSION,
    )


class VirtualRadio:
    """A coordinator stick: IEEE address, NVRAM, failure state and the attached app."""

    def __init__(self, ieee: t.EUI64) -> None:
        self.ieee = ieee
        self.network_info: zigpy.state.NetworkInfo | None = None
        self.node_info: zigpy.state.NodeInfo | None = None
        self.tx_counter = 0
        self.failed = False
        # Keeps its link and sends, but confirms no frame (hung firmware; not saved: a
        # new connection resets the stick).
        self.stalled = False
        self.host: RadioHost | None = None
        self.network_up = False
        # Which network start on the air this radio's was: of two radios running the
        # devices' network, the one started last is their coordinator.
        self.start_number = 0
        self._identity: tuple[zigpy.state.NetworkInfo, NetworkIdentity] | None = None

    @property
    def formed(self) -> bool:
        return self.network_info is not None and self.node_info is not None

    @property
    def nwk(self) -> int:
        return int(self.node_info.nwk) if self.node_info is not None else 0x0000

    def identity(self) -> NetworkIdentity | None:
        info = self.network_info
        if info is None:
            return None
        # Asked for at every frame; the settings are replaced whole, never changed in place.
        if self._identity is None or self._identity[0] is not info:
            self._identity = (info, NetworkIdentity.of(info))
        return self._identity[1]

    def write(self, network_info: zigpy.state.NetworkInfo, node_info: zigpy.state.NodeInfo) -> None:
        """Store a network in NVRAM (an IEEE address given with it is adopted)."""
        if node_info.ieee != ztypes.UNKNOWN_EUI64:
            self.ieee = t.EUI64(node_info.ieee)
        self.tx_counter = int(network_info.network_key.tx_counter)
        self.network_info = network_info.replace(
            network_key=network_info.network_key.replace(tx_counter=self.tx_counter),
            tc_link_key=network_info.tc_link_key.replace(partner_ieee=self.ieee),
        )
        self.node_info = node_info.replace(
            nwk=ztypes.nwk(node_info.nwk),
            ieee=self.ieee,
            model=RADIO_MODEL,
            manufacturer=MANUFACTURER,
            version=RADIO_VERSION,
        )

    def reset(self) -> None:
        self.network_info = None
        self.node_info = None
        self.tx_counter = 0
        self.network_up = False

    def form(self, identity: NetworkIdentity) -> None:
        """Hold ``identity`` as if this radio had formed that network."""
        self.write(identity.network_info(coordinator=self.ieee), coordinator_node_info(self.ieee))

    def stored(self) -> tuple[zigpy.state.NetworkInfo, zigpy.state.NodeInfo] | None:
        """NVRAM contents, with the frame counter as it is now."""
        if self.network_info is None or self.node_info is None:
            return None
        key = self.network_info.network_key.replace(tx_counter=self.tx_counter)
        return self.network_info.replace(network_key=key), self.node_info

    def as_dict(self) -> dict[str, Any]:
        stored = self.stored()
        return {
            "ieee": str(self.ieee),
            "failed": self.failed,
            "tx_counter": self.tx_counter,
            "nvram": (
                {"network_info": stored[0].as_dict(), "node_info": stored[1].as_dict()}
                if stored is not None
                else None
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VirtualRadio:
        radio = cls(t.EUI64.convert(data["ieee"]))
        radio.failed = data["failed"]
        nvram = data["nvram"]
        if nvram is not None:
            radio.network_info = zigpy.state.NetworkInfo.from_dict(nvram["network_info"])
            radio.node_info = zigpy.state.NodeInfo.from_dict(nvram["node_info"])
        radio.tx_counter = data["tx_counter"]
        return radio
