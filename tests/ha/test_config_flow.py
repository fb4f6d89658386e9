"""Config flow: user steps, errors, duplicates, reauth, reconfigure, options."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge.endpoint_config import endpoint_provider
from custom_components.openai_realtime.const import (
    CONF_API_KEY,
    CONF_AZURE_API_VERSION,
    CONF_AZURE_DEPLOYMENT,
    CONF_AZURE_RESOURCE,
    CONF_BASE_URL,
    CONF_ENDPOINT_KIND,
    CONF_LLM_HASS_API,
    CONF_MODEL,
    CONF_VOICE,
    DOMAIN,
    ENDPOINT_AZURE,
    ENDPOINT_CUSTOM,
)
from realtime_emulator import RealtimeEmulator

from ..conftest import API_KEY, entry_data
from .forms import submission

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")


async def _start_custom(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": ENDPOINT_CUSTOM}
    )


async def test_custom_endpoint_success(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A working base URL and key create an entry with default options."""
    result = await _start_custom(hass)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_BASE_URL: emulator.base_url + "/", CONF_API_KEY: API_KEY},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_ENDPOINT_KIND: ENDPOINT_CUSTOM,
        CONF_BASE_URL: emulator.base_url,
        CONF_API_KEY: API_KEY,
    }
    assert result["options"][CONF_MODEL] == "gpt-realtime"
    assert result["options"][CONF_LLM_HASS_API] == ["assist"]
    assert result["title"] == f"Realtime (127.0.0.1:{emulator.port}/v1)"
    # Checking the key (and then setting the entry up) opened sessions, closed
    # them, and never asked for a response: nothing was billed.
    assert emulator.sessions
    assert not any(e["type"] == "response.create" for e in emulator.received)
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert all(session.closed for session in emulator.sessions)


async def test_azure_endpoint_success(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Azure's GA route with an api-key header, served by the emulator."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": ENDPOINT_AZURE}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_AZURE_RESOURCE: emulator.url,
            CONF_AZURE_DEPLOYMENT: "gpt-realtime",
            CONF_AZURE_API_VERSION: "",
            CONF_API_KEY: API_KEY,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Azure OpenAI Realtime (gpt-realtime)"
    assert emulator.sessions[0].dialect == "ga"


@pytest.mark.parametrize(
    ("base_url", "api_key", "error"),
    [
        (None, "sk-wrong", "invalid_auth"),
        ("http://127.0.0.1:9/v1", API_KEY, "cannot_connect"),
        ("not a url", API_KEY, "invalid_url"),
    ],
)
async def test_custom_endpoint_errors(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    base_url: str | None,
    api_key: str,
    error: str,
) -> None:
    """Each failure shows on the form and stores nothing; a retry can succeed."""
    result = await _start_custom(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_BASE_URL: base_url or emulator.base_url, CONF_API_KEY: api_key},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: API_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_rate_limited_is_cannot_connect(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A 429 at the handshake is reported as cannot_connect."""
    emulator.options.handshake_status = 429
    result = await _start_custom(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: API_KEY}
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_unexpected_error_is_unknown(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A bug while checking shows `unknown`, not a stack trace."""
    result = await _start_custom(hass)
    with patch(
        "custom_components.openai_realtime.config_flow.async_check_endpoint",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: API_KEY}
        )
    assert result["errors"] == {"base": "unknown"}


async def test_duplicate_aborts(
    hass: HomeAssistant, emulator: RealtimeEmulator, config_entry: MockConfigEntry
) -> None:
    """The same endpoint and key cannot be added twice."""
    result = await _start_custom(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: API_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth(hass: HomeAssistant, emulator: RealtimeEmulator) -> None:
    """A rejected key at setup starts reauth; a good key fixes and reloads."""
    assert await async_setup_component(hass, "conversation", {})
    entry = MockConfigEntry(domain=DOMAIN, data=entry_data(emulator, "sk-revoked"))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is config_entries.ConfigEntryState.SETUP_ERROR

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == config_entries.SOURCE_REAUTH
    flow_id = flows[0]["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_API_KEY: "sk-still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_API_KEY: API_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_API_KEY] == API_KEY
    assert entry.state is config_entries.ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure(
    hass: HomeAssistant, emulator: RealtimeEmulator, config_entry: MockConfigEntry
) -> None:
    """Reconfigure changes the endpoint in place; an empty key keeps the old one."""
    second = RealtimeEmulator()
    await second.start()
    try:
        result = await config_entry.start_reconfigure_flow(hass)
        assert result["type"] is FlowResultType.FORM
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: "http://127.0.0.1:9/v1"}
        )
        assert result["errors"] == {"base": "cannot_connect"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: second.base_url}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert config_entry.data[CONF_BASE_URL] == second.base_url
        assert config_entry.data[CONF_API_KEY] == API_KEY
        assert len(second.sessions) == 1
    finally:
        await second.stop()


