"""An emulated Z-Stack 3.30 coordinator (a CC2652 stick: Sonoff ZBDongle-P, SLZB-06/07
with Z-Stack, CC2652 USB sticks) speaking TI's MT serial protocol to zigpy-znp.

Built on zigpy-znp's own definitions: frames (``zigpy_znp.frames``), commands and their
schemas (``zigpy_znp.commands``), structures (``zigpy_znp.types``: NIB, key descriptors,
frame-counter and address-manager entries, serialized with the CC2652's struct alignment)
and NVRAM ids (``zigpy_znp.types.nvids``). It answers what zigpy-znp 1.1.1 asks on the
way to a running network, found by running the library against it:

- port probe: the reset indication a CC2652 sends when its port opens, SYS.Ping, the
  alignment probe (UTIL.AssocFindDevice), the Z-Stack version (SYS.Version, NV lengths);
- NVRAM: OSAL items (SYS.OSALNV*) and Z-Stack 3.30's item/sub-item tables (SYS.NV*),
  with resets that clear the network state when STARTUP_OPTION asks for it;
- start-up: BDB channel and commissioning (forming a network from the written settings
  when none is held, else restoring the held one), ZDO state changes, endpoint
  registration (AF.Register), ZDO callbacks, LED control, permit-join;
- ZDO requests to the coordinator itself (its node, endpoints and simple descriptors);
- AF data requests: acknowledged at once, confirmed by AF.DataConfirm once on air
  (``withhold_confirmations``: a stalled stick acknowledges a frame but neither sends nor
  confirms it), delivered to the device with that address; what devices send comes back
  as AF.IncomingMsg (ZCL) or ZDO.MsgCbIncoming (ZDO);
- every transmitted frame raises the network frame counter kept in NVRAM.

Anything else is answered as Z-Stack answers an unknown command (RPC error) and recorded
in ``unknown``, so a test sees at once what a new library version started to ask.

Tables are sized down from a real CC2652 build (which has hundreds of address-manager and
link-key slots) to keep the tests fast: zigpy-znp reads and writes every table to its end,
whatever its size. RAM state (registered endpoints, a started network, frames not yet
sent) is lost whenever the stick boots: at every new host connection and soft reset.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from typing import Any, Final

import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t
import zigpy_znp.commands as c
import zigpy_znp.types as t
from zigpy.profiles import zha
from zigpy.zcl import foundation
from zigpy_znp import const
from zigpy_znp.exceptions import InvalidFrame
from zigpy_znp.frames import GeneralFrame, TransportFrame
from zigpy_znp.types.nvids import ExNvIds, NvSysIds, OsalNvIds

from custom_components.resilient_gateway.radios.virtual import ztypes
from custom_components.resilient_gateway.radios.virtual.delivery import DeliveryMode
from custom_components.resilient_gateway.radios.virtual.device import SimDevice
from custom_components.resilient_gateway.radios.virtual.timers import Timers

from .tcp_stick import NETWORK_KEY, Air, HostLink, Signal

_LOGGER = logging.getLogger(__name__)

ALIGNED: Final = True  # the CC2652 pads its structs (zigpy-znp probes this)
CODE_REVISION: Final = 20230507  # a Z-Stack 3.x.0 CC2652 build date
COORDINATOR_NWK: Final = 0x0000
ZDO_ENDPOINT: Final = 0
ZDO_PROFILE: Final = 0x0000

RESET_DELAY: Final = 0.01  # a soft reset's indication follows (a real one takes ~1 s)
AIR_DELAY: Final = 0.005  # a frame's way to a device and the MAC acknowledgement back

# Table sizes (sub-items of the ExNvIds tables).
ADDRMGR_SIZE: Final = 16
TCLK_TABLE_SIZE: Final = 16
APS_KEY_DATA_SIZE: Final = 3
SEC_MATERIAL_SIZE: Final = 5
APS_LINK_KEY_TABLE_BYTES: Final = 22

# An 8-byte address of all ones marks a global frame counter and an empty address slot.
ALL_FF: Final = t.EUI64.convert("FF:FF:FF:FF:FF:FF:FF:FF")
ALL_ZERO: Final = t.EUI64.convert("00:00:00:00:00:00:00:00")
CAPABILITIES: Final = (
    t.MTCapabilities.APP_CNF
    | t.MTCapabilities.GP
    | t.MTCapabilities.UTIL
    | t.MTCapabilities.ZDO
    | t.MTCapabilities.AF
    | t.MTCapabilities.SYS
)
VERSION: Final = {"TransportRev": 2, "ProductId": 1, "MajorRel": 2, "MinorRel": 7, "MaintRel": 1}

type Item = tuple[int, int]  # (ExNvIds item, sub id); OSAL items are LEGACY sub ids


def _encode(value: Any) -> bytes:
    if isinstance(value, t.CStruct | t.BaseListType):
        return bytes(value.serialize(align=ALIGNED))
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes(value.serialize())


def _decode[T](data: bytes, kind: type[T]) -> T:
    if issubclass(kind, t.CStruct | t.BaseListType):
        value, _ = kind.deserialize(data, align=ALIGNED)
    else:
        value, _ = kind.deserialize(data)
    return value


def _legacy(nvid: int) -> Item:
    return (ExNvIds.LEGACY, nvid)


@dataclass(frozen=True, slots=True)
class ZStackIdentity:
    """The network identity a formed Z-Stack stick holds in its NVRAM."""

    ieee: t.EUI64
    pan_id: int
    extended_pan_id: t.EUI64
    channel: int
    network_key: t.KeyData
    key_seq: int
    frame_counter: int
    tclk_seed: t.KeyData
    nwk_update_id: int = 0


def random_identity(seed: int) -> ZStackIdentity:
    rng = random.Random(seed)
    return ZStackIdentity(
        ieee=t.EUI64(rng.randbytes(8)),
        pan_id=rng.randrange(0x0001, 0xFFF0),
        extended_pan_id=t.EUI64(rng.randbytes(8)),
        channel=rng.choice([11, 15, 20, 25]),
        network_key=t.KeyData(rng.randbytes(16)),
        key_seq=0,
        frame_counter=rng.randrange(1000, 90000),
        tclk_seed=t.KeyData(rng.randbytes(16)),
    )


def _default_nib() -> t.NIB:
    """Z-Stack's NIB before any network: no address, channel 0, no key loaded."""
    empty_key = t.NwkKeyDesc(KeySeqNum=0, Key=t.KeyData(bytes(16)))
    return t.NIB(
        SequenceNum=0,
        PassiveAckTimeout=5,
        MaxBroadcastRetries=2,
        MaxChildren=0,
        MaxDepth=20,
        MaxRouters=0,
        dummyNeighborTable=0,
        BroadcastDeliveryTime=30,
        ReportConstantCost=0,
        RouteDiscRetries=0,
        dummyRoutingTable=0,
        SecureAllFrames=1,
        SecurityLevel=5,
        SymLink=1,
        CapabilityFlags=143,
        TransactionPersistenceTime=7,
        nwkProtocolVersion=2,
        RouteDiscoveryTime=5,
        RouteExpiryTime=30,
        nwkDevAddress=0xFFFE,
        nwkLogicalChannel=0,
        nwkCoordAddress=0xFFFE,
        nwkCoordExtAddress=ALL_ZERO,
        nwkPanId=0xFFFF,
        nwkState=t.NwkState.NWK_INIT,
        channelList=t.Channels.NO_CHANNELS,
        beaconOrder=15,
        superFrameOrder=15,
        scanDuration=0,
        battLifeExt=0,
        allocatedRouterAddresses=0,
        allocatedEndDeviceAddresses=0,
        nodeDepth=0,
        extendedPANID=ALL_ZERO,
        nwkKeyLoaded=t.Bool(False),
        spare1=empty_key,
        spare2=empty_key,
        spare3=0,
        spare4=0,
        nwkLinkStatusPeriod=60,
        nwkRouterAgeLimit=3,
        nwkUseMultiCast=t.Bool(False),
        nwkIsConcentrator=t.Bool(True),
        nwkConcentratorDiscoveryTime=120,
        nwkConcentratorRadius=10,
        nwkAllFresh=1,
        nwkManagerAddr=0x0000,
        nwkTotalTransmissions=0,
        nwkUpdateId=0,
    )


