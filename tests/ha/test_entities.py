"""The entities as Home Assistant registers them: names, icons, categories, brand.

Names come from translations (strings.json), icons from icons.json, both read by
HA's own loaders; the detail counters are diagnostic; on HA 2026.3+ the brand
images are served from the integration's brand/ folder.
"""

from __future__ import annotations

import importlib
from io import BytesIO

from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.entity_registry import RegistryEntryDisabler
from homeassistant.helpers.icon import async_get_icons
from homeassistant.setup import async_setup_component
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import DOMAIN
from custom_components.openai_realtime.sensor import SENSORS

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")

DETAIL = {
    "total_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "cached_tokens",
    "output_text_tokens",
    "output_audio_tokens",
}


def _ours(hass: HomeAssistant, entry: MockConfigEntry) -> list[er.RegistryEntry]:
    return er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)


async def test_names_come_from_translations(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """STT and TTS are named by their translation keys; the agent by its device."""
    registry = er.async_get(hass)
    stt = registry.async_get("stt.realtime_emulator_speech_to_text")
    tts = registry.async_get("tts.realtime_emulator_text_to_speech")
    assert stt is not None and tts is not None
    assert (stt.translation_key, tts.translation_key) == ("stt", "tts")
    states = {
        entity_id: hass.states.get(entity_id)
        for entity_id in (
            stt.entity_id,
            tts.entity_id,
            "conversation.realtime_emulator",
        )
    }
    names = [s.attributes["friendly_name"] for s in states.values() if s is not None]
    assert names == [
        "Realtime (emulator) Speech-to-text",
        "Realtime (emulator) Text-to-speech",
        "Realtime (emulator)",
    ]


async def test_one_service_device_per_entry(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Every entity sits on the entry's one device, a service named by the entry,
    which goes when the entry is removed."""
    devices = dr.async_entries_for_config_entry(
        dr.async_get(hass), setup_integration.entry_id
    )
    assert len(devices) == 1
    device = devices[0]
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert (device.name, device.model) == ("Realtime (emulator)", "gpt-realtime")
    entries = _ours(hass, setup_integration)
    assert {entry.device_id for entry in entries} == {device.id}
    assert await hass.config_entries.async_remove(setup_integration.entry_id)
    assert dr.async_get(hass).async_get(device.id) is None


async def test_every_entity_has_an_icon(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """HA's icon loader finds an icon for every entity's translation key."""
    icons = (await async_get_icons(hass, "entity", integrations=[DOMAIN]))[DOMAIN]
    entries = _ours(hass, setup_integration)
    assert len(entries) == 4 + len(SENSORS)  # agent, STT, TTS, Turn event
    for entry in entries:
        assert entry.translation_key in icons[entry.domain], entry.entity_id
        assert icons[entry.domain][entry.translation_key]["default"].startswith("mdi:")


async def test_detail_counters_are_diagnostic(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The counters that explain a bill are diagnostic and disabled by default;
    cost, responses and tokens in/out are neither."""
    for entry in _ours(hass, setup_integration):
        if entry.domain != "sensor":
            assert entry.entity_category is None
            continue
        detail = entry.translation_key in DETAIL
        assert (entry.entity_category is EntityCategory.DIAGNOSTIC) == detail
        assert (entry.disabled_by is RegistryEntryDisabler.INTEGRATION) == detail


async def test_errors_shown_to_users_are_translated(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Every exception translation the integration raises renders from strings."""
    messages = {
        key: str(
            HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={
                    "error": "E",
                    "model": "M",
                    "host": "H",
                    "reason": "R",
                },
            )
        )
        for key in (
            "invalid_auth",
            "cannot_connect",
            "retired_model",
            "beta_api_disabled",
            "no_realtime_access",
            "turn_failed",
        )
    }
    assert messages["turn_failed"] == "The voice assistant could not answer: R"
    assert messages["cannot_connect"] == "Cannot reach the realtime endpoint: E"
    for key, message in messages.items():
        assert message != key, f"{key} is not translated"


def _serves_local_brands() -> bool:
    """HA 2026.3+ has a brands integration that serves custom integrations' brand/."""
    try:
        brands = importlib.import_module("homeassistant.components.brands")
    except ImportError:
        return False
    return hasattr(brands, "BrandsIntegrationView")


@pytest.mark.skipif(
    not _serves_local_brands(), reason="HA < 2026.3 serves no local brand/"
)
@pytest.mark.parametrize(
    ("image", "size"),
    [("icon.png", (256, 256)), ("icon@2x.png", (512, 512)), ("dark_logo.png", None)],
)
async def test_home_assistant_serves_our_brand_images(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    image: str,
    size: tuple[int, int] | None,
) -> None:
    """HA 2026.3+ serves the images of brand/ (no CDN, no placeholder)."""
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    response = await client.get(
        f"/api/brands/integration/{DOMAIN}/{image}?placeholder=no"
    )
    assert response.status == 200
    assert response.content_type == "image/png"
    picture = Image.open(BytesIO(await response.read()))
    if size is not None:
        assert picture.size == size
    else:
        assert min(picture.size) == 128
