"""An emulated Silicon Labs EmberZNet NCP (EZSP v13, EmberZNet 7.4, the firmware Sonoff
ZBDongle-E, Home Assistant SkyConnect/ZBT-1 and SLZB-07 ship) for bellows to drive.

Everything on the wire comes from bellows' own definitions: ASH frames, CRC, byte stuffing
and data randomisation from ``bellows.ash``, command ids and parameter schemas from
``bellows.ezsp.v13``, structures from ``bellows.types``. The NCP behaves as bellows expects
of a real one: RST answered by RSTACK, DATA frames acknowledged (piggybacked on the
answer), NAKs for frames out of sequence or damaged, its own DATA frames sent again until
acknowledged, version negotiation from the legacy frame format, ``stackStatusHandler`` when
the network comes up or goes down, ``messageSentHandler`` for every frame it sends.

What survives a reset, an unplug or a lost connection is ``Nvram`` (tokens, keys, frame
counters); everything else (configuration, policies, endpoints, the queue of frames to
send) is lost on reset, as on the chip. Devices of the network are the project's own
simulated nodes (``radios/virtual/device.py``), reached through ``sendUnicast`` /
``sendMulticast`` and heard through ``incomingMessageHandler``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import bellows.types as t
import zigpy.types as zt
import zigpy.zdo.types as zdo_t
from bellows import ash
from bellows.ezsp.v13 import EZSPv13

from custom_components.resilient_gateway.radios.virtual.delivery import DeliveryMode
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.virtual.timers import Timer, Timers

from .stick import TcpStick

_LOGGER = logging.getLogger(__name__)

EZSP_VERSION = 13
STACK_TYPE = 2  # EmberZNet
STACK_VERSION = 0x7440  # 7.4.4.0
VERSION_INFO = (0, 7, 4, 4, 0)  # build, major, minor, patch, special

COMMANDS: dict[str, tuple[int, Any, Any]] = EZSPv13.COMMANDS
BY_ID: dict[int, tuple[str, Any, Any]] = {
    cmd_id: (name, tx, rx) for name, (cmd_id, tx, rx) in COMMANDS.items()
}
LEGACY_VERSION_ID = 0x00  # the frame id of "version" in the legacy (v4..v7) format

RSTACK_VERSION = 0x02
TX_WINDOW = 3  # DATA frames the NCP sends before it needs an acknowledgement
ASH_RETRANSMISSIONS = 5
UNSET_EUI64 = t.EUI64.convert("FF:FF:FF:FF:FF:FF:FF:FF")
ZERO_EUI64 = t.EUI64.convert("00:00:00:00:00:00:00:00")
UNUSED_NODE_ID = 0xFFFF
NOT_JOINED_NODE_ID = 0xFFFE
COORDINATOR_NODE_ID = 0x0000
SECURITY_LEVEL = 5
NO_ENTRY = 0xFF

OUTGOING_MULTICAST = t.EmberOutgoingMessageType.OUTGOING_MULTICAST

# A frame the host hands the chip goes on air (and is confirmed) this long after.
AIR_DELAY = 0.005

ZDO_PROFILE = 0x0000
COORDINATOR_NODE_DESCRIPTOR = zdo_t.NodeDescriptor(
    logical_type=zdo_t.LogicalType.Coordinator,
    complex_descriptor_available=0,
    user_descriptor_available=0,
    reserved=0,
    aps_flags=0,
    frequency_band=zdo_t.FrequencyBand.Freq2400MHz,
    mac_capability_flags=(
        zdo_t.MACCapabilityFlags.AlternatePanCoordinator
        | zdo_t.MACCapabilityFlags.FullFunctionDevice
        | zdo_t.MACCapabilityFlags.MainsPowered
        | zdo_t.MACCapabilityFlags.RxOnWhenIdle
        | zdo_t.MACCapabilityFlags.AllocateAddress
    ),
    manufacturer_code=0x1049,  # Silicon Labs
    maximum_buffer_size=84,
    maximum_incoming_transfer_size=127,
    server_mask=0x2C41,
    maximum_outgoing_transfer_size=127,
    descriptor_capability_field=zdo_t.DescriptorCapability.NONE,
)

# Configuration values the stack starts with (bellows grows or sets the rest).
DEFAULT_CONFIG: dict[t.EzspConfigId, int] = {
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: SECURITY_LEVEL,
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 32,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 255,
}


# What the sticks' manufacturing tokens say (MFG_STRING, MFG_BOARD_NAME).
ZBDONGLE_E = ("SONOFF", "ZBDongle-E")
SKYCONNECT = ("Nabu Casa", "SkyConnect v1.0")
SLZB_07 = ("SMLIGHT", "SLZB-07")


@dataclasses.dataclass
class LinkKey:
    partner: t.EUI64
    key: t.KeyData
    tx_counter: int = 0
    rx_counter: int = 0


@dataclasses.dataclass
class Nvram:
    """The NCP's tokens: what survives resets, power cuts and lost connections."""

    # Manufacturing tokens (written at the factory).
    mfg_eui64: t.EUI64
    mfg_string: str = ZBDONGLE_E[0]
    board_name: str = ZBDONGLE_E[1]
    mfg_custom_eui64: t.EUI64 = UNSET_EUI64
    # CREATOR_STACK_RESTORED_EUI64: the EUI64 a restore gave the stick (rewritable).
    restored_eui64: t.EUI64 = UNSET_EUI64
    # The network (node data, network management, keys, trust centre tokens).
    formed: bool = False
    pan_id: int = 0xFFFF
    extended_pan_id: t.EUI64 = UNSET_EUI64
    channel: int = 11
    channel_mask: int = 0
    tx_power: int = 8
    nwk_manager_id: int = 0x0000
    nwk_update_id: int = 0
    network_key: t.KeyData = dataclasses.field(default_factory=lambda: t.KeyData([0] * 16))
    network_key_seq: int = 0
    nwk_frame_counter: int = 0
    # The trust centre link key as the stack keeps it: with a hashed TCLK, the seed.
    tc_link_key: t.KeyData = dataclasses.field(default_factory=lambda: t.KeyData([0] * 16))
    tc_eui64: t.EUI64 = ZERO_EUI64
    hashed_tclk: bool = False
    aps_frame_counter: int = 0
    link_keys: dict[int, LinkKey] = dataclasses.field(default_factory=dict)

    @property
    def eui64(self) -> t.EUI64:
        """The address the stick uses: a restored one wins over the factory one."""
        if self.restored_eui64 != UNSET_EUI64:
            return self.restored_eui64
        if self.mfg_custom_eui64 != UNSET_EUI64:
            return self.mfg_custom_eui64
        return self.mfg_eui64

    def factory_reset(self, *, keep_outgoing_counters: bool) -> None:
        """tokenFactoryReset: every stack token back to its default."""
        blank = Nvram(mfg_eui64=self.mfg_eui64)
        for field in dataclasses.fields(self):
            if field.name in ("mfg_eui64", "mfg_string", "board_name", "mfg_custom_eui64"):
                continue
            if keep_outgoing_counters and field.name in ("nwk_frame_counter", "aps_frame_counter"):
                continue
            setattr(self, field.name, getattr(blank, field.name))