_EMPTY_TCLK = t.TCLKDevEntry(
    txFrmCntr=0,
    rxFrmCntr=0,
    extAddr=ALL_ZERO,
    keyAttributes=t.KeyAttributes.DEFAULT_KEY,
    keyType=t.KeyType.NONE,
    SeedShift_IcIndex=0,
)
_EMPTY_SEC_MATERIAL = t.NwkSecMaterialDesc(FrameCounter=0, ExtendedPanID=ALL_ZERO)


class ZStackNvram:
    """The stick's flash: every item and table sub-item as bytes."""

    def __init__(self) -> None:
        self.items: dict[Item, bytes] = {}

    def get(self, item: Item) -> bytes | None:
        return self.items.get(item)

    def put(self, item: Item, value: Any) -> None:
        self.items[item] = _encode(value)

    def delete(self, item: Item) -> bool:
        return self.items.pop(item, None) is not None

    def osal[T](self, nvid: int, kind: type[T]) -> T | None:
        data = self.items.get(_legacy(nvid))
        return None if data is None else _decode(data, kind)

    def put_osal(self, nvid: int, value: Any) -> None:
        self.put(_legacy(nvid), value)

    def table[T](self, item_id: int, kind: type[T]) -> list[T]:
        entries = []
        sub = 0
        while (data := self.items.get((item_id, sub))) is not None:
            entries.append(_decode(data, kind))
            sub += 1
        return entries

    def fill_table(self, item_id: int, size: int, fill: Any) -> None:
        for sub in range(size):
            self.put((item_id, sub), fill)

    @classmethod
    def factory_new(cls, ieee: t.EUI64) -> ZStackNvram:
        """A freshly flashed stick: configuration items, no network."""
        nvram = cls()
        for nvid, value in {
            OsalNvIds.EXTADDR: ieee,
            OsalNvIds.STARTUP_OPTION: t.StartupOptions.NONE,
            OsalNvIds.LOGICAL_TYPE: t.DeviceLogicalType.Coordinator,
            OsalNvIds.CONCENTRATOR_ENABLE: t.Bool(False),
            OsalNvIds.CONCENTRATOR_DISCOVERY: t.uint8_t(120),
            OsalNvIds.CONCENTRATOR_RC: t.Bool(False),
            OsalNvIds.SRC_RTG_EXPIRY_TIME: t.uint8_t(10),
            OsalNvIds.NWK_CHILD_AGE_ENABLE: t.Bool(True),
            OsalNvIds.BCAST_DELIVERY_TIME: t.uint8_t(30),
            OsalNvIds.ZDO_DIRECT_CB: t.Bool(False),
            OsalNvIds.PANID: t.uint16_t(0xFFFF),
            OsalNvIds.APS_USE_EXT_PANID: ALL_ZERO,
            OsalNvIds.EXTENDED_PAN_ID: ALL_ZERO,
            OsalNvIds.PRECFGKEY: t.KeyData(bytes(16)),
            OsalNvIds.PRECFGKEYS_ENABLE: t.Bool(False),
            OsalNvIds.CHANLIST: t.Channels.ALL_CHANNELS,
            OsalNvIds.BDBNODEISONANETWORK: t.uint8_t(0),
            OsalNvIds.TCLK_SEED: t.KeyData(random.Random(ieee.serialize()).randbytes(16)),
        }.items():
            nvram.put_osal(nvid, value)
        nvram.clear_network_state()
        return nvram

    def clear_network_state(self) -> None:
        """What a reset with STARTUP_OPTION ClearState leaves: no network, no keys."""
        empty_key = t.NwkKeyDesc(KeySeqNum=0, Key=t.KeyData(bytes(16)))
        self.delete(_legacy(OsalNvIds.NIB))
        self.put_osal(OsalNvIds.NWK_ACTIVE_KEY_INFO, empty_key)
        self.put_osal(OsalNvIds.NWK_ALTERN_KEY_INFO, empty_key)
        self.put_osal(OsalNvIds.NWKKEY, t.NwkActiveKeyItems(Active=empty_key, FrameCounter=0))
        self.put_osal(OsalNvIds.BDBNODEISONANETWORK, t.uint8_t(0))
        self.fill_table(ExNvIds.TCLK_TABLE, TCLK_TABLE_SIZE, _EMPTY_TCLK)
        self.fill_table(
            ExNvIds.APS_KEY_DATA_TABLE,
            APS_KEY_DATA_SIZE,
            t.APSKeyDataTableEntry(Key=t.KeyData(bytes(16)), TxFrameCounter=0, RxFrameCounter=0),
        )
        self.fill_table(ExNvIds.NWK_SEC_MATERIAL_TABLE, SEC_MATERIAL_SIZE, _EMPTY_SEC_MATERIAL)
        for sub in range(ADDRMGR_SIZE):
            self.items.pop((ExNvIds.ADDRMGR, sub), None)
        self.items.pop(_legacy(OsalNvIds.APS_LINK_KEY_TABLE), None)

    @classmethod
    def formed(cls, identity: ZStackIdentity) -> ZStackNvram:
        """A stick that formed ``identity``'s network and has run it a while."""
        nvram = cls.factory_new(identity.ieee)
        nvram.put_osal(OsalNvIds.PANID, t.uint16_t(identity.pan_id))
        nvram.put_osal(OsalNvIds.APS_USE_EXT_PANID, identity.extended_pan_id)
        nvram.put_osal(OsalNvIds.PRECFGKEY, identity.network_key)
        nvram.put_osal(OsalNvIds.TCLK_SEED, identity.tclk_seed)
        nvram.form(
            channel=identity.channel,
            key_seq=identity.key_seq,
            frame_counter=identity.frame_counter,
            nwk_update_id=identity.nwk_update_id,
        )
        nvram.put_osal(OsalNvIds.HAS_CONFIGURED_ZSTACK3, const.ZSTACK_CONFIGURE_SUCCESS)
        return nvram

    def form(
        self, *, channel: int, key_seq: int = 0, frame_counter: int = 0, nwk_update_id: int = 0
    ) -> None:
        """Form a network from the pre-configured settings, as BDB formation does."""
        pan_id = int(self.osal(OsalNvIds.PANID, t.uint16_t) or 0xFFFF)
        if pan_id == 0xFFFF:
            pan_id = random.randrange(0x0001, 0xFFF0)
        epid = self.osal(OsalNvIds.APS_USE_EXT_PANID, t.EUI64) or ALL_ZERO
        if epid == ALL_ZERO:
            epid = self.ieee
        key = self.osal(OsalNvIds.PRECFGKEY, t.KeyData) or t.KeyData(os.urandom(16))
        active = t.NwkKeyDesc(KeySeqNum=key_seq, Key=key)
        self.put_osal(
            OsalNvIds.NIB,
            _default_nib().replace(
                nwkDevAddress=COORDINATOR_NWK,
                nwkLogicalChannel=channel,
                nwkCoordAddress=COORDINATOR_NWK,
                nwkPanId=pan_id,
                nwkState=t.NwkState.NWK_ROUTER,
                channelList=t.Channels.from_channel_list([channel]),
                extendedPANID=epid,
                nwkKeyLoaded=t.Bool(True),
                nwkUpdateId=nwk_update_id,
            ),
        )
        self.put_osal(OsalNvIds.EXTENDED_PAN_ID, epid)
        self.put_osal(OsalNvIds.NWK_ACTIVE_KEY_INFO, active)
        self.put_osal(OsalNvIds.NWK_ALTERN_KEY_INFO, active)
        self.put_osal(
            OsalNvIds.NWKKEY, t.NwkActiveKeyItems(Active=active, FrameCounter=frame_counter)
        )
        self.put((ExNvIds.NWK_SEC_MATERIAL_TABLE, 0), t.NwkSecMaterialDesc(frame_counter, epid))
        self.put((ExNvIds.NWK_SEC_MATERIAL_TABLE, 1), t.NwkSecMaterialDesc(0xFFFFFFFF, ALL_FF))
        self.fill_table(ExNvIds.ADDRMGR, ADDRMGR_SIZE, const.EMPTY_ADDR_MGR_ENTRY_ZSTACK3)
        self.put_osal(OsalNvIds.APS_LINK_KEY_TABLE, bytes(APS_LINK_KEY_TABLE_BYTES))
        self.put_osal(OsalNvIds.BDBNODEISONANETWORK, t.uint8_t(1))

    @property
    def ieee(self) -> t.EUI64:
        ieee = self.osal(OsalNvIds.EXTADDR, t.EUI64)
        assert ieee is not None
        return ieee

    @property
    def nib(self) -> t.NIB | None:
        return self.osal(OsalNvIds.NIB, t.NIB)

    @property
    def on_a_network(self) -> bool:
        nib = self.nib
        return (
            nib is not None
            and nib.nwkLogicalChannel != 0
            and bool(nib.nwkKeyLoaded)
            and self.osal(OsalNvIds.BDBNODEISONANETWORK, t.uint8_t) == 1
        )

    def frame_counter(self, epid: t.EUI64) -> int:
        fallback = 0
        for entry in self.table(ExNvIds.NWK_SEC_MATERIAL_TABLE, t.NwkSecMaterialDesc):
            if entry.ExtendedPanID == epid:
                return int(entry.FrameCounter)
            if entry.ExtendedPanID == ALL_FF:
                fallback = int(entry.FrameCounter)
        return fallback

    def count_frame(self, epid: t.EUI64) -> None:
        """One more frame sent under the network key: its counter moves on."""
        entries = self.table(ExNvIds.NWK_SEC_MATERIAL_TABLE, t.NwkSecMaterialDesc)
        for sub, entry in enumerate(entries):
            if entry.ExtendedPanID == epid:
                entry.FrameCounter = t.uint32_t(entry.FrameCounter + 1)
                self.items[(ExNvIds.NWK_SEC_MATERIAL_TABLE, sub)] = _encode(entry)
                return

    def identity(self) -> ZStackIdentity | None:
        """The network identity held, None when the stick holds no network."""
        nib = self.nib
        if nib is None or not self.on_a_network:
            return None
        key = self.osal(OsalNvIds.NWK_ACTIVE_KEY_INFO, t.NwkKeyDesc)
        seed = self.osal(OsalNvIds.TCLK_SEED, t.KeyData)
        assert key is not None and seed is not None
        return ZStackIdentity(
            ieee=self.ieee,
            pan_id=int(nib.nwkPanId),
            extended_pan_id=nib.extendedPANID,
            channel=int(nib.nwkLogicalChannel),
            network_key=key.Key,
            key_seq=int(key.KeySeqNum),
            frame_counter=self.frame_counter(nib.extendedPANID),
            tclk_seed=seed,
            nwk_update_id=int(nib.nwkUpdateId),
        )

    def add_device(self, ieee: t.EUI64, nwk: int) -> None:
        """A device joined through the trust centre: an address entry and a hashed key."""
        free = next(
            sub
            for sub, entry in enumerate(self.table(ExNvIds.ADDRMGR, t.AddrMgrEntry))
            if entry.extAddr == ALL_FF
        )
        self.put(
            (ExNvIds.ADDRMGR, free),
            t.AddrMgrEntry(type=t.AddrMgrUserType.Security, nwkAddr=nwk, extAddr=ieee),
        )
        slot = next(
            sub
            for sub, entry in enumerate(self.table(ExNvIds.TCLK_TABLE, t.TCLKDevEntry))
            if entry.extAddr == ALL_ZERO
        )
        self.put(
            (ExNvIds.TCLK_TABLE, slot),
            t.TCLKDevEntry(
                txFrmCntr=0,
                rxFrmCntr=0,
                extAddr=ieee,
                keyAttributes=t.KeyAttributes.VERIFIED_KEY,
                keyType=t.KeyType.NONE,
                SeedShift_IcIndex=0,
            ),
        )


