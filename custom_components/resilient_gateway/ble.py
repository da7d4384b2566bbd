"""A Bluetooth LE device entry's ties to Home Assistant's Bluetooth stack: the device
looked up through it before every connection attempt (so a retry takes the adapter or
proxy that hears it best), its advertisements telling whether it is in range, and what
the link learned of it kept for the next start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection
from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .const import BLUETOOTH_FILE, CONF_ADDRESS, DOMAIN, LOGGER
from .core.gateway import Gateway
from .core.health import HealthPolicy
from .core.radio import RadioError, RadioListener
from .core.scheduler import Priority
from .core.storage import AtomicJsonFile
from .radios.ble import SERVICE_UUIDS, BleLink, detect
from .radios.ble.connection import ConnectionPolicy
from .radios.ble.profiles import microbit

CLIENT_CLASS: type[BleakClientWithServiceCache] = BleakClientWithServiceCache
"""The bleak client the links connect with (tests put the simulated backend's here)."""

MICROBIT_NAME_PREFIX = "BBC micro:bit"
PROBE_TIMEOUT = 30.0  # the config flow's one connection to a device, its attempts included
# A text call waits at most this long: a connection's attempts plus the write's bound.
SHOW_TEXT_TIMEOUT = 90.0


def gentle_health_policy(policy: HealthPolicy) -> HealthPolicy:
    """One device, not a radio: no radio to restart or fail over to, and a device out of
    range is no fault to climb a ladder for. One reconnect, then the connection's own
    back-off and the device's advertisements bring it back."""
    return replace(
        policy,
        retries=0,
        reconnects=1,
        restarts=0,
        give_up_first_retry=30.0,
        give_up_retry_interval=600.0,
    )


def supported(info: bluetooth.BluetoothServiceInfoBleak) -> bool:
    """Whether an advertisement is of a device this integration drives: it offers one of
    the known GATT services, or is a micro:bit (which advertises its name only)."""
    offered = {uuid.lower() for uuid in info.service_uuids}
    return bool(offered & SERVICE_UUIDS) or (info.name or "").startswith(MICROBIT_NAME_PREFIX)


def display_name(info: bluetooth.BluetoothServiceInfoBleak) -> str:
    """How the device introduces itself, and its address when it gives no name."""
    name = info.name if info.name and info.name != info.address else None
    return f"{name} ({info.address})" if name else info.address


async def async_probe(hass: HomeAssistant, info: bluetooth.BluetoothServiceInfoBleak) -> str | None:
    """Connect to a device once before it is added: None when it offers a service this
    integration drives, else the reason to stop (``cannot_connect``, ``not_supported``)."""

    def latest() -> BLEDevice:
        found = bluetooth.async_ble_device_from_address(hass, info.address, connectable=True)
        return found or info.device

    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            client = await establish_connection(
                CLIENT_CLASS, info.device, info.name or info.address, ble_device_callback=latest
            )
    except (TimeoutError, BleakError) as exc:
        LOGGER.debug("No connection to %s: %r", info.address, exc)
        return "cannot_connect"
    try:
        found = detect(service.uuid for service in client.services)
    finally:
        try:
            async with asyncio.timeout(5.0):
                await client.disconnect()
        except (TimeoutError, BleakError) as exc:
            LOGGER.debug("Disconnecting %s failed: %r", info.address, exc)
    return None if found else "not_supported"


class BluetoothDevice:
    """The Home Assistant side of one Bluetooth LE device's link."""

    def __init__(
        self,
        hass: HomeAssistant,
        data: dict[str, Any],
        storage_path: Path,
        name: str,
        *,
        keep_alive: float | None = None,
    ) -> None:
        """``keep_alive``: idle seconds before the connection is released (the option)."""
        self.hass = hass
        self.address = str(data[CONF_ADDRESS]).upper()
        self.name = name
        self._policy = (
            ConnectionPolicy() if keep_alive is None else ConnectionPolicy(keep_alive=keep_alive)
        )
        self._known_file = AtomicJsonFile(storage_path / BLUETOOTH_FILE)
        self._known: dict[str, Any] | None = None
        self.link: BleLink | None = None
        self.heard = False  # its advertisements are heard by some adapter or proxy
        self._on_change: Callable[[], None] = lambda: None
        self._unsubscribe: list[Callable[[], None]] = []

    def build_link(self, listener: RadioListener) -> BleLink:
        self.link = BleLink(
            listener,
            self.address,
            self._lookup,
            name=self.name,
            client_class=CLIENT_CLASS,
            policy=self._policy,
        )
        return self.link

    def _lookup(self, address: str) -> BLEDevice | None:
        return bluetooth.async_ble_device_from_address(self.hass, address, connectable=True)

    @property
    def in_range(self) -> bool:
        """Heard advertising, or connected (many devices stop advertising while connected)."""
        link = self.link
        return self.heard or (link is not None and link.connection.connected)

    # -- start and stop ------------------------------------------------------------------

    async def async_load_known(self) -> None:
        """What an earlier run learned of the device (its profiles, handles), so the link
        starts while the device is out of range; before the gateway starts."""
        known = await self._known_file.load()
        if isinstance(known, dict) and self.link is not None:
            try:
                await self.link.write_network_identity(known)
            except ValueError as exc:
                LOGGER.warning("%s: %s is not usable (%s)", self.name, BLUETOOTH_FILE, exc)
            else:
                self._known = known

    async def async_save_known(self) -> None:
        """Keep what the link learned (after a connection found the device's services)."""
        if self.link is None or not self.link.profiles:
            return
        section = await self.link.export_section()
        if section != self._known:
            await self._known_file.save(section)
            self._known = section

    @callback
    def async_follow_advertisements(self, on_change: Callable[[], None]) -> None:
        """Hear the device come and go through Home Assistant's Bluetooth stack."""
        self._on_change = on_change
        self.heard = bluetooth.async_address_present(self.hass, self.address, connectable=True)
        self._unsubscribe = [
            bluetooth.async_register_callback(
                self.hass,
                self._async_advertised,
                bluetooth.BluetoothCallbackMatcher(address=self.address, connectable=True),
                bluetooth.BluetoothScanningMode.PASSIVE,
            ),
            bluetooth.async_track_unavailable(
                self.hass, self._async_unavailable, self.address, connectable=True
            ),
        ]

    @callback
    def async_stop_following(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    @callback
    def _async_advertised(
        self, _info: bluetooth.BluetoothServiceInfoBleak, _change: bluetooth.BluetoothChange
    ) -> None:
        if self.link is not None:
            self.link.advertising(True)
        if not self.heard:
            self.heard = True
            LOGGER.info("%s is heard again", self.name)
            self._on_change()

    @callback
    def _async_unavailable(self, _info: bluetooth.BluetoothServiceInfoBleak) -> None:
        if not self.heard:
            return
        self.heard = False
        if self.link is not None:
            self.link.advertising(False)
        if not self.in_range:
            LOGGER.info("%s is no longer heard by any Bluetooth adapter or proxy", self.name)
        self._on_change()

    # -- the micro:bit's LED matrix --------------------------------------------------------

    @property
    def shows_text(self) -> bool:
        return self.link is not None and self.link.shows_text

    @staticmethod
    def text_problem(text: str) -> str | None:
        """Why a text cannot be shown on the matrix (a translation key), or None. The
        matrix's font has the printable ASCII characters; the LED Text characteristic
        takes 20 bytes."""
        if not text:
            return "text_empty"
        if not all(" " <= char <= "~" for char in text):
            return "text_invalid"
        if len(text.encode()) > microbit.LED_TEXT_MAX_BYTES:
            return "text_too_long"
        return None

    async def async_show_text(self, gateway: Gateway, text: str) -> None:
        """Scroll ``text`` (checked by ``text_problem``) across the matrix, through the
        gateway's scheduler like any operation; tried once: a device that cannot be
        reached, refuses it or never answers is a translated error."""
        link = self.link
        assert link is not None
        if not gateway.radio_up:
            raise self._text_failed(link.connection.last_error or "it cannot be reached")
        ticket = gateway.scheduler.call(
            lambda: link.show_text(text),
            device_id=self.address,
            priority=Priority.USER,
            retry_delivery=False,
        )
        try:
            async with asyncio.timeout(SHOW_TEXT_TIMEOUT):
                await ticket
        except TimeoutError:
            ticket.cancel()
            raise self._text_failed(f"no answer within {SHOW_TEXT_TIMEOUT:g} s") from None
        except RadioError as exc:
            raise self._text_failed(str(exc)) from exc

    def _text_failed(self, error: str) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="show_text_failed",
            translation_placeholders={"device": self.name, "error": error},
        )