def formed_nvram(
    rng: random.Random, *, frame_counter: int = 0, stick: tuple[str, str] = ZBDONGLE_E
) -> Nvram:
    """A stick that formed its own network some time ago (ZHA's settings, random keys)."""
    mfg = t.EUI64(rng.randbytes(8))
    return Nvram(
        mfg_eui64=mfg,
        mfg_string=stick[0],
        board_name=stick[1],
        formed=True,
        pan_id=rng.randrange(0x0001, 0xFFF7),
        extended_pan_id=t.EUI64(rng.randbytes(8)),
        channel=rng.choice([15, 20, 25]),
        channel_mask=t.Channels.ALL_CHANNELS,
        network_key=t.KeyData(rng.randbytes(16)),
        network_key_seq=0,
        nwk_frame_counter=frame_counter,
        tc_link_key=t.KeyData(rng.randbytes(16)),
        tc_eui64=mfg,
        hashed_tclk=True,
    )


def blank_nvram(rng: random.Random) -> Nvram:
    """A stick fresh from the factory: no network."""
    return Nvram(mfg_eui64=t.EUI64(rng.randbytes(8)))


class AshSession(asyncio.Protocol):
    """The NCP's end of ASH for one connection."""

    def __init__(self, ncp: EmulatedNcp) -> None:
        self._ncp = ncp
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._discarding = False
        self._rejecting = False
        self._tx_seq = 0
        self._rx_seq = 0
        self._unacked: deque[tuple[int, bytes]] = deque()  # (frame number, EZSP frame)
        self._outbox: deque[bytes] = deque()  # waiting for room in the window
        self._retransmit_timer: asyncio.TimerHandle | None = None
        self._timeouts = 0
        self._sent_data = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._ncp.attach(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._stop_retransmitting()
        self._ncp.detach(self)

    def data_received(self, data: bytes) -> None:
        self._buffer.extend(data)
        while self._buffer:
            if self._discarding:
                flag = self._buffer.find(bytes([ash.Reserved.FLAG]))
                if flag < 0:
                    self._buffer.clear()
                    return
                del self._buffer[: flag + 1]
                self._discarding = False
                continue
            index = next(
                (i for i, byte in enumerate(self._buffer) if byte in ash.RESERVED_WITHOUT_ESCAPE),
                None,
            )
            if index is None:
                return
            byte = self._buffer[index]
            if byte == ash.Reserved.FLAG:
                raw = bytes(self._buffer[:index])
                del self._buffer[: index + 1]
                if raw:
                    self._raw_frame(raw)
            elif byte == ash.Reserved.CANCEL:
                del self._buffer[: index + 1]
            elif byte == ash.Reserved.SUBSTITUTE:
                del self._buffer[: index + 1]
                self._discarding = True
            else:  # XON / XOFF: flow control, nothing to do on a socket
                del self._buffer[index]

    # -- receiving -------------------------------------------------------------------

    def _raw_frame(self, raw: bytes) -> None:
        try:
            data = ash.AshProtocol._unstuff_bytes(raw)
            frame = ash.parse_frame(data)
        except Exception:
            _LOGGER.debug("NCP: damaged frame %s", raw.hex())
            if raw and raw[0] & ash.DataFrame.MASK == ash.DataFrame.MASK_VALUE:
                self._reject()
            return
        match frame:
            case ash.RstFrame():
                self._reset()
            case ash.DataFrame():
                self._acknowledged(frame.ack_num)
                self._data(frame)
            case ash.AckFrame():
                self._acknowledged(frame.ack_num)
            case ash.NakFrame():
                self._ncp.naks_received += 1
                self._acknowledged(frame.ack_num)
                self._retransmit()
            case _:
                _LOGGER.debug("NCP: ignoring %r", frame)

    def _reset(self) -> None:
        self._stop_retransmitting()
        self._tx_seq = self._rx_seq = 0
        self._unacked.clear()
        self._outbox.clear()
        self._rejecting = False
        self._timeouts = 0
        self._ncp.reset()
        self._write(
            ash.RStackFrame(version=RSTACK_VERSION, reset_code=t.NcpResetCode.RESET_SOFTWARE)
        )

    def _data(self, frame: ash.DataFrame) -> None:
        if frame.frm_num != self._rx_seq:
            if frame.re_tx:
                # A copy of a frame already taken: acknowledge it again.
                self._write(ash.AckFrame(res=0, ncp_ready=0, ack_num=self._rx_seq))
            else:
                self._reject()
            return
        self._rx_seq = (self._rx_seq + 1) % 8
        self._rejecting = False
        self._sent_data = False
        self._ncp.ezsp_frame_received(frame.ezsp_frame)
        if not self._sent_data:  # nothing to piggyback the acknowledgement on
            self._write(ash.AckFrame(res=0, ncp_ready=0, ack_num=self._rx_seq))

    def _reject(self) -> None:
        if not self._rejecting:
            self._rejecting = True
            self._write(ash.NakFrame(res=0, ncp_ready=0, ack_num=self._rx_seq))

    def _acknowledged(self, ack_num: int) -> None:
        if not self._unacked:
            return
        oldest = self._unacked[0][0]
        count = (ack_num - oldest) % 8
        if count == 0 or count > len(self._unacked):
            return
        for _ in range(count):
            self._unacked.popleft()
        self._timeouts = 0
        self._stop_retransmitting()
        self._fill_window()
        if self._unacked:
            self._start_retransmitting()

    # -- sending ---------------------------------------------------------------------

    def send(self, ezsp_frame: bytes) -> None:
        """Queue one EZSP frame for the host (sent at once while the window has room)."""
        self._outbox.append(ezsp_frame)
        self._fill_window()

    def _fill_window(self) -> None:
        while self._outbox and len(self._unacked) < TX_WINDOW:
            ezsp_frame = self._outbox.popleft()
            frm_num = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) % 8
            self._unacked.append((frm_num, ezsp_frame))
            self._sent_data = True
            self._write(
                ash.DataFrame(
                    frm_num=frm_num, re_tx=False, ack_num=self._rx_seq, ezsp_frame=ezsp_frame
                )
            )
            self._start_retransmitting()

    def _retransmit(self) -> None:
        self._ncp.retransmissions += len(self._unacked)
        for frm_num, ezsp_frame in self._unacked:
            self._write(
                ash.DataFrame(
                    frm_num=frm_num, re_tx=True, ack_num=self._rx_seq, ezsp_frame=ezsp_frame
                )
            )

    def _start_retransmitting(self) -> None:
        if self._retransmit_timer is None and self._transport is not None:
            loop = asyncio.get_running_loop()
            self._retransmit_timer = loop.call_later(ash.T_RX_ACK_INIT, self._ack_timed_out)

    def _stop_retransmitting(self) -> None:
        if self._retransmit_timer is not None:
            self._retransmit_timer.cancel()
            self._retransmit_timer = None

    def _ack_timed_out(self) -> None:
        self._retransmit_timer = None
        self._timeouts += 1
        if self._timeouts > ASH_RETRANSMISSIONS:
            _LOGGER.debug("NCP: the host acknowledges nothing, giving up")
            return
        self._retransmit()
        self._start_retransmitting()

    def _write(self, frame: ash.AshFrame) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        data = frame.to_bytes()
        if isinstance(frame, ash.DataFrame) and self._ncp.damage_data_frames > 0:
            # Line noise: the CRC no longer matches, the host must NAK it.
            self._ncp.damage_data_frames -= 1
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        self._transport.write(ash.AshProtocol._stuff_bytes(data) + bytes([ash.Reserved.FLAG]))


