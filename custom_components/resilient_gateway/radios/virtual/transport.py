"""Frames on the simulated air: budgets, loss, latency, acknowledgements and the parent's
indirect queue.

Downlink (radio to devices): the radio is refused with ``DeliveryError`` when it is down,
another radio coordinates the devices' network (``VirtualAir.outranked``), it has no route
(unknown node, or a network the devices did not join), its broadcast budget is spent, or
its send queue is full; unicasts otherwise wait in the queue for the air
budget. Each transmission on air is then lost with probability ``loss`` (and a groupcast
member misses it with ``group_miss``) without anybody being told, as on a real network.
The random draws come from ``dice.py``: streams shared by every frame, or (for benchmarks
that compare strategies) one stream per device and kind of frame.

Unicasts are acknowledged, both ways, as Zigbee's MAC and APS acknowledgements do: a
receiver acknowledges every copy it gets (the acknowledgement is a frame of its own, lost
with ``loss`` too) and takes a frame only once (APS duplicate rejection). A sender that
hears no acknowledgement within the round trip plus ``ack_timeout`` transmits again, up
to ``unicast_attempts`` transmissions; after that the radio reports the unicast as a
delivery failure (zigpy's ``DeliveryError``, as EZSP and Z-Stack radios do), and a device
gives up on its report or answer. ``send`` returns once the unicast is acknowledged.
Broadcasts and groupcasts are never acknowledged: a missed one is silently missed.

The library's side of the link fails as real ones do (zigpy-znp, bellows). Once the link
drops (``link_lost``), nothing the radio says reaches the app: what its senders wait for
(their turn on air, a unicast's confirmation) never comes. When the app then closes its
side (``cancel_waits``, on disconnect), those waits are cancelled: the senders get a
``CancelledError`` nobody asked for, as zigpy-znp's ``close()`` cancels its pending
response listeners. A stalled radio (``VirtualRadio.stalled``) keeps its link and sends
its frames but confirms none of them.
``omniscient_radio`` gives the radio knowledge of which transmissions the air drops: it
re-sends a dropped unicast at once and needs no acknowledgement (the benchmark's ideal
sender). Every transmission counts in ``AirStats`` (retransmissions included).

Sleepy end devices only hear what their parent (the coordinator) keeps for them until
they poll; a kept frame expires after ``indirect_timeout`` (7.68 s in Zigbee), which the
radio reports as a delivery failure. A sleeper polls every ``poll_interval`` seconds, and
every ``FAST_POLL_INTERVAL`` while awake: for ``JOIN_AWAKE`` seconds after joining or
powering up, and shortly after it transmits. An unacknowledged kept frame is kept again
for the next poll while it has transmissions left and has not expired.

A device that is pairing (``PAIRING_TIME`` after zigpy learns of it while the network
starts, or after it rejoins) loses no frames and, even if sleepy, hears at once: people
pair devices close to the coordinator and keep them awake. So zigpy's interview neither
fails on a lossy air nor needs time to pass (Home Assistant tests need no timer stepping).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import zigpy.exceptions
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation

from ...core.token_bucket import TokenBucket
from . import ztypes
from .delivery import DeliveryMode
from .device import SimDevice
from .dice import AirDice, KeyedDice, SharedDice, Stream
from .timers import Timer

if TYPE_CHECKING:
    from .air import VirtualAir
    from .radio import RadioHost, VirtualRadio

_LOGGER = logging.getLogger(__name__)

FAST_POLL_INTERVAL = 0.25
PAIRING_TIME = 60.0
JOIN_AWAKE = 60.0
AWAKE_AFTER_TX = 1.0
_EPSILON = 1e-9

type DeliveryListener = Callable[[SimDevice, DeliveryMode, bool], None]
"""Told of every frame the radio puts on air to a device (each groupcast member apart):
the device, how the frame reached it, and whether it arrives."""


@dataclass(eq=False, slots=True)
class _Transfer:
    """One unicast from the radio, until acknowledged or given up."""

    packet: t.ZigbeePacket
    done: asyncio.Future[None]
    transmissions: int = 0
    arrived: bool = False  # the device took it (later copies are duplicates)


@dataclass(eq=False, slots=True)
class _Wait:
    """A sender waiting for the radio (its turn on air, or a unicast's confirmation)."""

    host: RadioHost
    radio: VirtualRadio
    unanswered: bool = False  # the link dropped: the radio's answer never reaches it


@dataclass(slots=True)
class _Kept:
    """A frame the parent keeps for a sleeping child."""

    expiry: float
    transfer: _Transfer = field(repr=False)


def delivery_mode(packet: t.ZigbeePacket) -> DeliveryMode:
    assert packet.dst is not None
    if packet.dst.addr_mode == t.AddrMode.Group:
        return DeliveryMode.GROUPCAST
    if packet.dst.addr_mode == t.AddrMode.Broadcast:
        return DeliveryMode.BROADCAST
    return DeliveryMode.UNICAST


def _zcl_command(packet: t.ZigbeePacket) -> int | None:
    """The global ZCL command id of a frame, or None for ZDO and cluster commands."""
    if packet.profile_id == 0 or packet.dst_ep == 0:
        return None
    data = packet.data.serialize()
    if len(data) < 3 or data[0] & 0b11 != foundation.FrameType.GLOBAL_COMMAND:
        return None
    index = 4 if data[0] & 0b100 else 2
    return data[index] if len(data) > index else None


class Transport:
    """Carries frames between the radio and the devices of one air."""

    def __init__(self, air: VirtualAir) -> None:
        spec = air.spec
        self.air = air
        self.unicast_budget = TokenBucket(spec.unicast_rate, spec.unicast_burst)
        self.broadcast_budget = TokenBucket(spec.broadcast_rate, spec.broadcast_burst)
        self.queued = 0
        self.dice: AirDice
        self.reseed()
        self._waits: dict[asyncio.Future[None], _Wait] = {}
        self._kept: dict[t.EUI64, deque[_Kept]] = {}
        self._poll_timers: dict[t.EUI64, tuple[Timer, float]] = {}
        self._delivery_listeners: list[DeliveryListener] = []

    def reseed(self, *, keyed: bool = False) -> None:
        """Start the dice of loss, group misses and jitter over from the spec's seed
        (``keyed``: one stream per device and kind of frame, see ``dice.py``)."""
        spec = self.air.spec
        key = f"{spec.seed}:{spec.network}"
        self.dice = KeyedDice(key) if keyed else SharedDice(key)

    def add_delivery_listener(self, listener: DeliveryListener) -> Callable[[], None]:
        """Be told of every frame the radio puts on air to a device; returns an unsubscribe."""
        self._delivery_listeners.append(listener)

        def remove() -> None:
            if listener in self._delivery_listeners:
                self._delivery_listeners.remove(listener)

        return remove

    def _tell(self, device: SimDevice, mode: DeliveryMode, arrives: bool) -> None:
        for listener in tuple(self._delivery_listeners):
            listener(device, mode, arrives)

    # -- downlink ---------------------------------------------------------------------

    def _refuse(self, message: str, status: int | None = None) -> zigpy.exceptions.DeliveryError:
        self.air.stats.delivery_failures += 1
        return zigpy.exceptions.DeliveryError(message, status=status)

    async def send(self, host: RadioHost, radio: VirtualRadio, packet: t.ZigbeePacket) -> None:
        """Put a frame from the radio on air for ``host`` (the app): a unicast returns once
        it is acknowledged, a broadcast or groupcast once it has left the radio."""
        self._check_radio(radio)
        mode = delivery_mode(packet)
        now = self.air.now()
        if mode is DeliveryMode.UNICAST:
            if self._is_loopback(radio, packet):
                self._answer_loopback(radio, packet)
                return
            device = self.air.device_at(packet.dst)
            if not self.air.identity_matches(radio) or device is None:
                raise self._refuse(
                    f"no route to {packet.dst}", t.NWKStatus.NWK_ROUTE_DISCOVERY_FAILED
                )
            wait = _Wait(host, radio)
            await self._wait_for_air(wait, now)
            self._check_radio(radio)
            radio.tx_counter += 1
            await self._unicast(wait, device, packet)
            return
        if not self.broadcast_budget.has_token(now):
            raise self._refuse(
                "broadcast budget spent (broadcast table full)", t.NWKStatus.NWK_BT_TABLE_FULL
            )
        self.broadcast_budget.take(now)
        radio.tx_counter += 1
        self._on_air(radio, packet, mode)

    def _check_radio(self, radio: VirtualRadio) -> None:
        air = self.air
        if air.stopped or air.slot_of(radio) is None or radio.failed or not radio.network_up:
            raise self._refuse("virtual radio does not answer")
        if air.outranked(radio):
            raise self._refuse("another virtual radio coordinates this network")

    async def _wait(self, wait: _Wait, future: asyncio.Future[None]) -> None:
        """Wait for what the radio answers on ``future``."""
        self._waits[future] = wait
        try:
            await future
        finally:
            del self._waits[future]

    def _answer(self, future: asyncio.Future[None], error: BaseException | None = None) -> None:
        """The radio answers a waiting sender, unless its link dropped meanwhile."""
        wait = self._waits.get(future)
        if future.done() or (wait is not None and wait.unanswered):
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    def _confirm(self, future: asyncio.Future[None], error: BaseException | None = None) -> None:
        """The radio confirms a unicast's end (delivered, or ``error``), unless stalled."""
        wait = self._waits.get(future)
        if wait is None or not wait.radio.stalled:
            self._answer(future, error)

    def link_lost(self, host: RadioHost) -> None:
        """``host``'s link dropped: nothing the radio says reaches it any more, so what its
        senders wait for never comes (until its library gives up or closes)."""
        for wait in self._waits.values():
            if wait.host is host:
                wait.unanswered = True

    def cancel_waits(self, host: RadioHost) -> None:
        """``host`` closes its side of the link: its library cancels what its senders wait
        for, so each gets a CancelledError it did not ask for (as zigpy-znp's ``close()``
        cancels its pending response listeners)."""
        for future, wait in list(self._waits.items()):
            if wait.host is host:
                future.cancel()

    async def _wait_for_air(self, wait: _Wait, now: float) -> None:
        spec = self.air.spec
        if not self.unicast_budget.has_token(now) and self.queued >= spec.send_queue:
            raise self._refuse("radio send queue full", t.MACStatus.MAC_TRANSACTION_OVERFLOW)
        delay = self.unicast_budget.reserve(now)
        if delay <= 0:
            return
        # Wait on the air's own timer, so that stopping the air ends the wait.
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.air.call_later(delay, self._answer, turn)
        self.queued += 1
        try:
            await self._wait(wait, turn)
        except asyncio.CancelledError:
            timer.cancel()
            self.unicast_budget.refund(self.air.now())
            raise
        finally:
            self.queued -= 1

    def close(self) -> None:
        """The air stops: frames waiting in the send queue or for an acknowledgement are
        refused."""
        for waiting in list(self._waits):
            if not waiting.done():
                waiting.set_exception(self._refuse("the virtual network stopped"))

    def _on_air(self, radio: VirtualRadio, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        """A broadcast or groupcast leaves the radio: one transmission, no acknowledgement."""
        stats = self.air.stats
        stats.radio_frames += 1
        if mode is DeliveryMode.GROUPCAST:
            stats.groupcasts += 1
        else:
            stats.broadcasts += 1
        if not self.air.identity_matches(radio):
            return  # nobody on this network is listening
        for device in self.air.devices.values():
            if mode is DeliveryMode.GROUPCAST:
                assert packet.dst is not None
                if not any(packet.dst.address in ep.groups for ep in device.endpoints.values()):
                    continue
                if self.dice.chance(device.ieee, Stream.GROUP) < self.air.spec.group_miss:
                    stats.frames_lost += 1
                    self._tell(device, mode, False)
                    continue
            elif not self._hears_broadcast(device, packet):
                continue
            self._to_device(device, packet, mode)

    def _hears_broadcast(self, device: SimDevice, packet: t.ZigbeePacket) -> bool:
        assert packet.dst is not None
        address = packet.dst.address
        if address == t.BroadcastAddress.ALL_DEVICES:
            return True
        if address == t.BroadcastAddress.RX_ON_WHEN_IDLE:
            return device.rx_on_when_idle
        return device.profile.is_router  # routers and coordinator, low power routers

    def _to_device(self, device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        """One member of a broadcast or groupcast."""
        stats = self.air.stats
        awake = device.rx_on_when_idle or self.air.now() < device.awake_until
        if not device.reachable or not awake:
            stats.frames_lost += 1  # asleep: broadcasts and groupcasts are not kept
            self._tell(device, mode, False)
            return
        if self._lost(device, Stream.TO_DEVICE):
            stats.frames_lost += 1
            self._tell(device, mode, False)
            return
        self._tell(device, mode, True)
        delay = self._delay(device, Stream.TO_DEVICE)
        self.air.call_later(delay, self._arrive, device, packet, mode)

    # -- acknowledged unicasts from the radio -------------------------------------------

    def _ack_wait(self) -> float:
        """How long a sender waits for an acknowledgement before transmitting again."""
        spec = self.air.spec
        return spec.ack_timeout + 2.0 * (spec.latency + spec.jitter)

    def _direct(self, device: SimDevice) -> bool:
        """Whether a unicast goes to the device at once (else the parent keeps it)."""
        return device.rx_on_when_idle or self.air.now() < device.pairing_until

    async def _unicast(self, wait: _Wait, device: SimDevice, packet: t.ZigbeePacket) -> None:
        if _zcl_command(packet) == foundation.GeneralCommand.Read_Attributes:
            self.air.stats.reads += 1
        transfer = _Transfer(packet, asyncio.get_running_loop().create_future())
        if self._direct(device):
            self._transmit(device, transfer)
        else:
            self._keep(device, _Kept(self.air.now() + self.air.spec.indirect_timeout, transfer))
        await self._wait(wait, transfer.done)

    def _transmit(
        self, device: SimDevice, transfer: _Transfer, expiry: float | None = None
    ) -> None:
        """One transmission of ``transfer`` (``expiry``: it was kept for a sleeper)."""
        if transfer.done.done():
            return
        stats = self.air.stats
        stats.unicasts += 1
        stats.radio_frames += 1
        if transfer.transmissions:
            stats.radio_retries += 1
        transfer.transmissions += 1
        arrives = device.reachable and not self._lost(device, Stream.TO_DEVICE)
        self._tell(device, DeliveryMode.UNICAST, arrives)
        delay = self._delay(device, Stream.TO_DEVICE)
        if not arrives:
            stats.frames_lost += 1
        elif not transfer.arrived:
            transfer.arrived = True
            self.air.call_later(delay, self._arrive, device, transfer.packet, DeliveryMode.UNICAST)
        # (a copy that arrives again is acknowledged, then dropped as a duplicate)
        if self.air.spec.omniscient_radio:
            if arrives:
                self.air.call_later(delay, self._confirm, transfer.done)
            elif device.reachable:
                self.air.call_later(0, self._transmit, device, transfer, expiry)
            else:
                self._give_up(transfer, "no acknowledgement", t.APSStatus.APS_NO_ACK, delay)
            return
        if arrives and not self._lost(device, Stream.DEVICE_ACK):
            ack_delay = self._delay(device, Stream.DEVICE_ACK)
            self.air.call_later(delay + ack_delay, self._confirm, transfer.done)
            return
        if arrives:
            stats.acks_lost += 1
        wait = self._ack_wait()
        if transfer.transmissions >= self.air.spec.unicast_attempts:
            self._give_up(transfer, "no acknowledgement", t.APSStatus.APS_NO_ACK, wait)
        elif expiry is None:
            self.air.call_later(wait, self._transmit, device, transfer, None)
        else:
            self.air.call_later(wait, self._keep, device, _Kept(expiry, transfer), True)

    def _give_up(self, transfer: _Transfer, reason: str, status: int, delay: float) -> None:
        error = self._refuse(f"{reason} for {transfer.packet.dst}", status)
        self.air.call_later(delay, self._confirm, transfer.done, error)

    # -- sleepy children --------------------------------------------------------------

    def next_poll(self, device: SimDevice, now: float) -> float:
        if now < device.awake_until:
            return now + FAST_POLL_INTERVAL
        interval = device.poll_interval
        phase = device.poll_phase * interval
        return phase + (math.floor((now - phase) / interval) + 1) * interval

    def _keep(self, device: SimDevice, kept: _Kept, first: bool = False) -> None:
        """The parent keeps a frame until the child polls (``first``: before the others)."""
        if kept.transfer.done.done():
            return
        queue = self._kept.setdefault(device.ieee, deque())
        if first:
            queue.appendleft(kept)
        else:
            queue.append(kept)
        self._schedule_poll(device)

    def _schedule_poll(self, device: SimDevice) -> None:
        """Run ``_service_kept`` at the next poll, or when the oldest kept frame expires."""
        queue = self._kept.get(device.ieee)
        current = self._poll_timers.get(device.ieee)
        if not queue:
            if current is not None:
                current[0].cancel()
                del self._poll_timers[device.ieee]
            return
        now = self.air.now()
        poll_at = self.next_poll(device, now)
        first_expiry = min(kept.expiry for kept in queue)
        is_poll = poll_at <= first_expiry + _EPSILON
        when = poll_at if is_poll else first_expiry
        if current is not None:
            if current[0].active and current[1] <= when + _EPSILON:
                return
            current[0].cancel()
        timer = self.air.call_later(when - now, self._service_kept, device, when, is_poll)
        self._poll_timers[device.ieee] = (timer, when)

    def _service_kept(self, device: SimDevice, when: float, is_poll: bool) -> None:
        """At a poll (``is_poll``) or an expiry time ``when`` (judged by the schedule, not
        by how late the loop ran the timer)."""
        self._poll_timers.pop(device.ieee, None)
        queue = self._kept.get(device.ieee)
        if not queue:
            return
        stats = self.air.stats
        polling = is_poll and device.reachable
        keep: deque[_Kept] = deque()
        due: list[_Kept] = []
        for kept in queue:
            if kept.transfer.done.done():
                continue
            if kept.expiry < when - _EPSILON or (not polling and kept.expiry <= when + _EPSILON):
                stats.frames_lost += 1
                stats.frames_expired += 1
                self._give_up(
                    kept.transfer, "indirect frame expired", t.MACStatus.MAC_TRANSACTION_EXPIRED, 0
                )
            elif polling:
                due.append(kept)
            else:
                keep.append(kept)
        self._kept[device.ieee] = keep
        for kept in due:
            self._transmit(device, kept.transfer, kept.expiry)
        self._schedule_poll(device)

    def pairing(self, device: SimDevice) -> None:
        """The device joins: it is awake and loses nothing for a while."""
        until = self.air.now() + PAIRING_TIME
        device.pairing_until = until
        self.woke(device, until)

    def woke(self, device: SimDevice, until: float) -> None:
        """A sleeper stays awake (polling fast) until ``until``."""
        if device.rx_on_when_idle:
            return
        device.awake_until = max(device.awake_until, until)
        self._schedule_poll(device)

    def forget(self, device: SimDevice) -> None:
        """Drop what the parent keeps for a device (it left the network)."""
        queue = self._kept.pop(device.ieee, None)
        for kept in queue or ():
            self.air.stats.frames_lost += 1
            self._give_up(kept.transfer, "the device left", t.NWKStatus.NWK_UNKNOWN_DEVICE, 0)
        timer = self._poll_timers.pop(device.ieee, None)
        if timer is not None:
            timer[0].cancel()

    def _lost(self, device: SimDevice, stream: Stream) -> bool:
        """Roll the dice for one frame of ``stream`` to or from ``device``."""
        if self.air.now() < device.pairing_until:
            return False
        return self.dice.chance(device.ieee, stream) < self.air.spec.loss

    def _delay(self, device: SimDevice, stream: Stream) -> float:
        spec = self.air.spec
        extra = spec.jitter * self.dice.jitter(device.ieee, stream) if spec.jitter > 0 else 0.0
        return spec.latency + extra

    def _arrive(self, device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        try:
            device.receive(packet, mode)
        except Exception:
            self.air.handler_errors += 1
            _LOGGER.exception("Simulated device %s failed to handle %r", device.ieee, packet)

    # -- uplink -------------------------------------------------------------------------

    def from_device(self, device: SimDevice, packet: t.ZigbeePacket) -> None:
        """A device transmits a frame (to the coordinator, or a broadcast)."""
        if delivery_mode(packet) is DeliveryMode.UNICAST:
            self._uplink(device, packet, 0, False)
            return
        stats = self.air.stats
        stats.broadcasts += 1
        self._woke_by_tx(device)
        if self._lost(device, Stream.FROM_DEVICE):
            stats.frames_lost += 1
            return
        self.air.call_later(self._delay(device, Stream.FROM_DEVICE), self._arrive_at_radio, packet)

    def _woke_by_tx(self, device: SimDevice) -> None:
        spec = self.air.spec
        self.woke(device, self.air.now() + AWAKE_AFTER_TX + 2 * (spec.latency + spec.jitter))

    def _uplink(
        self, device: SimDevice, packet: t.ZigbeePacket, transmissions: int, arrived: bool
    ) -> None:
        """One transmission of a unicast from a device; it retries an unacknowledged one."""
        if not device.reachable or self.air.stopped:
            return
        stats = self.air.stats
        stats.unicasts += 1
        stats.uplink_unicasts += 1
        if transmissions:
            stats.device_retries += 1
        if _zcl_command(packet) == foundation.GeneralCommand.Report_Attributes:
            stats.reports += 1
        self._woke_by_tx(device)
        transmissions += 1
        listening = self.air.active_radio() is not None
        arrives = listening and not self._lost(device, Stream.FROM_DEVICE)
        if not arrives:
            stats.frames_lost += 1
        elif not arrived:
            arrived = True
            delay = self._delay(device, Stream.FROM_DEVICE)
            self.air.call_later(delay, self._arrive_at_radio, packet)
        if arrives and not self._lost(device, Stream.RADIO_ACK):
            return  # acknowledged
        if arrives:
            stats.acks_lost += 1
        if transmissions < self.air.spec.unicast_attempts:
            self.air.call_later(
                self._ack_wait(), self._uplink, device, packet, transmissions, arrived
            )

    def _arrive_at_radio(self, packet: t.ZigbeePacket) -> None:
        """A frame from a device reaches the coordinator (whichever it is by then)."""
        radio = self.air.active_radio()
        host = radio.host if radio is not None else None
        if host is None:
            self.air.stats.frames_lost += 1
            return
        try:
            host.packet_received(packet)
        except Exception:
            self.air.handler_errors += 1
            _LOGGER.exception("zigpy failed to take %r", packet)

    # -- the coordinator talking to itself ------------------------------------------------

    def _is_loopback(self, radio: VirtualRadio, packet: t.ZigbeePacket) -> bool:
        assert packet.dst is not None
        if packet.dst.addr_mode == t.AddrMode.IEEE:
            return bool(packet.dst.address == radio.ieee)
        return bool(packet.dst.address == radio.nwk)

    def _answer_loopback(self, radio: VirtualRadio, packet: t.ZigbeePacket) -> None:
        """zigpy asks its own coordinator for tables (topology scans): not supported."""
        if packet.dst_ep != 0 or packet.cluster_id & 0x8000:
            return
        tsn = packet.data.serialize()[:1]
        reply = ztypes.packet(
            src=ztypes.nwk_address(radio.nwk),
            src_ep=0,
            dst=ztypes.nwk_address(radio.nwk),
            dst_ep=0,
            tsn=tsn[0] if tsn else 0,
            profile_id=0,
            cluster_id=packet.cluster_id | 0x8000,
            data=tsn + zdo_t.Status.NOT_SUPPORTED.serialize(),
        )
        host = radio.host
        if host is not None:
            self.air.call_later(0, host.packet_received, reply)