class ZStackStick:
    """The firmware of a Z-Stack 3.30 coordinator: MT commands in, answers out.

    Test knobs: ``withhold_confirmations``, ``join()``; what it saw: ``requests`` (every
    command from the host), ``data_requests`` (AF data requests), ``held`` (frames a
    stalled stick acknowledged but never sent), ``unknown``; ``changed`` wakes waiters
    after every command and every change of state.
    """

    def __init__(self, nvram: ZStackNvram, air: Air) -> None:
        self.nvram = nvram
        self.factory_ieee = nvram.ieee
        self.air = air
        air.sticks.append(self)
        self.withhold_confirmations = False
        self.requests: list[t.CommandBase] = []
        self.data_requests: list[c.AF.DataRequestExt.Req] = []
        self.held: list[c.AF.DataRequestExt.Req] = []
        self.unknown: list[t.CommandBase] = []
        self.errors: list[Exception] = []
        self.written: list[tuple[Item, bytes]] = []  # NVRAM writes by the host
        self.changed = Signal()
        self._link: HostLink | None = None
        self._buffer = bytearray()
        self._timers: Timers | None = None
        # RAM: lost at every boot.
        self.endpoints: dict[int, c.AF.Register.Req] = {}
        self.started = False
        self._zdo_callbacks = False
        self._primary_channels = t.Channels.NO_CHANNELS
        self._handlers = {
            c.SYS.Ping.Req: self._ping,
            c.SYS.Version.Req: self._version,
            c.SYS.ResetReq.Req: self._reset,
            c.SYS.SetTxPower.Req: self._set_tx_power,
            c.SYS.OSALNVLength.Req: self._osal_length,
            c.SYS.OSALNVRead.Req: self._osal_read,
            c.SYS.OSALNVReadExt.Req: self._osal_read,
            c.SYS.OSALNVWrite.Req: self._osal_write,
            c.SYS.OSALNVWriteExt.Req: self._osal_write,
            c.SYS.OSALNVItemInit.Req: self._osal_init,
            c.SYS.OSALNVDelete.Req: self._osal_delete,
            c.SYS.NVLength.Req: self._nv_length,
            c.SYS.NVRead.Req: self._nv_read,
            c.SYS.NVWrite.Req: self._nv_write,
            c.SYS.NVCreate.Req: self._nv_create,
            c.SYS.NVDelete.Req: self._nv_delete,
            c.UTIL.AssocFindDevice.Req: self._assoc_find_device,
            c.UTIL.LEDControl.Req: self._led_control,
            c.AppConfig.BDBSetChannel.Req: self._bdb_set_channel,
            c.AppConfig.BDBStartCommissioning.Req: self._bdb_start_commissioning,
            c.ZDO.MsgCallbackRegister.Req: self._zdo_callback_register,
            c.ZDO.ExtRouteChk.Req: self._route_check,
            c.ZDO.ExtRouteDisc.Req: self._route_discovery,
            c.ZDO.MgmtPermitJoinReq.Req: self._permit_join,
            c.AF.Register.Req: self._af_register,
            c.AF.DataRequestExt.Req: self._af_data_request,
        }

    @classmethod
    def formed(cls, air: Air, seed: int = 1) -> ZStackStick:
        """A stick running the network ``random_identity(seed)``."""
        return cls(ZStackNvram.formed(random_identity(seed)), air)

    @classmethod
    def blank(cls, air: Air, seed: int = 99) -> ZStackStick:
        """A stick fresh from flashing: it holds no network."""
        return cls(ZStackNvram.factory_new(random_identity(seed).ieee), air)

    # -- what a test looks at ---------------------------------------------------------

    def identity(self) -> ZStackIdentity | None:
        return self.nvram.identity()

    @property
    def epid(self) -> t.EUI64 | None:
        nib = self.nvram.nib
        return None if nib is None else nib.extendedPANID

    def frame_counters_written(self) -> list[tuple[t.EUI64, int]]:
        """The (network, frame counter) entries the host wrote, in order."""
        entries = [
            _decode(data, t.NwkSecMaterialDesc)
            for (item_id, _), data in self.written
            if item_id == ExNvIds.NWK_SEC_MATERIAL_TABLE
        ]
        return [
            (entry.ExtendedPanID, int(entry.FrameCounter))
            for entry in entries
            if entry.ExtendedPanID != ALL_ZERO
        ]

    def commands_to(
        self, device: SimDevice, cluster_id: int, command_id: int, *, held: bool = False
    ) -> list[c.AF.DataRequestExt.Req]:
        """The AF data requests carrying ZCL cluster command ``command_id`` of
        ``cluster_id`` to ``device`` (only the stalled ones with ``held``)."""
        found = []
        for req in self.held if held else self.data_requests:
            dst = req.DstAddrModeAddress
            if dst.mode != t.AddrMode.NWK or dst.address != device.nwk:
                continue
            if req.ClusterId != cluster_id or req.DstEndpoint == ZDO_ENDPOINT:
                continue
            header, _ = foundation.ZCLHeader.deserialize(bytes(req.Data))
            if header.frame_control.is_cluster and header.command_id == command_id:
                found.append(req)
        return found

    def runs_network(self, extended_pan_id: str) -> bool:
        epid = self.epid
        return self.started and epid is not None and str(epid) == extended_pan_id

    def join(self, device: SimDevice) -> None:
        """``device`` joins this stick's network: its address and hashed link key land
        in NVRAM, the trust centre indicates the join, the device announces itself."""
        assert self.started and self.epid is not None, "the network must run"
        self.nvram.add_device(device.ieee, device.nwk)
        device.extras[NETWORK_KEY] = str(self.epid)
        self._send(
            c.ZDO.TCDevInd.Callback(SrcNwk=device.nwk, SrcIEEE=device.ieee, ParentNwk=0x0000)
        )
        device.announce()

    # -- Firmware ---------------------------------------------------------------------

    def booted(self, link: HostLink) -> None:
        self._link = link
        self._buffer.clear()
        self._boot()
        # A CC2652 resets when its port opens and says so.
        self._later(RESET_DELAY, self._send, self._reset_indication())

    def received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            start = self._buffer.find(TransportFrame.SOF)
            if start < 0:
                self._buffer.clear()  # e.g. bootloader skip bytes
                return
            del self._buffer[:start]
            if len(self._buffer) < 5 or len(self._buffer) < self._buffer[1] + 5:
                return
            try:
                frame, rest = TransportFrame.deserialize(bytes(self._buffer))
            except InvalidFrame:
                del self._buffer[:1]
                continue
            self._buffer[:] = rest
            self._command(frame.payload)

    def link_lost(self) -> None:
        self._link = None
        self._power_down()
        self.changed.notify()

    def stop(self) -> None:
        self._power_down()
        if self in self.air.sticks:
            self.air.sticks.remove(self)

    def problems(self) -> list[str]:
        return [f"unknown request {command}" for command in self.unknown] + [
            f"emulator error {error!r}" for error in self.errors
        ]

    # -- boot and RAM state -----------------------------------------------------------

    def _boot(self) -> None:
        self._power_down()
        self._timers = Timers(self.air.timers.loop)
        if self.nvram.get(_legacy(OsalNvIds.EXTADDR)) is None:
            # A deleted EXTADDR comes back as the chip's factory address.
            self.nvram.put_osal(OsalNvIds.EXTADDR, self.factory_ieee)
        option = self.nvram.osal(OsalNvIds.STARTUP_OPTION, t.StartupOptions)
        if option is not None and option & t.StartupOptions.ClearState:
            self.nvram.clear_network_state()
            self.nvram.put_osal(OsalNvIds.STARTUP_OPTION, t.StartupOptions.NONE)
        self.changed.notify()

    def _power_down(self) -> None:
        if self._timers is not None:
            self._timers.close()
            self._timers = None
        self.endpoints.clear()
        self.held.clear()
        self.started = False
        self._zdo_callbacks = False
        self._primary_channels = t.Channels.NO_CHANNELS

    def _later(self, delay: float, callback: Any, *args: Any) -> None:
        if self._timers is not None:
            self._timers.call_later(delay, callback, *args)

    # -- MT framing -------------------------------------------------------------------

    def _send(self, command: t.CommandBase) -> None:
        if self._link is not None:
            frame = command.to_frame(align=ALIGNED)
            self._link.write(TransportFrame(frame).serialize())

    def _command(self, frame: GeneralFrame) -> None:
        kind = c.COMMANDS_BY_ID.get(frame.header)
        if kind is None:
            self._not_recognized(frame.header)
            return
        command = kind.from_frame(frame, align=ALIGNED)
        self.requests.append(command)
        handler = self._handlers.get(type(command))
        if handler is None:
            _LOGGER.warning("Emulated Z-Stack does not know %s", command)
            self.unknown.append(command)
            self._not_recognized(frame.header)
        else:
            try:
                handler(command)
            except Exception as exc:  # the emulator's own bug: the test must see it
                _LOGGER.exception("Emulated Z-Stack failed on %s", command)
                self.errors.append(exc)
        self.changed.notify()

    def _not_recognized(self, header: t.CommandHeader) -> None:
        self._send(
            c.RPCError.CommandNotRecognized.Rsp(
                ErrorCode=c.rpc_error.ErrorCode.InvalidCommandId, RequestHeader=header
            )
        )

    # -- SYS --------------------------------------------------------------------------

    def _reset_indication(self) -> c.SYS.ResetInd.Callback:
        return c.SYS.ResetInd.Callback(Reason=t.ResetReason.PowerUp, **VERSION)

    def _ping(self, _: c.SYS.Ping.Req) -> None:
        self._send(c.SYS.Ping.Rsp(Capabilities=CAPABILITIES))

    def _version(self, _: c.SYS.Version.Req) -> None:
        self._send(
            c.SYS.Version.Rsp(
                **VERSION,
                CodeRevision=CODE_REVISION,
                BootloaderBuildType=c.sys.BootloaderBuildType.NON_BOOTLOADER_BUILD,
                BootloaderRevision=0xFFFFFFFF,
            )
        )

    def _reset(self, _: c.SYS.ResetReq.Req) -> None:
        self._boot()
        self._later(RESET_DELAY, self._send, self._reset_indication())

    def _set_tx_power(self, _: c.SYS.SetTxPower.Req) -> None:
        self._send(c.SYS.SetTxPower.Rsp(StatusOrPower=t.Status.SUCCESS))

    def _osal_length(self, req: c.SYS.OSALNVLength.Req) -> None:
        value = self.nvram.get(_legacy(req.Id)) or b""
        self._send(c.SYS.OSALNVLength.Rsp(ItemLen=len(value)))

    def _osal_read(self, req: Any) -> None:
        value = self.nvram.get(_legacy(req.Id))
        if value is None:
            self._send(req.Rsp(Status=t.Status.INVALID_PARAMETER, Value=t.ShortBytes(b"")))
            return
        self._send(req.Rsp(Status=t.Status.SUCCESS, Value=t.ShortBytes(value[req.Offset :][:248])))

    def _osal_write(self, req: Any) -> None:
        value = self.nvram.get(_legacy(req.Id))
        if value is None or req.Offset + len(req.Value) > len(value):
            self._send(req.Rsp(Status=t.Status.INVALID_PARAMETER))
            return
        data = bytearray(value)
        data[req.Offset : req.Offset + len(req.Value)] = req.Value
        self._write(_legacy(req.Id), bytes(data))
        self._send(req.Rsp(Status=t.Status.SUCCESS))

    def _osal_init(self, req: c.SYS.OSALNVItemInit.Req) -> None:
        item = _legacy(req.Id)
        if self.nvram.get(item) is not None:
            self._send(c.SYS.OSALNVItemInit.Rsp(Status=t.Status.SUCCESS))
            return
        self.nvram.put(item, bytes(req.Value).ljust(req.ItemLen, b"\xff"))
        self._send(c.SYS.OSALNVItemInit.Rsp(Status=t.Status.NV_ITEM_UNINIT))

    def _osal_delete(self, req: c.SYS.OSALNVDelete.Req) -> None:
        deleted = self.nvram.delete(_legacy(req.Id))
        status = t.Status.SUCCESS if deleted else t.Status.INVALID_PARAMETER
        self._send(c.SYS.OSALNVDelete.Rsp(Status=status))

    def _nv_length(self, req: c.SYS.NVLength.Req) -> None:
        value = self.nvram.get((req.ItemId, req.SubId)) if req.SysId == NvSysIds.ZSTACK else None
        self._send(c.SYS.NVLength.Rsp(Length=len(value or b"")))

    def _nv_read(self, req: c.SYS.NVRead.Req) -> None:
        value = self.nvram.get((req.ItemId, req.SubId))
        if value is None:
            self._send(c.SYS.NVRead.Rsp(Status=t.Status.FAILURE, Value=t.ShortBytes(b"")))
            return
        chunk = value[req.Offset : req.Offset + req.Length]
        self._send(c.SYS.NVRead.Rsp(Status=t.Status.SUCCESS, Value=t.ShortBytes(chunk)))

    def _nv_write(self, req: c.SYS.NVWrite.Req) -> None:
        item = (req.ItemId, req.SubId)
        value = self.nvram.get(item)
        if value is None or req.Offset + len(req.Value) > len(value):
            self._send(c.SYS.NVWrite.Rsp(Status=t.Status.FAILURE))
            return
        data = bytearray(value)
        data[req.Offset : req.Offset + len(req.Value)] = req.Value
        self._write(item, bytes(data))
        self._send(c.SYS.NVWrite.Rsp(Status=t.Status.SUCCESS))

    def _write(self, item: Item, data: bytes) -> None:
        self.nvram.put(item, data)
        self.written.append((item, data))

    def _nv_create(self, req: c.SYS.NVCreate.Req) -> None:
        item = (req.ItemId, req.SubId)
        if self.nvram.get(item) is not None:
            self._send(c.SYS.NVCreate.Rsp(Status=t.Status.SUCCESS))
            return
        self.nvram.put(item, bytes(req.Length))
        self._send(c.SYS.NVCreate.Rsp(Status=t.Status.NV_ITEM_UNINIT))

    def _nv_delete(self, req: c.SYS.NVDelete.Req) -> None:
        deleted = self.nvram.delete((req.ItemId, req.SubId))
        status = t.Status.SUCCESS if deleted else t.Status.NV_OPER_FAILED
        self._send(c.SYS.NVDelete.Rsp(Status=status))

    # -- UTIL -------------------------------------------------------------------------

    def _assoc_find_device(self, _: c.UTIL.AssocFindDevice.Req) -> None:
        # An empty associated-device slot, 36 bytes: the CC2652's padded struct.
        self._send(c.UTIL.AssocFindDevice.Rsp(Device=t.Bytes(b"\xff" * 36)))

    def _led_control(self, _: c.UTIL.LEDControl.Req) -> None:
        self._send(c.UTIL.LEDControl.Rsp(Status=t.Status.SUCCESS))

    # -- BDB start-up -----------------------------------------------------------------

    def _bdb_set_channel(self, req: c.AppConfig.BDBSetChannel.Req) -> None:
        if req.IsPrimary:
            self._primary_channels = req.Channel
        self._send(c.AppConfig.BDBSetChannel.Rsp(Status=t.Status.SUCCESS))

    def _bdb_start_commissioning(self, req: c.AppConfig.BDBStartCommissioning.Req) -> None:
        self._send(c.AppConfig.BDBStartCommissioning.Rsp(Status=t.Status.SUCCESS))
        if req.Mode != c.app_config.BDBCommissioningMode.NwkFormation:
            return
        state = c.ZDO.StateChangeInd.Callback
        note = c.AppConfig.BDBCommissioningNotification.Callback
        status = c.app_config.BDBCommissioningStatus
        mode = c.app_config.BDBCommissioningMode
        if self.nvram.on_a_network:
            replies: list[t.CommandBase] = [
                state(State=t.DeviceState.StartedAsCoordinator),
                note(
                    Status=status.NetworkRestored,
                    Mode=mode.NONE,
                    RemainingModes=mode.NwkFormation,
                ),
                note(Status=status.Success, Mode=mode.NwkFormation, RemainingModes=mode.NONE),
            ]
        else:
            channels = self._primary_channels or self.nvram.osal(OsalNvIds.CHANLIST, t.Channels)
            channel = min(list(t.Channels(channels)) or [11])
            self.nvram.form(channel=channel)
            replies = [
                state(State=t.DeviceState.StartingAsCoordinator),
                note(
                    Status=status.InProgress,
                    Mode=mode.NwkSteering,
                    RemainingModes=mode.NwkFormation,
                ),
                state(State=t.DeviceState.StartedAsCoordinator),
                note(Status=status.Success, Mode=mode.NwkSteering, RemainingModes=mode.NONE),
            ]
        self.started = True
        for reply in replies:
            self._later(0, self._send, reply)

    # -- ZDO --------------------------------------------------------------------------

    def _zdo_callback_register(self, _: c.ZDO.MsgCallbackRegister.Req) -> None:
        self._zdo_callbacks = True
        self._send(c.ZDO.MsgCallbackRegister.Rsp(Status=t.Status.SUCCESS))

    def _route_check(self, req: c.ZDO.ExtRouteChk.Req) -> None:
        self._send(c.ZDO.ExtRouteChk.Rsp(Status=c.zdo.RoutingStatus.SUCCESS))

    def _route_discovery(self, _: c.ZDO.ExtRouteDisc.Req) -> None:
        self._send(c.ZDO.ExtRouteDisc.Rsp(Status=t.Status.SUCCESS))

    def _permit_join(self, req: c.ZDO.MgmtPermitJoinReq.Req) -> None:
        self._send(c.ZDO.MgmtPermitJoinReq.Rsp(Status=t.Status.SUCCESS))
        answering = COORDINATOR_NWK if req.AddrMode == t.AddrMode.Broadcast else req.Dst
        self._later(
            0,
            self._send,
            c.ZDO.MgmtPermitJoinRsp.Callback(Src=answering, Status=t.ZDOStatus.SUCCESS),
        )

    def _coordinator_zdo(self, req: c.AF.DataRequestExt.Req) -> None:
        """Z-Stack answers ZDO requests for its own node itself."""
        cluster = int(req.ClusterId)
        if cluster not in zdo_t.CLUSTERS or cluster & 0x8000:
            return
        command = ztypes.zdo_command(cluster)
        tsn, data = req.Data[0], bytes(req.Data[1:])
        args, _ = ztypes.deserialize(data, ztypes.zdo_schema(command))
        Cmd = zdo_t.ZDOCmd
        ok = zdo_t.Status.SUCCESS
        answer: tuple[zdo_t.ZDOCmd, list[Any]]
        if command == Cmd.Node_Desc_req:
            answer = (Cmd.Node_Desc_rsp, [ok, COORDINATOR_NWK, _coordinator_node_descriptor()])
        elif command == Cmd.Active_EP_req:
            answer = (Cmd.Active_EP_rsp, [ok, COORDINATOR_NWK, sorted(self.endpoints)])
        elif command == Cmd.Simple_Desc_req and (ep := self.endpoints.get(args[1])) is not None:
            descriptor = zdo_t.SizePrefixedSimpleDescriptor(
                endpoint=ep.Endpoint,
                profile=ep.ProfileId,
                device_type=ep.DeviceId,
                device_version=ep.DeviceVersion,
                input_clusters=list(ep.InputClusters),
                output_clusters=list(ep.OutputClusters),
            )
            answer = (Cmd.Simple_Desc_rsp, [ok, COORDINATOR_NWK, descriptor])
        else:
            answer = (ztypes.zdo_command(cluster | 0x8000), [zdo_t.Status.NOT_SUPPORTED])
        response, values = answer
        types = ztypes.zdo_schema(response)
        payload = b"".join(
            kind(value).serialize() for kind, value in zip(types, values, strict=False)
        )
        self._later(AIR_DELAY, self._zdo_to_host, COORDINATOR_NWK, response, tsn, payload, False)

    def _zdo_to_host(self, src: int, cluster: int, tsn: int, data: bytes, broadcast: bool) -> None:
        if not self._zdo_callbacks:
            return
        self._send(
            c.ZDO.MsgCbIncoming.Callback(
                Src=src,
                IsBroadcast=t.Bool(broadcast),
                ClusterId=cluster,
                SecurityUse=0,
                TSN=tsn,
                MacDst=0xFFFF if broadcast else COORDINATOR_NWK,
                Data=t.Bytes(data),
            )
        )

    # -- AF ---------------------------------------------------------------------------

    def _af_register(self, req: c.AF.Register.Req) -> None:
        if req.Endpoint in self.endpoints:
            self._send(c.AF.Register.Rsp(Status=t.Status.INVALID_PARAMETER))
            return
        self.endpoints[req.Endpoint] = req
        self._send(c.AF.Register.Rsp(Status=t.Status.SUCCESS))

    def _af_data_request(self, req: c.AF.DataRequestExt.Req) -> None:
        self._send(c.AF.DataRequestExt.Rsp(Status=t.Status.SUCCESS))
        self.data_requests.append(req)
        dst = req.DstAddrModeAddress
        is_zdo = req.DstEndpoint == ZDO_ENDPOINT
        unicast = dst.mode in (t.AddrMode.NWK, t.AddrMode.IEEE)
        if self.withhold_confirmations and unicast and not is_zdo:
            self.held.append(req)  # acknowledged, then stuck in the stick's queue
            return
        epid = self.epid
        if epid is not None:
            self.nvram.count_frame(epid)
        if is_zdo and dst.mode == t.AddrMode.NWK and dst.address == COORDINATOR_NWK:
            self._coordinator_zdo(req)
            return
        targets = self._reached(req)
        if unicast and not is_zdo:
            status = t.Status.SUCCESS if targets else t.Status.MAC_NO_ACK
            self._later(
                AIR_DELAY,
                self._send,
                c.AF.DataConfirm.Callback(Status=status, Endpoint=req.SrcEndpoint, TSN=req.TSN),
            )
        mode = (
            DeliveryMode.UNICAST
            if unicast
            else DeliveryMode.GROUPCAST
            if dst.mode == t.AddrMode.Group
            else DeliveryMode.BROADCAST
        )
        registered = self.endpoints.get(req.SrcEndpoint)
        profile = ZDO_PROFILE if is_zdo else registered.ProfileId if registered else zha.PROFILE_ID
        packet = ztypes.packet(
            src=ztypes.nwk_address(COORDINATOR_NWK),
            src_ep=req.SrcEndpoint,
            dst=_zigpy_address(dst),
            dst_ep=req.DstEndpoint,
            tsn=req.TSN,
            profile_id=profile,
            cluster_id=req.ClusterId,
            data=bytes(req.Data),
        )
        for device in targets:
            self._later(AIR_DELAY, self.air.deliver, device, packet, mode)

    def _reached(self, req: c.AF.DataRequestExt.Req) -> list[SimDevice]:
        """The devices of this network a frame reaches (by address; all for a broadcast)."""
        epid = self.epid
        if epid is None or not self.started:
            return []
        members = [
            device
            for device in self.air.devices.values()
            if device.extras.get(NETWORK_KEY) == str(epid) and device.reachable
        ]
        dst = req.DstAddrModeAddress
        if dst.mode == t.AddrMode.NWK:
            return [device for device in members if device.nwk == dst.address]
        if dst.mode == t.AddrMode.IEEE:
            return [device for device in members if device.ieee == dst.address]
        return members

    def heard(self, device: SimDevice, packet: zigpy_t.ZigbeePacket) -> None:
        """A frame from a device of this network: to the host as Z-Stack passes it on."""
        if self._link is None or not self.started:
            return
        data = packet.data.serialize()
        broadcast = packet.dst is not None and packet.dst.addr_mode == zigpy_t.AddrMode.Broadcast
        if packet.profile_id == ZDO_PROFILE and packet.src_ep == ZDO_ENDPOINT:
            self._later(
                AIR_DELAY,
                self._zdo_to_host,
                device.nwk,
                packet.cluster_id,
                data[0],
                data[1:],
                broadcast,
            )
            return
        if packet.dst_ep not in self.endpoints:
            return  # Z-Stack drops frames for endpoints nobody registered
        self._later(
            AIR_DELAY,
            self._send,
            c.AF.IncomingMsg.Callback(
                GroupId=0x0000,
                ClusterId=packet.cluster_id,
                SrcAddr=device.nwk,
                SrcEndpoint=packet.src_ep,
                DstEndpoint=packet.dst_ep,
                WasBroadcast=t.Bool(broadcast),
                LQI=device.lqi,
                SecurityUse=t.Bool(False),
                TimeStamp=0,
                TSN=0,
                Data=t.ShortBytes(data),
                MacSrcAddr=device.nwk,
                MsgResultRadius=29,
            ),
        )


