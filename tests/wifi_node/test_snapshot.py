"""The link's snapshot section: its nodes and their fields, checked before a restore and
adopted by a link that does not know them."""

from __future__ import annotations

import json

import pytest

from custom_components.resilient_gateway.core.model import FieldKind

from .harness import RawNode, running_link


async def test_a_section_brings_the_nodes_and_their_fields_back() -> None:
    async with running_link() as (radio, _):
        node = await RawNode.connect(radio.port, b"n1\n")
        await node.line()
        report = {"_meta": {"led": {"kind": "switch"}}, "led": True, "t": 3}
        node.send(b"00" + json.dumps(report).encode() + b"\n")
        await node.line_skipping_keepalives()
        section = await radio.export_section()
        node.close()
    json.dumps(section)  # (it goes into a snapshot file)
    async with running_link() as (fresh, _):
        fresh.check_section(section)
        assert await fresh.adopt(section) == ["n1"]
        assert await fresh.adopt(section) == []
        (device,) = fresh.devices()
        assert [(f.name, f.kind) for f in device.fields] == [
            ("led", FieldKind.SWITCH),
            ("t", FieldKind.SENSOR),
        ]
        assert fresh.node_status("n1")["connected"] is False


@pytest.mark.parametrize(
    "section",
    [
        {},
        {"nodes": {"bad id": {"fields": {}}}},
        {"nodes": {"n1": {"fields": {"led": {"kind": "lamp"}}}}},
        {"nodes": {"n1": {}}},
    ],
)
async def test_a_section_of_the_wrong_shape_is_refused_before_a_restore(section: dict) -> None:
    async with running_link() as (radio, _):
        with pytest.raises(ValueError):
            radio.check_section(section)