async def test_reconfigure_and_options_set_the_entry_up_once(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One setup per change: no double reload (HA 2026.6+ reports it, 2026.12 breaks).

    Each setup opens one websocket to check the endpoint, so the emulators count
    setups.
    """
    entry = setup_integration
    second = RealtimeEmulator()
    await second.start()
    try:
        result = await entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: second.base_url}
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert entry.state is config_entries.ConfigEntryState.LOADED
        assert len(second.sessions) == 2  # the flow's check, then one setup

        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], submission(result, voice="cedar")
        )
        await hass.config_entries.options.async_configure(
            result["flow_id"], submission(result)
        )
        await hass.async_block_till_done()
        assert entry.options[CONF_VOICE] == "cedar"
        assert entry.state is config_entries.ConfigEntryState.LOADED
        assert len(second.sessions) == 3  # one more setup
        assert "update listener" not in caplog.text
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await second.stop()


def test_title_never_shows_url_credentials() -> None:
    """Entry titles are shown everywhere; a base URL's user:password is not."""
    from custom_components.openai_realtime.config_flow import endpoint_title

    data = {
        CONF_ENDPOINT_KIND: ENDPOINT_CUSTOM,
        CONF_BASE_URL: "https://user:s3cret@llm.example:8443/v1",
    }
    assert endpoint_title(data) == "Realtime (llm.example:8443/v1)"


async def test_two_entries_on_one_endpoint_are_told_apart(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Two keys on one server: two titles, two device names; the device says who
    serves it (the host, not OpenAI) and what."""
    emulator.options.api_keys = {API_KEY, "sk-second-project"}
    entries = []
    for key in (API_KEY, "sk-second-project"):
        result = await _start_custom(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: key}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entries.append(result["result"])
    await hass.async_block_till_done()
    base = f"Realtime (127.0.0.1:{emulator.port}/v1)"
    assert [entry.title for entry in entries] == [base, f"{base} 2"]

    registry = dr.async_get(hass)
    devices = [
        device
        for entry in entries
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
    ]
    assert [device.name for device in devices] == [base, f"{base} 2"]
    for device in devices:
        assert device.manufacturer == f"127.0.0.1:{emulator.port}"
        assert device.model == "gpt-realtime"
        assert device.entry_type is dr.DeviceEntryType.SERVICE
    for entry in entries:
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_keeps_a_title_the_user_chose(
    hass: HomeAssistant, emulator: RealtimeEmulator, config_entry: MockConfigEntry
) -> None:
    """Our title follows the endpoint; one the user typed stays."""
    second = RealtimeEmulator()
    await second.start()
    try:
        hass.config_entries.async_update_entry(
            config_entry, title=f"Realtime (127.0.0.1:{emulator.port}/v1)"
        )
        result = await config_entry.start_reconfigure_flow(hass)
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: second.base_url}
        )
        await hass.async_block_till_done()
        assert config_entry.title == f"Realtime (127.0.0.1:{second.port}/v1)"

        hass.config_entries.async_update_entry(config_entry, title="Kitchen brain")
        result = await config_entry.start_reconfigure_flow(hass)
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: emulator.base_url}
        )
        await hass.async_block_till_done()
        assert config_entry.title == "Kitchen brain"
        assert config_entry.data[CONF_BASE_URL] == emulator.base_url
        assert await hass.config_entries.async_unload(config_entry.entry_id)
    finally:
        await second.stop()


@pytest.mark.parametrize(
    ("data", "provider"),
    [
        ({CONF_ENDPOINT_KIND: "openai"}, "OpenAI"),
        (
            {CONF_ENDPOINT_KIND: ENDPOINT_AZURE, CONF_AZURE_RESOURCE: "https://x.y"},
            "Microsoft Azure",
        ),
        (
            {
                CONF_ENDPOINT_KIND: ENDPOINT_CUSTOM,
                CONF_BASE_URL: "https://api.openai.com/v1",
            },
            "OpenAI",
        ),
        (
            {
                CONF_ENDPOINT_KIND: ENDPOINT_CUSTOM,
                CONF_BASE_URL: "https://me.openai.azure.com/openai/v1",
            },
            "Microsoft Azure",
        ),
        (
            {
                CONF_ENDPOINT_KIND: ENDPOINT_CUSTOM,
                CONF_BASE_URL: "http://user:s3cret@Realtime.lan:8765/v1",
            },
            "realtime.lan:8765",
        ),
    ],
)
def test_device_manufacturer_is_who_serves_the_endpoint(
    data: dict[str, Any], provider: str
) -> None:
    """OpenAI, Microsoft Azure, or the host (never its credentials)."""
    assert endpoint_provider(data) == provider
