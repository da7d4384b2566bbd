"""Gateway snapshots: the file format, its checks and encryption, and the snapshot folder."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from custom_components.resilient_gateway.core.snapshot import (
    SNAPSHOT_VERSION,
    KdfCost,
    SnapshotChecksumMismatch,
    SnapshotCorrupt,
    SnapshotError,
    SnapshotPasswordRequired,
    SnapshotStore,
    SnapshotSummary,
    SnapshotVersionUnsupported,
    SnapshotWrongPassword,
    decode_snapshot,
    encode_snapshot,
    read_snapshot_info,
)

FAST = KdfCost(n=2**10)  # the default cost takes a tenth of a second per key
NETWORK_KEY = "5e1f2a3b4c5d6e7f8091a2b3c4d5e6f7"  # a fake network key to look for in files
PASSWORD = "correct horse"
START = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def _summary(device_count: int = 2, **changes: Any) -> SnapshotSummary:
    summary: SnapshotSummary = {
        "name": "Home",
        "device_count": device_count,
        "group_count": 1,
        "scene_count": 3,
        "network_id": "dd:dd:dd:dd:dd:dd:dd:dd",
        "radio_kind": "zigbee",
    }
    return summary | changes  # type: ignore[return-value]


def _payload(device_count: int = 2) -> dict[str, Any]:
    return {
        "devices": [
            {"device_id": f"00:11:22:33:44:55:66:{index:02x}", "name": f"Lamp {index}"}
            for index in range(device_count)
        ],
        "sections": {"zigbee": {"network_key": NETWORK_KEY, "pan_id": 4660}},
    }


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _store(tmp_path: Path, clock: FakeClock | None = None, keep: int = 7) -> SnapshotStore:
    return SnapshotStore(
        tmp_path / "snapshots", keep=keep, clock=clock or FakeClock(), kdf_cost=FAST
    )


def _encode(password: str | None = None, payload: dict[str, Any] | None = None) -> bytes:
    return encode_snapshot(
        _payload() if payload is None else payload,
        _summary(),
        created_at=START,
        password=password,
        kdf_cost=FAST,
    )


def _edited(data: bytes, edit: Callable[[dict[str, Any]], object]) -> bytes:
    """The snapshot ``data`` with its envelope changed by ``edit``."""
    envelope = json.loads(data)
    edit(envelope)
    return json.dumps(envelope).encode()


def _names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


# -- The file format --------------------------------------------------------------------


def test_store_round_trip_without_password(tmp_path: Path) -> None:
    store = _store(tmp_path)
    info = store.write(_payload(), _summary())

    assert info.path == tmp_path / "snapshots" / "snapshot-20250102T030405000006Z.json"
    assert info.created_at == START
    assert info.device_count == 2
    assert not info.encrypted
    assert info.size == info.path.stat().st_size
    assert info.summary == _summary()
    assert read_snapshot_info(info.path) == info
    snapshot = store.read(info.path)
    assert snapshot.payload == _payload()
    assert snapshot.info == info
    # A bare name is taken as inside the folder; a password for a plain snapshot is ignored.
    assert store.read(Path(info.path.name), password="unused").payload == _payload()


def test_store_round_trip_with_password(tmp_path: Path) -> None:
    store = _store(tmp_path)
    info = store.write(_payload(), _summary(), password=PASSWORD)

    assert info.encrypted
    # The listing needs no password.
    assert read_snapshot_info(info.path).summary == _summary()
    snapshot = store.read(info.path, password=PASSWORD)
    assert snapshot.payload == _payload()
    assert snapshot.info.encrypted


def test_encode_decode_round_trip_normalises_to_utc_and_json() -> None:
    created_at = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    # Tuples and integer keys are what JSON makes of them, and the checksum still holds
    # (integer keys sort differently from their text: 10 > 2 but "10" < "2").
    payload = {"xy": (0.3, 0.4), "groups": {10: "ten", 2: "two"}}
    for password in (None, PASSWORD):
        data = encode_snapshot(
            payload, _summary(), created_at=created_at, password=password, kdf_cost=FAST
        )
        snapshot = decode_snapshot(data, path=Path("s.json"), password=password)
        assert snapshot.payload == {"xy": [0.3, 0.4], "groups": {"10": "ten", "2": "two"}}
        assert snapshot.info.created_at == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
        assert snapshot.info.created_at.tzinfo is UTC
        assert snapshot.info.size == len(data)
        assert snapshot.info.encrypted is (password is not None)


@pytest.mark.parametrize(
    ("payload", "summary", "created_at"),
    [
        (_payload(), _summary(), datetime(2025, 1, 1)),  # naive time
        (_payload(), {"name": "Home"}, START),  # summary without counts
        (_payload(), _summary(device_count=-1), START),
        (_payload(), _summary(network_id=7), START),
        ({"value": float("nan")}, _summary(), START),  # not JSON
    ],
)
def test_encode_refuses_what_could_not_be_read_back(
    payload: dict[str, Any], summary: Any, created_at: datetime
) -> None:
    with pytest.raises(ValueError):
        encode_snapshot(payload, summary, created_at=created_at)


def test_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # a permissive umask must not leak into the file's mode
    try:
        info = _store(tmp_path).write(_payload(), _summary())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "edit",
    [
        lambda e: e["payload"]["sections"]["zigbee"].update(pan_id=4661),
        lambda e: e["payload"]["devices"].pop(),
        lambda e: e["summary"].update(device_count=3),
        lambda e: e["summary"].update(name="Cottage"),
        lambda e: e.update(created_at="2025-01-02T03:04:05.000007+00:00"),
    ],
    ids=["payload value", "payload device", "summary count", "summary name", "created_at"],
)
def test_edited_content_fails_the_checksum(edit: Callable[[dict[str, Any]], object]) -> None:
    assert decode_snapshot(_encode(), path=Path("s.json")).payload == _payload()  # unedited
    data = _edited(_encode(), edit)
    with pytest.raises(SnapshotChecksumMismatch, match="checksum"):
        decode_snapshot(data, path=Path("s.json"))


def test_listing_does_not_check_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_bytes(_edited(_encode(), lambda e: e["payload"].update(extra=1)))
    assert read_snapshot_info(path).device_count == 2
    with pytest.raises(SnapshotChecksumMismatch):
        decode_snapshot(path.read_bytes(), path=path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda e: e["summary"].update(device_count=3),
        lambda e: e.update(created_at="2025-01-02T03:04:05.000007+00:00"),
        lambda e: e.update(payload=e["payload"][:-8] + "AAAAAAA="),
    ],
    ids=["summary", "created_at", "ciphertext"],
)
def test_encryption_detects_edits_to_the_clear_part_too(
    edit: Callable[[dict[str, Any]], object],
) -> None:
    data = _edited(_encode(PASSWORD), edit)
    with pytest.raises(SnapshotWrongPassword):
        decode_snapshot(data, path=Path("s.json"), password=PASSWORD)


@pytest.mark.parametrize("cut", [0, 1, 0.5, -3], ids=["empty", "one byte", "half", "end"])
def test_truncated_file_is_corrupt(tmp_path: Path, cut: float) -> None:
    data = _encode()
    length = int(len(data) * cut) if isinstance(cut, float) else cut % len(data)
    path = tmp_path / "snapshot.json"
    path.write_bytes(data[:length])
    with pytest.raises(SnapshotCorrupt, match=r"snapshot\.json is damaged"):
        decode_snapshot(path.read_bytes(), path=path)
    with pytest.raises(SnapshotCorrupt):
        read_snapshot_info(path)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe not text",
        b"not json",
        b"[1, 2]",
        b'"snapshot"',
        b"{}",
        b'{"format": "resilient_gateway_snapshot", "version": NaN}',
    ],
)
def test_not_a_snapshot_is_corrupt(data: bytes) -> None:
    with pytest.raises(SnapshotCorrupt):
        decode_snapshot(data, path=Path("s.json"))


def _drop(key: str) -> Callable[[dict[str, Any]], object]:
    return lambda envelope: envelope.pop(key)


def _set(key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda envelope: envelope.update({key: value})


def _set_in(section: str, key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda envelope: envelope[section].update({key: value})


ENVELOPE_DAMAGE = {
    "wrong format": _set("format", "home_assistant_backup"),
    "no format": _drop("format"),
    "no version": _drop("version"),
    "version as text": _set("version", "1"),
    "version as bool": _set("version", True),
    "version zero": _set("version", 0),
    "no created_at": _drop("created_at"),
    "naive created_at": _set("created_at", "2025-01-02T03:04:05"),
    "created_at not a time": _set("created_at", "yesterday"),
    "no summary": _drop("summary"),
    "summary a list": _set("summary", []),
    "summary count as text": _set_in("summary", "device_count", "2"),
    "summary count as bool": _set_in("summary", "device_count", True),
    "summary without network_id": lambda e: e["summary"].pop("network_id"),
    "no checksum": _drop("checksum"),
    "checksum md5": _set("checksum", "md5:0123"),
    "no encryption key": _drop("encryption"),
    "encryption a list": _set("encryption", []),
    "no payload": _drop("payload"),
}

ENCRYPTION_DAMAGE = {
    "other cipher": _set_in("encryption", "cipher", "AES-128-CBC"),
    "salt not base64": _set_in("encryption", "salt", "not base64!"),
    "short nonce": _set_in("encryption", "nonce", "AAAA"),
    "n not a power of two": _set_in("encryption", "n", 1000),
    "n as text": _set_in("encryption", "n", "1024"),
    # A hostile file must not make the gateway spend gigabytes deriving a key.
    "n too costly": _set_in("encryption", "n", 2**30),
    "payload not text": _set("payload", {"devices": []}),
}


@pytest.mark.parametrize("edit", ENVELOPE_DAMAGE.values(), ids=ENVELOPE_DAMAGE.keys())
def test_damaged_envelope_is_corrupt(
    tmp_path: Path, edit: Callable[[dict[str, Any]], object]
) -> None:
    path = tmp_path / "snapshot.json"
    path.write_bytes(_edited(_encode(), edit))
    with pytest.raises(SnapshotCorrupt):
        decode_snapshot(path.read_bytes(), path=path)
    with pytest.raises(SnapshotCorrupt):
        read_snapshot_info(path)


@pytest.mark.parametrize("edit", ENCRYPTION_DAMAGE.values(), ids=ENCRYPTION_DAMAGE.keys())
def test_damaged_encryption_entry_is_corrupt(edit: Callable[[dict[str, Any]], object]) -> None:
    data = _edited(_encode(PASSWORD), edit)
    with pytest.raises(SnapshotCorrupt):
        decode_snapshot(data, path=Path("s.json"), password=PASSWORD)


def test_plain_payload_must_be_an_object() -> None:
    data = _edited(_encode(), _set("payload", "c2VjcmV0"))
    with pytest.raises(SnapshotCorrupt, match="payload"):
        decode_snapshot(data, path=Path("s.json"))


def test_newer_version_is_unsupported_and_says_which(tmp_path: Path) -> None:
    # A newer version may lay out everything else differently: only the version counts.
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({"format": "resilient_gateway_snapshot", "version": 2}))
    with pytest.raises(SnapshotVersionUnsupported, match=r"version 2\b") as caught:
        decode_snapshot(path.read_bytes(), path=path)
    assert caught.value.version == 2
    assert caught.value.translation_placeholders["version"] == "2"
    assert caught.value.translation_placeholders["supported"] == str(SNAPSHOT_VERSION)
    with pytest.raises(SnapshotVersionUnsupported):
        read_snapshot_info(path)
    # The current version with the same content is merely corrupt, not unsupported.
    path.write_text(json.dumps({"format": "resilient_gateway_snapshot", "version": 1}))
    with pytest.raises(SnapshotCorrupt):
        read_snapshot_info(path)


def test_wrong_password_is_refused() -> None:
    with pytest.raises(SnapshotWrongPassword, match="wrong password"):
        decode_snapshot(_encode(PASSWORD), path=Path("s.json"), password="incorrect horse")


@pytest.mark.parametrize("password", [None, ""])
def test_encrypted_snapshot_needs_a_password(password: str | None) -> None:
    with pytest.raises(SnapshotPasswordRequired, match="password"):
        decode_snapshot(_encode(PASSWORD), path=Path("s.json"), password=password)


def test_an_empty_password_does_not_encrypt() -> None:
    assert decode_snapshot(_encode(""), path=Path("s.json")).payload == _payload()


def test_password_is_taken_in_one_unicode_form() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"  # the same text, typed on two systems
    data = _encode(composed)
    assert decode_snapshot(data, path=Path("s.json"), password=decomposed).payload == _payload()


def test_encrypted_file_holds_no_secret_in_plaintext() -> None:
    plain, encrypted = _encode(), _encode(PASSWORD)
    assert NETWORK_KEY.encode() in plain  # the search would find it
    assert NETWORK_KEY.encode() not in encrypted
    assert b"Lamp 1" not in encrypted
    assert b'"Home"' in encrypted  # the summary stays readable


def test_each_encryption_uses_a_new_salt_and_nonce() -> None:
    first, second = json.loads(_encode(PASSWORD)), json.loads(_encode(PASSWORD))
    assert first["encryption"]["salt"] != second["encryption"]["salt"]
    assert first["encryption"]["nonce"] != second["encryption"]["nonce"]
    assert first["payload"] != second["payload"]


def test_kdf_cost_is_stored_and_used_to_decrypt() -> None:
    cost = KdfCost(n=2**11, r=4, p=2)
    data = encode_snapshot(
        _payload(), _summary(), created_at=START, password=PASSWORD, kdf_cost=cost
    )
    encryption = json.loads(data)["encryption"]
    assert (encryption["n"], encryption["r"], encryption["p"]) == (2**11, 4, 2)
    assert encryption["cipher"] == "AES-256-GCM"
    assert decode_snapshot(data, path=Path("s.json"), password=PASSWORD).payload == _payload()
    # Read back with another cost, the key differs.
    with pytest.raises(SnapshotWrongPassword):
        damaged = _edited(data, _set_in("encryption", "r", 8))
        decode_snapshot(damaged, path=Path("s.json"), password=PASSWORD)


@pytest.mark.parametrize(
    "cost",
    [{"n": 1000}, {"n": 1}, {"r": 0}, {"p": True}, {"n": 2**20, "r": 8}],
    ids=["n not a power of two", "n one", "r zero", "p bool", "too costly"],
)
def test_kdf_cost_is_bounded(cost: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        KdfCost(**cost)


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (SnapshotCorrupt, "snapshot_corrupt"),
        (SnapshotChecksumMismatch, "snapshot_checksum"),
        (SnapshotVersionUnsupported, "snapshot_version"),
        (SnapshotPasswordRequired, "snapshot_password_required"),
        (SnapshotWrongPassword, "snapshot_wrong_password"),
    ],
)
def test_errors_carry_their_translation_key(error: type[SnapshotError], key: str) -> None:
    assert issubclass(error, SnapshotError)
    assert error.translation_key == key


# -- The snapshot folder ------------------------------------------------------------------


def test_listing_is_newest_first_with_counts_and_sizes(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _store(tmp_path, clock)
    assert store.list() == []  # no folder yet
    assert store.newest() is None
    written = []
    for count in (1, 5, 3):
        password = PASSWORD if count == 5 else None
        written.append(store.write(_payload(count), _summary(count), password=password))
        clock.advance(hours=1)

    listed = store.list()
    assert [info.device_count for info in listed] == [3, 5, 1]
    assert [info.encrypted for info in listed] == [False, True, False]
    assert [info.created_at for info in listed] == [START + timedelta(hours=h) for h in (2, 1, 0)]
    assert [info.size for info in listed] == [info.path.stat().st_size for info in listed]
    assert listed[0].size > listed[2].size  # three devices take more room than one
    assert listed == written[::-1]
    assert store.newest() == listed[0]


def test_a_folder_given_relative_to_the_working_directory_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = SnapshotStore(Path("snapshots"), clock=FakeClock(), kdf_cost=FAST)
    info = store.write(_payload(2), _summary(2))
    assert info.path.is_absolute()
    assert store.read(store.list()[0].path).payload == _payload(2)


def test_listing_skips_unreadable_files_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path)
    good = store.write(_payload(), _summary())
    (store.folder / "snapshot-20250102T030405000001Z.json").write_text("{trunc")
    caplog.set_level(logging.DEBUG)
    assert store.list() == [good]
    assert store.list() == [good]
    skipped = [r for r in caplog.records if "snapshot-20250102T030405000001Z" in r.getMessage()]
    assert len(skipped) == 1
    assert skipped[0].levelno == logging.DEBUG


def test_retention_keeps_the_newest_and_leaves_other_files_alone(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _store(tmp_path, clock, keep=3)
    store.folder.mkdir()
    foreign = {
        "notes.txt",
        "backup.json",
        "snapshot-manual.json",
        "snapshot-20000101T000000000000Z.json.bak",
        "snapshot-20000101T000000Z.json",
    }
    for name in foreign:
        (store.folder / name).write_text("mine")
    written = []
    for count in range(5):
        written.append(store.write(_payload(count), _summary(count)))
        clock.advance(minutes=1)

    assert [info.device_count for info in store.list()] == [4, 3, 2]
    assert _names(store.folder) == foreign | {info.path.name for info in written[2:]}
    store.keep = 1
    store.prune()
    assert _names(store.folder) == foreign | {written[-1].path.name}


def test_keep_must_be_at_least_one(tmp_path: Path) -> None:
    for keep in (0, -1):
        with pytest.raises(ValueError, match="keep"):
            SnapshotStore(tmp_path, keep=keep)


def test_two_writes_in_one_clock_instant_get_distinct_names(tmp_path: Path) -> None:
    store = _store(tmp_path)  # the clock never moves
    first = store.write(_payload(1), _summary(1))
    second = store.write(_payload(2), _summary(2))
    assert first.path != second.path
    assert second.created_at == first.created_at + timedelta(microseconds=1)
    assert [info.device_count for info in store.list()] == [2, 1]


def test_a_clock_that_steps_back_cannot_make_a_new_snapshot_look_old(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _store(tmp_path, clock, keep=1)
    store.write(_payload(1), _summary(1))
    clock.advance(days=-1)  # the time is corrected after boot
    newest = store.write(_payload(2), _summary(2))
    # Pruning to one kept the snapshot just written, not the one before it.
    assert [info.device_count for info in store.list()] == [2]
    assert store.read(newest.path).payload == _payload(2)


def test_interrupted_write_leaves_no_temp_file_and_older_snapshots_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    store = _store(tmp_path, clock, keep=1)
    earlier = store.write(_payload(1), _summary(1))
    clock.advance(minutes=1)

    def power_cut(source: object, target: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        store.write(_payload(2), _summary(2))
    monkeypatch.undo()

    assert _names(store.folder) == {earlier.path.name}
    assert store.list() == [earlier]
    assert store.read(earlier.path).payload == _payload(1)


def test_prune_removes_stale_temp_files_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.folder.mkdir()
    stale = store.folder / ".snapshot-20250101T000000000000Z.json.x1y2.tmp"
    fresh = store.folder / ".snapshot-20250102T000000000000Z.json.z3w4.tmp"
    foreign = store.folder / ".other.json.a5b6.tmp"
    for path in (stale, fresh, foreign):
        path.write_text("{")
    two_hours_ago = time.time() - 7200
    for path in (stale, foreign):
        os.utime(path, (two_hours_ago, two_hours_ago))
    store.prune()
    assert _names(store.folder) == {fresh.name, foreign.name}


async def test_async_wrappers_run_the_store(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _store(tmp_path, clock)
    first = await store.async_write(_payload(1), _summary(1))
    clock.advance(seconds=1)
    second = await store.async_write(_payload(2), _summary(2), password=PASSWORD)
    assert await store.async_list() == [second, first]
    assert await store.async_newest() == second
    snapshot = await store.async_read(second.path, PASSWORD)
    assert snapshot.payload == _payload(2)


def test_five_hundred_devices_round_trip(tmp_path: Path) -> None:
    """(How fast is measured by ``scripts/bench restore``, never by a timed test.)"""
    payload = {
        "devices": [
            {f"attribute_{key}": f"value {index}.{key}" for key in range(14)} | {"n": index}
            for index in range(500)
        ],
        "sections": {
            "zigbee": {
                "network_key": NETWORK_KEY,
                "neighbours": {str(index): [index, index + 1] for index in range(500)},
            }
        },
    }
    store = _store(tmp_path)
    info = store.write(payload, _summary(500))
    assert store.read(info.path).payload == payload


async def test_two_async_writes_at_once_in_one_clock_instant_get_distinct_names(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    first, second = await asyncio.gather(
        store.async_write(_payload(1), _summary(1)), store.async_write(_payload(2), _summary(2))
    )
    assert first.path != second.path
    assert sorted(info.device_count for info in await store.async_list()) == [1, 2]
