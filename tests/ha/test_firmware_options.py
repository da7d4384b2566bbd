"""The firmware options (issue 15): deadline, retries and share validated by the form;
zigpy's OTA providers chosen for a Zigbee gateway reach zigpy's configuration and offer
their images beside the local folder (none by default: no network access)."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
import zigpy.config
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from zigpy.ota.providers import BaseOtaImageMetadata, Sonoff

from custom_components.resilient_gateway.core.firmware import FirmwareTarget, UpdatePolicy
from custom_components.resilient_gateway.radios.virtual import SimKind
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file
from custom_components.resilient_gateway.radios.zigbee.ota import parse_ota_file
from custom_components.resilient_gateway.radios.zigbee.ota_providers import (
    ZigpyProviderImages,
    build_providers,
    ota_config,
)

from .conftest import error_text, suggested_values, virtual_entry
from .test_config_flow import _zigbee_entry

# (Saving options reloads an entry, which would set it up in the background.)
pytestmark = pytest.mark.usefixtures("no_setup")


async def test_the_firmware_options_are_saved_and_shape_the_policy(hass: HomeAssistant) -> None:
    entry = virtual_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_values(result)["firmware_deadline"] == 60
    assert suggested_values(result)["firmware_retries"] == 3
    assert suggested_values(result)["firmware_share"] == 20
    assert "firmware_providers" not in suggested_values(result)  # (Zigbee radios only)
    done = await hass.config_entries.options.async_configure(
        result["flow_id"], {"firmware_deadline": 10, "firmware_retries": 1, "firmware_share": 10}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["firmware_retries"] == 1
    policy = UpdatePolicy.from_options(entry.options)
    assert (policy.deadline, policy.retries, policy.share) == (600.0, 1, 0.1)
    assert UpdatePolicy.from_options({}) == UpdatePolicy()


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("firmware_deadline", 2, "The firmware update deadline must be from 5 to 1440 minutes."),
        ("firmware_retries", 21, "The firmware update retries must be from 0 to 20."),
        (
            "firmware_share",
            80,
            "The firmware transfers' share of the radio must be from 5 to 50 %.",
        ),
    ],
)
async def test_firmware_options_out_of_range_are_refused(
    hass: HomeAssistant, field: str, value: float, text: str
) -> None:
    entry = virtual_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    bad = await hass.config_entries.options.async_configure(result["flow_id"], {field: value})
    assert bad["type"] is FlowResultType.FORM
    assert set(bad["errors"]) == {field}
    assert error_text(bad, field, "options") == text
    assert entry.options == {}


async def test_a_zigbee_gateway_chooses_zigpys_ota_providers(hass: HomeAssistant) -> None:
    entry = _zigbee_entry(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_values(result)["firmware_providers"] == []  # none by default
    with pytest.raises(Exception, match="firmware_providers"):  # not a provider zigpy has
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"firmware_providers": ["acme"]}
        )
    done = await hass.config_entries.options.async_configure(
        result["flow_id"], {"firmware_providers": ["sonoff", "ikea"]}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["firmware_providers"] == ["ikea", "sonoff"]


def test_zigpys_ota_configuration_has_only_the_chosen_providers() -> None:
    off = zigpy.config.ZIGPY_SCHEMA({"device": {"path": "/dev/null"}, "ota": ota_config([])})
    assert off["ota"]["enabled"] is False  # zigpy's default would fetch three indexes
    assert off["ota"]["broadcast_enabled"] is False
    on = zigpy.config.ZIGPY_SCHEMA(
        {"device": {"path": "/dev/null"}, "ota": ota_config(["ikea", "sonoff"])}
    )
    assert on["ota"]["enabled"] is True
    assert [p.NAME for p in on["ota"]["providers"]] == ["ikea", "sonoff"]


async def test_a_providers_images_are_offered_beside_the_local_folder() -> None:
    """zigpy's Sonoff provider, its index and file served from memory (no network): an
    image with manufacturer code, image type and size becomes a catalog image whose
    bytes are the file's image; one without them is left out."""
    (provider,) = build_providers(["sonoff"])
    assert isinstance(provider, Sonoff)
    file = ota_file(SimKind.SMART_PLUG, 0x01020000, size=1024)
    parsed = parse_ota_file(file)

    class Meta(BaseOtaImageMetadata):
        async def _fetch(self) -> bytes:
            return file

    listed = [
        Meta(
            file_version=parsed.version,
            manufacturer_id=parsed.manufacturer_code,
            image_type=parsed.image_type,
            file_size=len(file),
            changelog="Faster relay",
        ),
        Meta(file_version=7),  # (nothing says what it fits)
    ]

    async def load_index() -> list[Any]:
        return listed

    with patch.object(provider, "load_index", load_index):
        images = await ZigpyProviderImages([provider]).images()
    (image,) = images
    assert image.source == "zigpy:sonoff" and image.release_notes == "Faster relay"
    target = FirmwareTarget(parsed.manufacturer_code, parsed.image_type, 0x01000000)
    assert image.fits(target)
    assert await image.load() == parsed.data


async def test_a_provider_that_cannot_be_read_keeps_its_images() -> None:
    (provider,) = build_providers(["ikea"])
    source = ZigpyProviderImages([provider])
    meta = BaseOtaImageMetadata(file_version=2, manufacturer_id=4476, image_type=1, file_size=9)

    async def first() -> list[Any]:
        return [meta]

    async def offline() -> list[Any]:
        raise OSError("no network")

    with patch.object(provider, "load_index", first):
        assert len(await source.images()) == 1
    with patch.object(provider, "load_index", offline):
        assert len(await source.images()) == 1
