"""Constants of the Resilient Gateway integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "resilient_gateway"
LOGGER = logging.getLogger(__package__)

CONF_RADIO_TYPE: Final = "radio_type"
RADIO_ZIGBEE: Final = "zigbee"
RADIO_VIRTUAL: Final = "virtual"
RADIO_WIFI_NODE: Final = "wifi_node"
RADIO_BLUETOOTH: Final = "bluetooth"  # one Bluetooth LE device per entry

# Bluetooth LE device
CONF_ADDRESS: Final = "address"
BLUETOOTH_FILE: Final = "bluetooth.json"  # what the link learned of the device

# Zigbee serial radio
CONF_RADIO_LIBRARY: Final = "radio_library"
CONF_DEVICE_PATH: Final = "path"
CONF_BAUDRATE: Final = "baudrate"
CONF_FLOW_CONTROL: Final = "flow_control"
# A network-attached coordinator (Ethernet/Wi-Fi: SLZB-06, ZigStar, UZG-01, TubesZB) is
# driven through its serial-over-TCP port: path socket://host:port.
NETWORK_PATH_SCHEMES: Final = ("socket://", "tcp://")
DEFAULT_NETWORK_PORT: Final = 6638  # their firmwares' default serial-over-TCP port
NETWORK_CONNECT_TIMEOUT: Final = 5.0  # seconds for a coordinator to accept a connection

# Wi-Fi node link (micropython-iot nodes connect to it)
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_TIMEOUT_MS: Final = "timeout_ms"
CONF_EXPECTED_NODES: Final = "expected_nodes"
CONF_ACCEPT_UNKNOWN: Final = "accept_unknown"
CONF_SECRET: Final = "secret"  # never logged, redacted in diagnostics
HOME_ASSISTANT_PORT: Final = 8123  # upstream's default, and Home Assistant's own
WIFI_NODE_LIMITS: Final[dict[str, tuple[int, int]]] = {
    CONF_PORT: (1, 65535),
    CONF_TIMEOUT_MS: (100, 600000),
}

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

# Options: snapshots, recovery, availability
CONF_SNAPSHOT_KEEP: Final = "snapshot_keep"
CONF_SNAPSHOT_INTERVAL: Final = "snapshot_interval_hours"
CONF_AUTO_RESTORE: Final = "auto_restore"
CONF_STANDBY_PATH: Final = "standby_path"  # a Zigbee gateway's standby radio port
CONF_STANDBY_RADIO: Final = "standby_radio"  # a virtual gateway's simulated standby
CONF_HEALTH_CHECK_INTERVAL: Final = "health_check_interval"
CONF_HEALTH_CHECK_TIMEOUT: Final = "health_check_timeout"
CONF_MAINS_INTERVAL: Final = "mains_interval"
CONF_BATTERY_INTERVAL: Final = "battery_interval"
CONF_BLUETOOTH_KEEP_ALIVE: Final = "bluetooth_keep_alive"  # idle seconds before release
# Encrypts automatic snapshots, and backup/restore calls that give no password.
CONF_SNAPSHOT_PASSWORD: Final = "snapshot_password"
CONF_FIRMWARE_PROVIDERS: Final = "firmware_providers"  # zigpy's OTA providers (none)
DEFAULT_SNAPSHOT_KEEP: Final = 7
DEFAULT_SNAPSHOT_INTERVAL: Final = 24.0

# The colour temperatures a light entity offers (values outside are clamped into them).
LIGHT_MIN_KELVIN: Final = 2000
LIGHT_MAX_KELVIN: Final = 6500

ATTR_SYNC: Final = "sync"
EVENT_CHANGE_FAILED: Final = "resilient_gateway_change_failed"
EVENT_RADIO_STATE: Final = "resilient_gateway_radio_state"
EVENT_RESTORE_PROGRESS: Final = "resilient_gateway_restore_progress"
EVENT_RESTORE_DONE: Final = "resilient_gateway_restore_done"

# Where the integration keeps its files, below Home Assistant's config directory (so every
# Home Assistant backup contains them).
STORAGE_DIR: Final = "resilient_gateway"
SNAPSHOT_DIR: Final = "snapshots"
