"""The simulated Zigbee network ("air"): its devices, the radio attached to it, faults,
statistics and persistence.

An air exists on its own; a zigpy app reaches it through its device path
``virtual://<network>`` (see ``find_air``) and drives whatever radio is attached to it at
the time. All simulated time is the running loop's time, so the air runs on Home
Assistant's loop and on ``run_virtual`` alike. ``stop()`` cancels every timer it started.

Radio faults behave as hardware does: after ``radio_failure()`` the app's link is gone
(``connection_lost`` is called; sends raise ``DeliveryError``) and a new app must connect
once ``radio_recovered()``; ``radio_replaced()`` puts a blank stick in place, which reaches
no device until the network identity is written to it (``write_network_info``, as
zigpy's ``restore_backup`` does; an IEEE address written with it is adopted).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import zigpy.exceptions
import zigpy.types as t
from zigpy.zcl.clusters import general, security

from ...core.storage import AtomicJsonFile
from . import readings, zcl, ztypes
from .device import SimDevice
from .house import ALL_LIGHTS_GROUP_ID, create_house, random_eui64
from .kinds import SleepMode
from .radio import NetworkIdentity, RadioHost, VirtualRadio
from .spec import VirtualNetworkSpec, network_from_path, network_path
from .stats import AirStats
from .timers import Timer, Timers
from .transport import JOIN_AWAKE, Transport

_LOGGER = logging.getLogger(__name__)

STATE_FORMAT: Final = 1
_REGISTRY: dict[str, VirtualAir] = {}
_JUNK_GROUP_START: Final = 0xF000
_MAX_FIRMWARE: Final = 0xFFFFFFFF


def find_air(path: str) -> VirtualAir:
    """The running air a ``virtual://<network>`` device path names."""
    name = network_from_path(path)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no virtual Zigbee network {name!r} is running ({path})") from None


