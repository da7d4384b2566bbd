"""A stopped gateway leaves nothing behind: no timer, no file written afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from custom_components.resilient_gateway.core.gateway import Gateway
from custom_components.resilient_gateway.core.model import Attr, SleepMode
from custom_components.resilient_gateway.core.radio import RadioListener
from custom_components.resilient_gateway.core.storage import AtomicJsonFile
from custom_components.resilient_gateway.core.virtual_time import run_virtual

from .fake_link import FakeLink
from .fake_radio import FakeDevice


class _RecordedFile(AtomicJsonFile):
    """Remembers when it was written."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.saved_at: list[float] = []

    async def save(self, data: Any) -> None:
        self.saved_at.append(asyncio.get_running_loop().time())
        await super().save(data)


def test_a_change_settled_while_stopping_is_not_saved_after_the_stop(tmp_path: Path) -> None:
    """Stopping waits for background work (a sleeper's read); a report that settles a
    change meanwhile must not leave a save behind that writes after the unload."""
    links: list[FakeLink] = []

    def radio(listener: RadioListener) -> FakeLink:
        link = FakeLink(listener)
        link.air.add(FakeDevice("lamp"))
        link.air.add(FakeDevice("sensor", sleep_mode=SleepMode.SLEEPY))
        links.append(link)
        return link

    changes = _RecordedFile(tmp_path / "changes.json")

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        gateway = Gateway(radio, changes_file=changes)
        await gateway.start()
        await asyncio.sleep(5.0)  # the start's reads are done
        gateway.set_state("lamp", {Attr.ON: True})
        links[0].air.wake("sensor")  # a sleeper woke: its read is under way when the stop comes
        loop.call_soon(gateway.attributes_reported, "lamp", {Attr.ON: True})  # meanwhile
        await gateway.stop()
        written = len(changes.saved_at)
        await asyncio.sleep(60.0)
        return changes.saved_at[written:]

    assert run_virtual(main()) == []  # nothing written once stopped
