"""Small stand-ins for the MicroPython modules micropython-iot's client imports
(``network``, ``machine``, ``usocket``, ``uasyncio``, ``utime``, ``uerrno``,
``micropython``), so the unmodified client runs under CPython on the test's loop.

Time is the running loop's (``utime.ticks_ms``), so the client runs on simulated time
too; its busy polls (``sleep_ms(0)``) take a simulated millisecond so the clock can move.
"""

from __future__ import annotations

import asyncio
import errno
import socket as _socket
import sys
import types
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class _Wlan:
    """A station interface that is connected unless the client disconnects it."""

    def __init__(self, interface: int) -> None:
        self._connected = True

    def active(self, *_: Any) -> bool:
        return True

    def isconnected(self) -> bool:
        return self._connected

    def connect(self, *_: Any) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False


class _Socket:
    """MicroPython's socket as the client uses it: a non-blocking ``readline`` that
    returns a (partial) line, b"" at the peer's close, None when nothing is there."""

    def __init__(self) -> None:
        self._sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        self._buffer = b""

    def connect(self, address: Any) -> None:
        self._sock.connect(address)

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def readline(self) -> bytes | None:
        if b"\n" not in self._buffer:
            try:
                data = self._sock.recv(4096)
            except BlockingIOError:
                data = None
            if data == b"" and not self._buffer:
                return b""
            self._buffer += data or b""
        if not self._buffer:
            return None
        end = self._buffer.find(b"\n")
        cut = len(self._buffer) if end < 0 else end + 1
        line, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return line

    def send(self, data: bytes | str) -> int:
        return self._sock.send(data.encode() if isinstance(data, str) else data)

    def close(self) -> None:
        self._sock.close()


def _modules() -> dict[str, types.ModuleType]:
    network = types.ModuleType("network")
    network.STA_IF, network.AP_IF = 0, 1  # type: ignore[attr-defined]
    network.WLAN = _Wlan  # type: ignore[attr-defined]

    machine = types.ModuleType("machine")

    class Pin:  # (the client checks an LED against it)
        pass

    machine.Pin = Pin  # type: ignore[attr-defined]
    machine.reset = lambda: None  # type: ignore[attr-defined]

    usocket = types.ModuleType("usocket")
    usocket.socket = _Socket  # type: ignore[attr-defined]
    usocket.getaddrinfo = _socket.getaddrinfo  # type: ignore[attr-defined]

    uasyncio = types.ModuleType("uasyncio")
    uasyncio.__dict__.update({k: v for k, v in vars(asyncio).items() if not k.startswith("__")})

    def sleep_ms(ms: int) -> Awaitable[None]:
        return asyncio.sleep(max(ms, 1) / 1000)

    def wait_for_ms(awaitable: Awaitable[Any], ms: int) -> Awaitable[Any]:
        return asyncio.wait_for(awaitable, ms / 1000)

    uasyncio.sleep_ms = sleep_ms  # type: ignore[attr-defined]
    uasyncio.wait_for_ms = wait_for_ms  # type: ignore[attr-defined]

    utime = types.ModuleType("utime")
    utime.ticks_ms = lambda: int(asyncio.get_running_loop().time() * 1000)  # type: ignore[attr-defined]
    utime.ticks_diff = lambda a, b: a - b  # type: ignore[attr-defined]

    uerrno = types.ModuleType("uerrno")
    uerrno.__dict__.update({k: v for k, v in vars(errno).items() if not k.startswith("__")})

    micropython = types.ModuleType("micropython")
    micropython.const = lambda value: value  # type: ignore[attr-defined]
    return {
        "network": network,
        "machine": machine,
        "usocket": usocket,
        "uasyncio": uasyncio,
        "utime": utime,
        "uerrno": uerrno,
        "micropython": micropython,
    }


@contextmanager
def upstream_client(checkout: Path) -> Iterator[types.ModuleType]:
    """micropython-iot's ``iot.client`` from ``checkout``, unmodified, importable while
    this lasts (a fresh import each time: its id counters are module state)."""
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "iot"}
    for name in saved:
        del sys.modules[name]
    stand_ins = _modules()
    sys.modules.update(stand_ins)
    sys.path.insert(0, str(checkout))
    try:
        import iot.client  # type: ignore[import-not-found]

        yield iot.client
    finally:
        sys.path.remove(str(checkout))
        for name in [n for n in sys.modules if n.split(".")[0] == "iot" or n in stand_ins]:
            del sys.modules[name]
        sys.modules.update(saved)
