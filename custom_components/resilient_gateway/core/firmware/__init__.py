"""Firmware updates of the gateway's devices (radio-neutral; see updater.py, serving.py)."""

from .contract import (
    BlockRequest,
    FirmwareListener,
    FirmwareRadio,
    FirmwareTarget,
    ImageQuery,
    ServedImage,
    UpgradeEnd,
)
from .hooks import GatewayFirmwareHooks
from .images import FirmwareCatalog, FirmwareFolder, FirmwareImage, ImageSource, ParsedImage
from .job import FailureReason, Phase, UpdateFailed, UpdateProgress, UpdateResult
from .updater import (
    OPTION_DEADLINE,
    OPTION_RETRIES,
    OPTION_SHARE,
    Configuration,
    FirmwareUpdater,
    UpdateListener,
    UpdatePolicy,
)

__all__ = [
    "OPTION_DEADLINE",
    "OPTION_RETRIES",
    "OPTION_SHARE",
    "BlockRequest",
    "Configuration",
    "FailureReason",
    "FirmwareCatalog",
    "FirmwareFolder",
    "FirmwareImage",
    "FirmwareListener",
    "FirmwareRadio",
    "FirmwareTarget",
    "FirmwareUpdater",
    "GatewayFirmwareHooks",
    "ImageQuery",
    "ImageSource",
    "ParsedImage",
    "Phase",
    "ServedImage",
    "UpdateFailed",
    "UpdateListener",
    "UpdatePolicy",
    "UpdateProgress",
    "UpdateResult",
    "UpgradeEnd",
]
