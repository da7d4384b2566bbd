"""Constants of the Resilient Gateway integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "resilient_gateway"
LOGGER = logging.getLogger(__package__)

CONF_RADIO_TYPE: Final = "radio_type"
RADIO_ZIGBEE: Final = "zigbee"
RADIO_VIRTUAL: Final = "virtual"

# Zigbee serial radio
CONF_RADIO_LIBRARY: Final = "radio_library"
CONF_DEVICE_PATH: Final = "path"
CONF_BAUDRATE: Final = "baudrate"
CONF_FLOW_CONTROL: Final = "flow_control"

# Virtual gateway (the simulated network); the names are part of the public surface.
CONF_NETWORK: Final = "network"
CONF_LIGHTS: Final = "lights"
CONF_SENSORS: Final = "sensors"
CONF_SLEEPY_SENSORS: Final = "sleepy_sensors"
CONF_LOSS: Final = "loss"
CONF_GROUP_MISS: Final = "group_miss"
CONF_SEED: Final = "seed"
VIRTUAL_LIMITS: Final[dict[str, tuple[int, int] | tuple[float, float]]] = {
    CONF_LIGHTS: (0, 500),
    CONF_SENSORS: (0, 500),
    CONF_SLEEPY_SENSORS: (0, 500),
    CONF_LOSS: (0.0, 0.9),
    CONF_GROUP_MISS: (0.0, 0.9),
}

ATTR_SYNC: Final = "sync"
EVENT_CHANGE_FAILED: Final = "resilient_gateway_change_failed"

# Where the integration keeps its files, below Home Assistant's config directory (so every
# Home Assistant backup contains them).
STORAGE_DIR: Final = "resilient_gateway"
