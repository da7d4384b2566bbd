"""What a virtual Zigbee network looks like and how hostile its air is.

Device mix (decided here, used when a house is first created):

- ``lights``: a cycle of dimmable, colour-temperature, colour (xy + colour temperature)
  and plain on/off lights, in that order; all mains-powered routers.
- ``sensors``: the other always-reachable or lightly sleeping devices, a cycle of smart
  plug (router, ElectricalMeasurement active power), thermostat (battery, light sleeper
  polling every ``light_sleeper_poll_interval`` seconds) and contact sensor (battery,
  sleepy, IAS Zone).
- ``sleepy_sensors``: temperature/humidity sensors (battery, sleepy: they poll their
  parent every ``sleepy_poll_interval`` seconds and right after they transmit).

Fault knobs (``loss``, ``group_miss``, latency, acknowledgements, budgets, ...) apply to
every run; the house itself (devices, identity, states) comes from the state file once it exists.

Radios: the primary coordinator stick, and with ``standby_radio`` a second, blank one
plugged in beside it (2N redundancy: the gateway can move the network onto it when the
primary dies). A zigpy app picks its stick by device path: ``virtual://<network>`` is the
primary slot, ``virtual://<network>/standby`` the standby slot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from .kinds import SimKind

MAX_DEVICES_PER_CLASS = 500
MAX_LOSS = 0.9

LIGHT_CYCLE = (
    SimKind.DIMMABLE_LIGHT,
    SimKind.COLOR_TEMP_LIGHT,
    SimKind.COLOR_LIGHT,
    SimKind.ON_OFF_LIGHT,
)
SENSOR_CYCLE = (SimKind.SMART_PLUG, SimKind.THERMOSTAT, SimKind.CONTACT_SENSOR)


@dataclass(slots=True)
class VirtualNetworkSpec:
    """A virtual network: its name, device counts and the faults of its air."""

    network: str
    lights: int = 12
    sensors: int = 4
    sleepy_sensors: int = 2
    loss: float = 0.02
    group_miss: float = 0.0
    seed: int = 1
    # One-way delivery delay and its random extra (seconds); 0 delivers with call_soon.
    latency: float = 0.0
    jitter: float = 0.0
    # Acknowledged unicasts: transmissions before the sender gives up (the first and the
    # retries), and how long past the round trip (2 x (latency + jitter)) it waits for the
    # acknowledgement of one before transmitting again (seconds).
    unicast_attempts: int = 4
    ack_timeout: float = 0.1
    # The radio knows which transmissions the air drops (re-sends a dropped unicast at
    # once, waits for no acknowledgement): only for the benchmark's ideal sender.
    omniscient_radio: bool = False
    # The radio's air budget (token buckets on loop time) and its send queue.
    unicast_rate: float = 50.0
    unicast_burst: int = 200
    broadcast_rate: float = 2.0  # broadcasts and groupcasts together
    broadcast_burst: int = 10
    send_queue: int = 32
    # End devices: how often they poll their parent, and how long the parent keeps a frame.
    sleepy_poll_interval: float = 300.0
    light_sleeper_poll_interval: float = 5.0
    indirect_timeout: float = 7.68
    # Table sizes on every device.
    group_capacity: int = 16
    scene_capacity: int = 16
    # How often sensor readings take a random-walk step (seconds).
    drift_interval: float = 60.0
    # Debounce for automatic saves after a change (seconds); 0 saves only on request.
    save_delay: float = 10.0
    # A second, blank coordinator stick in the standby slot (kept by the house once saved).
    standby_radio: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first out-of-range setting."""
        if not isinstance(self.network, str) or not self.network.strip():
            raise ValueError("network name must be a non-empty string")
        if len(self.network) > 64 or any(ch.isspace() or ch == "/" for ch in self.network):
            raise ValueError(
                f"network name {self.network!r} must be at most 64 characters, "
                "without spaces or '/'"
            )
        for name in ("lights", "sensors", "sleepy_sensors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if not 0 <= value <= MAX_DEVICES_PER_CLASS:
                raise ValueError(f"{name} must be in 0..{MAX_DEVICES_PER_CLASS}, got {value}")
        for name in ("loss", "group_miss"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not 0.0 <= value <= MAX_LOSS:
                raise ValueError(f"{name} must be in 0..{MAX_LOSS}, got {value}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        for name in ("latency", "jitter", "ack_timeout"):
            value = getattr(self, name)
            if not 0.0 <= value <= 10.0:
                raise ValueError(f"{name} must be in 0..10 seconds, got {value}")
        for name in (
            "unicast_rate",
            "broadcast_rate",
            "sleepy_poll_interval",
            "light_sleeper_poll_interval",
            "indirect_timeout",
            "drift_interval",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if isinstance(self.unicast_attempts, bool) or not 1 <= self.unicast_attempts <= 16:
            raise ValueError(f"unicast_attempts must be in 1..16, got {self.unicast_attempts}")
        for name in ("unicast_burst", "broadcast_burst", "send_queue"):
            value = getattr(self, name)
            if not 1 <= value <= 100_000:
                raise ValueError(f"{name} must be in 1..100000, got {value}")
        for name in ("group_capacity", "scene_capacity"):
            value = getattr(self, name)
            if not 1 <= value <= 254:
                raise ValueError(f"{name} must be in 1..254, got {value}")
        if self.save_delay < 0:
            raise ValueError(f"save_delay must not be negative, got {self.save_delay}")
        if not isinstance(self.standby_radio, bool):
            raise ValueError(f"standby_radio must be true or false, got {self.standby_radio!r}")

    def device_kinds(self) -> list[SimKind]:
        """The kind of every device of a new house, in creation order."""
        kinds = [LIGHT_CYCLE[i % len(LIGHT_CYCLE)] for i in range(self.lights)]
        kinds += [SENSOR_CYCLE[i % len(SENSOR_CYCLE)] for i in range(self.sensors)]
        kinds += [SimKind.CLIMATE_SENSOR] * self.sleepy_sensors
        return kinds

    @property
    def path(self) -> str:
        return network_path(self.network)

    @property
    def standby_path(self) -> str:
        return network_path(self.network, STANDBY)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PATH_SCHEME = "virtual://"

type RadioSlot = Literal["primary", "standby"]
"""Where a coordinator stick is plugged in."""

PRIMARY: Final = "primary"
STANDBY: Final = "standby"
RADIO_SLOTS: Final[tuple[RadioSlot, ...]] = (PRIMARY, STANDBY)


def radio_slot(slot: str) -> RadioSlot:
    """``slot`` if it names a radio slot, else ``ValueError``."""
    if slot not in RADIO_SLOTS:
        raise ValueError(f"radio slot must be one of {', '.join(RADIO_SLOTS)}, got {slot!r}")
    return slot


def network_path(network: str, slot: RadioSlot = PRIMARY) -> str:
    """The device path a zigpy app uses to reach the radio in ``slot`` of the network
    called ``network``."""
    if radio_slot(slot) == PRIMARY:
        return f"{PATH_SCHEME}{network}"
    return f"{PATH_SCHEME}{network}/{slot}"


def parse_path(path: str) -> tuple[str, RadioSlot]:
    """The network name and radio slot in a ``virtual://<name>[/standby]`` device path."""
    if not path.startswith(PATH_SCHEME) or len(path) == len(PATH_SCHEME):
        raise ValueError(
            f"not a virtual radio path: {path!r} (expected virtual://<name>[/{STANDBY}])"
        )
    # Network names hold no '/', so the first one starts the slot.
    network, separator, slot = path[len(PATH_SCHEME) :].partition("/")
    if not network or (separator and slot != STANDBY):
        raise ValueError(
            f"not a virtual radio path: {path!r} (expected virtual://<name>[/{STANDBY}])"
        )
    return network, STANDBY if separator else PRIMARY


def network_from_path(path: str) -> str:
    """The network name in a ``virtual://<name>[/standby]`` device path."""
    return parse_path(path)[0]


def slot_from_path(path: str) -> RadioSlot:
    """The radio slot a ``virtual://<name>[/standby]`` device path names."""
    return parse_path(path)[1]
