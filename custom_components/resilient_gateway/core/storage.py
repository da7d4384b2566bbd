"""Atomic JSON files: a power cut never leaves a half-written file behind, and a damaged
one is set aside (kept for a human to look at), never overwritten."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

type Recovery[T] = Callable[[Any], tuple[T | None, str | None]]
"""What of a parsed document can be used, and what was wrong with it (None: nothing)."""

_LOGGER = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class SetAside:
    """A damaged file, renamed out of the way: its content is all in ``aside``."""

    path: Path  # where it was (a new file is written there)
    aside: Path
    problem: str  # what was wrong (no content of the file)


def set_aside(path: Path, *, now: datetime | None = None) -> Path:
    """Rename ``path`` to ``<stem>.damaged-<UTC time><suffix>`` beside it, never over an
    existing file; returns the new path."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    number = 0
    while True:
        extra = f"-{number}" if number else ""
        aside = path.with_name(f"{path.stem}.damaged-{stamp}{extra}{path.suffix}")
        if not aside.exists():
            path.rename(aside)
            return aside
        number += 1


def read_json_recovering[T](path: Path, recover: Recovery[T]) -> tuple[T | None, SetAside | None]:
    """What of the JSON document in ``path`` can be used (None: no file, or nothing).

    A file that is not JSON, or that ``recover`` finds fault with, is set aside first:
    a later write to ``path`` cannot destroy what it held.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    recovered: T | None = None
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        problem: str | None = f"it is not valid JSON: {exc.msg} at line {exc.lineno}"
    except ValueError, RecursionError:  # not UTF-8, or nested too deep
        problem = "it is not valid JSON"
    else:
        recovered, problem = recover(document)
    if problem is None:
        return recovered, None
    return recovered, SetAside(path, set_aside(path), problem)


class AtomicJsonFile:
    """One JSON document on disk, read and written off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> Any | None:
        return await asyncio.get_running_loop().run_in_executor(None, read_json, self.path)

    async def load_recovering[T](self, recover: Recovery[T]) -> tuple[T | None, SetAside | None]:
        """See ``read_json_recovering``."""
        read = partial(read_json_recovering, self.path, recover)
        return await asyncio.get_running_loop().run_in_executor(None, read)

    async def save(self, data: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, write_json_atomic, self.path, data)


class GatewayFileError(Exception):
    """A file the gateway keeps cannot be read at all (permissions, an I/O error): its
    start fails, and nothing blames the radio."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"{path.name} cannot be read: {error.strerror or error}")
        self.path = path


async def load_start_file[T](
    file: AtomicJsonFile,
    recover: Recovery[T],
    owner: str,
    on_set_aside: Callable[[SetAside], None],
) -> T | None:
    """What a start-up file of ``owner`` holds; a damaged one (not JSON, or of the wrong
    shape) is renamed aside, named in a warning and to ``on_set_aside``, and what could
    be recovered from it is used. GatewayFileError when it cannot be read at all."""
    try:
        data, set_aside = await file.load_recovering(recover)
    except OSError as exc:
        raise GatewayFileError(file.path, exc) from exc
    if set_aside is not None:
        _LOGGER.warning(
            "%s: %s could not be used (%s); it was kept as %s and the gateway starts"
            " with what could be recovered from it",
            owner,
            set_aside.path,
            set_aside.problem,
            set_aside.aside.name,
        )
        on_set_aside(set_aside)
    return data
