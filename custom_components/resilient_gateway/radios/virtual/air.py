"""The simulated Zigbee network ("air"): its devices, the radios attached to it, faults,
statistics and persistence.

An air exists on its own; a zigpy app reaches it through a device path (see
``find_air``): ``virtual://<network>`` drives whatever radio is in the primary slot at the
time, ``virtual://<network>/standby`` the standby radio (``spec.standby_radio``: a second,
blank stick plugged in beside the primary). All simulated time is the running loop's time,
so the air runs on Home Assistant's loop and on ``run_virtual`` alike. ``stop()`` cancels
every timer it started.

Radio faults behave as hardware and its radio library do: after ``radio_failure()`` the
app's link is gone (``connection_lost`` is called; what its senders waited for never comes,
and the app cancels those waits when it disconnects; new requests fail on the closed port,
see ``application.py``) and a new app must connect once ``radio_recovered()``;
``radio_stalled()`` leaves the link up, but the radio confirms no frame any more;
``radio_replaced()`` puts a blank stick in place, which reaches no device until the
network identity is written to it (``write_network_info``, as zigpy's ``restore_backup``
does; an IEEE address written with it is adopted). Each takes the slot of the radio it
hits (default: the primary).

The air has one coordinator (``active_radio()``): the radio that holds the identity the
devices joined, answers, has an app and has started its network. Devices answer it and
their frames go to its app; nothing reaches them when no radio qualifies. When both do
(the old primary came back while the standby runs the network), the one started last
wins and the other's sends are refused: so moving the network onto the standby is writing
the primary's backup to it and starting an app there.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import zigpy.exceptions
import zigpy.types as t
from zigpy.zcl.clusters import general, security

from ...core.model import SleepMode
from ...core.storage import AtomicJsonFile
from . import readings, zcl, ztypes
from .device import SimDevice
from .house import ALL_LIGHTS_GROUP_ID, create_house, create_standby_radio, random_eui64
from .ota_client import wipe_scenes
from .radio import NetworkIdentity, RadioHost, VirtualRadio, coordinator_node_info
from .spec import (
    PRIMARY,
    STANDBY,
    RadioSlot,
    VirtualNetworkSpec,
    network_from_path,
    network_path,
    radio_slot,
)
from .stats import AirStats
from .timers import Timer, Timers
from .transport import JOIN_AWAKE, Transport

_LOGGER = logging.getLogger(__name__)

STATE_FORMAT: Final = 1
_REGISTRY: dict[str, VirtualAir] = {}
_JUNK_GROUP_START: Final = 0xF000
_MAX_FIRMWARE: Final = 0xFFFFFFFF


def find_air(path: str) -> VirtualAir:
    """The running air a ``virtual://<network>[/standby]`` device path names."""
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
        standby: VirtualRadio | None = None,
    ) -> None:
        self.spec = spec
        self.identity = identity
        self.radio = radio  # the primary slot
        self.standby = standby
        self._start_numbers = itertools.count(1)
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

        The saved house keeps its devices, identity, radios and states; ``spec`` supplies
        the fault settings, and a blank standby radio if it asks for one the house lacks (a
        saved standby stays). The air is registered so apps find it unless ``register`` is
        False.
        """
        spec.validate()
        loop = asyncio.get_running_loop()
        data = await AtomicJsonFile(state_path).load() if state_path is not None else None
        standby: VirtualRadio | None = None
        if data is None:
            identity, radio, devices = create_house(spec)
        else:
            identity, radio, standby, devices = cls._parse_state(spec, data)
        added_standby = spec.standby_radio and standby is None
        if added_standby:
            standby = create_standby_radio(spec, {radio.ieee, *(d.ieee for d in devices)})
        air = cls(
            spec,
            identity=identity,
            radio=radio,
            standby=standby,
            devices=devices,
            loop=loop,
            state_path=state_path,
        )
        if (data is None or added_standby) and state_path is not None:
            await air.save()
        if register:
            air.register()
        return air

    @staticmethod
    def _parse_state(
        spec: VirtualNetworkSpec, data: Any
    ) -> tuple[NetworkIdentity, VirtualRadio, VirtualRadio | None, list[SimDevice]]:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a virtual network state file (format {STATE_FORMAT})")
        if data.get("network") != spec.network:
            _LOGGER.warning(
                "State file of network %r loaded as %r", data.get("network"), spec.network
            )
        standby = data.get("standby")  # absent from files of houses without one
        return (
            NetworkIdentity.from_dict(data["identity"]),
            VirtualRadio.from_dict(data["radio"]),
            VirtualRadio.from_dict(standby) if standby is not None else None,
            [SimDevice.from_dict(item) for item in data["devices"]],
        )

    @property
    def name(self) -> str:
        return self.spec.network

    @property
    def path(self) -> str:
        """The device path a zigpy app is configured with to use this network (through
        the primary radio)."""
        return network_path(self.name)

    @property
    def standby_path(self) -> str:
        """The device path of the standby radio (an app connects to it only if there is
        one)."""
        return network_path(self.name, STANDBY)

    # -- radios -------------------------------------------------------------------------

    def radios(self) -> Iterator[tuple[RadioSlot, VirtualRadio]]:
        """The radios plugged in, by slot (the primary first)."""
        yield PRIMARY, self.radio
        if self.standby is not None:
            yield STANDBY, self.standby

    def radio_in(self, slot: str) -> VirtualRadio:
        """The radio in ``slot``: ``ValueError`` for no such slot, ``KeyError`` if the
        network has no standby radio."""
        if radio_slot(slot) == PRIMARY:
            return self.radio
        if self.standby is None:
            raise KeyError(f"virtual Zigbee network {self.name!r} has no standby radio")
        return self.standby

    def slot_of(self, radio: VirtualRadio) -> RadioSlot | None:
        """The slot ``radio`` is plugged into (None: it was replaced)."""
        return next((slot for slot, plugged in self.radios() if plugged is radio), None)

    def active_radio(self) -> VirtualRadio | None:
        """The coordinator of the devices: the radio holding their network's identity that
        answers, has an app and has started its network; of two, the one started last."""
        running = [
            radio
            for _, radio in self.radios()
            if radio.host is not None
            and radio.network_up
            and not radio.failed
            and self.identity_matches(radio)
        ]
        return max(running, key=lambda radio: radio.start_number, default=None)

    def outranked(self, radio: VirtualRadio) -> bool:
        """True if ``radio`` holds the devices' network but another radio coordinates it
        (the air has one coordinator)."""
        active = self.active_radio()
        return active is not None and active is not radio and self.identity_matches(radio)

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

    def reseed(self, seed: int | None = None, *, keyed: bool = False) -> None:
        """Roll the air's dice (loss, group misses, jitter) from the start again, from
        ``seed`` (default: the spec's), as a newly loaded air would: the same frames then
        meet the same fate, so benchmarks compare strategies on one house. ``keyed``: one
        stream of draws per device and kind of frame (``dice.KeyedDice``), so a frame's
        fate does not depend on the traffic before it."""
        if seed is not None:
            self.spec.seed = seed
        self.transport.reseed(keyed=keyed)

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
        active = self.active_radio()
        if active is not None and active.host is not None:
            self.call_later(0, active.host.handle_leave, ztypes.nwk(device.nwk), device.ieee)

    # -- what the zigpy app needs -----------------------------------------------------

    def attach(self, host: RadioHost, slot: RadioSlot = PRIMARY) -> VirtualRadio:
        """Connect an app to the radio in ``slot`` (as opening its serial port would)."""
        if self.stopped:
            raise ConnectionRefusedError(f"virtual Zigbee network {self.name!r} is stopped")
        try:
            radio = self.radio_in(slot)
        except (KeyError, ValueError) as exc:
            raise ConnectionRefusedError(str(exc)) from None
        if radio.failed:
            raise ConnectionRefusedError(
                f"the {slot} virtual radio of {self.name!r} does not answer"
            )
        if radio.host is not None and radio.host is not host:
            _LOGGER.warning("Another app takes over the %s virtual radio of %r", slot, self.name)
        radio.host = host
        radio.stalled = False  # (a library resets its stick when it connects)
        return radio

    def detach(self, host: RadioHost) -> None:
        """The app closes its side of the link (``disconnect``): it cancels what its senders
        still wait for (see ``Transport.cancel_waits``)."""
        self.transport.cancel_waits(host)
        for _, radio in self.radios():
            if radio.host is host:
                radio.host = None
                radio.network_up = False

    def _radio_of(self, host: RadioHost) -> VirtualRadio | None:
        if self.stopped:
            return None
        return next((radio for _, radio in self.radios() if radio.host is host), None)

    def connected_radio(self, host: RadioHost) -> VirtualRadio:
        """The radio ``host`` is connected to; DeliveryError if the link is gone."""
        radio = self._radio_of(host)
        if radio is None:
            raise zigpy.exceptions.DeliveryError("the virtual radio is not connected")
        return radio

    async def send(self, host: RadioHost, packet: t.ZigbeePacket) -> None:
        radio = self._radio_of(host)
        if radio is None:
            self.stats.delivery_failures += 1
            raise zigpy.exceptions.DeliveryError("the virtual radio is not connected")
        await self.transport.send(host, radio, packet)

    def identity_matches(self, radio: VirtualRadio | None = None) -> bool:
        """True if the radio (default: the primary) holds the network identity the
        devices joined."""
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
        radio.start_number = next(self._start_numbers)

    def reachable_devices(self, radio: VirtualRadio | None = None) -> list[SimDevice]:
        """Devices the radio (default: the primary) can talk to if it holds the right
        identity (joined and powered)."""
        if not self.identity_matches(radio):
            return []
        return [device for device in self.devices.values() if device.reachable]

    def join(self, host: RadioHost, device: SimDevice) -> None:
        """Let zigpy learn of ``device`` as if it had just joined (it stays awake a while)."""
        self.transport.pairing(device)
        host.handle_join(ztypes.nwk(device.nwk), device.ieee, ztypes.nwk(0x0000))

    def permit_joining(self, radio: VirtualRadio | None = None) -> None:
        """Joining is open: devices that left rejoin (as if someone paired them again).
        Opened by ``radio``, only if it coordinates the devices' network."""
        if radio is not None and radio is not self.active_radio():
            return
        for device in self.devices.values():
            if device.powered and not device.joined:
                self.transport.pairing(device)
                device.rejoin()

    def force_leave(self, ieee: t.EUI64, radio: VirtualRadio | None = None) -> None:
        """The device leaves for good (told by ``radio``, only if it coordinates)."""
        if radio is not None and radio is not self.active_radio():
            return
        device = self.devices.get(ieee)
        if device is not None and device.joined:
            device.leave(rejoin=False)

    def move_channel(self, radio: VirtualRadio, channel: int, update_id: int) -> None:
        """The coordinator moves its network; devices that were on it follow."""
        if radio.network_info is None:
            return
        # Only the coordinator takes the devices along.
        followed = self.identity_matches(radio) and not self.outranked(radio)
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
            self.transport.link_lost(host)
            self.call_later(0, host.connection_lost, ConnectionError(reason))

    def radio_failure(self, slot: RadioSlot = PRIMARY) -> None:
        """The radio in ``slot`` stops answering, as an unplugged stick: its app loses the
        link."""
        radio = self.radio_in(slot)
        radio.failed = True
        self._lose_radio_link(radio, "virtual radio stopped responding")
        self._mark_dirty()

    def radio_recovered(self, slot: RadioSlot = PRIMARY) -> None:
        """The radio in ``slot`` answers again (a failed one: once an app connects to it
        anew; a stalled one: at once)."""
        radio = self.radio_in(slot)
        radio.failed = radio.stalled = False
        self._mark_dirty()

    def radio_stalled(self, slot: RadioSlot = PRIMARY) -> None:
        """The radio in ``slot`` keeps its link and sends what it is given, but confirms no
        frame any more (hung firmware): a sender waits until its library gives up. Ends
        with ``radio_recovered`` or when an app connects anew (its library resets the
        stick)."""
        self.radio_in(slot).stalled = True

    def radio_replaced(self, slot: RadioSlot = PRIMARY, *, used: bool = False) -> None:
        """A blank radio (empty NVRAM, new IEEE) takes the place of the one in ``slot``;
        a ``used`` one still runs the network of the home it came from."""
        old = self.radio_in(slot)
        taken = {radio.ieee for _, radio in self.radios()} | set(self.devices)
        new = VirtualRadio(random_eui64(self._fault_rng, taken))
        if used:
            other_home = NetworkIdentity.generate(self._fault_rng)
            new.network_info = other_home.network_info(coordinator=new.ieee)
            new.node_info = coordinator_node_info(new.ieee)
        if slot == PRIMARY:
            self.radio = new
        else:
            self.standby = new
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
        wipe_scenes(self.device(ieee))

    def device_firmware_reset(self, ieee: str) -> None:
        """The device forgets its groups and scenes, as some firmware upgrades do."""
        self.device_groups_wiped(ieee)
        self.device_scenes_wiped(ieee)

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
        radio = self._radio_truth(self.radio)
        if self.standby is not None:
            active = self.active_radio()
            radio["active"] = self.slot_of(active) if active is not None else None
            radio["standby"] = self._radio_truth(self.standby)
        return {
            "devices": devices,
            "stats": self.stats.as_dict(),
            "radio": radio,
            "network": {
                "name": self.name,
                "path": self.path,
                "all_lights_group": ALL_LIGHTS_GROUP_ID,
                **self.identity.as_dict(),
            },
        }

    def _radio_truth(self, radio: VirtualRadio) -> dict[str, Any]:
        return {
            "state": "failed" if radio.failed else "stalled" if radio.stalled else "up",
            "ieee": str(radio.ieee),
            "formed": radio.formed,
            "identity_matches": self.identity_matches(radio),
            "connected": radio.host is not None,
        }

    def reset_stats(self) -> None:
        self.stats.reset()

    # -- persistence ----------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": STATE_FORMAT,
            "network": self.name,
            "identity": self.identity.as_dict(),
            "radio": self.radio.as_dict(),
            "devices": [device.as_dict() for device in self.devices.values()],
        }
        if self.standby is not None:
            data["standby"] = self.standby.as_dict()
        return data

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
