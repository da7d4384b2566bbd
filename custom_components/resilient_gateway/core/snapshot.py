"""Gateway snapshots: one JSON file holding a whole gateway, and the folder that keeps them.

A snapshot is what a replacement radio is restored from. Its payload carries the network
keys, so it may be encrypted with a password; its summary is small, never secret, and is
what listings show without one. Every file carries a checksum of its content, so a damaged
or edited snapshot is refused rather than restored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import hashlib
import json
import logging
import os
import re
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Final, NoReturn, TypedDict, TypeIs

import aiofiles
import aiofiles.os
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .storage import save_bytes_atomic, write_bytes_atomic

_LOGGER = logging.getLogger(__name__)

SNAPSHOT_FORMAT: Final = "resilient_gateway_snapshot"
SNAPSHOT_VERSION: Final = 1
"""The newest snapshot schema this code writes and reads."""

CIPHER: Final = "AES-256-GCM"
KDF: Final = "scrypt"
SALT_BYTES: Final = 16
NONCE_BYTES: Final = 12  # the GCM standard nonce
KEY_BYTES: Final = 32  # AES-256

MAX_KDF_WORK: Final = 256 * 1024 * 1024
"""Largest scrypt cost accepted, as 128·n·r·p bytes: the parameters come from the file,
so a hostile snapshot must not make the gateway spend gigabytes and minutes on one key."""

MAX_SNAPSHOT_BYTES: Final = 16 * 1024 * 1024
"""Largest file read as a snapshot (or an Open Coordinator Backup). The largest real one
measured, 500 devices each with a pending change and 16 scenes of all lights, is 1.4 MB
(648 KiB with one scene and nothing pending): the cap leaves more than ten times that,
and keeps a file that is no snapshot from costing hundreds of MiB to parse."""

STALE_TEMP_SECONDS: Final = 3600.0
"""Age after which a temp file left by an interrupted write (a power cut) is removed."""

_FILE_NAME = re.compile(r"snapshot-(\d{8}T\d{12})Z\.json")
_TEMP_NAME = re.compile(r"\.snapshot-\d{8}T\d{12}Z\.json\..*\.tmp")
_STAMP_FORMAT = "%Y%m%dT%H%M%S%f"
_CHECKSUM = re.compile(r"sha256:[0-9a-f]{64}")


def _is_int(value: object) -> TypeIs[int]:
    """An integer that is not a bool (JSON true must not count as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


class SnapshotSummary(TypedDict):
    """What a listing shows of a snapshot; never secret."""

    name: str
    device_count: int
    group_count: int
    scene_count: int
    network_id: str | None  # the extended PAN id, when the radio has one
    radio_kind: str


@dataclass(frozen=True, slots=True)
class KdfCost:
    """How hard scrypt works to turn a password into a key (it needs 128·n·r bytes)."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not all(_is_int(value) and value >= 1 for value in (self.n, self.r, self.p)):
            raise ValueError(f"scrypt n, r and p must be positive integers, not {self}")
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError(f"scrypt n must be a power of two, not {self.n}")
        if 128 * self.n * self.r * self.p > MAX_KDF_WORK:
            raise ValueError(f"scrypt cost {self} is above the accepted maximum")


DEFAULT_KDF_COST: Final = KdfCost()


class SnapshotError(Exception):
    """A snapshot could not be read. ``translation_key`` names the message shown to users;
    ``translation_placeholders`` fills it in."""

    translation_key: ClassVar[str]

    def __init__(self, message: str, **placeholders: str) -> None:
        super().__init__(message)
        self.translation_placeholders: dict[str, str] = placeholders


class SnapshotMissing(SnapshotError):
    """There is no snapshot to restore: the gateway has not written one yet."""

    translation_key = "snapshot_missing"


class SnapshotCorrupt(SnapshotError):
    """Not a snapshot, or a damaged one: not JSON, truncated, missing or ill-typed keys."""

    translation_key = "snapshot_corrupt"


class SnapshotTooLarge(SnapshotError):
    """The file is larger than any snapshot can be: refused before it is read."""

    translation_key = "snapshot_too_large"


class SnapshotChecksumMismatch(SnapshotError):
    """The content does not match its checksum: the file was edited or damaged."""

    translation_key = "snapshot_checksum"


class SnapshotVersionUnsupported(SnapshotError):
    """A snapshot written by a newer version of the integration."""

    translation_key = "snapshot_version"

    def __init__(self, message: str, *, version: int, **placeholders: str) -> None:
        super().__init__(message, version=str(version), **placeholders)
        self.version = version


class SnapshotPasswordRequired(SnapshotError):
    """The snapshot is encrypted and no password was given."""

    translation_key = "snapshot_password_required"


class SnapshotWrongPassword(SnapshotError):
    """The password does not open the snapshot (or its content was altered)."""

    translation_key = "snapshot_wrong_password"


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a listing needs to know of one snapshot file; readable without a password."""

    path: Path
    created_at: datetime  # UTC
    device_count: int
    size: int  # bytes on disk
    encrypted: bool
    summary: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """As a listing shows it (JSON-ready; nothing secret)."""
        return {
            "path": str(self.path),
            "created_at": self.created_at.isoformat(),
            "device_count": self.device_count,
            "size": self.size,
            "encrypted": self.encrypted,
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot read, checked and (when encrypted) decrypted."""

    info: SnapshotInfo
    payload: dict[str, Any]


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value that checksums and encryption are computed over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def encode_snapshot(
    payload: Mapping[str, Any],
    summary: Mapping[str, Any],
    *,
    created_at: datetime,
    password: str | None = None,
    kdf_cost: KdfCost = DEFAULT_KDF_COST,
) -> bytes:
    """The bytes of a snapshot file. An empty password counts as none (a blank form field).

    Raises ValueError for a summary without the ``SnapshotSummary`` keys, a naive
    ``created_at`` or a payload JSON cannot hold.
    """
    return _encode(payload, summary, created_at, password, kdf_cost)[0]


def read_snapshot_bytes(path: Path) -> bytes:
    """The content of the snapshot file ``path``: refused (SnapshotTooLarge) without
    reading it when it is larger than ``MAX_SNAPSHOT_BYTES``, SnapshotCorrupt when it is
    no regular file (a folder, a device, a pipe that would block). OSError as ``open``."""
    info = path.stat()
    _check_file(path, info)
    with path.open("rb") as file:
        _check_file(path, os.fstat(file.fileno()))  # (it may have changed since the stat)
        data = file.read(MAX_SNAPSHOT_BYTES + 1)
    _check_size(path, len(data))
    return data


async def async_read_snapshot_bytes(path: Path) -> bytes:
    """``read_snapshot_bytes`` from the event loop, through aiofiles."""
    _check_file(path, await aiofiles.os.stat(path))
    async with aiofiles.open(path, "rb") as file:
        _check_file(path, await _fstat(file.fileno()))
        data: bytes = await file.read(MAX_SNAPSHOT_BYTES + 1)
    _check_size(path, len(data))
    return data


_fstat = aiofiles.os.wrap(os.fstat)


def _check_file(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        _corrupt(path, "not a regular file")
    _check_size(path, info.st_size)


def _check_size(path: Path, size: int) -> None:
    if size > MAX_SNAPSHOT_BYTES:
        raise SnapshotTooLarge(
            f"{path.name} has {size} bytes; a snapshot has at most {MAX_SNAPSHOT_BYTES}",
            name=path.name,
            size=str(size),
            limit=str(MAX_SNAPSHOT_BYTES),
        )


def load_json(data: bytes, path: Path) -> Any:
    """The JSON document in ``data`` (the content of ``path``), parsed strictly (UTF-8,
    no NaN): SnapshotCorrupt when it is not complete JSON."""
    return _loads(data, path)


def decode_snapshot(data: bytes, *, path: Path, password: str | None = None) -> Snapshot:
    """The snapshot in ``data`` (the content of ``path``), checked against its checksum.

    A password given for an unencrypted snapshot is ignored.
    """
    return decode_snapshot_document(
        _loads(data, path), path=path, size=len(data), password=password
    )


def decode_snapshot_document(
    envelope: Any, *, path: Path, size: int, password: str | None = None
) -> Snapshot:
    """``decode_snapshot`` of a file already parsed (``load_json``): a file is parsed once."""
    header = _parse_envelope(envelope, path)
    encryption = header.encryption
    if encryption is None:
        payload = header.payload
        if not isinstance(payload, dict):
            _corrupt(path, "the payload is not an object")
    else:
        if not password:
            raise SnapshotPasswordRequired(
                f"snapshot {path.name} is encrypted: a password is needed", name=path.name
            )
        if not isinstance(header.payload, str):
            _corrupt(path, "the encrypted payload is not text")
        ciphertext = _from_base64(header.payload, path, "payload")
        associated = _associated_data(header.summary, header.created_at_text)
        key = _derive_key(password, encryption.salt, encryption.cost)
        try:
            plaintext = AESGCM(key).decrypt(encryption.nonce, ciphertext, associated)
        except InvalidTag:
            # GCM cannot tell a wrong key from altered data: both fail the same tag check.
            raise SnapshotWrongPassword(
                f"wrong password for snapshot {path.name}, or the snapshot was altered",
                name=path.name,
            ) from None
        payload = _loads(plaintext, path)
        if not isinstance(payload, dict):
            _corrupt(path, "the decrypted payload is not an object")
    try:
        checksum = _checksum(header.summary, payload, header.created_at_text)
    except ValueError:  # a lone surrogate in a string: JSON parses it, UTF-8 cannot hold it
        _corrupt(path, "the content cannot be checked")
    if checksum != header.checksum:
        raise SnapshotChecksumMismatch(
            f"snapshot {path.name} does not match its checksum: it was altered or damaged",
            name=path.name,
        )
    return Snapshot(header.info(path, size=size), payload)


def read_snapshot_info(path: Path) -> SnapshotInfo:
    """What a listing shows of the snapshot at ``path``: format and version are checked,
    the checksum is not (that needs the payload, and a password when encrypted)."""
    data = read_snapshot_bytes(path)
    return _parse_envelope(_loads(data, path), path).info(path, size=len(data))


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (symlinks followed) is a regular file directly in ``folder``."""
    try:
        real = path.resolve(strict=True)
    except OSError, RuntimeError:  # gone, or a symlink loop
        return False
    return real.parent == folder and real.is_file()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SnapshotStore:
    """A folder of snapshot files, ``snapshot-<UTC time>.json``, pruned to the newest ``keep``.

    The plain methods do file I/O and belong in an executor; the ``async_`` ones read and
    write through aiofiles and encode, decode, list and prune in the executor. Files with
    other names are neither listed nor deleted.
    """

    def __init__(
        self,
        folder: Path,
        *,
        keep: int = 7,
        clock: Callable[[], datetime] = _utc_now,
        kdf_cost: KdfCost = DEFAULT_KDF_COST,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        self.folder = folder.absolute()  # listings hand out paths that must stay valid
        self.keep = keep
        self._clock = clock
        self._kdf_cost = kdf_cost
        # Naming and pruning run in executor threads; one at a time keeps names unique.
        self._lock = threading.Lock()
        self._last_named: datetime | None = None
        self._reported_unreadable: set[str] = set()

    def write(
        self,
        payload: Mapping[str, Any],
        summary: Mapping[str, Any],
        *,
        password: str | None = None,
    ) -> SnapshotInfo:
        """Write a new snapshot, then prune. ``payload`` must not change until this returns."""
        path, data, header = self._encode_next(payload, summary, password)
        write_bytes_atomic(path, data)
        self.prune()
        return header.info(path, size=len(data))

    def _encode_next(
        self, payload: Mapping[str, Any], summary: Mapping[str, Any], password: str | None
    ) -> tuple[Path, bytes, _Header]:
        """The next snapshot's path and bytes (CPU work: JSON, and scrypt with a password)."""
        with self._lock:
            created_at = self._next_time()
        data, header = _encode(payload, summary, created_at, password, self._kdf_cost)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.folder / _file_name(created_at), data, header

    def list(self) -> builtins.list[SnapshotInfo]:
        """Every readable snapshot, newest first; unreadable files are skipped."""
        infos: builtins.list[SnapshotInfo] = []
        for path in self._snapshot_files():
            try:
                infos.append(read_snapshot_info(path))
            except FileNotFoundError:
                continue  # pruned since the folder was read
            except (OSError, SnapshotError) as error:
                if path.name not in self._reported_unreadable:
                    self._reported_unreadable.add(path.name)
                    _LOGGER.debug("Skipping unreadable snapshot %s: %s", path, error)
        infos.sort(key=lambda info: (info.created_at, info.path.name), reverse=True)
        return infos

    def newest(self) -> SnapshotInfo | None:
        infos = self.list()
        return infos[0] if infos else None

    def read(self, path: Path, password: str | None = None) -> Snapshot:
        """The snapshot at ``path`` (a name is taken as inside the folder), fully checked."""
        full_path = self.folder / path  # an absolute ``path`` replaces the folder
        return decode_snapshot(read_snapshot_bytes(full_path), path=full_path, password=password)

    def prune(self) -> None:
        """Delete all but the newest ``keep`` snapshots, and stale temp files."""
        with self._lock:
            self._prune()

    async def async_write(
        self,
        payload: Mapping[str, Any],
        summary: Mapping[str, Any],
        *,
        password: str | None = None,
    ) -> SnapshotInfo:
        loop = asyncio.get_running_loop()
        encode = partial(self._encode_next, payload, summary, password)
        path, data, header = await loop.run_in_executor(None, encode)
        await save_bytes_atomic(path, data)
        await loop.run_in_executor(None, self.prune)
        return header.info(path, size=len(data))

    async def async_list(self) -> builtins.list[SnapshotInfo]:
        return await asyncio.get_running_loop().run_in_executor(None, self.list)

    async def async_newest(self) -> SnapshotInfo | None:
        return await asyncio.get_running_loop().run_in_executor(None, self.newest)

    async def async_read(self, path: Path, password: str | None = None) -> Snapshot:
        full_path = self.folder / path
        data = await async_read_snapshot_bytes(full_path)
        decode = partial(decode_snapshot, data, path=full_path, password=password)
        return await asyncio.get_running_loop().run_in_executor(None, decode)

    def _snapshot_files(self) -> builtins.list[Path]:
        """This store's snapshot files, oldest first (the names sort by time): files with
        a snapshot's name that really are in the folder. A symlink to a file elsewhere is
        not this gateway's snapshot (it could point anywhere on the system): it is neither
        listed nor read, nor deleted."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        folder = self.folder.resolve()
        return [
            self.folder / name
            for name in sorted(names)
            if _FILE_NAME.fullmatch(name) and _inside(self.folder / name, folder)
        ]

    def _next_time(self) -> datetime:
        """The clock's time, but always after every snapshot already in the folder or
        named by this store and not written yet.

        Two writes in one clock tick get distinct names, and a clock that stepped back (an
        NTP fix on a board without a real-time clock) cannot make a new snapshot look older
        than the ones before it, which pruning would then delete first.
        """
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError("the snapshot clock must return timezone-aware times")
        now = now.astimezone(UTC)
        files = self._snapshot_files()
        if files:
            match = _FILE_NAME.fullmatch(files[-1].name)
            assert match is not None  # _snapshot_files only returns matching names
            latest = datetime.strptime(match[1], _STAMP_FORMAT).replace(tzinfo=UTC)
            now = max(now, latest + timedelta(microseconds=1))
        if self._last_named is not None:
            now = max(now, self._last_named + timedelta(microseconds=1))
        self._last_named = now
        return now

    def _prune(self) -> None:
        for path in self._snapshot_files()[: -self.keep]:
            path.unlink(missing_ok=True)
        # The age check spares a temp file a write (of this store, another store or
        # another process) may still be filling.
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return
        stale_before = time.time() - STALE_TEMP_SECONDS
        for name in names:
            if _TEMP_NAME.fullmatch(name):
                path = self.folder / name
                try:
                    if path.stat().st_mtime < stale_before:
                        path.unlink()
                except FileNotFoundError:
                    pass


@dataclass(frozen=True, slots=True)
class _Encryption:
    salt: bytes
    nonce: bytes
    cost: KdfCost

    def as_dict(self) -> dict[str, Any]:
        return {
            "cipher": CIPHER,
            "kdf": KDF,
            "salt": _to_base64(self.salt),
            "n": self.cost.n,
            "r": self.cost.r,
            "p": self.cost.p,
            "nonce": _to_base64(self.nonce),
        }


@dataclass(frozen=True, slots=True)
class _Header:
    """A snapshot file's envelope, checked except for its payload."""

    created_at: datetime
    created_at_text: str  # as written: the checksum and the encryption cover this text
    summary: dict[str, Any]
    checksum: str
    encryption: _Encryption | None
    payload: object  # an object when plain, base64 text when encrypted

    def info(self, path: Path, *, size: int) -> SnapshotInfo:
        return SnapshotInfo(
            path=path,
            created_at=self.created_at,
            device_count=self.summary["device_count"],
            size=size,
            encrypted=self.encryption is not None,
            summary=self.summary,
        )


def _encode(
    payload: Mapping[str, Any],
    summary: Mapping[str, Any],
    created_at: datetime,
    password: str | None,
    kdf_cost: KdfCost,
) -> tuple[bytes, _Header]:
    if created_at.utcoffset() is None:
        raise ValueError("created_at must be timezone-aware")
    created_at = created_at.astimezone(UTC)
    created_at_text = created_at.isoformat(timespec="microseconds")
    # Through JSON and back first, so the checksum is over exactly what a reader will parse
    # (tuples become lists, integer keys become text and sort as text).
    plain_payload: dict[str, Any] = json.loads(canonical_json(dict(payload)))
    plain_summary: dict[str, Any] = json.loads(canonical_json(dict(summary)))
    if problem := _summary_problem(plain_summary):
        raise ValueError(f"invalid snapshot summary: {problem}")
    checksum = _checksum(plain_summary, plain_payload, created_at_text)
    encryption: _Encryption | None = None
    stored_payload: object = plain_payload
    if password:
        encryption = _Encryption(
            salt=os.urandom(SALT_BYTES), nonce=os.urandom(NONCE_BYTES), cost=kdf_cost
        )
        key = _derive_key(password, encryption.salt, kdf_cost)
        associated = _associated_data(plain_summary, created_at_text)
        ciphertext = AESGCM(key).encrypt(
            encryption.nonce, canonical_json(plain_payload), associated
        )
        stored_payload = _to_base64(ciphertext)
    envelope = {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "created_at": created_at_text,
        "summary": plain_summary,
        "checksum": checksum,
        "encryption": None if encryption is None else encryption.as_dict(),
        "payload": stored_payload,  # last, so the small header opens the file
    }
    data = json.dumps(envelope, ensure_ascii=False, indent=2).encode() + b"\n"
    header = _Header(
        created_at, created_at_text, plain_summary, checksum, encryption, stored_payload
    )
    return data, header


def _parse_envelope(envelope: Any, path: Path) -> _Header:
    """The checked envelope of a parsed snapshot file; the payload is left as found."""
    if not isinstance(envelope, dict) or envelope.get("format") != SNAPSHOT_FORMAT:
        _corrupt(path, "not a Resilient Gateway snapshot")
    version = envelope.get("version")
    if not _is_int(version) or version < 1:
        _corrupt(path, "no valid format version")
    if version > SNAPSHOT_VERSION:
        raise SnapshotVersionUnsupported(
            f"snapshot {path.name} has format version {version}; this version of the"
            f" integration reads up to version {SNAPSHOT_VERSION}",
            version=version,
            supported=str(SNAPSHOT_VERSION),
            name=path.name,
        )
    for key in ("created_at", "summary", "checksum", "encryption", "payload"):
        if key not in envelope:
            _corrupt(path, f'the "{key}" key is missing')
    created_at_text = envelope["created_at"]
    created_at = _parse_time(created_at_text)
    if created_at is None:
        _corrupt(path, "created_at is not an ISO 8601 time with a UTC offset")
    summary = envelope["summary"]
    if not isinstance(summary, dict):
        _corrupt(path, "the summary is not an object")
    if problem := _summary_problem(summary):
        _corrupt(path, problem)
    checksum = envelope["checksum"]
    if not isinstance(checksum, str) or not _CHECKSUM.fullmatch(checksum):
        _corrupt(path, "the checksum is not sha256:<hex>")
    encryption = envelope["encryption"]
    return _Header(
        created_at=created_at,
        created_at_text=created_at_text,
        summary=summary,
        checksum=checksum,
        encryption=None if encryption is None else _parse_encryption(encryption, path),
        payload=envelope["payload"],
    )


def _parse_encryption(encryption: object, path: Path) -> _Encryption:
    if not isinstance(encryption, dict):
        _corrupt(path, "the encryption entry is not an object")
    if encryption.get("cipher") != CIPHER or encryption.get("kdf") != KDF:
        _corrupt(path, f"the encryption is not {CIPHER} with a {KDF} key")
    salt = _from_base64(encryption.get("salt"), path, "salt")
    nonce = _from_base64(encryption.get("nonce"), path, "nonce")
    if len(salt) != SALT_BYTES or len(nonce) != NONCE_BYTES:
        _corrupt(path, "the salt or the nonce has the wrong length")
    n, r, p = encryption.get("n"), encryption.get("r"), encryption.get("p")
    if not (_is_int(n) and _is_int(r) and _is_int(p)):
        _corrupt(path, "the scrypt n, r and p are not integers")
    try:  # and within bounds: they decide how much memory and time the key takes
        cost = KdfCost(n=n, r=r, p=p)
    except ValueError as error:
        _corrupt(path, str(error))
    return _Encryption(salt=salt, nonce=nonce, cost=cost)


def _summary_problem(summary: Mapping[str, Any]) -> str | None:
    """Why ``summary`` is not a ``SnapshotSummary``, or None. Extra keys are allowed."""
    if not isinstance(summary.get("name"), str):
        return "summary.name is not text"
    for key in ("device_count", "group_count", "scene_count"):
        count = summary.get(key)
        if not _is_int(count) or count < 0:
            return f"summary.{key} is not a count"
    if "network_id" not in summary:
        return "summary.network_id is missing"
    if not isinstance(summary["network_id"], str | None):
        return "summary.network_id is not text or null"
    if not isinstance(summary.get("radio_kind"), str):
        return "summary.radio_kind is not text"
    return None


def _checksum(summary: Mapping[str, Any], payload: Mapping[str, Any], created_at: str) -> str:
    document = {
        "summary": summary,
        "payload": payload,
        "created_at": created_at,
        "version": SNAPSHOT_VERSION,
    }
    return "sha256:" + hashlib.sha256(canonical_json(document)).hexdigest()


def _associated_data(summary: Mapping[str, Any], created_at: str) -> bytes:
    """What encryption authenticates besides the payload: the clear part of the file."""
    return canonical_json(
        {"summary": summary, "created_at": created_at, "version": SNAPSHOT_VERSION}
    )


def _derive_key(password: str, salt: bytes, cost: KdfCost) -> bytes:
    # NFC, so the same password typed on another keyboard or system gives the same key.
    secret = unicodedata.normalize("NFC", password).encode()
    return Scrypt(salt=salt, length=KEY_BYTES, n=cost.n, r=cost.r, p=cost.p).derive(secret)


def _loads(data: bytes, path: Path) -> Any:
    """Strict JSON: UTF-8, and no NaN or Infinity (the checksum could not be computed)."""
    try:
        return json.loads(data.decode(), parse_constant=_reject_constant)
    except ValueError, RecursionError:  # UnicodeDecodeError and JSONDecodeError included
        _corrupt(path, "not complete JSON")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if moment.utcoffset() is None else moment.astimezone(UTC)


def _file_name(created_at: datetime) -> str:
    return f"snapshot-{created_at.strftime(_STAMP_FORMAT)}Z.json"


def _to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _from_base64(text: object, path: Path, what: str) -> bytes:
    if isinstance(text, str):
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error, ValueError:
            pass
    _corrupt(path, f"the {what} is not base64")


def _corrupt(path: Path, reason: str) -> NoReturn:
    raise SnapshotCorrupt(
        f"snapshot {path.name} is damaged or not a snapshot: {reason}",
        name=path.name,
        reason=reason,
    )
