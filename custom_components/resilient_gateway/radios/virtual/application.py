"""A zigpy radio library for the simulated network: ``VirtualControllerApplication``.

Configure it with ``{"device": {"path": "virtual://<network>"}}`` for the primary radio,
or ``virtual://<network>/standby`` for the standby radio; the air of that name must be
running (``VirtualAir.load_or_create``). The app drives that one radio: network settings,
frames, permits and the watchdog all go to it. On start, devices of the network that
zigpy does not know yet join through ``handle_join`` and zigpy interviews them over the
air as it would on a real radio; devices from zigpy's database are not joined again.

On a link drop it fails as zigpy-znp does (bellows alike in kind): it learns of the drop
through ``connection_lost``; a unicast whose confirmation was due never hears of it, and
ends when the app gives up (``CONFIRM_TIMEOUT``, ``TimeoutError``) or disconnects (its
pending confirmations are cancelled: the sender gets a ``CancelledError``); requests on the
dropped link fail on the closed port with an error that is not zigpy's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import zigpy.application
import zigpy.config as conf
import zigpy.device
import zigpy.endpoint
import zigpy.exceptions
import zigpy.profiles.zha
import zigpy.profiles.zll
import zigpy.state
import zigpy.types as t
import zigpy.zdo.types as zdo_t

from . import ztypes
from .air import VirtualAir, find_air
from .device import SimDevice
from .house import ALL_LIGHTS_GROUP_ID, ALL_LIGHTS_GROUP_NAME
from .kinds import MANUFACTURER, MANUFACTURER_CODE
from .radio import RADIO_MODEL, VirtualRadio
from .spec import PRIMARY, RadioSlot, slot_from_path

_LOGGER = logging.getLogger(__name__)

JOIN_CONCURRENCY: Final = 4  # interviews at once while the network starts
JOIN_ATTEMPTS: Final = 3
JOIN_TIMEOUT: Final = 180.0  # seconds for one interview
JOIN_RETRY_DELAY: Final = 5.0
# Seconds a unicast waits for its confirmation (zigpy-znp's, for devices that listen all
# the time and for end devices); then TimeoutError.
CONFIRM_TIMEOUT: Final = 8.0
EXTENDED_CONFIRM_TIMEOUT: Final = 30.0


class _InterviewWatcher:
    """Listens to zigpy for finished interviews."""

    def __init__(self, app: VirtualControllerApplication) -> None:
        self._app = app
        self.changed = asyncio.Event()
        self._waiting: dict[t.EUI64, asyncio.Future[bool]] = {}

    def expect(self, ieee: t.EUI64) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[ieee] = future
        return future

    def _resolve(self, ieee: t.EUI64, ok: bool) -> None:
        future = self._waiting.pop(ieee, None)
        if future is not None and not future.done():
            future.set_result(ok)
        self.changed.set()

    def device_initialized(self, device: zigpy.device.BaseDevice) -> None:
        self._app.sync_all_lights_group(device)
        self._resolve(device.ieee, True)

    def device_init_failure(self, device: zigpy.device.BaseDevice) -> None:
        self._resolve(device.ieee, False)


class VirtualControllerApplication(zigpy.application.ControllerApplication):
    """zigpy on the virtual radio of a simulated network."""

    DISPLAY_NAME = "Virtual Zigbee radio"
    DESCRIPTION = "A simulated Zigbee network with fault injection (Resilient Gateway)"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._air: VirtualAir | None = None
        self._link_dropped = False
        self._slot: RadioSlot = PRIMARY
        self._watcher = _InterviewWatcher(self)
        self.add_listener(self._watcher)

    @property
    def air(self) -> VirtualAir:
        if self._air is None:
            raise zigpy.exceptions.ControllerException("the virtual radio is not connected")
        return self._air

    def _port(self) -> VirtualAir:
        """The air, through the app's serial port. Once the link dropped, a request fails
        as in zigpy-znp, whose serial transport is gone (None) then: AttributeError on the
        write (bellows raises its NcpFailure). Neither is a zigpy error."""
        if self._link_dropped:
            raise AttributeError("'NoneType' object has no attribute 'write'")
        return self.air

    def _radio(self) -> VirtualRadio:
        """The radio this app is connected to; DeliveryError if it was taken away."""
        return self._port().connected_radio(self)

    # -- connection -------------------------------------------------------------------

    async def connect(self) -> None:
        path = self.config[conf.CONF_DEVICE][conf.CONF_DEVICE_PATH]
        try:
            air = find_air(path)
            slot = slot_from_path(path)
        except (KeyError, ValueError) as exc:
            raise ConnectionRefusedError(str(exc)) from exc
        air.attach(self, slot)
        self._air = air
        self._slot = slot
        self._link_dropped = False

    async def disconnect(self) -> None:
        if self._air is not None:
            self._air.detach(self)

    def connection_lost(self, exc: Exception) -> None:
        self._link_dropped = True
        super().connection_lost(exc)

    async def _watchdog_feed(self) -> None:
        self._radio()

    # -- network settings -------------------------------------------------------------

    async def load_network_info(self, *, load_devices: bool = False) -> None:
        radio = self._radio()
        stored = radio.stored()
        if stored is None:
            raise zigpy.exceptions.NetworkNotFormed("the virtual radio's NVRAM is empty")
        network_info, node_info = stored
        if load_devices and self.air.identity_matches(radio):
            devices = self.air.reachable_devices(radio)
            network_info = network_info.replace(
                children=[d.ieee for d in devices if not d.profile.is_router],
                nwk_addresses={d.ieee: ztypes.nwk(d.nwk) for d in devices},
            )
        self.state.network_info = network_info
        self.state.node_info = node_info

    async def write_network_info(
        self, *, network_info: zigpy.state.NetworkInfo, node_info: zigpy.state.NodeInfo
    ) -> None:
        radio = self._radio()
        radio.write(network_info, node_info)
        self.air.radio_written()
        await self.load_network_info(load_devices=False)

    async def reset_network_info(self) -> None:
        self._radio().reset()
        self.air.radio_written()

    async def energy_scan(
        self, channels: t.Channels, duration_exp: int, count: int
    ) -> dict[int, float]:
        self._radio()
        return {channel: float(20 + (channel * 37) % 60) for channel in channels}

    async def _move_network_to_channel(self, new_channel: int, new_nwk_update_id: int) -> None:
        self.air.move_channel(self._radio(), new_channel, new_nwk_update_id)

    # -- network start --------------------------------------------------------------

    async def start_network(self) -> None:
        radio = self._radio()
        if not radio.formed:
            raise zigpy.exceptions.NetworkNotFormed("the virtual radio's NVRAM is empty")
        await self.load_network_info(load_devices=False)
        ieee = self.state.node_info.ieee
        coordinator = zigpy.device.ZigbeeDevice(self, ieee, self.state.node_info.nwk)
        coordinator.node_desc = _coordinator_descriptor()
        coordinator.manufacturer = MANUFACTURER
        coordinator.model = RADIO_MODEL
        self.devices[ieee] = coordinator
        await self.register_endpoints()
        self.air.network_started(radio)
        for device in list(self.devices.values()):
            self.sync_all_lights_group(device)
        newcomers = [d for d in self.air.reachable_devices(radio) if d.ieee not in self.devices]
        if newcomers:
            # Kept in zigpy's task set, so shutdown() cancels it.
            task = asyncio.get_running_loop().create_task(self._join(newcomers))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _join(self, devices: list[SimDevice]) -> None:
        """Let unknown devices join a few at a time, as people pair them."""
        slots = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def join(device: SimDevice) -> None:
            async with slots:
                for _ in range(JOIN_ATTEMPTS):
                    if self._air is None or not device.reachable:
                        return
                    done = self._watcher.expect(device.ieee)
                    self.air.join(self, device)
                    try:
                        if await asyncio.wait_for(done, JOIN_TIMEOUT):
                            return
                    except TimeoutError:
                        pass
                    await asyncio.sleep(JOIN_RETRY_DELAY)
                _LOGGER.warning("Virtual device %s was not interviewed", device.ieee)

        await asyncio.gather(*(join(device) for device in devices))

    async def add_endpoint(self, descriptor: zdo_t.SimpleDescriptor) -> None:
        endpoint = self._device.add_endpoint(descriptor.endpoint)
        endpoint.status = zigpy.endpoint.Status.ZDO_INIT
        endpoint.profile_id = descriptor.profile
        device_types: Any = {
            zigpy.profiles.zha.PROFILE_ID: zigpy.profiles.zha.DeviceType,
            zigpy.profiles.zll.PROFILE_ID: zigpy.profiles.zll.DeviceType,
        }.get(descriptor.profile)
        zigpy_endpoint: Any = endpoint  # zigpy types device_type as a ZHA device type only
        zigpy_endpoint.device_type = (
            device_types(descriptor.device_type) if device_types else descriptor.device_type
        )
        for cluster_id in descriptor.input_clusters:
            endpoint.add_input_cluster(cluster_id)
        for cluster_id in descriptor.output_clusters:
            endpoint.add_output_cluster(cluster_id)

    def sync_all_lights_group(self, device: zigpy.device.BaseDevice) -> None:
        """Make zigpy know the "All lights" group a light holds in its group table."""
        if self._air is None or not isinstance(device, zigpy.device.ZigbeeDevice):
            return
        simulated = self._air.devices.get(device.ieee)
        if simulated is None:
            return
        for endpoint_id, endpoint in simulated.endpoints.items():
            zigpy_endpoint = device.endpoints.get(endpoint_id)
            if ALL_LIGHTS_GROUP_ID not in endpoint.groups or not isinstance(
                zigpy_endpoint, zigpy.endpoint.Endpoint
            ):
                continue
            group = self.groups.add_group(ALL_LIGHTS_GROUP_ID, ALL_LIGHTS_GROUP_NAME)
            group.add_member(zigpy_endpoint)

    def interviewed(self) -> bool:
        """True once zigpy knows every reachable device of the network, interviewed."""
        radio = self.air.radio_in(self._slot)
        for simulated in self.air.reachable_devices(radio):
            device = self.devices.get(simulated.ieee)
            if not isinstance(device, zigpy.device.ZigbeeDevice) or not device.is_initialized:
                return False
        return True

    async def wait_until_interviewed(self, within: float | None = 600.0) -> None:
        """Wait until ``interviewed()``, for at most ``within`` seconds (TimeoutError)."""
        async with asyncio.timeout(within):
            while True:
                self._watcher.changed.clear()
                if self.interviewed():
                    return
                await self._watcher.changed.wait()

    # -- frames -----------------------------------------------------------------------

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        if self._air is None:
            raise zigpy.exceptions.DeliveryError("the virtual radio is not connected")
        air = self._port()
        timeout = EXTENDED_CONFIRM_TIMEOUT if packet.extended_timeout else CONFIRM_TIMEOUT
        async with self._limit_concurrency(priority=packet.priority), asyncio.timeout(timeout):
            await air.send(self, packet)

    async def permit_ncp(self, time_s: int = 60) -> None:
        radio = self._radio()
        if time_s > 0:
            self.air.permit_joining(radio)

    async def permit_with_link_key(
        self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60
    ) -> None:
        await self.permit_ncp(time_s)

    async def force_remove(self, dev: zigpy.device.ZigbeeDevice) -> None:
        self.air.force_leave(dev.ieee, self._radio())


def _coordinator_descriptor() -> zdo_t.NodeDescriptor:
    flags = zdo_t.MACCapabilityFlags
    return ztypes.node_descriptor(
        logical_type=zdo_t.LogicalType.Coordinator,
        complex_descriptor_available=0,
        user_descriptor_available=0,
        reserved=0,
        aps_flags=0,
        frequency_band=zdo_t.FrequencyBand.Freq2400MHz,
        mac_capability_flags=(
            flags.AlternatePanCoordinator
            | flags.FullFunctionDevice
            | flags.MainsPowered
            | flags.RxOnWhenIdle
            | flags.AllocateAddress
        ),
        manufacturer_code=MANUFACTURER_CODE,
        maximum_buffer_size=82,
        maximum_incoming_transfer_size=82,
        server_mask=0x2C41,
        maximum_outgoing_transfer_size=82,
        descriptor_capability_field=zdo_t.DescriptorCapability.NONE,
    )
