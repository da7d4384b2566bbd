"""The change engine: every command is followed until the device itself shows it.

A command becomes a *change* per target device: the values it wants and a deadline.
``engine.py`` is the engine's face (``ChangeEngine``: commands, results, counts);
``open_changes.py`` opens the changes, keeps their deadlines and settles them;
``machine.py`` runs one state machine per device over the union of its open changes (send,
wait for a report, read, back off, until verified or the deadline), with ``checks.py``
doing the report waits, reads and back-offs; ``records.py`` is what they keep;
``groups.py`` follows a groupcast (a group set, a scene recall) member by member and
repairs by unicast; ``pending.py`` keeps desired states and open changes across restarts
(``changes.json``).

- Only values from the device (reports, read responses) verify, and only ones that
  arrived after the value was commanded.
- A newer change takes over the attributes it sets from older ones (those end
  ``superseded`` for them); one frame per device carries everything still open.

Every time-based step is a timer on the running loop; nothing compares clocks later.
"""

from ..change_results import (
    ChangeCounts,
    ChangeHandle,
    ChangeResult,
    ChangeStatus,
    DeviceSyncStatus,
    GroupHandle,
    GroupResult,
    SyncState,
)
from ..policy import ChangePolicy
from ..scheduler import CommandValues, Priority
from .engine import ChangeEngine, EngineListener, EngineStopped
from .records import Phase

__all__ = [  # the engine and everything its callers handle, from one place
    "ChangeCounts",
    "ChangeEngine",
    "ChangeHandle",
    "ChangePolicy",
    "ChangeResult",
    "ChangeStatus",
    "CommandValues",
    "DeviceSyncStatus",
    "EngineListener",
    "EngineStopped",
    "GroupHandle",
    "GroupResult",
    "Phase",
    "Priority",
    "SyncState",
]
