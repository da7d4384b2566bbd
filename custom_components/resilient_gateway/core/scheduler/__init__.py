"""What goes on air next, for one radio: paced, prioritised, coalesced, never dropped.

Every frame the gateway puts on air goes through one ``SendScheduler``:
- it never exceeds the radio's budget: a token bucket each for unicasts and groupcasts
  (on loop time) and at most ``max_in_flight`` operations awaiting the radio at once;
- it never drops: the queue is unbounded, callers await their ticket (that wait is the
  back-pressure), and a ``DeliveryError`` puts the operation back with back-off (so does a
  cancellation that does not come from stopping the scheduler: a radio library cancels
  the confirmations it waits for when its link drops), except for callers that asked for
  one try (``retry_delivery=False``: a ping, which an unpowered device must fail);
- a newer set for a device that is still queued is merged into the queued one, and a read
  joins a read of the device that is queued, or on air and asks for what it wants;
- user commands go before repairs, repairs before background reads; ties go first come,
  first served; at most one operation per device is on air at a time, so a read never
  overtakes the command it is meant to check;
- a class of operations may be limited (``limits``: the sleepers' operations, each of
  which may hold a frame slot for a parent's 7.68 s): beyond the limit, queued or on air,
  a new one is refused at once (``ClassLimitReached``: its caller tries again later).

Waiting is always a timer set from ``loop.time()``, and a timer that fires delivers what it
waited for (a token, the end of a back-off) even where a test harness fires it before
``loop.time()`` gets there, as Home Assistant's does.
"""

from .entries import (
    Airtime,
    ClassLimitReached,
    CommandValues,
    OnAttempt,
    Priority,
    SchedulerStats,
    SchedulerStopped,
    Ticket,
    values_dict,
)
from .pump import AirPump
from .requests import SendScheduler

__all__ = [
    "AirPump",
    "Airtime",
    "ClassLimitReached",
    "CommandValues",
    "OnAttempt",
    "Priority",
    "SchedulerStats",
    "SchedulerStopped",
    "SendScheduler",
    "Ticket",
    "values_dict",
]
