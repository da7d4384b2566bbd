"""The GATT profile tables: detection from a device's services and value encodings."""

from __future__ import annotations

import pytest

from custom_components.resilient_gateway.core.model import DeviceKind
from custom_components.resilient_gateway.radios.ble import profiles
from custom_components.resilient_gateway.radios.ble.gatt import sig_uuid
from custom_components.resilient_gateway.radios.ble.profiles import (
    battery,
    environmental,
    microbit,
    nordic_lbs,
)

GENERIC_ACCESS = sig_uuid(0x1800)


def test_profiles_are_detected_from_the_offered_services() -> None:
    found = profiles.detect([GENERIC_ACCESS, battery.SERVICE.upper(), environmental.SERVICE])
    assert found == (environmental.PROFILE, battery.PROFILE)
    assert profiles.device_kind(found) is DeviceKind.CLIMATE_SENSOR
    assert profiles.detect([GENERIC_ACCESS]) == ()


@pytest.mark.parametrize(
    ("services", "kind"),
    [
        ([nordic_lbs.SERVICE, battery.SERVICE], DeviceKind.LIGHT),
        ([microbit.TEMPERATURE_SERVICE, microbit.BUTTON_SERVICE], DeviceKind.CLIMATE_SENSOR),
        ([microbit.BUTTON_SERVICE, microbit.LED_SERVICE], DeviceKind.OTHER),
    ],
)
def test_device_kind(services: list[str], kind: DeviceKind) -> None:
    assert profiles.device_kind(profiles.detect(services)) is kind


def test_sig_uuids_are_spelled_as_bleak_spells_them() -> None:
    assert environmental.TEMPERATURE == "00002a6e-0000-1000-8000-00805f9b34fb"
    assert battery.LEVEL == "00002a19-0000-1000-8000-00805f9b34fb"


def test_led_text_is_cut_at_twenty_bytes_on_a_character_boundary() -> None:
    assert microbit.encode_text("héllo wörld, sœurs et frères") == "héllo wörld, sœur".encode()
    assert len(microbit.encode_text("é" * 15)) == 20
    assert microbit.encode_text("hi") == b"hi"


def test_unknown_profile_keys_are_refused() -> None:
    with pytest.raises(KeyError, match="toaster"):
        profiles.by_keys(["battery", "toaster"])
