"""Config flow: the OpenAI path (menu, key form, errors, entry, duplicate).

OpenAI's base URL is pointed at the emulator; everything else is the path a user
takes when they pick "OpenAI" in the menu.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import (
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_ENDPOINT_KIND,
    DOMAIN,
    ENDPOINT_OPENAI,
)
from realtime_emulator import RealtimeEmulator

from ..conftest import API_KEY

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")


async def _openai_form(hass: HomeAssistant) -> dict[str, Any]:
    result: Any = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert ENDPOINT_OPENAI in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": ENDPOINT_OPENAI}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == ENDPOINT_OPENAI
    assert [str(key) for key in result["data_schema"].schema] == [CONF_API_KEY]
    return dict(result)


async def test_openai_path(hass: HomeAssistant, emulator: RealtimeEmulator) -> None:
    """A wrong key, a key without Realtime access and an unreachable server are
    form errors; a working key makes the "OpenAI Realtime" entry (its key checked
    without a billed response); the same key again is refused."""
    emulator.options.api_keys = {API_KEY, "sk-no-access"}
    emulator.options.keys_without_access = {"sk-no-access"}
    flow = "custom_components.openai_realtime.config_flow.OPENAI_BASE_URL"
    with patch(flow, emulator.base_url):
        result = await _openai_form(hass)
        for key, error in (
            ("sk-wrong", "invalid_auth"),
            ("sk-no-access", "invalid_auth"),
        ):
            result = dict(
                await hass.config_entries.flow.async_configure(
                    result["flow_id"], {CONF_API_KEY: key}
                )
            )
            assert result["type"] is FlowResultType.FORM
            assert result["errors"] == {"base": error}
        emulator.options.handshake_status = 503
        result = dict(
            await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_API_KEY: API_KEY}
            )
        )
        assert result["errors"] == {"base": "cannot_connect"}
        emulator.options.handshake_status = None
        result = dict(
            await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_API_KEY: f"  {API_KEY}  "}
            )
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"] == "OpenAI Realtime"
        assert result["data"] == {
            CONF_ENDPOINT_KIND: ENDPOINT_OPENAI,
            CONF_BASE_URL: emulator.base_url,
            CONF_API_KEY: API_KEY,
        }
        assert not any(e["type"] == "response.create" for e in emulator.received)
        await hass.async_block_till_done()

        again = await _openai_form(hass)
        result = dict(
            await hass.config_entries.flow.async_configure(
                again["flow_id"], {CONF_API_KEY: API_KEY}
            )
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_unload(entry.entry_id)
