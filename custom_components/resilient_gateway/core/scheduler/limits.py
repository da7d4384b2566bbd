"""Class limits: per class of operations (the sleepers'), how many may be queued or on
air at once; beyond it a new one is refused at once."""

from __future__ import annotations

from collections.abc import Mapping

from .entries import ClassLimitReached, Entry, EntryState


class ClassLimits:
    """How many operations of each limited class are under way, against their limits."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        self._limits = dict(limits)
        self._in_class = dict.fromkeys(self._limits, 0)

    def admit(self, limit: str | None) -> None:
        """Count a new operation in class ``limit`` (None: no class), or refuse it."""
        if limit is None:
            return
        if limit not in self._limits:
            raise ValueError(f"no limit is set for {limit!r} operations")
        if self._in_class[limit] >= self._limits[limit]:
            raise ClassLimitReached(f"{self._limits[limit]} {limit} operations under way")
        self._in_class[limit] += 1

    def retire(self, entry: Entry) -> None:
        """The entry is done (or merged into another): it leaves its limited class."""
        entry.state = EntryState.DONE
        if entry.limit is not None:
            self._in_class[entry.limit] -= 1
            entry.limit = None

    def clear(self) -> None:
        """Nothing is under way any more (the scheduler stopped)."""
        self._in_class = dict.fromkeys(self._limits, 0)
