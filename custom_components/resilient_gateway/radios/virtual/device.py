"""A simulated Zigbee node: endpoints with attribute, group and scene tables, power, and
the reporting it does on its own.

The node talks only through its host (the air): it receives frames from it and hands it
the frames it sends. ZCL and ZDO requests are answered by ``zcl`` and ``zdo``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.profiles import zha
from zigpy.zcl import Cluster

from ...core.model import SleepMode
from ..zigbee.scenes import Scene
from . import clusters, readings, zcl, zdo, ztypes
from .delivery import DeliveryMode
from .kinds import (
    DEFAULT_REPORTING,
    ENDPOINT_ID,
    MANUFACTURER_CODE,
    PROFILES,
    AttributeTable,
    KindProfile,
    SimKind,
)
from .ota_client import OtaClient
from .reporting import Reporter
from .timers import Timer
from .zcl_values import attribute_def, is_analog

COORDINATOR_NWK = 0x0000
COORDINATOR_ENDPOINT = 1
BINDING_CAPACITY = 32


class DeviceHost(Protocol):
    """What a node needs from the network it lives in."""

    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer: ...

    def transmit(self, device: SimDevice, packet: t.ZigbeePacket) -> None: ...

    def device_changed(self, device: SimDevice) -> None: ...

    def device_left(self, device: SimDevice) -> None: ...


class SimEndpoint:
    """One application endpoint of a node and the tables that belong to it."""

    def __init__(
        self,
        device: SimDevice,
        *,
        endpoint_id: int,
        device_type: int,
        in_clusters: tuple[int, ...],
        out_clusters: tuple[int, ...],
        attributes: AttributeTable,
    ) -> None:
        self.device = device
        self.endpoint_id = endpoint_id
        self.profile_id = zha.PROFILE_ID
        self.device_type = device_type
        self.in_clusters = in_clusters
        self.out_clusters = out_clusters
        self.attributes = attributes
        self.groups: dict[int, str] = {}
        self.scenes: dict[tuple[int, int], Scene] = {}

    def value(self, cluster_id: int, attr_id: int, default: Any = None) -> Any:
        return self.attributes.get(cluster_id, {}).get(attr_id, default)

    def get(self, cluster: type[Cluster], name: str, default: Any = None) -> Any:
        return self.value(cluster.cluster_id, cluster.find_attribute(name).id, default)

    def has(self, cluster: type[Cluster]) -> bool:
        return cluster.cluster_id in self.in_clusters

    def set(self, cluster: type[Cluster], name: str, value: Any) -> bool:
        """Change an attribute; True if its value changed."""
        attr_id = cluster.find_attribute(name).id
        return self.device.set_attribute(self.endpoint_id, cluster.cluster_id, attr_id, value)

    def simple_descriptor(self) -> zdo_t.SizePrefixedSimpleDescriptor:
        return zdo_t.SizePrefixedSimpleDescriptor(
            endpoint=self.endpoint_id,
            profile=self.profile_id,
            device_type=self.device_type,
            device_version=1,
            input_clusters=list(self.in_clusters),
            output_clusters=list(self.out_clusters),
        )


class SimDevice:
    """A node of the simulated network."""

    def __init__(
        self,
        *,
        ieee: t.EUI64,
        nwk: int,
        kind: SimKind,
        name: str,
        tsn: int = 0,
        lqi: int = 200,
        rssi: int = -60,
    ) -> None:
        self.ieee = ieee
        self.nwk = nwk
        self.kind = kind
        self.name = name
        self.powered = True
        self.joined = True
        self.endpoints: dict[int, SimEndpoint] = {}
        self.bindings: list[dict[str, Any]] = []
        self.reporter = Reporter()
        self.extras: dict[str, Any] = {}
        self.lqi = lqi
        self.rssi = rssi
        # Table sizes and polling; the air sets them from its spec.
        self.group_capacity = 16
        self.scene_capacity = 16
        self.poll_interval = 0.0
        self.poll_phase = 0.0
        self.awake_until = 0.0
        # While pairing (next to the coordinator, as people pair) no frame is lost.
        self.pairing_until = 0.0
        self.host: DeviceHost | None = None
        self._tsn = tsn
        self._report_timer: Timer | None = None
        self._report_at = 0.0
        self.ota = OtaClient(self)

    # -- identity ---------------------------------------------------------------------

    @property
    def profile(self) -> KindProfile:
        return PROFILES[self.kind]

    @property
    def sleep(self) -> SleepMode:
        return self.profile.sleep

    @property
    def rx_on_when_idle(self) -> bool:
        return self.sleep is SleepMode.ALWAYS_ON

    @property
    def endpoint(self) -> SimEndpoint:
        """The application endpoint (every simulated kind has exactly one)."""
        return self.endpoints[ENDPOINT_ID]

    @property
    def reachable(self) -> bool:
        return self.powered and self.joined

    def mac_capabilities(self) -> zdo_t.MACCapabilityFlags:
        flags = zdo_t.MACCapabilityFlags.AllocateAddress
        if self.profile.is_router:
            flags |= (
                zdo_t.MACCapabilityFlags.FullFunctionDevice
                | zdo_t.MACCapabilityFlags.MainsPowered
                | zdo_t.MACCapabilityFlags.RxOnWhenIdle
            )
        return flags

    def node_descriptor(self) -> zdo_t.NodeDescriptor:
        return ztypes.node_descriptor(
            logical_type=(
                zdo_t.LogicalType.Router if self.profile.is_router else zdo_t.LogicalType.EndDevice
            ),
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.FrequencyBand.Freq2400MHz,
            mac_capability_flags=self.mac_capabilities(),
            manufacturer_code=MANUFACTURER_CODE,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=82,
            server_mask=0x2C00,
            maximum_outgoing_transfer_size=82,
            descriptor_capability_field=zdo_t.DescriptorCapability.NONE,
        )

    def next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) % 256
        return self._tsn

    # -- frames -------------------------------------------------------------------------

    def receive(self, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        """Handle one frame that reached this node and send what it answers."""
        if not self.reachable:
            return
        if packet.dst_ep == zdo.ZDO_ENDPOINT or packet.profile_id == zdo.ZDO_PROFILE:
            replies = zdo.handle(self, packet, mode)
        else:
            replies = zcl.handle(self, packet, mode)
        for reply in replies:
            self.send(reply)

    def send(self, packet: t.ZigbeePacket) -> None:
        if self.host is not None and self.reachable:
            self.host.transmit(self, packet)

    def packet(
        self,
        *,
        src_ep: int,
        dst_ep: int | None,
        cluster_id: int,
        data: bytes,
        profile_id: int = zha.PROFILE_ID,
        dst: t.AddrModeAddress | None = None,
        tsn: int = 0,
    ) -> t.ZigbeePacket:
        """A frame from this node, by default to the coordinator."""
        return ztypes.packet(
            src=ztypes.nwk_address(self.nwk),
            src_ep=src_ep,
            dst=dst or ztypes.nwk_address(COORDINATOR_NWK),
            dst_ep=dst_ep,
            tsn=tsn,
            profile_id=profile_id,
            cluster_id=cluster_id,
            data=data,
            lqi=self.lqi,
            rssi=self.rssi,
        )

    # -- attributes and reporting ------------------------------------------------------

    def set_attribute(self, endpoint_id: int, cluster_id: int, attr_id: int, value: Any) -> bool:
        attrs = self.endpoints[endpoint_id].attributes.setdefault(cluster_id, {})
        if attr_id in attrs and attrs[attr_id] == value and type(attrs[attr_id]) is type(value):
            return False
        attrs[attr_id] = value
        if self.reporter.changed((endpoint_id, cluster_id, attr_id), value):
            self.schedule_reports()
        self.changed()
        return True

    def configure_reporting(
        self,
        endpoint_id: int,
        cluster_id: int,
        attr_id: int,
        *,
        min_interval: int,
        max_interval: int,
        change: float,
    ) -> None:
        attr = attribute_def(cluster_id, attr_id)
        now = self.host.now() if self.host is not None else 0.0
        self.reporter.configure(
            (endpoint_id, cluster_id, attr_id),
            min_interval=min_interval,
            max_interval=max_interval,
            change=change,
            analog=attr is not None and is_analog(attr),
            value=self.endpoints[endpoint_id].value(cluster_id, attr_id),
            now=now,
        )
        self.schedule_reports()
        self.changed()

    def apply_default_reporting(self) -> None:
        for cluster, name, min_interval, max_interval, change in DEFAULT_REPORTING.get(
            self.kind, ()
        ):
            self.configure_reporting(
                ENDPOINT_ID,
                cluster.cluster_id,
                cluster.find_attribute(name).id,
                min_interval=min_interval,
                max_interval=max_interval,
                change=change,
            )

    def schedule_reports(self) -> None:
        """Make sure a timer runs when the next report is due."""
        if self.host is None or not self.reachable:
            return
        when = self.reporter.next_due()
        if when is None:
            self._cancel_report_timer()
            return
        if self._report_timer is not None and self._report_timer.active:
            if self._report_at <= when:
                return
            self._report_timer.cancel()
        self._report_at = when
        self._report_timer = self.host.call_later(
            when - self.host.now(), self._send_due_reports, when
        )

    def _cancel_report_timer(self) -> None:
        if self._report_timer is not None:
            self._report_timer.cancel()
            self._report_timer = None

    def _send_due_reports(self, scheduled: float) -> None:
        self._report_timer = None
        if self.host is None or not self.reachable:
            return
        # Judged by the schedule: a test harness may run timers before their time.
        now = max(self.host.now(), scheduled)
        by_cluster: dict[tuple[int, int], list[int]] = {}
        for endpoint_id, cluster_id, attr_id in self.reporter.due(now):
            by_cluster.setdefault((endpoint_id, cluster_id), []).append(attr_id)
        for (endpoint_id, cluster_id), attr_ids in sorted(by_cluster.items()):
            endpoint = self.endpoints[endpoint_id]
            for attr_id in attr_ids:
                value = endpoint.value(cluster_id, attr_id)
                self.reporter.reported((endpoint_id, cluster_id, attr_id), value, now)
            data = zcl.report_attributes_frame(endpoint, cluster_id, attr_ids, self.next_tsn())
            if data is not None:
                self.send(
                    self.packet(
                        src_ep=endpoint_id,
                        dst_ep=COORDINATOR_ENDPOINT,
                        cluster_id=cluster_id,
                        data=data,
                    )
                )
        self.schedule_reports()

    # -- life cycle -------------------------------------------------------------------

    def changed(self) -> None:
        if self.host is not None:
            self.host.device_changed(self)

    def power_off(self) -> None:
        self.powered = False
        self._cancel_report_timer()
        self.ota.stop()
        self.changed()

    def power_on(self) -> None:
        """Power returns: take the start-up state, announce, resume reporting."""
        self.powered = True
        now = self.host.now() if self.host is not None else 0.0
        self.reporter.restart(now)
        if self.joined:
            clusters.apply_start_up(self.endpoint)
            self.announce()
        self.schedule_reports()
        self.changed()

    def announce(self) -> None:
        self.send(zdo.device_announce(self))

    def leave(self, *, rejoin: bool) -> None:
        """Leave the network, forgetting its tables as a reset node does."""
        self._cancel_report_timer()
        for endpoint in self.endpoints.values():
            endpoint.groups.clear()
            endpoint.scenes.clear()
        self.bindings.clear()
        self.reporter.clear()
        self.ota.stop()
        self.extras.pop("ota", None)
        self.joined = False
        if self.host is not None:
            self.host.device_left(self)
        if rejoin:
            self.rejoin()
        self.changed()

    def rejoin(self) -> None:
        self.joined = True
        self.apply_default_reporting()
        self.announce()
        self.changed()

    def attach(self, host: DeviceHost) -> None:
        self.host = host
        self.reporter.restart(host.now())
        self.schedule_reports()

    def detach(self) -> None:
        self._cancel_report_timer()
        self.ota.stop()
        self.host = None

    # -- persistence ------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "ieee": str(self.ieee),
            "nwk": self.nwk,
            "kind": str(self.kind),
            "name": self.name,
            "powered": self.powered,
            "joined": self.joined,
            "tsn": self._tsn,
            "lqi": self.lqi,
            "rssi": self.rssi,
            "poll_phase": self.poll_phase,
            "extras": self.extras,
            "bindings": self.bindings,
            "reporting": self.reporter.as_list(),
            "endpoints": {
                str(endpoint_id): {
                    "attributes": {
                        str(cluster_id): {str(attr_id): value for attr_id, value in attrs.items()}
                        for cluster_id, attrs in endpoint.attributes.items()
                    },
                    "groups": {str(group): name for group, name in endpoint.groups.items()},
                    "scenes": [
                        {
                            "group": group,
                            "scene": scene_id,
                            "name": scene.name,
                            "transition_time": scene.transition_time,
                            "extensions": scene.extensions.hex(),
                        }
                        for (group, scene_id), scene in sorted(endpoint.scenes.items())
                    ],
                }
                for endpoint_id, endpoint in self.endpoints.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimDevice:
        device = cls(
            ieee=t.EUI64.convert(data["ieee"]),
            nwk=data["nwk"],
            kind=SimKind(data["kind"]),
            name=data["name"],
            tsn=data["tsn"],
            lqi=data["lqi"],
            rssi=data["rssi"],
        )
        device.powered = data["powered"]
        device.joined = data["joined"]
        device.poll_phase = data["poll_phase"]
        device.extras = dict(data["extras"])
        device.bindings = list(data["bindings"])
        profile = device.profile
        for endpoint_key, stored in data["endpoints"].items():
            endpoint = SimEndpoint(
                device,
                endpoint_id=int(endpoint_key),
                device_type=profile.device_type,
                in_clusters=profile.in_clusters,
                out_clusters=profile.out_clusters,
                attributes={
                    int(cluster_id): {int(attr_id): value for attr_id, value in attrs.items()}
                    for cluster_id, attrs in stored["attributes"].items()
                },
            )
            endpoint.groups = {int(group): name for group, name in stored["groups"].items()}
            endpoint.scenes = {
                (item["group"], item["scene"]): Scene(
                    name=item["name"],
                    transition_time=item["transition_time"],
                    extensions=bytes.fromhex(item["extensions"]),
                )
                for item in stored["scenes"]
            }
            device.endpoints[endpoint.endpoint_id] = endpoint
        device.reporter.load(data["reporting"], now=0.0)
        device.ota.identify()  # (houses saved before the OTA client knew its ids)
        return device

    @classmethod
    def new(
        cls,
        *,
        ieee: t.EUI64,
        nwk: int,
        kind: SimKind,
        name: str,
        rng: random.Random,
    ) -> SimDevice:
        """A device of ``kind`` as it comes out of the box (joined, default reporting)."""
        profile = PROFILES[kind]
        device = cls(
            ieee=ieee,
            nwk=nwk,
            kind=kind,
            name=name,
            tsn=rng.randrange(256),
            lqi=rng.randint(120, 255),
            rssi=rng.randint(-80, -40),
        )
        device.endpoints[ENDPOINT_ID] = SimEndpoint(
            device,
            endpoint_id=ENDPOINT_ID,
            device_type=profile.device_type,
            in_clusters=profile.in_clusters,
            out_clusters=profile.out_clusters,
            attributes=profile.initial_attributes(rng),
        )
        readings.init_device(device, rng)
        device.ota.identify()
        device.apply_default_reporting()
        return device
