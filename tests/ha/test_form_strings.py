"""Every field of every form has a label and a description, as HA loads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime
from custom_components.openai_realtime.const import (
    CONF_API_KEY,
    CONF_AZURE_API_VERSION,
    CONF_AZURE_DEPLOYMENT,
    CONF_AZURE_RESOURCE,
    CONF_ENDPOINT_KIND,
    DOMAIN,
    ENDPOINT_AZURE,
)

from .forms import fields, submission

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")

COMPONENT = Path(custom_components.openai_realtime.__file__).parent

# (step, variant of step 1 that leads to it)
OPTION_FORMS: list[dict[str, Any]] = [
    {"turn_detection": "server_vad"},
    {"turn_detection": "semantic_vad"},
    {"model": "gpt-4o-realtime-preview", "voice": "alloy"},
]


def test_english_translation_is_the_strings() -> None:
    """HA loads translations/en.json; it must say what strings.json says."""
    strings = json.loads((COMPONENT / "strings.json").read_text())
    english = json.loads((COMPONENT / "translations/en.json").read_text())
    assert english == strings


async def _config_forms(hass: HomeAssistant) -> list[dict[str, Any]]:
    forms = []
    for kind in ("openai", "azure", "custom"):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": config_entries.SOURCE_USER}
        )
        forms.append(
            await hass.config_entries.flow.async_configure(
                result["flow_id"], {"next_step_id": kind}
            )
        )
    azure = MockConfigEntry(
        domain=DOMAIN,
        data={
            CONF_ENDPOINT_KIND: ENDPOINT_AZURE,
            CONF_AZURE_RESOURCE: "https://x.openai.azure.com",
            CONF_AZURE_DEPLOYMENT: "gpt-realtime",
            CONF_AZURE_API_VERSION: "",
            CONF_API_KEY: "k",
        },
    )
    azure.add_to_hass(hass)
    forms.append(await azure.start_reconfigure_flow(hass))
    forms.append(await azure.start_reauth_flow(hass))
    return forms


async def _option_forms(
    hass: HomeAssistant, entry: MockConfigEntry
) -> list[dict[str, Any]]:
    forms = []
    for changes in OPTION_FORMS:
        result = await hass.config_entries.options.async_init(entry.entry_id)
        forms.append(result)
        forms.append(
            await hass.config_entries.options.async_configure(
                result["flow_id"], submission(result, **changes)
            )
        )
    return forms


def _missing(
    translations: dict[str, str], category: str, form: dict[str, Any]
) -> list[str]:
    assert form["type"] is FlowResultType.FORM, form
    step = f"component.{DOMAIN}.{category}.step.{form['step_id']}"
    wanted = [f"{step}.title"]
    for name, value in fields(form).items():
        if isinstance(value, dict):
            where = f"{step}.sections.{name}"
            wanted += [f"{where}.name", f"{where}.description"]
            wanted += [
                f"{where}.{part}.{inner}"
                for inner in value
                for part in ("data", "data_description")
            ]
        else:
            wanted += [f"{step}.{part}.{name}" for part in ("data", "data_description")]
    return [key for key in wanted if not translations.get(key)]


async def test_every_field_has_a_label_and_a_description(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Config, reauth, reconfigure and both option steps, in each variant."""
    config = await async_get_translations(hass, "en", "config", [DOMAIN])
    options = await async_get_translations(hass, "en", "options", [DOMAIN])
    missing = []
    for form in await _config_forms(hass):
        missing += _missing(config, "config", form)
    reconfigure = await setup_integration.start_reconfigure_flow(hass)
    missing += _missing(config, "config", reconfigure)
    for form in await _option_forms(hass, setup_integration):
        missing += _missing(options, "options", form)
    assert not missing
