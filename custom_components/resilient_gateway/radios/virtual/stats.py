"""Counters of what went on air, for benchmarks comparing strategies by frames sent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(slots=True)
class AirStats:
    # Transmissions, both directions (a retry is another transmission); acknowledgements
    # are not counted as frames.
    unicasts: int = 0
    groupcasts: int = 0
    broadcasts: int = 0
    # Frames that did not reach a receiver: loss, a missed groupcast member (one per
    # member), an expired frame for a sleeper, a receiver that is off or not listening.
    frames_lost: int = 0
    reads: int = 0  # Read Attributes requests sent by the radio
    reports: int = 0  # Report Attributes frames sent by devices
    delivery_failures: int = 0  # sends ended in DeliveryError: refused or unacknowledged
    # Details of the counters above.
    radio_frames: int = 0  # every transmission by the radio: unicasts, retries, groupcasts
    radio_retries: int = 0  # unicasts the radio transmitted again, unacknowledged
    uplink_unicasts: int = 0  # unicasts sent by devices (answers, reports, their retries)
    device_retries: int = 0  # unicasts devices transmitted again, unacknowledged
    acks_lost: int = 0  # frames that arrived but whose acknowledgement was lost
    frames_expired: int = 0  # lost because a sleeper did not poll in time

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def reset(self) -> None:
        for field in fields(self):
            setattr(self, field.name, 0)
