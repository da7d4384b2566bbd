"""What handling one ZCL command produced: a status and maybe a specific response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zigpy.zcl import Cluster, foundation


@dataclass(frozen=True, slots=True)
class Outcome:
    status: foundation.Status = foundation.Status.SUCCESS
    # (command id, cluster-specific?, payload) of a specific response, if there is one
    response: tuple[int, bool, bytes] | None = None


OK = Outcome()


def fail(status: foundation.Status) -> Outcome:
    return Outcome(status=status)


def respond(cluster: type[Cluster], name: str, **fields: Any) -> Outcome:
    """A cluster-specific response (server to client) built with zigpy's schema."""
    command: foundation.ZCLCommandDef = getattr(cluster.ClientCommandDefs, name)
    return Outcome(response=(command.id, True, command.schema(**fields).serialize()))


def respond_raw(cluster: type[Cluster], name: str, payload: bytes) -> Outcome:
    command: foundation.ZCLCommandDef = getattr(cluster.ClientCommandDefs, name)
    return Outcome(response=(command.id, True, payload))
