"""The change engine: every command is followed until the device itself shows it.

``engine.py`` is its face (``ChangeEngine``).
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
from .engine import ChangeEngine, EngineStopped, Phase

__all__ = [  # the engine and everything its callers handle, from one place
    "ChangeCounts",
    "ChangeEngine",
    "ChangeHandle",
    "ChangePolicy",
    "ChangeResult",
    "ChangeStatus",
    "CommandValues",
    "DeviceSyncStatus",
    "EngineStopped",
    "GroupHandle",
    "GroupResult",
    "Phase",
    "Priority",
    "SyncState",
]
