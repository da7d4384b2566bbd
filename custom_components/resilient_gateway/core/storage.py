"""Atomic JSON files: a power cut never leaves a half-written file behind."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """A value as JSON keeps it: tuples (xy colours) become lists."""
    return list(value) if isinstance(value, tuple) else value


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path``: temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # The rename is durable only once the folder entry is on disk too.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json_atomic(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Write ``data`` as JSON to ``path`` atomically (see ``write_bytes_atomic``)."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    write_bytes_atomic(path, text.encode("utf-8"), mode=mode)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when there is no such file."""
    try:
        with path.open(encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        return None


class AtomicJsonFile:
    """One JSON document on disk, read and written off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> Any | None:
        return await asyncio.get_running_loop().run_in_executor(None, read_json, self.path)

    async def save(self, data: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, write_json_atomic, self.path, data)
