"""The zigpy radio libraries a Zigbee serial radio can be driven by."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from zigpy.application import ControllerApplication


@dataclass(frozen=True, slots=True)
class RadioLibrary:
    key: str
    module: str
    description: str
    default_baudrate: int

    def controller_class(self) -> type[ControllerApplication]:
        """Import the library only when it is used (each pulls in its own stack).

        The first call imports modules from disk: Home Assistant code calls it in its
        import executor (``hass.async_add_import_executor_job``), never on the event loop.
        """
        cls: type[ControllerApplication] = importlib.import_module(
            self.module
        ).ControllerApplication
        return cls


RADIO_LIBRARIES: dict[str, RadioLibrary] = {
    lib.key: lib
    for lib in (
        RadioLibrary("ezsp", "bellows.zigbee.application", "Silicon Labs EZSP (bellows)", 115200),
        RadioLibrary(
            "znp", "zigpy_znp.zigbee.application", "Texas Instruments Z-Stack (zigpy-znp)", 115200
        ),
        RadioLibrary(
            "deconz",
            "zigpy_deconz.zigbee.application",
            "dresden elektronik deCONZ (zigpy-deconz)",
            38400,
        ),
        RadioLibrary("xbee", "zigpy_xbee.zigbee.application", "Digi XBee (zigpy-xbee)", 57600),
        RadioLibrary("zigate", "zigpy_zigate.zigbee.application", "ZiGate (zigpy-zigate)", 115200),
    )
}


# Older names coordinators announce for a radio type (ZHA's names otherwise equal our keys).
_RADIO_TYPE_ALIASES: dict[str, str] = {"efr32": "ezsp"}


def library_for_radio_type(radio_type: str) -> RadioLibrary | None:
    """The library for a radio type as network coordinators announce it (``znp``,
    ``ezsp``/``efr32``, ``deconz``, ``zigate``, ``xbee``), or None for one we do not drive."""
    name = radio_type.strip().lower()
    return RADIO_LIBRARIES.get(_RADIO_TYPE_ALIASES.get(name, name))
