"""Atomic files from the event loop (aiofiles): what a crash or a damaged file leaves."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import aiofiles.os
import pytest

from custom_components.resilient_gateway.core.snapshot import (
    MAX_SNAPSHOT_BYTES,
    SnapshotCorrupt,
    SnapshotTooLarge,
    async_read_snapshot_bytes,
)
from custom_components.resilient_gateway.core.storage import AtomicJsonFile, save_bytes_atomic


async def _power_cut(source: object, target: object) -> None:
    raise OSError("power cut")


async def test_a_saved_document_loads_back_readable_by_its_owner_only(tmp_path: Path) -> None:
    file = AtomicJsonFile(tmp_path / "new" / "changes.json")
    assert await file.load() is None  # no file yet
    await file.save({"devices": {"a": [1, 2]}, "version": 1})
    assert await file.load() == {"devices": {"a": [1, 2]}, "version": 1}
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600


async def test_a_save_cut_short_keeps_the_old_document_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = AtomicJsonFile(tmp_path / "changes.json")
    await file.save({"version": 1})
    monkeypatch.setattr(aiofiles.os, "replace", _power_cut)
    with pytest.raises(OSError, match="power cut"):
        await file.save({"version": 2})
    assert os.listdir(tmp_path) == ["changes.json"]
    assert await file.load() == {"version": 1}


async def test_a_write_that_fails_midway_leaves_no_temp_file(tmp_path: Path) -> None:

    with pytest.raises(TypeError):
        await save_bytes_atomic(tmp_path / "file.bin", "not bytes")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def _keep_half(document: Any) -> tuple[Any, str | None]:
    good = [item for item in document if isinstance(item, int)]
    return good, None if len(good) == len(document) else "some entries are not numbers"


async def test_a_damaged_document_is_set_aside_with_what_could_be_recovered(
    tmp_path: Path,
) -> None:
    file = AtomicJsonFile(tmp_path / "scenes.json")
    file.path.write_text('[1, "two", 3]')
    recovered, aside = await file.load_recovering(_keep_half)
    assert recovered == [1, 3]
    assert aside is not None
    assert aside.problem == "some entries are not numbers"
    assert not file.path.exists()
    assert aside.aside.read_text() == '[1, "two", 3]'


async def test_a_document_that_is_not_json_is_set_aside_and_nothing_recovered(
    tmp_path: Path,
) -> None:
    file = AtomicJsonFile(tmp_path / "scenes.json")
    file.path.write_bytes(b"{\xff")
    recovered, aside = await file.load_recovering(_keep_half)
    assert recovered is None
    assert aside is not None
    assert aside.problem == "it is not valid JSON"
    assert await file.load_recovering(_keep_half) == (None, None)  # the path is free


async def test_a_snapshot_too_large_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "snapshot-big.json"
    with big.open("wb") as file:
        file.truncate(MAX_SNAPSHOT_BYTES + 1)  # sparse: nothing written
    with pytest.raises(SnapshotTooLarge):
        await async_read_snapshot_bytes(big)


async def test_a_snapshot_path_that_is_no_regular_file_is_refused(tmp_path: Path) -> None:
    pipe = tmp_path / "snapshot-pipe.json"
    os.mkfifo(pipe)  # reading it would block the loop's executor forever
    with pytest.raises(SnapshotCorrupt):
        await async_read_snapshot_bytes(pipe)
    with pytest.raises(SnapshotCorrupt):
        await async_read_snapshot_bytes(tmp_path)
