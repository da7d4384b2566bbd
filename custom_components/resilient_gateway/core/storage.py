"""Atomic JSON files: a power cut never leaves a half-written file behind, and a damaged
one is set aside (kept for a human to look at), never overwritten.

The event loop's file work goes through aiofiles (each step in its executor); the plain
functions serve code that already runs in a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os
import aiofiles.tempfile

type Recovery[T] = Callable[[Any], tuple[T | None, str | None]]
"""What of a parsed document can be used, and what was wrong with it (None: nothing)."""

_LOGGER = logging.getLogger(__name__)


def jsonable(value: Any) -> Any:
    """A value as JSON keeps it: tuples (xy colours) become lists."""
    return list(value) if isinstance(value, tuple) else value


def _temp_file_options(path: Path) -> dict[str, Any]:
    """A temp file beside ``path`` whose name says whose it is (pruning knows it)."""
    return {"prefix": f".{path.name}.", "suffix": ".tmp", "dir": path.parent}


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable: only then is the folder entry on disk too."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path``: temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(**_temp_file_options(path))
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
    _fsync_folder(path.parent)


def _fsync_file(fd: int) -> None:
    os.fsync(fd)  # looked up at each call: tests put a full disk in its place


_fsync = aiofiles.os.wrap(_fsync_file)
_chmod = aiofiles.os.wrap(os.chmod)
_async_fsync_folder = aiofiles.os.wrap(_fsync_folder)


async def _discard(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        await aiofiles.os.unlink(name)


async def save_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """``write_bytes_atomic`` from the event loop, each step through aiofiles."""
    await aiofiles.os.makedirs(path.parent, exist_ok=True)
    async with aiofiles.tempfile.NamedTemporaryFile(
        "wb", delete=False, **_temp_file_options(path)
    ) as tmp:
        tmp_name = str(tmp.name)
        try:
            await tmp.write(data)
            await tmp.flush()
            await _fsync(tmp.fileno())
        except BaseException:
            await _discard(tmp_name)
            raise
    try:
        await _chmod(tmp_name, mode)
        await aiofiles.os.replace(tmp_name, path)
    except BaseException:
        await _discard(tmp_name)
        raise
    await _async_fsync_folder(path.parent)


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")


def write_json_atomic(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Write ``data`` as JSON to ``path`` atomically (see ``write_bytes_atomic``)."""
    write_bytes_atomic(path, _json_bytes(data), mode=mode)


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


def _recover[T](data: bytes, recover: Recovery[T]) -> tuple[T | None, str | None]:
    """What ``recover`` makes of a file's bytes, and what was wrong with them."""
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        return None, f"it is not valid JSON: {exc.msg} at line {exc.lineno}"
    except ValueError, RecursionError:  # not UTF-8, or nested too deep
        return None, "it is not valid JSON"
    return recover(document)


async def _read_bytes(path: Path) -> bytes | None:
    """The bytes of ``path``, or None when there is no such file."""
    try:
        async with aiofiles.open(path, "rb") as file:
            data: bytes = await file.read()
    except FileNotFoundError:
        return None
    return data


_async_set_aside = aiofiles.os.wrap(set_aside)


class AtomicJsonFile:
    """One JSON document on disk, read and written off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> Any | None:
        """The document, or None when there is no file."""
        data = await _read_bytes(self.path)
        return None if data is None else json.loads(data)

    async def load_recovering[R](self, recover: Recovery[R]) -> tuple[R | None, SetAside | None]:
        """What of the document can be used (None: no file, or nothing).

        A file that is not JSON, or that ``recover`` finds fault with, is set aside first:
        a later write to the path cannot destroy what it held.
        """
        data = await _read_bytes(self.path)
        if data is None:
            return None, None
        recovered, problem = _recover(data, recover)
        if problem is None:
            return recovered, None
        aside = await _async_set_aside(self.path)
        return recovered, SetAside(self.path, aside, problem)

    async def save(self, data: Any) -> None:
        await save_bytes_atomic(self.path, _json_bytes(data))


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