class VirtualAir:
    """A simulated Zigbee network with fault injection."""

    def __init__(
        self,
        spec: VirtualNetworkSpec,
        *,
        identity: NetworkIdentity,
        radio: VirtualRadio,
        devices: list[SimDevice],
        loop: asyncio.AbstractEventLoop,
        state_path: Path | None = None,
    ) -> None:
        self.spec = spec
        self.identity = identity
        self.radio = radio
        self.devices: dict[t.EUI64, SimDevice] = {device.ieee: device for device in devices}
        self._by_nwk = {device.nwk: device for device in devices}
        self.stats = AirStats()
        self.timers = Timers(loop)
        self.transport = Transport(self)
        self.handler_errors = 0
        self.stopped = False
        self._state_file = AtomicJsonFile(state_path) if state_path is not None else None
        self._fault_rng = random.Random(f"faults:{spec.seed}:{spec.network}")
        self._drift_rng = random.Random(f"drift:{spec.seed}:{spec.network}")
        self._save_timer: Timer | None = None
        self._save_task: asyncio.Task[None] | None = None
        self._save_lock = asyncio.Lock()
        self._change_listeners: list[Callable[[SimDevice], None]] = []
        for device in devices:
            self._adopt(device)
        self._drift_timer = self.timers.call_later(spec.drift_interval, self._drift)

    # -- creation, registry ------------------------------------------------------------

    @classmethod
    async def load_or_create(
        cls, spec: VirtualNetworkSpec, state_path: Path | None = None, *, register: bool = True
    ) -> VirtualAir:
        """The house saved at ``state_path``, or a new one made from ``spec``.

        The saved house keeps its devices, identity and states; ``spec`` supplies the
        fault settings. The air is registered so apps find it unless ``register`` is False.
        """
        spec.validate()
        loop = asyncio.get_running_loop()
        data = await AtomicJsonFile(state_path).load() if state_path is not None else None
        if data is None:
            identity, radio, devices = create_house(spec)
        else:
            identity, radio, devices = cls._parse_state(spec, data)
        air = cls(
            spec, identity=identity, radio=radio, devices=devices, loop=loop, state_path=state_path
        )
        if data is None and state_path is not None:
            await air.save()
        if register:
            air.register()
        return air

    @staticmethod
    def _parse_state(
        spec: VirtualNetworkSpec, data: Any
    ) -> tuple[NetworkIdentity, VirtualRadio, list[SimDevice]]:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a virtual network state file (format {STATE_FORMAT})")
        if data.get("network") != spec.network:
            _LOGGER.warning(
                "State file of network %r loaded as %r", data.get("network"), spec.network
            )
        return (
            NetworkIdentity.from_dict(data["identity"]),
            VirtualRadio.from_dict(data["radio"]),
            [SimDevice.from_dict(item) for item in data["devices"]],
        )

    @property
    def name(self) -> str:
        return self.spec.network

    @property
    def path(self) -> str:
        """The device path a zigpy app is configured with to use this network."""
        return network_path(self.name)

    def register(self) -> None:
        current = _REGISTRY.get(self.name)
        if current is not None and current is not self and not current.stopped:
            raise ValueError(f"a virtual Zigbee network named {self.name!r} is already running")
        _REGISTRY[self.name] = self

    def unregister(self) -> None:
        if _REGISTRY.get(self.name) is self:
            del _REGISTRY[self.name]

    def _adopt(self, device: SimDevice) -> None:
        device.group_capacity = self.spec.group_capacity
        device.scene_capacity = self.spec.scene_capacity
        if device.sleep is SleepMode.SLEEPY:
            device.poll_interval = self.spec.sleepy_poll_interval
        elif device.sleep is SleepMode.LIGHT_SLEEPER:
            device.poll_interval = self.spec.light_sleeper_poll_interval
        device.attach(self)

    # -- what devices need (DeviceHost) -------------------------------------------------

    def now(self) -> float:
        return self.timers.now()

    def call_later(self, delay: float, callback: Any, *args: Any) -> Timer:
        return self.timers.call_later(delay, callback, *args)

    def transmit(self, device: SimDevice, packet: t.ZigbeePacket) -> None:
        if not self.stopped:
            self.transport.from_device(device, packet)

    def device_changed(self, device: SimDevice) -> None:
        self._mark_dirty()
        for listener in tuple(self._change_listeners):
            listener(device)

    def reseed(self, seed: int | None = None) -> None:
        """Roll the air's dice (loss, group misses, jitter) from the start again, from
        ``seed`` (default: the spec's), as a newly loaded air would: the same frames then
        meet the same fate, so benchmarks compare strategies on one house."""
        if seed is not None:
            self.spec.seed = seed
        self.transport.reseed()

    def add_change_listener(self, listener: Callable[[SimDevice], None]) -> Callable[[], None]:
        """Call ``listener(device)`` whenever a device's state or tables change (the ground
        truth as it happens, for benchmarks); returns an unsubscribe."""
        self._change_listeners.append(listener)

        def remove() -> None:
            if listener in self._change_listeners:
                self._change_listeners.remove(listener)

        return remove

    def device_left(self, device: SimDevice) -> None:
        self.transport.forget(device)
        self.stats.broadcasts += 1  # the NWK Leave it broadcasts
        host = self.radio.host
        if host is not None and self.radio.network_up and self.identity_matches():
            self.call_later(0, host.handle_leave, ztypes.nwk(device.nwk), device.ieee)

    # -- what the zigpy app needs -----------------------------------------------------

    def attach(self, host: RadioHost) -> VirtualRadio:
        """Connect an app to the radio (as opening its serial port would)."""
        if self.stopped:
            raise ConnectionRefusedError(f"virtual Zigbee network {self.name!r} is stopped")
        radio = self.radio
        if radio.failed:
            raise ConnectionRefusedError(f"the virtual radio of {self.name!r} does not answer")
        if radio.host is not None and radio.host is not host:
            _LOGGER.warning("Another app takes over the virtual radio of %r", self.name)
        radio.host = host
        return radio

    def detach(self, host: RadioHost) -> None:
        if self.radio.host is host:
            self.radio.host = None
            self.radio.network_up = False

    def connected_radio(self, host: RadioHost) -> VirtualRadio:
        """The radio ``host`` is connected to; DeliveryError if the link is gone."""
        if self.radio.host is not host or self.stopped:
            raise zigpy.exceptions.DeliveryError("the virtual radio is not connected")
        return self.radio

    async def send(self, host: RadioHost, packet: t.ZigbeePacket) -> None:
        if self.radio.host is not host or self.stopped:
            self.stats.delivery_failures += 1
            raise zigpy.exceptions.DeliveryError("the virtual radio is not connected")
        await self.transport.send(self.radio, packet)

    def identity_matches(self, radio: VirtualRadio | None = None) -> bool:
        """True if the radio holds the network identity the devices joined."""
        return (radio or self.radio).identity() == self.identity

    def device_at(self, address: t.AddrModeAddress | None) -> SimDevice | None:
        if address is None:
            return None
        if address.addr_mode == t.AddrMode.IEEE and isinstance(address.address, t.EUI64):
            return self.devices.get(address.address)
        if address.addr_mode == t.AddrMode.NWK and isinstance(address.address, int):
            return self._by_nwk.get(int(address.address))
        return None

    def network_started(self, radio: VirtualRadio) -> None:
        radio.network_up = True

    def reachable_devices(self) -> list[SimDevice]:
        """Devices a radio with the right identity can talk to (joined and powered)."""
        if not self.identity_matches():
            return []
        return [device for device in self.devices.values() if device.reachable]

    def join(self, host: RadioHost, device: SimDevice) -> None:
        """Let zigpy learn of ``device`` as if it had just joined (it stays awake a while)."""
        self.transport.pairing(device)
        host.handle_join(ztypes.nwk(device.nwk), device.ieee, ztypes.nwk(0x0000))

    def permit_joining(self) -> None:
        """Joining is open: devices that left rejoin (as if someone paired them again)."""
        for device in self.devices.values():
            if device.powered and not device.joined:
                self.transport.pairing(device)
                device.rejoin()

    def force_leave(self, ieee: t.EUI64) -> None:
        device = self.devices.get(ieee)
        if device is not None and device.joined:
            device.leave(rejoin=False)

    def move_channel(self, radio: VirtualRadio, channel: int, update_id: int) -> None:
        """The coordinator moves its network; devices that were on it follow."""
        if radio.network_info is None:
            return
        followed = self.identity_matches(radio)
        radio.network_info = radio.network_info.replace(
            channel=ztypes.uint8(channel),
            channel_mask=ztypes.channels([channel]),
            nwk_update_id=ztypes.uint8(update_id),
        )
        if followed:
            self.identity = replace(self.identity, channel=channel)
        self._mark_dirty()

    def radio_written(self) -> None:
        self._mark_dirty()

    # -- faults -----------------------------------------------------------------------

    def device(self, ieee: str | t.EUI64) -> SimDevice:
        """A device by IEEE address ("aa:bb:cc:dd:ee:ff:00:11")."""
        if isinstance(ieee, t.EUI64):
            key = ieee
        else:
            try:
                key = t.EUI64.convert(ieee)
            except ValueError, TypeError, AttributeError:
                raise ValueError(
                    f"{ieee!r} is not an IEEE address like 'aa:bb:cc:dd:ee:ff:00:11'"
                ) from None
        device = self.devices.get(key)
        if device is None:
            raise KeyError(f"no device {ieee} in virtual Zigbee network {self.name!r}")
        return device

    def _lose_radio_link(self, radio: VirtualRadio, reason: str) -> None:
        host = radio.host
        radio.host = None
        radio.network_up = False
        if host is not None:
            self.call_later(0, host.connection_lost, ConnectionError(reason))

    def radio_failure(self) -> None:
        """The radio stops answering, as an unplugged stick: its app loses the link."""
        self.radio.failed = True
        self._lose_radio_link(self.radio, "virtual radio stopped responding")
        self._mark_dirty()

    def radio_recovered(self) -> None:
        """The radio answers again; an app must connect to it anew."""
        self.radio.failed = False
        self._mark_dirty()

    def radio_replaced(self) -> None:
        """A blank radio (empty NVRAM, new IEEE) takes the old one's place."""
        old = self.radio
        used = {old.ieee, *self.devices}
        self.radio = VirtualRadio(random_eui64(self._fault_rng, used))
        self._lose_radio_link(old, "virtual radio was replaced")
        self._mark_dirty()

    def device_power_off(self, ieee: str) -> None:
        """The device loses power: it answers nothing until ``device_power_on``."""
        self.device(ieee).power_off()

    def device_power_on(self, ieee: str) -> None:
        """Power returns: start-up state (lights on), Device_annce, awake a while."""
        device = self.device(ieee)
        self.transport.woke(device, self.now() + JOIN_AWAKE)
        device.power_on()

    def device_scenes_wiped(self, ieee: str) -> None:
        device = self.device(ieee)
        for endpoint in device.endpoints.values():
            endpoint.scenes.clear()
            if endpoint.has(general.Scenes):
                endpoint.set(general.Scenes, "count", 0)
                endpoint.set(general.Scenes, "scene_valid", False)
        device.changed()

    def device_groups_wiped(self, ieee: str) -> None:
        """The group table is emptied (scenes are left alone, to keep faults separate)."""
        device = self.device(ieee)
        for endpoint in device.endpoints.values():
            endpoint.groups.clear()
        device.changed()

    def device_group_table_full(self, ieee: str) -> None:
        """Stale groups fill every free slot of the group table."""
        device = self.device(ieee)
        endpoint = device.endpoint
        group_id = _JUNK_GROUP_START
        while sum(len(ep.groups) for ep in device.endpoints.values()) < device.group_capacity:
            endpoint.groups.setdefault(group_id, "")
            group_id += 1
        device.changed()

    def set_firmware_version(self, ieee: str, version: int) -> None:
        if not 0 <= version <= _MAX_FIRMWARE:
            raise ValueError(f"firmware version must be in 0..0xFFFFFFFF, got {version}")
        self.device(ieee).endpoint.set(general.Ota, "current_file_version", version)

    def device_set_open(self, ieee: str, is_open: bool) -> None:
        """Open or close a contact sensor (it notifies the coordinator)."""
        device = self.device(ieee)
        if not device.endpoint.has(security.IasZone):
            raise ValueError(f"{ieee} is not a contact sensor")
        if readings.set_open(device, is_open) and device.reachable:
            status = int(device.endpoint.get(security.IasZone, "zone_status", 0))
            notification = security.IasZone.ClientCommandDefs.status_change_notification
            payload = notification.schema(
                zone_status=status,
                extended_status=0,
                zone_id=int(device.endpoint.get(security.IasZone, "zone_id", 0xFF)),
                delay=0,
            ).serialize()
            device.send(
                device.packet(
                    src_ep=device.endpoint.endpoint_id,
                    dst_ep=1,
                    cluster_id=security.IasZone.cluster_id,
                    data=zcl.cluster_command_frame(notification.id, device.next_tsn(), payload),
                )
            )

    # -- sensor drift ---------------------------------------------------------------

    def _drift(self) -> None:
        for device in self.devices.values():
            if device.reachable and readings.has_readings(device):
                try:
                    readings.drift(device, self._drift_rng)
                except Exception:
                    self.handler_errors += 1
                    _LOGGER.exception("Reading drift failed on %s", device.ieee)
        self._drift_timer = self.timers.call_later(self.spec.drift_interval, self._drift)

    # -- ground truth and statistics ---------------------------------------------------

    def ground_truth(self) -> dict[str, Any]:
        devices = {}
        for device in self.devices.values():
            groups = sorted({g for ep in device.endpoints.values() for g in ep.groups})
            scenes = sorted({key for ep in device.endpoints.values() for key in ep.scenes})
            devices[str(device.ieee)] = {
                "name": device.name,
                "kind": str(device.kind),
                "model": device.profile.model,
                "nwk": device.nwk,
                "sleep": str(device.sleep),
                "powered": device.powered,
                "joined": device.joined,
                "state": readings.describe(device),
                "groups": groups,
                "scenes": [list(key) for key in scenes],
                "firmware_version": int(
                    device.endpoint.get(general.Ota, "current_file_version", 0)
                ),
            }
        return {
            "devices": devices,
            "stats": self.stats.as_dict(),
            "radio": {
                "state": "failed" if self.radio.failed else "up",
                "ieee": str(self.radio.ieee),
                "formed": self.radio.formed,
                "identity_matches": self.identity_matches(),
                "connected": self.radio.host is not None,
            },
            "network": {
                "name": self.name,
                "path": self.path,
                "all_lights_group": ALL_LIGHTS_GROUP_ID,
                **self.identity.as_dict(),
            },
        }

    def reset_stats(self) -> None:
        self.stats.reset()

    # -- persistence ----------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "network": self.name,
            "identity": self.identity.as_dict(),
            "radio": self.radio.as_dict(),
            "devices": [device.as_dict() for device in self.devices.values()],
        }

    def _mark_dirty(self) -> None:
        if self._state_file is None or self.spec.save_delay <= 0 or self.stopped:
            return
        if self._save_timer is None or not self._save_timer.active:
            self._save_timer = self.timers.call_later(self.spec.save_delay, self._autosave)

    def _autosave(self) -> None:
        if self._save_task is None or self._save_task.done():
            self._save_task = self.timers.loop.create_task(self.save())

    async def save(self) -> None:
        """Write the house to its state file now (atomically); no-op without a path."""
        if self._state_file is None:
            return
        async with self._save_lock:
            await self._state_file.save(self.as_dict())

    async def stop(self) -> None:
        """Cancel every timer, save, and stop being reachable by apps."""
        if self.stopped:
            return
        self.stopped = True
        self.timers.close()
        self.transport.close()
        for device in self.devices.values():
            device.detach()
        if self._save_task is not None and not self._save_task.done():
            await asyncio.gather(self._save_task, return_exceptions=True)
        self.unregister()
        await self.save()