@dataclasses.dataclass
class OutgoingFrame:
    """A frame the host asked the NCP to send."""

    message_type: t.EmberOutgoingMessageType
    destination: int
    aps_frame: t.EmberApsFrame
    tag: int
    data: bytes


class EmulatedNcp:
    """An EmberZNet NCP: tokens that persist, a stack that resets, devices on its air."""

    def __init__(self, nvram: Nvram) -> None:
        self.nvram = nvram
        self._session: AshSession | None = None
        self._timers: Timers | None = None
        self.devices: dict[int, SimDevice] = {}
        # What happened, for tests to look at.
        self.commands: list[str] = []  # every EZSP command received, by name
        self.unknown: list[str] = []  # commands this emulator does not answer
        self.resets = 0
        self.naks_received = 0  # ASH NAKs from the host
        self.retransmissions = 0  # DATA frames the NCP sent again
        self.delivered: list[OutgoingFrame] = []  # put on air, in order
        # Faults: DATA frames to the host damaged on the line (each costs a NAK and a
        # retransmission); frames for which ``hold`` says so are accepted but stay in the
        # chip's queue (never transmitted, never confirmed by messageSentHandler) until a
        # reset loses them.
        self.damage_data_frames = 0
        self.hold: Callable[[OutgoingFrame], bool] | None = None
        self.held: list[OutgoingFrame] = []
        self._frame_accepted = asyncio.Event()
        self._reset_runtime()

    # -- state that a reset loses -----------------------------------------------------

    def _reset_runtime(self) -> None:
        self.network_up = False
        self.extended_format = False
        self.config: dict[t.EzspConfigId, int] = dict(DEFAULT_CONFIG)
        self.values: dict[t.EzspValueId, bytes] = {}
        self.policies: dict[t.EzspPolicyId, int] = {}
        self.endpoints: dict[int, tuple[int, int, list[int], list[int]]] = {}
        self.multicast_table: dict[int, t.EmberMulticastTableEntry] = {}
        self._initial_security: t.EmberInitialSecurityState | None = None
        self._next_nwk_counter: int | None = None
        self._next_aps_counter: int | None = None
        self._last_sequence = 0
        self._aps_sequence = 0
        self.held.clear()

    def reset(self) -> None:
        """The chip restarts (an ASH RST): the stack is down until networkInit."""
        self.resets += 1
        self._reset_runtime()

    # -- connections ------------------------------------------------------------------

    def session(self) -> AshSession:
        return AshSession(self)

    def attach(self, session: AshSession) -> None:
        self._session = session
        if self._timers is None:
            self._timers = Timers(asyncio.get_running_loop())
            for device in self.devices.values():
                device.attach(self)

    def detach(self, session: AshSession) -> None:
        if self._session is session:
            self._session = None

    def close(self) -> None:
        """Stop every device timer (the test is over)."""
        for device in self.devices.values():
            device.detach()
        if self._timers is not None:
            self._timers.close()

    # -- devices (the DeviceHost of radios/virtual/device.py) --------------------------

    def join(self, device: SimDevice) -> None:
        """A device joins now: the trust centre lets it in, it announces itself."""
        self.devices[device.nwk] = device
        if self._timers is not None:
            device.attach(self)
        self._callback(
            "trustCenterJoinHandler",
            device.nwk,
            device.ieee,
            t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
            t.EmberJoinDecision.USE_PRECONFIGURED_KEY,
            COORDINATOR_NODE_ID,
        )
        device.announce()

    def now(self) -> float:
        assert self._timers is not None
        return self._timers.now()

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer:
        assert self._timers is not None
        return self._timers.call_later(delay, callback, *args)

    def transmit(self, device: SimDevice, packet: zt.ZigbeePacket) -> None:
        """A device sends a frame: the NCP hears it and passes it to the host."""
        if not self.network_up:
            return
        if packet.dst.addr_mode == zt.AddrMode.Broadcast:
            message_type = t.EmberIncomingMessageType.INCOMING_BROADCAST
        elif packet.dst.addr_mode == zt.AddrMode.Group:
            message_type = t.EmberIncomingMessageType.INCOMING_MULTICAST
        elif packet.dst.address == COORDINATOR_NODE_ID:
            message_type = t.EmberIncomingMessageType.INCOMING_UNICAST
        else:
            return  # for another node: the coordinator does not hear it
        aps_frame = t.EmberApsFrame(
            profileId=packet.profile_id,
            clusterId=packet.cluster_id,
            sourceEndpoint=packet.src_ep,
            destinationEndpoint=packet.dst_ep if packet.dst_ep is not None else 0xFF,
            options=t.EmberApsOption.APS_OPTION_ENABLE_ROUTE_DISCOVERY,
            groupId=packet.dst.address if packet.dst.addr_mode == zt.AddrMode.Group else 0,
            sequence=packet.tsn,
        )
        self._callback(
            "incomingMessageHandler",
            message_type,
            aps_frame,
            device.lqi,
            device.rssi,
            device.nwk,
            NO_ENTRY,
            NO_ENTRY,
            packet.data.serialize(),
        )

    def device_changed(self, device: SimDevice) -> None:
        pass

    def device_left(self, device: SimDevice) -> None:
        self.devices.pop(device.nwk, None)

    # -- faults -----------------------------------------------------------------------

    async def wait_for_held_frame(self) -> OutgoingFrame:
        while not self.held:
            self._frame_accepted.clear()
            await self._frame_accepted.wait()
        return self.held[0]

    # -- EZSP -------------------------------------------------------------------------

    def ezsp_frame_received(self, data: bytes) -> None:
        if len(data) < 3:
            return
        sequence = data[0]
        # The first "version" comes in the legacy format (frame id in byte 2); bellows
        # switches to the extended one (format version 1, 16-bit frame id) after it.
        if len(data) >= 5 and data[2] & 0x03 == 0x01:
            self.extended_format = True
            frame_id, params = int.from_bytes(data[3:5], "little"), data[5:]
        elif data[2] == LEGACY_VERSION_ID:
            self.extended_format = False
            frame_id, params = LEGACY_VERSION_ID, data[3:]
        else:
            _LOGGER.debug("NCP: unexpected frame %s", data.hex())
            return
        self._last_sequence = sequence
        try:
            name, tx_schema, _ = BY_ID[frame_id]
        except KeyError:
            self.unknown.append(f"0x{frame_id:04X}")
            self._respond(sequence, "invalidCommand", t.EzspStatus.ERROR_INVALID_FRAME_ID)
            return
        args, rest = t.deserialize_dict(params, tx_schema)
        if rest:
            _LOGGER.debug("NCP: %s has trailing bytes %s", name, rest.hex())
        self.commands.append(name)
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            self.unknown.append(name)
            self._respond(sequence, "invalidCommand", t.EzspStatus.ERROR_INVALID_FRAME_ID)
            return
        _LOGGER.debug("NCP: %s(%s)", name, args)
        values = handler(**args)
        self._respond(sequence, name, *values)
        after = getattr(self, f"_after_{name}", None)
        if after is not None:
            after(**args)

    def _frame(self, sequence: int, name: str, values: tuple[Any, ...], *, callback: bool) -> bytes:
        frame_id, _, rx_schema = COMMANDS[name]
        if isinstance(rx_schema, dict):
            payload = t.serialize_dict(values, {}, rx_schema)
        else:
            (payload,) = (value.serialize() for value in values)
        control = 0x90 if callback else 0x80
        if self.extended_format:
            header = bytes([sequence, control, 0x01]) + frame_id.to_bytes(2, "little")
        else:
            header = bytes([sequence, control, frame_id])
        return header + payload

    def _respond(self, sequence: int, name: str, *values: Any) -> None:
        if self._session is not None:
            self._session.send(self._frame(sequence, name, values, callback=False))

    def _callback(self, name: str, *values: Any) -> None:
        # A callback carries the sequence of the last command answered: never one the
        # host still waits an answer for (bellows has one command in flight at a time).
        if self._session is not None and self.extended_format:
            self._session.send(self._frame(self._last_sequence, name, values, callback=True))

    # -- commands: version and configuration ------------------------------------------

    def _cmd_version(self, desiredProtocolVersion: int) -> tuple[Any, ...]:
        return (EZSP_VERSION, STACK_TYPE, STACK_VERSION)

    def _cmd_customFrame(self, payload: bytes) -> tuple[Any, ...]:
        # Stock firmware has no XNCP extensions.
        return (t.EmberStatus.INVALID_CALL, b"")

    def _cmd_getValue(self, valueId: t.EzspValueId) -> tuple[Any, ...]:
        if valueId == t.EzspValueId.VALUE_VERSION_INFO:
            build, major, minor, patch, special = VERSION_INFO
            return (
                t.EzspStatus.SUCCESS,
                build.to_bytes(2, "little") + bytes([major, minor, patch, special]),
            )
        if valueId == t.EzspValueId.VALUE_FREE_BUFFERS:
            return (t.EzspStatus.SUCCESS, bytes([200]))
        if valueId == t.EzspValueId.VALUE_NWK_FRAME_COUNTER:
            return (t.EzspStatus.SUCCESS, t.uint32_t(self.nvram.nwk_frame_counter).serialize())
        if valueId in self.values:
            return (t.EzspStatus.SUCCESS, self.values[valueId])
        return (t.EzspStatus.ERROR_INVALID_ID, b"")

    def _cmd_setValue(self, valueId: t.EzspValueId, value: bytes) -> tuple[Any, ...]:
        if valueId in (
            t.EzspValueId.VALUE_NWK_FRAME_COUNTER,
            t.EzspValueId.VALUE_APS_FRAME_COUNTER,
        ):
            if self.network_up:
                return (t.EzspStatus.ERROR_INVALID_CALL,)
            counter, _ = t.uint32_t.deserialize(value)
            if valueId == t.EzspValueId.VALUE_NWK_FRAME_COUNTER:
                self._next_nwk_counter = int(counter)
            else:
                self._next_aps_counter = int(counter)
            return (t.EzspStatus.SUCCESS,)
        self.values[valueId] = bytes(value)
        return (t.EzspStatus.SUCCESS,)

    def _cmd_getConfigurationValue(self, configId: t.EzspConfigId) -> tuple[Any, ...]:
        return (t.EzspStatus.SUCCESS, self.config.get(configId, 0))

    def _cmd_setConfigurationValue(self, configId: t.EzspConfigId, value: int) -> tuple[Any, ...]:
        if self.network_up:
            return (t.EzspStatus.ERROR_INVALID_CALL,)
        self.config[configId] = int(value)
        return (t.EzspStatus.SUCCESS,)

    def _cmd_setPolicy(self, policyId: t.EzspPolicyId, decisionId: int) -> tuple[Any, ...]:
        self.policies[policyId] = int(decisionId)
        return (t.EzspStatus.SUCCESS,)

    def _cmd_addEndpoint(
        self,
        *,
        endpoint: int,
        profileId: int,
        deviceId: int,
        deviceVersion: int,
        inputClusterCount: int,
        outputClusterCount: int,
        inputClusterList: list[int],
        outputClusterList: list[int],
    ) -> tuple[Any, ...]:
        if self.network_up or endpoint in self.endpoints:
            return (t.EzspStatus.ERROR_INVALID_CALL,)
        self.endpoints[endpoint] = (
            profileId,
            deviceId,
            list(inputClusterList),
            list(outputClusterList),
        )
        return (t.EzspStatus.SUCCESS,)

    def _cmd_getMfgToken(self, tokenId: t.EzspMfgTokenId) -> tuple[Any, ...]:
        if tokenId == t.EzspMfgTokenId.MFG_STRING:
            return (self.nvram.mfg_string.encode().ljust(16, b"\xff"),)
        if tokenId == t.EzspMfgTokenId.MFG_BOARD_NAME:
            return (self.nvram.board_name.encode().ljust(16, b"\xff"),)
        if tokenId == t.EzspMfgTokenId.MFG_CUSTOM_EUI_64:
            return (self.nvram.mfg_custom_eui64.serialize(),)
        return (b"\xff" * 16,)

    def _cmd_setManufacturerCode(self, code: int) -> tuple[Any, ...]:
        return ()

    def _cmd_setConcentrator(self, **_: Any) -> tuple[Any, ...]:
        return (t.EmberStatus.SUCCESS,)

    def _cmd_setSourceRouteDiscoveryMode(self, mode: int) -> tuple[Any, ...]:
        return (0,)

    def _cmd_readCounters(self) -> tuple[Any, ...]:
        return ([t.uint16_t(0)] * len(t.EmberCounterType),)

    def _cmd_readAndClearCounters(self) -> tuple[Any, ...]:
        return self._cmd_readCounters()

    def _cmd_nop(self) -> tuple[Any, ...]:
        return ()

    def _cmd_setRadioPower(self, power: int) -> tuple[Any, ...]:
        return (t.EmberStatus.SUCCESS,)

    # -- commands: the network --------------------------------------------------------

    def _cmd_networkState(self) -> tuple[Any, ...]:
        up = self.network_up
        return (t.EmberNetworkStatus.JOINED_NETWORK if up else t.EmberNetworkStatus.NO_NETWORK,)

    def _cmd_networkInit(self, networkInitBitmask: int) -> tuple[Any, ...]:
        if self.network_up:
            return (t.EmberStatus.INVALID_CALL,)
        if not self.nvram.formed:
            return (t.EmberStatus.NOT_JOINED,)
        return (t.EmberStatus.SUCCESS,)

    def _after_networkInit(self, networkInitBitmask: int) -> None:
        if self.nvram.formed and not self.network_up:
            self._network_comes_up()

    def _network_comes_up(self) -> None:
        self.network_up = True
        self._callback("stackStatusHandler", t.EmberStatus.NETWORK_UP)

    def _cmd_getNetworkParameters(self) -> tuple[Any, ...]:
        nvram = self.nvram
        parameters = t.EmberNetworkParameters(
            extendedPanId=nvram.extended_pan_id,
            panId=nvram.pan_id,
            radioTxPower=nvram.tx_power,
            radioChannel=nvram.channel,
            joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
            nwkManagerId=nvram.nwk_manager_id,
            nwkUpdateId=nvram.nwk_update_id,
            channels=t.Channels(nvram.channel_mask),
        )
        if not self.network_up:
            return (t.EmberStatus.NOT_JOINED, t.EmberNodeType.UNKNOWN_DEVICE, parameters)
        return (t.EmberStatus.SUCCESS, t.EmberNodeType.COORDINATOR, parameters)

    def _cmd_getNodeId(self) -> tuple[Any, ...]:
        return (COORDINATOR_NODE_ID if self.network_up else NOT_JOINED_NODE_ID,)

    def _cmd_getEui64(self) -> tuple[Any, ...]:
        return (self.nvram.eui64,)

    def _cmd_getCurrentSecurityState(self) -> tuple[Any, ...]:
        if not self.network_up:
            state = t.EmberCurrentSecurityState(
                bitmask=t.EmberCurrentSecurityBitmask(0), trustCenterLongAddress=ZERO_EUI64
            )
            return (t.EmberStatus.NOT_JOINED, state)
        bitmask = (
            t.EmberCurrentSecurityBitmask.GLOBAL_LINK_KEY
            | t.EmberCurrentSecurityBitmask.HAVE_TRUST_CENTER_LINK_KEY
        )
        if self.nvram.hashed_tclk:
            bitmask |= t.EmberCurrentSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY
        state = t.EmberCurrentSecurityState(
            bitmask=bitmask, trustCenterLongAddress=self.nvram.tc_eui64
        )
        return (t.EmberStatus.SUCCESS, state)

    def _cmd_exportKey(self, context: t.SecurityManagerContextV13) -> tuple[Any, ...]:
        if context.core_key_type == t.SecurityManagerKeyType.NETWORK:
            return (self.nvram.network_key, t.sl_Status.OK)
        if context.core_key_type == t.SecurityManagerKeyType.TC_LINK:
            return (self.nvram.tc_link_key, t.sl_Status.OK)
        return (t.KeyData([0] * 16), t.sl_Status.NOT_FOUND)

    def _cmd_getNetworkKeyInfo(self) -> tuple[Any, ...]:
        info = t.SecurityManagerNetworkKeyInfo(
            network_key_set=t.Bool(self.nvram.formed),
            alternate_network_key_set=t.Bool.false,
            network_key_sequence_number=self.nvram.network_key_seq,
            alt_network_key_sequence_number=0,
            network_key_frame_counter=self.nvram.nwk_frame_counter,
        )
        return (t.sl_Status.OK, info)

    def _cmd_exportLinkKeyByIndex(self, index: int) -> tuple[Any, ...]:
        entry = self.nvram.link_keys.get(index)
        metadata = t.SecurityManagerAPSKeyMetadata(
            bitmask=t.EmberKeyStructBitmask(0),
            outgoing_frame_counter=entry.tx_counter if entry else 0,
            incoming_frame_counter=entry.rx_counter if entry else 0,
            ttl_in_seconds=0,
        )
        if entry is None:
            return (ZERO_EUI64, t.KeyData([0] * 16), metadata, t.sl_Status.NOT_FOUND)
        return (entry.partner, entry.key, metadata, t.sl_Status.OK)

    def _cmd_importLinkKey(self, index: int, address: t.EUI64, key: t.KeyData) -> tuple[Any, ...]:
        if index >= self.config[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE]:
            return (t.sl_Status.INVALID_INDEX,)
        self.nvram.link_keys[index] = LinkKey(partner=address, key=key)
        return (t.sl_Status.OK,)

    def _cmd_findKeyTableEntry(self, address: t.EUI64, linkKey: bool) -> tuple[Any, ...]:
        for index, entry in self.nvram.link_keys.items():
            if entry.partner == address:
                return (index,)
        return (NO_ENTRY,)

    def _cmd_clearKeyTable(self) -> tuple[Any, ...]:
        self.nvram.link_keys.clear()
        return (t.EmberStatus.SUCCESS,)

    def _cmd_importTransientKey(self, **_: Any) -> tuple[Any, ...]:
        return (t.sl_Status.OK,)

    def _cmd_getChildData(self, index: int) -> tuple[Any, ...]:
        empty = t.EmberChildDataV10(
            eui64=ZERO_EUI64,
            type=t.EmberNodeType.UNKNOWN_DEVICE,
            id=UNUSED_NODE_ID,
            phy=0,
            power=0,
            timeout=0,
            timeout_remaining=0,
        )
        return (t.EmberStatus.NOT_JOINED, empty)

    def _cmd_setChildData(self, index: int, child_data: Any) -> tuple[Any, ...]:
        return (t.EmberStatus.SUCCESS,)

    def _cmd_getAddressTableRemoteNodeId(self, addressTableIndex: int) -> tuple[Any, ...]:
        return (UNUSED_NODE_ID,)

    def _cmd_getAddressTableRemoteEui64(self, addressTableIndex: int) -> tuple[Any, ...]:
        return (ZERO_EUI64,)

    def _cmd_getExtendedTimeout(self, remoteEui64: t.EUI64) -> tuple[Any, ...]:
        return (t.Bool.false,)

    def _cmd_setExtendedTimeout(
        self, remoteEui64: t.EUI64, extendedTimeout: bool
    ) -> tuple[Any, ...]:
        return ()

    def _cmd_lookupNodeIdByEui64(self, eui64: t.EUI64) -> tuple[Any, ...]:
        for device in self.devices.values():
            if device.ieee == eui64:
                return (device.nwk,)
        return (UNUSED_NODE_ID,)

    def _cmd_lookupEui64ByNodeId(self, nodeId: int) -> tuple[Any, ...]:
        device = self.devices.get(nodeId)
        if device is None:
            return (t.EmberStatus.ERR_FATAL, ZERO_EUI64)
        return (t.EmberStatus.SUCCESS, device.ieee)

    def _cmd_replaceAddressTableEntry(self, **_: Any) -> tuple[Any, ...]:
        return (t.EmberStatus.SUCCESS, ZERO_EUI64, UNUSED_NODE_ID, t.Bool.false)

    def _cmd_getMulticastTableEntry(self, index: int) -> tuple[Any, ...]:
        entry = self.multicast_table.get(index) or t.EmberMulticastTableEntry(
            multicastId=0, endpoint=0, networkIndex=0
        )
        return (t.EmberStatus.SUCCESS, entry)

    def _cmd_setMulticastTableEntry(
        self, index: int, value: t.EmberMulticastTableEntry
    ) -> tuple[Any, ...]:
        self.multicast_table[index] = value
        return (t.EmberStatus.SUCCESS,)

    def _cmd_startScan(
        self, scanType: t.EzspNetworkScanType, channelMask: int, duration: int
    ) -> tuple[Any, ...]:
        if scanType != t.EzspNetworkScanType.ENERGY_SCAN:
            return (t.EmberStatus.INVALID_CALL,)
        return (t.EmberStatus.SUCCESS,)

    def _after_startScan(
        self, scanType: t.EzspNetworkScanType, channelMask: int, duration: int
    ) -> None:
        # A quiet house: every channel measures the noise floor, busier ones a bit more.
        for channel in t.Channels(channelMask):  # iterates channel numbers
            self._callback("energyScanResultHandler", channel, -90 + channel % 4)
        self._callback("scanCompleteHandler", 0, t.EmberStatus.SUCCESS)

    def _cmd_permitJoining(self, duration: int) -> tuple[Any, ...]:
        return (t.EmberStatus.SUCCESS,)

    # -- commands: tokens, forming and leaving ------------------------------------------

    def _cmd_getTokenData(self, token: int, index: int) -> tuple[Any, ...]:
        from bellows.ezsp.v9.commands import GetTokenDataRsp

        value = self._token(token, index)
        if value is None:
            return (GetTokenDataRsp(status=t.EmberStatus.ERR_FATAL, value=t.LVBytes32(b"")),)
        return (GetTokenDataRsp(status=t.EmberStatus.SUCCESS, value=t.LVBytes32(value)),)

    def _token(self, token: int, index: int) -> bytes | None:
        nvram = self.nvram
        if token == t.NV3KeyId.CREATOR_STACK_RESTORED_EUI64 and index == 0:
            return nvram.restored_eui64.serialize()
        if token == t.NV3KeyId.NVM3KEY_STACK_TRUST_CENTER and index == 0:
            return t.NV3StackTrustCenterToken(
                mode=0, eui64=nvram.tc_eui64, key=nvram.tc_link_key
            ).serialize()
        if token == t.NV3KeyId.NVM3KEY_STACK_NETWORK_MANAGEMENT and index == 0:
            return t.NV3StackNetworkManagementToken(
                active_channels=t.Channels(nvram.channel_mask),
                manager_node_id=nvram.nwk_manager_id,
                update_id=nvram.nwk_update_id,
                padding=0,
            ).serialize()
        if token == t.NV3KeyId.NVM3KEY_STACK_NODE_DATA and index == 0:
            return t.NV3StackNodeData(
                panId=nvram.pan_id,
                radioTxPower=nvram.tx_power,
                radioFreqChannel=nvram.channel,
                stackProfile=0x02,
                nodeType=t.EmberNodeType.COORDINATOR
                if nvram.formed
                else t.EmberNodeType.UNKNOWN_DEVICE,
                zigbeeNodeId=COORDINATOR_NODE_ID if nvram.formed else NOT_JOINED_NODE_ID,
                extendedPanId=nvram.extended_pan_id,
            ).serialize()
        return None

    def _cmd_setTokenData(self, token: int, index: int, token_data: bytes) -> tuple[Any, ...]:
        nvram = self.nvram
        data = bytes(token_data)
        if token == t.NV3KeyId.CREATOR_STACK_RESTORED_EUI64 and index == 0:
            nvram.restored_eui64, _ = t.EUI64.deserialize(data)
        elif token == t.NV3KeyId.NVM3KEY_STACK_TRUST_CENTER and index == 0:
            tc, _ = t.NV3StackTrustCenterToken.deserialize(data)
            nvram.tc_eui64 = tc.eui64
        elif token == t.NV3KeyId.NVM3KEY_STACK_NETWORK_MANAGEMENT and index == 0:
            management, _ = t.NV3StackNetworkManagementToken.deserialize(data)
            nvram.channel_mask = int(management.active_channels)
            nvram.nwk_manager_id = int(management.manager_node_id)
            nvram.nwk_update_id = int(management.update_id)
        elif token == t.NV3KeyId.NVM3KEY_STACK_NODE_DATA and index == 0:
            node, _ = t.NV3StackNodeData.deserialize(data)
            nvram.tx_power = int(node.radioTxPower)
        else:
            return (t.EmberStatus.ERR_FATAL,)
        return (t.EmberStatus.SUCCESS,)

    def _cmd_tokenFactoryReset(
        self, excludeOutgoingFC: bool, excludeBootCounter: bool
    ) -> tuple[Any, ...]:
        # The running stack keeps what it has in RAM until the next reset.
        self.nvram.factory_reset(keep_outgoing_counters=bool(excludeOutgoingFC))
        return ()

    def _cmd_gpSinkTableClearAll(self) -> tuple[Any, ...]:
        return ()

    def _cmd_setInitialSecurityState(self, state: t.EmberInitialSecurityState) -> tuple[Any, ...]:
        if self.network_up:
            return (t.EmberStatus.INVALID_CALL,)
        self._initial_security = state
        return (t.EmberStatus.SUCCESS,)

    def _cmd_formNetwork(self, parameters: t.EmberNetworkParameters) -> tuple[Any, ...]:
        security = self._initial_security
        if self.network_up or security is None:
            return (t.EmberStatus.INVALID_CALL,)
        nvram = self.nvram
        bits = t.EmberInitialSecurityBitmask
        nvram.formed = True
        nvram.pan_id = int(parameters.panId)
        nvram.extended_pan_id = parameters.extendedPanId
        nvram.channel = int(parameters.radioChannel)
        nvram.channel_mask = int(parameters.channels)
        nvram.tx_power = int(parameters.radioTxPower)
        nvram.nwk_manager_id = int(parameters.nwkManagerId)
        nvram.nwk_update_id = 0  # formNetwork ignores it (bellows writes the token after)
        nvram.network_key = security.networkKey
        nvram.network_key_seq = int(security.networkKeySequenceNumber)
        nvram.tc_link_key = security.preconfiguredKey
        nvram.hashed_tclk = bits.TRUST_CENTER_USES_HASHED_LINK_KEY in security.bitmask
        nvram.tc_eui64 = (
            security.preconfiguredTrustCenterEui64
            if bits.HAVE_TRUST_CENTER_EUI64 in security.bitmask
            else nvram.eui64
        )
        if self._next_nwk_counter is not None:
            nvram.nwk_frame_counter = self._next_nwk_counter
        elif bits.NO_FRAME_COUNTER_RESET not in security.bitmask:
            nvram.nwk_frame_counter = 0
        if self._next_aps_counter is not None:
            nvram.aps_frame_counter = self._next_aps_counter
        return (t.EmberStatus.SUCCESS,)

    def _after_formNetwork(self, parameters: t.EmberNetworkParameters) -> None:
        if self.nvram.formed and not self.network_up:
            self._network_comes_up()

    def _cmd_leaveNetwork(self) -> tuple[Any, ...]:
        if not self.network_up:
            return (t.EmberStatus.INVALID_CALL,)
        return (t.EmberStatus.SUCCESS,)

    def _after_leaveNetwork(self) -> None:
        if self.network_up:
            self.network_up = False
            self.nvram.formed = False
            self._callback("stackStatusHandler", t.EmberStatus.NETWORK_DOWN)

    # -- commands: sending ------------------------------------------------------------

    def _accept(self, frame: OutgoingFrame) -> tuple[Any, ...]:
        if not self.network_up:
            return (t.EmberStatus.NETWORK_DOWN, 0)
        self._aps_sequence = (self._aps_sequence + 1) % 256
        if self.hold is not None and self.hold(frame):
            self.held.append(frame)
            self._frame_accepted.set()
        else:
            self.call_later(AIR_DELAY, self._put_on_air, frame)
        return (t.EmberStatus.SUCCESS, self._aps_sequence)

    def _answer_own_zdo(self, aps: t.EmberApsFrame, data: bytes) -> None:
        """The stack answers ZDO requests for the coordinator itself."""
        hdr, _ = zdo_t.ZDOHeader.deserialize(aps.clusterId, data)
        if hdr.command_id == zdo_t.ZDOCmd.Node_Desc_req:
            answer = zdo_t.Status.SUCCESS.serialize() + zt.NWK(COORDINATOR_NODE_ID).serialize()
            answer += COORDINATOR_NODE_DESCRIPTOR.serialize()
        else:
            answer = zdo_t.Status.NOT_SUPPORTED.serialize()
        reply = t.EmberApsFrame(
            profileId=ZDO_PROFILE,
            clusterId=aps.clusterId | 0x8000,
            sourceEndpoint=0,
            destinationEndpoint=0,
            options=t.EmberApsOption.APS_OPTION_NONE,
            groupId=0,
            sequence=aps.sequence,
        )
        self._callback(
            "incomingMessageHandler",
            t.EmberIncomingMessageType.INCOMING_UNICAST,
            reply,
            255,
            0,
            COORDINATOR_NODE_ID,
            NO_ENTRY,
            NO_ENTRY,
            bytes([hdr.tsn]) + answer,
        )

    def _cmd_sendUnicast(
        self,
        type: t.EmberOutgoingMessageType,
        indexOrDestination: int,
        apsFrame: t.EmberApsFrame,
        messageTag: int,
        messageContents: bytes,
    ) -> tuple[Any, ...]:
        return self._accept(
            OutgoingFrame(
                type, int(indexOrDestination), apsFrame, int(messageTag), bytes(messageContents)
            )
        )

    def _cmd_sendMulticast(
        self,
        apsFrame: t.EmberApsFrame,
        hops: int,
        nonmemberRadius: int,
        messageTag: int,
        messageContents: bytes,
    ) -> tuple[Any, ...]:
        return self._accept(
            OutgoingFrame(
                t.EmberOutgoingMessageType.OUTGOING_MULTICAST,
                int(apsFrame.groupId),
                apsFrame,
                int(messageTag),
                bytes(messageContents),
            )
        )

    def _cmd_sendBroadcast(
        self,
        destination: int,
        apsFrame: t.EmberApsFrame,
        radius: int,
        messageTag: int,
        messageContents: bytes,
    ) -> tuple[Any, ...]:
        return self._accept(
            OutgoingFrame(
                t.EmberOutgoingMessageType.OUTGOING_BROADCAST,
                int(destination),
                apsFrame,
                int(messageTag),
                bytes(messageContents),
            )
        )

    def _put_on_air(self, frame: OutgoingFrame) -> None:
        """Transmit: every secured frame uses a network frame counter; a unicast is
        confirmed by the device's APS acknowledgement (or its absence)."""
        if not self.network_up:
            return
        aps = frame.aps_frame
        outgoing = t.EmberOutgoingMessageType
        receivers: list[tuple[SimDevice, DeliveryMode]] = []
        own_zdo = frame.destination == COORDINATOR_NODE_ID and aps.profileId == ZDO_PROFILE
        if not own_zdo:  # the stack answers those itself, nothing goes on air
            self.nvram.nwk_frame_counter += 1
            self.delivered.append(frame)
        if frame.message_type in (outgoing.OUTGOING_DIRECT, outgoing.OUTGOING_VIA_ADDRESS_TABLE):
            device = self.devices.get(frame.destination)
            reached = own_zdo or (device is not None and device.reachable)
            if device is not None and reached:
                receivers.append((device, DeliveryMode.UNICAST))
            status = t.EmberStatus.SUCCESS if reached else t.EmberStatus.DELIVERY_FAILED
        elif frame.message_type == outgoing.OUTGOING_MULTICAST:
            receivers = [(d, DeliveryMode.GROUPCAST) for d in self.devices.values()]
            status = t.EmberStatus.SUCCESS
        else:
            receivers = [(d, DeliveryMode.BROADCAST) for d in self.devices.values()]
            status = t.EmberStatus.SUCCESS
        self._callback(
            "messageSentHandler",
            frame.message_type,
            frame.destination,
            aps,
            frame.tag,
            status,
            b"",
        )
        if own_zdo:
            self._answer_own_zdo(aps, frame.data)
        for device, mode in receivers:
            packet = zt.ZigbeePacket(
                src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=COORDINATOR_NODE_ID),
                src_ep=aps.sourceEndpoint,
                dst=(
                    zt.AddrModeAddress(addr_mode=zt.AddrMode.Group, address=aps.groupId)
                    if mode is DeliveryMode.GROUPCAST
                    else zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=device.nwk)
                ),
                dst_ep=aps.destinationEndpoint,
                tsn=aps.sequence,
                profile_id=aps.profileId,
                cluster_id=aps.clusterId,
                data=zt.SerializableBytes(frame.data),
            )
            device.receive(packet, mode)


class EzspStick:
    """One emulated EZSP stick served over TCP: its NCP (with its NVRAM) and its port."""

    def __init__(self, nvram: Nvram) -> None:
        self.ncp = EmulatedNcp(nvram)
        self.server = TcpStick(self.ncp.session)

    @property
    def nvram(self) -> Nvram:
        return self.ncp.nvram

    @property
    def path(self) -> str:
        return self.server.path

    async def start(self) -> None:
        await self.server.start()

    async def unplug(self) -> None:
        await self.server.unplug()

    async def replug(self) -> None:
        await self.server.replug()

    async def close(self) -> None:
        await self.server.close()
        self.ncp.close()