def _coordinator_node_descriptor() -> zdo_t.NodeDescriptor:
    return ztypes.node_descriptor(
        logical_type=zdo_t.LogicalType.Coordinator,
        complex_descriptor_available=0,
        user_descriptor_available=0,
        reserved=0,
        aps_flags=0,
        frequency_band=zdo_t.FrequencyBand.Freq2400MHz,
        mac_capability_flags=zdo_t.MACCapabilityFlags(0x8F),
        manufacturer_code=0x0000,
        maximum_buffer_size=80,
        maximum_incoming_transfer_size=160,
        server_mask=0x2C01,
        maximum_outgoing_transfer_size=160,
        descriptor_capability_field=zdo_t.DescriptorCapability.NONE,
    )


def _zigpy_address(address: t.AddrModeAddress) -> zigpy_t.AddrModeAddress:
    mode = {
        t.AddrMode.NWK: zigpy_t.AddrMode.NWK,
        t.AddrMode.IEEE: zigpy_t.AddrMode.IEEE,
        t.AddrMode.Group: zigpy_t.AddrMode.Group,
        t.AddrMode.Broadcast: zigpy_t.AddrMode.Broadcast,
    }[address.mode]
    return zigpy_t.AddrModeAddress(addr_mode=mode, address=address.address)
