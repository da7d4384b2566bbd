"""One Bluetooth LE device seen through the radio contract, so it runs under the same
gateway, change engine, snapshots and availability as a Zigbee radio.

The link is the connection to that one device: it is up while the device can be reached
(a connection is open or can be opened on demand) and down after a connection attempt
failed, until a reconnection works. Writes go out with response and are read back (or
confirmed by the device's notification): what the device shows is all that is reported.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak_retry_connector import BleakClientWithServiceCache

from ...core.model import (
    Attr,
    AttributeValues,
    DeviceDescription,
    DeviceId,
    EventDescription,
    GroupDescription,
    PowerSource,
)
from ...core.radio import (
    DeliveryError,
    DeviceEvent,
    ForeignNetworkError,
    LinkState,
    RadioBudget,
    RadioError,
    RadioListener,
    UnsupportedValue,
)
from . import profiles, section
from .connection import (
    ConnectionPolicy,
    DeviceLookup,
    GattConnection,
    read_value,
    subscribe,
    write_with_response,
)
from .gatt import Characteristic, ServiceProfile
from .profiles import battery, microbit

_LOGGER = logging.getLogger(__name__)

BUDGET = RadioBudget(unicasts_per_s=50.0, groupcasts_per_s=1.0, max_in_flight=1)
"""One GATT operation at a time: a connection serves one request after the other."""


class BleLink:
    """A RadioLink for one Bluetooth LE device (one config entry per device)."""

    def __init__(
        self,
        listener: RadioListener,
        address: str,
        lookup: DeviceLookup,
        *,
        name: str | None = None,
        known: Mapping[str, Any] | None = None,
        client_class: type[BleakClientWithServiceCache] = BleakClientWithServiceCache,
        policy: ConnectionPolicy | None = None,
        keep_connected: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        """``lookup``: the device as the Bluetooth stack knows it now (Home Assistant:
        ``bluetooth.async_ble_device_from_address``). ``known``: what an earlier run
        learned of the device (this link's snapshot section: its profiles and handles),
        so it starts without the device in range. ``keep_connected``: never release the
        connection when idle."""
        self._listener = listener
        self.address = address.upper()
        self.name = name or self.address
        self._keep_connected = keep_connected
        self._profiles: tuple[ServiceProfile, ...] = ()
        self._handles: dict[str, int] = {}
        if known is not None:
            self._take_known(section.parse(known))
        self._state = LinkState.DOWN
        self._running = False
        self._connection = GattConnection(
            self.address,
            self.name,
            lookup,
            on_connected=self._connected,
            on_reachable=self._reachable_changed,
            client_class=client_class,
            policy=policy,
            rng=rng,
        )

    @property
    def device_id(self) -> DeviceId:
        return self.address

    @property
    def connection(self) -> GattConnection:
        return self._connection

    @property
    def profiles(self) -> tuple[ServiceProfile, ...]:
        return self._profiles

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def budget(self) -> RadioBudget:
        return BUDGET

    async def start(self, *, form_new_network: bool = False) -> None:
        """Connect (profiles detected, notifications on, state read). A device never seen
        before must answer now (RadioError otherwise). A known one may be out of range, and
        a connection's attempts take up to a minute: the link starts down at once and
        connects in the background, with back-off (nothing waits for a device away)."""
        self._running = True
        self._connection.open()
        if self._profiles:
            self._state = LinkState.DOWN
            self._connection.reconnect_soon()
            return
        try:
            await self._connection.connect()
        except DeliveryError as exc:
            if not self._profiles:
                await self.stop()
                raise RadioError(f"{self.name}: {exc}") from exc
            self._state = LinkState.DOWN
            return
        self._state = LinkState.UP

    async def stop(self) -> None:
        """Release the connection (its slot is free once this returns)."""
        self._running = False
        await self._connection.close()
        self._state = LinkState.DOWN  # (the gateway's own doing: no news of it)

    async def probe(self) -> None:
        if not self._running:
            raise RadioError(f"{self.name} is not running")
        if not self._connection.reachable:
            raise DeliveryError(self._connection.last_error or f"{self.name} cannot be reached")

    async def reconnect(self) -> None:
        await self._connection.reconnect_now()

    async def restart(self) -> None:
        """Heavier than a reconnect: the GATT table is discovered anew."""
        await self._connection.reconnect_now(forget_services=True)

    @property
    def has_standby(self) -> bool:
        return False

    async def failover(self, section: Mapping[str, Any]) -> None:
        raise RadioError("a Bluetooth device has no standby radio")

    # -- inventory -----------------------------------------------------------------------

    def devices(self) -> list[DeviceDescription]:
        if not self._profiles:
            return []
        makers = {p.manufacturer for p in self._profiles if p.manufacturer is not None}
        has_battery = battery.PROFILE in self._profiles
        return [
            DeviceDescription(
                device_id=self.device_id,
                name=self.name,
                kind=profiles.device_kind(self._profiles),
                manufacturer=next(iter(sorted(makers)), None),
                model=" + ".join(p.title for p in self._profiles),
                # (Always listening while it advertises: a silent one is pinged.)
                power_source=PowerSource.BATTERY if has_battery else PowerSource.MAINS,
                attributes=frozenset().union(*(p.attributes for p in self._profiles)),
                events=tuple(
                    EventDescription(c.event, c.event_types)
                    for p in self._profiles
                    for c in p.characteristics
                    if c.event is not None
                ),
            )
        ]

    def groups(self) -> list[GroupDescription]:
        return []

    def diagnostics(self) -> dict[str, Any]:
        connection = self._connection
        return {
            "state": self._state,
            "address": self.address,
            "name": self.name,
            "profiles": [p.key for p in self._profiles],
            "handles": dict(self._handles),
            "connected": connection.connected,
            "holds_connection": connection.hold,
            "last_error": connection.last_error,
            "stats": asdict(connection.stats),
        }

    # -- the Radio contract --------------------------------------------------------------

    async def send(
        self, device_id: DeviceId, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        """Write each value with response, then read it back (or let its notification
        show it): the device's answer is reported, and only that verifies the change."""
        self._check(device_id)
        for name, value in values.items():
            spec = self._characteristic(Attr(name))
            encode = spec.encode
            if encode is None:
                raise RadioError(f"{self.name} cannot set {name}")
            await self._connection.run(
                write_with_response(spec.uuid, encode(value)), f"writing {name} to {self.name}"
            )
            if not spec.notify:
                await self._read_characteristic(spec)

    def check_values(self, device_id: DeviceId | None, values: AttributeValues) -> None:
        """Only what the device's profiles write, in a form they can encode."""
        for name, value in values.items():
            try:
                spec = self._characteristic(Attr(name))
            except ValueError, RadioError:  # not an attribute, or none of this device's
                spec = None
            if spec is None or spec.encode is None:
                raise UnsupportedValue(name, value, f"{self.name} cannot set it")
            try:
                spec.encode(value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise UnsupportedValue(name, value, str(exc)) from exc

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        self._check(device_id)
        values: dict[Attr, Any] = {}
        for attr in attributes:
            spec = self._characteristic(attr)
            if spec.readable:
                values[attr] = await self._read_characteristic(spec, report=False)
        if values:
            self._listener.attributes_reported(
                self.device_id, {str(a): v for a, v in values.items()}
            )
        return values

    async def ping(self, device_id: DeviceId) -> None:
        self._check(device_id)
        readable = [c for p in self._profiles for c in p.characteristics if c.readable]
        if readable:
            await self._read_characteristic(readable[0], report=False)
        else:
            await self._connection.connect()
        self._listener.device_seen(self.device_id)

    @property
    def shows_text(self) -> bool:
        """Whether the device has an LED matrix to scroll text on (a micro:bit)."""
        return microbit.LED_PROFILE in self._profiles

    def advertising(self, heard: bool) -> None:
        """What the Bluetooth stack hears of the device (its advertisements): heard again,
        a reconnection tries at once; no longer heard and not connected, the link is down
        (its state unknown) until the device is back."""
        if not self._running:
            return
        if heard:
            self._connection.device_heard()
        else:
            self._connection.device_gone()

    async def show_text(self, text: str) -> None:
        """Scroll ``text`` across a micro:bit's LED matrix (up to 20 bytes; it cannot be
        read back, so it is written with response and not verified)."""
        if microbit.LED_PROFILE not in self._profiles:
            raise RadioError(f"{self.name} has no LED matrix")
        await self._connection.run(
            write_with_response(microbit.LED_TEXT, microbit.encode_text(text)),
            f"showing text on {self.name}",
        )

    def frames_to_send(self, values: AttributeValues) -> int:
        return max(1, 2 * len(values))  # a write and its read-back each

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        return max(1, len(attributes))

    async def send_group(
        self, group_id: int, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        raise RadioError("Bluetooth LE devices have no radio groups")

    async def recall_scene(self, group_id: int, scene_id: int) -> None:
        raise RadioError("Bluetooth LE devices have no scene tables")

    async def store_scene(
        self, device_id: DeviceId, group_id: int, scene_id: int, values: AttributeValues
    ) -> None:
        raise RadioError("Bluetooth LE devices have no scene tables")

    async def configure_device(
        self,
        device_id: DeviceId,
        groups: Collection[int],
        scenes: Collection[tuple[int, int, AttributeValues]],
    ) -> None:
        """Nothing to configure: notifications are subscribed on every connection."""
        self._check(device_id)

    def configuration_frames(
        self, device_id: DeviceId, groups: Collection[int], scene_count: int
    ) -> int:
        return 1

    # -- snapshots -----------------------------------------------------------------------

    @property
    def section_name(self) -> str:
        return section.NAME

    def network_id(self) -> str | None:
        return self.address

    async def export_section(self) -> dict[str, Any]:
        return section.export(self.address, self.name, self._profiles, self._handles)

    async def export_network(self) -> dict[str, Any]:
        """A Bluetooth device has no network identity beyond what its section holds."""
        return await self.export_section()

    def check_section(self, section_data: Mapping[str, Any]) -> None:
        section.parse(section_data)

    async def write_network_identity(
        self, section_data: Mapping[str, Any], *, force: bool = False
    ) -> None:
        """Take the section's profiles and handles if it is this device's; another
        device's is refused unless ``force`` (then only its desired states apply here)."""
        known = section.parse(section_data)
        if known.address != self.address:
            if not force:
                raise ForeignNetworkError(
                    f"the snapshot is of {known.address}, this link drives {self.address}"
                )
            return
        self._take_known(known)

    async def adopt(self, section_data: Mapping[str, Any]) -> list[DeviceId]:
        known = section.parse(section_data)
        if self._profiles or known.address != self.address:
            return []
        self._take_known(known)
        self._listener.devices_changed()
        return [self.device_id]

    # -- the connection ------------------------------------------------------------------

    async def _connected(self, client: BleakClient) -> None:
        """A new connection: learn the device's services, subscribe to its
        notifications, read its state (it may have changed while nobody listened)."""
        found = profiles.detect(service.uuid for service in client.services)
        if not found:
            raise RadioError(f"{self.address} offers none of the known Bluetooth services")
        handles = {
            spec.uuid: char.handle
            for profile in found
            for spec in profile.characteristics
            if (char := client.services.get_characteristic(spec.uuid)) is not None
        }
        if self._handles and handles != self._handles:
            _LOGGER.info("%s: its GATT table changed (new firmware?)", self.name)
        changed = found != self._profiles
        self._profiles, self._handles = found, handles
        if changed:
            self._listener.devices_changed()
        self._connection.hold = self._keep_connected or any(p.holds_connection for p in found)
        connection = self._connection
        for spec in self._notifying():
            await connection.call(
                client,
                subscribe(spec.uuid, self._notified),
                f"subscribing to {self.name}'s notifications",
            )
        values: dict[str, Any] = {}
        for spec in self._states():
            raw = await connection.call(client, read_value(spec.uuid), f"reading {self.name}")
            assert spec.attr is not None
            values[spec.attr] = spec.decode(raw)
        if values:
            self._listener.attributes_reported(self.device_id, values)
        else:
            self._listener.device_seen(self.device_id)

    def _notified(self, char: BleakGATTCharacteristic, data: bytearray) -> None:
        spec = self._by_uuid(char.uuid)
        if spec is None:
            return
        value = spec.decode(bytes(data))
        if spec.event is not None:
            self._listener.device_seen(self.device_id)
            self._listener.device_event(DeviceEvent(self.device_id, "button", spec.event, value))
        elif spec.attr is not None:
            self._listener.attributes_reported(self.device_id, {spec.attr: value})

    def _reachable_changed(self, reachable: bool) -> None:
        if not self._running:
            return
        state = LinkState.UP if reachable else LinkState.DOWN
        if state is not self._state:
            self._state = state
            self._listener.radio_state_changed(state)

    # -- helpers -------------------------------------------------------------------------

    def _take_known(self, known: section.KnownDevice) -> None:
        self._profiles = known.profiles
        self._handles = dict(known.handles)
        if known.name and self.name == self.address:
            self.name = known.name

    def _check(self, device_id: DeviceId) -> None:
        if device_id.upper() != self.address:
            raise DeliveryError(f"unknown device {device_id}")

    def _characteristic(self, attr: Attr) -> Characteristic:
        for profile in self._profiles:
            if (spec := profile.by_attr(attr)) is not None:
                return spec
        raise RadioError(f"{self.name} has no {attr}")

    def _by_uuid(self, uuid: str) -> Characteristic | None:
        return next(
            (c for p in self._profiles for c in p.characteristics if c.uuid == uuid.lower()),
            None,
        )

    def _notifying(self) -> Sequence[Characteristic]:
        return [c for p in self._profiles for c in p.characteristics if c.notify]

    def _states(self) -> Sequence[Characteristic]:
        return [
            c
            for p in self._profiles
            for c in p.characteristics
            if c.attr is not None and c.readable
        ]

    async def _read_characteristic(self, spec: Characteristic, *, report: bool = True) -> Any:
        raw = await self._connection.run(read_value(spec.uuid), f"reading {self.name}")
        value = spec.decode(raw)
        if report and spec.attr is not None:
            self._listener.attributes_reported(self.device_id, {spec.attr: value})
        return value
