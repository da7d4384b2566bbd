"""What the send scheduler queues: operations (entries), the tickets callers hold for
them, priorities, airtime and the scheduler's errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum, auto
from typing import Any

from ..model import Attr, DeviceId


class Priority(IntEnum):
    """Lower goes first."""

    USER = 0
    REPAIR = 1
    BACKGROUND = 2


class Airtime(Enum):
    """Which budget an operation spends."""

    UNICAST = auto()
    GROUPCAST = auto()


class EntryState(Enum):
    READY = auto()  # waiting for a slot and a token
    DELAYED = auto()  # backing off after a delivery failure
    ON_AIR = auto()
    DONE = auto()


type OnAttempt = Callable[[], None]


type CommandValues = Mapping[Attr, Any] | Mapping[str, Any]

"""Values keyed by ``Attr`` or, for other writable attributes, by their names."""


def values_dict(values: CommandValues) -> dict[str, Any]:
    """A plain copy, keyed by ``Attr`` where the name is one ("on" and Attr.ON are one key)."""
    copy: dict[str, Any] = {}
    for name, value in values.items():
        copy[Attr(name) if name in Attr else name] = value
    return copy


class Ticket[T]:
    """A caller's claim on one queued operation: await it for the outcome.

    Tickets of coalesced operations share one operation. Cancelling a ticket withdraws it;
    the operation is withdrawn once no ticket wants it and it is not on air yet. A ticket
    without ``retry_delivery`` fails with the operation's first delivery failure; the
    operation goes on for the tickets that want it retried.
    """

    __slots__ = ("_entry", "_future", "_on_attempt", "_retry_delivery")

    def __init__(
        self,
        future: asyncio.Future[T],
        entry: Entry,
        on_attempt: OnAttempt | None,
        retry_delivery: bool,
    ):
        self._future = future
        self._entry = entry
        self._on_attempt = on_attempt
        self._retry_delivery = retry_delivery

    @property
    def attempts(self) -> int:
        """How often the operation went on air so far (delivery failures included)."""
        return self._entry.attempts

    @property
    def on_air(self) -> bool:
        return self._entry.state is EntryState.ON_AIR

    def done(self) -> bool:
        return self._future.done()

    def cancelled(self) -> bool:
        return self._future.cancelled()

    def cancel(self) -> None:
        self._future.cancel()

    def result(self) -> T:
        return self._future.result()

    def exception(self) -> BaseException | None:
        return self._future.exception()

    def add_done_callback(self, callback: Callable[[Ticket[T]], None]) -> None:
        self._future.add_done_callback(lambda _: callback(self))

    def __await__(self) -> Generator[Any, None, T]:
        return self._future.__await__()


@dataclass(eq=False, slots=True)
class Entry:
    """One operation in the queue (possibly several coalesced requests)."""

    seq: int
    airtime: Airtime
    priority: Priority
    device_id: DeviceId | None  # at most one operation per device on air
    key: Hashable | None  # requests with the same key coalesce while queued
    run: Callable[[Entry], Awaitable[Any]]
    frames: int  # the frames it puts on air (its cost in tokens)
    values: dict[str, Any]  # a send's merged values, newer winning
    attributes: set[Attr]  # a read's merged attributes
    transition: float | None = None
    is_read: bool = False
    tickets: list[Ticket[Any]] | None = None
    limit: str | None = None  # the limited class it counts in, until it is done
    state: EntryState = EntryState.READY
    ready_at: float = 0.0
    attempts: int = 0
    failures: int = 0

    def live_tickets(self) -> list[Ticket[Any]]:
        return [t for t in self.tickets or () if not t.done()]


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    queued: int
    in_flight: int
    unicasts_sent: int
    groupcasts_sent: int
    delivery_failures: int
    coalesced: int


class SchedulerStopped(RuntimeError):
    """The scheduler was stopped; nothing more goes on air."""


class ClassLimitReached(RuntimeError):
    """As many operations of the class are queued or on air as its limit allows."""


def attempt_under_way(ticket: Ticket[Any]) -> None:
    """Tell a ticket that joined an operation on air of that attempt."""
    if not ticket.done() and ticket.on_air and ticket._on_attempt is not None:
        ticket._on_attempt()
