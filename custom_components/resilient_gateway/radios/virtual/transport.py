"""Frames on the simulated air: budgets, loss, latency and the parent's indirect queue.

Downlink (radio to devices): the radio is refused with ``DeliveryError`` when it is down,
has no route (unknown node, or a network the devices did not join), its broadcast budget
is spent, or its send queue is full; unicasts otherwise wait in the queue for the air
budget. A frame on air is then lost with probability ``loss`` (and a groupcast member
misses it with ``group_miss``) without anybody being told, as on a real network.

Sleepy end devices only hear what their parent (the coordinator) keeps for them until
they poll; a kept frame expires after ``indirect_timeout`` (7.68 s in Zigbee). A sleeper
polls every ``poll_interval`` seconds, and every ``FAST_POLL_INTERVAL`` while awake: for
``JOIN_AWAKE`` seconds after joining or powering up, and shortly after it transmits.

A device that is pairing (``PAIRING_TIME`` after zigpy learns of it while the network
starts, or after it rejoins) loses no frames and, even if sleepy, hears at once: people
pair devices close to the coordinator and keep them awake. So zigpy's interview neither
fails on a lossy air nor needs time to pass (Home Assistant tests need no timer stepping).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zigpy.exceptions
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation

from . import ztypes
from .budget import TokenBucket
from .delivery import DeliveryMode
from .device import SimDevice
from .timers import Timer

if TYPE_CHECKING:
    from .air import VirtualAir
    from .radio import VirtualRadio

_LOGGER = logging.getLogger(__name__)

FAST_POLL_INTERVAL = 0.25
PAIRING_TIME = 60.0
JOIN_AWAKE = 60.0
AWAKE_AFTER_TX = 1.0
_EPSILON = 1e-9


@dataclass(slots=True)
class _Kept:
    """A frame the parent keeps for a sleeping child."""

    expiry: float
    packet: t.ZigbeePacket


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
        seed = f"{spec.seed}:{spec.network}"
        self.loss_rng = random.Random(f"loss:{seed}")
        self.group_rng = random.Random(f"group:{seed}")
        self.jitter_rng = random.Random(f"jitter:{seed}")
        self._waiting: set[asyncio.Future[None]] = set()
        self._kept: dict[t.EUI64, deque[_Kept]] = {}
        self._poll_timers: dict[t.EUI64, tuple[Timer, float]] = {}

    # -- downlink ---------------------------------------------------------------------

    def _refuse(self, message: str, status: int | None = None) -> zigpy.exceptions.DeliveryError:
        self.air.stats.delivery_failures += 1
        return zigpy.exceptions.DeliveryError(message, status=status)

    async def send(self, radio: VirtualRadio, packet: t.ZigbeePacket) -> None:
        """Put a frame from the radio on air (returns once it has left the radio)."""
        self._check_radio(radio)
        mode = delivery_mode(packet)
        now = self.air.now()
        if mode is DeliveryMode.UNICAST:
            if self._is_loopback(radio, packet):
                self._answer_loopback(radio, packet)
                return
            if not self.air.identity_matches(radio) or self.air.device_at(packet.dst) is None:
                raise self._refuse(
                    f"no route to {packet.dst}", t.NWKStatus.NWK_ROUTE_DISCOVERY_FAILED
                )
            await self._wait_for_air(now)
            self._check_radio(radio)
        elif not self.broadcast_budget.try_take(now):
            raise self._refuse(
                "broadcast budget spent (broadcast table full)", t.NWKStatus.NWK_BT_TABLE_FULL
            )
        radio.tx_counter += 1
        self._on_air(radio, packet, mode)

    def _check_radio(self, radio: VirtualRadio) -> None:
        if self.air.stopped or radio is not self.air.radio or radio.failed or not radio.network_up:
            raise self._refuse("virtual radio does not answer")

    async def _wait_for_air(self, now: float) -> None:
        spec = self.air.spec
        if not self.unicast_budget.available(now) and self.queued >= spec.send_queue:
            raise self._refuse("radio send queue full", t.MACStatus.MAC_TRANSACTION_OVERFLOW)
        delay = self.unicast_budget.reserve(now)
        if delay <= 0:
            return
        # Wait on the air's own timer, so that stopping the air ends the wait.
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.air.call_later(delay, _set_done, turn)
        self._waiting.add(turn)
        self.queued += 1
        try:
            await turn
        except asyncio.CancelledError:
            timer.cancel()
            self.unicast_budget.refund(self.air.now())
            raise
        finally:
            self._waiting.discard(turn)
            self.queued -= 1

    def close(self) -> None:
        """The air stops: frames waiting in the send queue are refused."""
        for turn in list(self._waiting):
            if not turn.done():
                turn.set_exception(self._refuse("the virtual network stopped"))

    def _on_air(self, radio: VirtualRadio, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        stats = self.air.stats
        if _zcl_command(packet) == foundation.GeneralCommand.Read_Attributes:
            stats.reads += 1
        if mode is DeliveryMode.UNICAST:
            stats.unicasts += 1
            device = self.air.device_at(packet.dst)
            if device is not None:
                self._to_device(device, packet, mode)
            return
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
                if self.group_rng.random() < self.air.spec.group_miss:
                    stats.frames_lost += 1
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
        stats = self.air.stats
        if not device.reachable:
            stats.frames_lost += 1
            return
        now = self.air.now()
        pairing = now < device.pairing_until
        if device.rx_on_when_idle or mode is not DeliveryMode.UNICAST or pairing:
            if mode is not DeliveryMode.UNICAST and not (
                device.rx_on_when_idle or now < device.awake_until
            ):
                stats.frames_lost += 1  # asleep: broadcasts and groupcasts are not kept
                return
            self._deliver(device, packet, mode)
            return
        queue = self._kept.setdefault(device.ieee, deque())
        queue.append(_Kept(expiry=now + self.air.spec.indirect_timeout, packet=packet))
        self._schedule_poll(device)

    def _lost(self, device: SimDevice) -> bool:
        """Roll the dice for one frame to or from ``device``."""
        if self.air.now() < device.pairing_until:
            return False
        return self.loss_rng.random() < self.air.spec.loss

    def _deliver(self, device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        if self._lost(device):
            self.air.stats.frames_lost += 1
            return
        self.air.call_later(self._delay(), self._arrive, device, packet, mode)

    def _delay(self) -> float:
        spec = self.air.spec
        extra = self.jitter_rng.uniform(0.0, spec.jitter) if spec.jitter > 0 else 0.0
        return spec.latency + extra

    def _arrive(self, device: SimDevice, packet: t.ZigbeePacket, mode: DeliveryMode) -> None:
        try:
            device.receive(packet, mode)
        except Exception:
            self.air.handler_errors += 1
            _LOGGER.exception("Simulated device %s failed to handle %r", device.ieee, packet)

    # -- sleepy children --------------------------------------------------------------

    def next_poll(self, device: SimDevice, now: float) -> float:
        if now < device.awake_until:
            return now + FAST_POLL_INTERVAL
        interval = device.poll_interval
        phase = device.poll_phase * interval
        return phase + (math.floor((now - phase) / interval) + 1) * interval

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
        is_poll = poll_at <= queue[0].expiry + _EPSILON
        when = poll_at if is_poll else queue[0].expiry
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
        while queue and (
            queue[0].expiry < when - _EPSILON
            or (not polling and queue[0].expiry <= when + _EPSILON)
        ):
            queue.popleft()
            stats.frames_lost += 1
            stats.frames_expired += 1
        if polling:
            while queue:
                self._deliver(device, queue.popleft().packet, DeliveryMode.UNICAST)
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
        if queue:
            self.air.stats.frames_lost += len(queue)
        timer = self._poll_timers.pop(device.ieee, None)
        if timer is not None:
            timer[0].cancel()

    # -- uplink -------------------------------------------------------------------------

    def from_device(self, device: SimDevice, packet: t.ZigbeePacket) -> None:
        """A device transmits a frame (to the coordinator, or a broadcast)."""
        stats = self.air.stats
        mode = delivery_mode(packet)
        if mode is DeliveryMode.UNICAST:
            stats.unicasts += 1
            stats.uplink_unicasts += 1
        else:
            stats.broadcasts += 1
        if _zcl_command(packet) == foundation.GeneralCommand.Report_Attributes:
            stats.reports += 1
        spec = self.air.spec
        self.woke(device, self.air.now() + AWAKE_AFTER_TX + 2 * (spec.latency + spec.jitter))
        if self._lost(device):
            stats.frames_lost += 1
            return
        self.air.call_later(self._delay(), self._arrive_at_radio, packet)

    def _arrive_at_radio(self, packet: t.ZigbeePacket) -> None:
        radio = self.air.radio
        host = radio.host
        if (
            host is None
            or radio.failed
            or not radio.network_up
            or not self.air.identity_matches(radio)
        ):
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
