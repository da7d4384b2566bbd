"""A new simulated house: a seeded network identity, a radio that formed it, and devices
that joined it (lights already in the "All lights" group); and, when asked for, a blank
standby radio."""

from __future__ import annotations

import random
from collections import Counter

import zigpy.types as t

from . import ztypes
from .device import SimDevice
from .kinds import PROFILES
from .radio import NetworkIdentity, VirtualRadio
from .spec import VirtualNetworkSpec

ALL_LIGHTS_GROUP_ID = 0x0001
ALL_LIGHTS_GROUP_NAME = "All lights"
_MAX_NWK = 0xFFF7


def random_eui64(rng: random.Random, used: set[t.EUI64]) -> t.EUI64:
    while True:
        ieee = t.EUI64(rng.randbytes(8))
        if ieee not in used and ieee not in (ztypes.UNKNOWN_EUI64, ztypes.ZERO_EUI64):
            used.add(ieee)
            return ieee


def create_house(spec: VirtualNetworkSpec) -> tuple[NetworkIdentity, VirtualRadio, list[SimDevice]]:
    """Everything a house is made of, the same for the same spec (seed and name)."""
    rng = random.Random(f"house:{spec.seed}:{spec.network}")
    identity = NetworkIdentity.generate(rng)
    used: set[t.EUI64] = set()
    radio = VirtualRadio(random_eui64(rng, used))
    radio.form(identity)
    nwks: set[int] = {0x0000}
    numbers: Counter[str] = Counter()
    devices = []
    for kind in spec.device_kinds():
        profile = PROFILES[kind]
        numbers[profile.label] += 1
        nwk = rng.randint(0x0001, _MAX_NWK)
        while nwk in nwks:
            nwk = rng.randint(0x0001, _MAX_NWK)
        nwks.add(nwk)
        device = SimDevice.new(
            ieee=random_eui64(rng, used),
            nwk=nwk,
            kind=kind,
            name=f"{profile.label} {numbers[profile.label]}",
            rng=rng,
        )
        device.poll_phase = rng.random()
        if profile.is_light:
            device.endpoint.groups[ALL_LIGHTS_GROUP_ID] = ALL_LIGHTS_GROUP_NAME
        devices.append(device)
    return identity, radio, devices


def create_standby_radio(spec: VirtualNetworkSpec, used: set[t.EUI64]) -> VirtualRadio:
    """A blank stick for the standby slot, with an IEEE address none of ``used`` has.

    Seeded apart from the house, so adding a standby to a saved house (or not) changes
    nothing else of it.
    """
    rng = random.Random(f"standby:{spec.seed}:{spec.network}")
    return VirtualRadio(random_eui64(rng, set(used)))
