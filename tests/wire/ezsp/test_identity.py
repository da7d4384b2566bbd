"""A stick's network identity through bellows: start, refuse, form, snapshot, restore."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import zigpy.types as zt
from zigpy.backups import NetworkBackup

from custom_components.resilient_gateway.core.radio import (
    BlankRadioError,
    ForeignNetworkError,
    LinkState,
)
from custom_components.resilient_gateway.radios.zigbee.radio import RESTORE_COUNTER_INCREMENT

from .emulator import SKYCONNECT, SLZB_07, ZBDONGLE_E, Nvram, blank_nvram, formed_nvram
from .harness import MakeGateway, MakeRadio, MakeStick

SECTION = "zigbee"


def assert_identity(backup: NetworkBackup, nvram: Nvram) -> None:
    """The network identity in a zigpy backup is the one in the stick's NVRAM (frame
    counters apart: they move with every frame on air)."""
    network = backup.network_info
    assert network.extended_pan_id == zt.ExtendedPanId(nvram.extended_pan_id)
    assert network.pan_id == nvram.pan_id
    assert network.channel == nvram.channel
    assert network.nwk_update_id == nvram.nwk_update_id
    assert network.network_key.key == zt.KeyData(nvram.network_key)
    assert network.network_key.seq == nvram.network_key_seq
    # The trust centre link key is the well-known one, hashed by the stick with its seed.
    assert network.tc_link_key.key == zt.KeyData(b"ZigBeeAlliance09")
    assert network.stack_specific["ezsp"]["hashed_tclk"] == nvram.tc_link_key.serialize().hex()
    assert network.tc_link_key.partner_ieee == nvram.tc_eui64
    assert backup.node_info.ieee == nvram.eui64


@pytest.mark.parametrize("model", [ZBDONGLE_E, SKYCONNECT, SLZB_07], ids=lambda m: m[1])
async def test_formed_stick_starts_with_its_own_network(
    make_stick: MakeStick,
    make_radio: MakeRadio,
    rng: random.Random,
    tmp_path: Path,
    model: tuple[str, str],
) -> None:
    stick = await make_stick(formed_nvram(rng, stick=model))
    radio = make_radio(stick, tmp_path / "zigbee.db")
    await radio.start()
    assert radio.state is LinkState.UP
    assert radio.network_id() == str(zt.ExtendedPanId(stick.nvram.extended_pan_id))
    state = radio.app.state
    assert state.node_info.ieee == stick.nvram.eui64
    assert (state.node_info.manufacturer, state.node_info.model) == model
    assert state.network_info.pan_id == stick.nvram.pan_id
    assert state.network_info.channel == stick.nvram.channel
    # bellows negotiated from the legacy frame format up to EZSP v13 and had every request
    # answered; nothing was written to the stick.
    assert stick.ncp.commands[:2] == ["version", "version"]
    assert stick.ncp.unknown == []
    assert "formNetwork" not in stick.ncp.commands


async def test_blank_stick_is_refused_and_not_formed(
    make_stick: MakeStick, make_radio: MakeRadio, rng: random.Random, tmp_path: Path
) -> None:
    database = tmp_path / "zigbee.db"
    # The gateway ran a network before (its snapshot put a backup in zigpy's database) ...
    first = await make_stick(formed_nvram(rng))
    radio = make_radio(first, database)
    await radio.start()
    await radio.export_section()
    await radio.stop()
    # ... and now finds a blank stick: even asked to form, it must not.
    blank = await make_stick(blank_nvram(rng))
    radio = make_radio(blank, database)
    with pytest.raises(BlankRadioError):
        await radio.start(form_new_network=True)
    assert radio.state is LinkState.DOWN
    assert not blank.nvram.formed
    assert "formNetwork" not in blank.ncp.commands
    assert blank.ncp.unknown == []


async def test_stick_of_another_network_is_refused(
    make_stick: MakeStick, make_radio: MakeRadio, rng: random.Random, tmp_path: Path
) -> None:
    database = tmp_path / "zigbee.db"
    ours = await make_stick(formed_nvram(rng))
    radio = make_radio(ours, database)
    await radio.start()
    await radio.export_section()
    await radio.stop()
    foreign = await make_stick(formed_nvram(rng))
    before = repr(foreign.nvram)
    radio = make_radio(foreign, database)
    with pytest.raises(ForeignNetworkError):
        await radio.start(form_new_network=True)
    assert radio.state is LinkState.DOWN
    assert repr(foreign.nvram) == before  # nothing was written to it


async def test_new_gateway_forms_its_network_on_a_blank_stick(
    make_stick: MakeStick, make_radio: MakeRadio, rng: random.Random, tmp_path: Path
) -> None:
    blank = await make_stick(blank_nvram(rng))
    radio = make_radio(blank, tmp_path / "zigbee.db")
    await radio.start(form_new_network=True)
    assert blank.nvram.formed
    assert radio.network_id() == str(zt.ExtendedPanId(blank.nvram.extended_pan_id))
    assert radio.app.state.network_info.network_key.key == zt.KeyData(blank.nvram.network_key)
    assert blank.ncp.unknown == []


async def test_snapshot_holds_the_identity_in_the_sticks_nvram(
    make_stick: MakeStick, make_gateway: MakeGateway, rng: random.Random, tmp_path: Path
) -> None:
    stick = await make_stick(formed_nvram(rng, frame_counter=70_000))
    gateway = make_gateway(stick, tmp_path)
    await gateway.start()
    assert gateway.runs_its_network
    info = await gateway.take_snapshot()
    assert gateway.snapshots is not None
    payload = (await gateway.snapshots.async_read(info.path)).payload
    backup = NetworkBackup.from_dict(payload["sections"][SECTION]["network"])
    # Frames went on air since the stick started: the snapshot has the counter of now.
    assert stick.nvram.nwk_frame_counter > 70_000
    assert_identity(backup, stick.nvram)
    assert backup.network_info.network_key.tx_counter == stick.nvram.nwk_frame_counter
    assert payload["network_id"] == str(backup.network_info.extended_pan_id)


async def test_restore_writes_the_identity_onto_a_blank_stick(
    make_stick: MakeStick, make_gateway: MakeGateway, rng: random.Random, tmp_path: Path
) -> None:
    old = await make_stick(formed_nvram(rng, frame_counter=5_000))
    gateway = make_gateway(old, tmp_path)
    await gateway.start()
    info = await gateway.take_snapshot()
    await gateway.stop()
    await old.unplug()  # the old stick died
    assert gateway.snapshots is not None
    payload = (await gateway.snapshots.async_read(info.path)).payload
    saved = NetworkBackup.from_dict(payload["sections"][SECTION]["network"])

    new = await make_stick(blank_nvram(rng))
    assert new.nvram.eui64 != old.nvram.eui64
    gateway = make_gateway(new, tmp_path)  # the same gateway, its files kept
    await gateway.start()
    assert gateway.needs_restore
    assert not new.nvram.formed

    report = await gateway.restore(payload)

    assert report.network_id == str(saved.network_info.extended_pan_id)
    assert gateway.runs_its_network
    # The stick now holds the old one's identity, its address included (written to the
    # rewritable EUI64 token), with the frame counter raised past anything devices saw.
    assert new.nvram.restored_eui64 == old.nvram.eui64
    assert_identity(saved, new.nvram)
    counter_written = saved.network_info.network_key.tx_counter + RESTORE_COUNTER_INCREMENT
    assert counter_written <= new.nvram.nwk_frame_counter < counter_written + 100
    assert new.ncp.unknown == []
