"""Repair issues where the user must act, their fix flows, and their clearing.

Each through Home Assistant against the emulator: the issue appears in HA's issue
registry, the fix flow runs through HA's repairs flow manager as the frontend's
repair dialog does, and the entry is set up again with the fix.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import conversation
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS
from custom_components.openai_realtime.const import (
    CONF_API_KEY,
    CONF_AZURE_API_VERSION,
    CONF_AZURE_DEPLOYMENT,
    CONF_AZURE_RESOURCE,
    CONF_ENDPOINT_KIND,
    CONF_MODEL,
    DOMAIN,
    ENDPOINT_AZURE,
    ENDPOINT_OPENAI,
)
from realtime_emulator import RealtimeEmulator

from ..conftest import API_KEY, entry_data

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")

AGENT = "conversation.realtime_emulator"
RETIRED = "gpt-4o-realtime-preview"
NO_ACCESS_KEY = "sk-no-realtime-access"


async def _entry(
    hass: HomeAssistant,
    data: dict[str, Any],
    model: str = "gpt-realtime",
) -> MockConfigEntry:
    """An entry with these data and model, set up (or failing to)."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "repairs", {})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Realtime (emulator)",
        data=data,
        options={**DEFAULT_OPTIONS, CONF_MODEL: model},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    return {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    }


async def _fix(
    hass: HomeAssistant, issue_id: str, *answers: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run an issue's fix flow, answering each form in turn; return every step."""
    manager = repairs_flow_manager(hass)
    assert manager is not None
    # HA 2026.x reads the issue id from the context, older HA from the data.
    result: Any = await manager.async_init(
        DOMAIN, context={"issue_id": issue_id}, data={"issue_id": issue_id}
    )
    steps = [result]
    for answer in answers:
        result = await manager.async_configure(result["flow_id"], answer)
        steps.append(result)
    await hass.async_block_till_done()
    return steps


async def _say(hass: HomeAssistant, text: str = "hello") -> str:
    result = await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=AGENT
    )
    return str(result.response.speech["plain"]["speech"])


def _reauth_started(hass: HomeAssistant) -> bool:
    return any(
        flow["context"]["source"] == "reauth"
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    )


async def test_retired_model_is_switched_to_gpt_realtime(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """OpenAI refuses the beta protocol of a retired preview model: the entry
    fails with a fixable issue; its fix switches to gpt-realtime, sets the entry
    up again and clears the issue."""
    emulator.options.beta_disabled = True  # what OpenAI answers since 2026-05-12
    data = entry_data(emulator) | {CONF_ENDPOINT_KIND: ENDPOINT_OPENAI}
    entry = await _entry(hass, data, model=RETIRED)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    issue_id = f"retired_model_{entry.entry_id}"
    issue = _issues(hass)[issue_id]
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "retired_model"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["model"] == RETIRED

    form, done = await _fix(hass, issue_id, {})
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "confirm"
    assert form["description_placeholders"]["model"] == RETIRED
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_MODEL] == "gpt-realtime"
    assert entry.state is ConfigEntryState.LOADED
    assert issue_id not in _issues(hass)
    assert await _say(hass) == "Hello! How can I help with your home?"


async def test_beta_protocol_refused_at_runtime(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A compatible server stops serving the beta protocol while the entry runs:
    the turn says so, the entities become unavailable and a fixable issue
    appears; the fix switches to gpt-realtime and everything is back."""
    entry = await _entry(hass, entry_data(emulator), model=RETIRED)
    assert entry.state is ConfigEntryState.LOADED
    assert not _issues(hass)
    emulator.options.beta_disabled = True
    words = await _say(hass)
    assert words == "The chosen model is retired. Pick gpt-realtime in the options."
    issue_id = f"beta_api_disabled_{entry.entry_id}"
    assert issue_id in _issues(hass)
    assert hass.states.get(AGENT).state == "unavailable"  # type: ignore[union-attr]

    _form, done = await _fix(hass, issue_id, {})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_MODEL] == "gpt-realtime"
    assert entry.state is ConfigEntryState.LOADED
    assert not _issues(hass)
    assert hass.states.get(AGENT).state != "unavailable"  # type: ignore[union-attr]
    assert await _say(hass) == "Hello! How can I help with your home?"


async def test_beta_protocol_refused_on_azure_clears_the_api_version(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """On Azure a preview api-version selects the beta protocol: the fix clears
    it (Azure's GA route) and keeps the deployment."""
    emulator.options.beta_disabled = True
    data = {
        CONF_ENDPOINT_KIND: ENDPOINT_AZURE,
        CONF_AZURE_RESOURCE: emulator.url,
        CONF_AZURE_DEPLOYMENT: "gpt-realtime",
        CONF_AZURE_API_VERSION: "2025-04-01-preview",
        CONF_API_KEY: API_KEY,
    }
    entry = await _entry(hass, data)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    issue_id = f"beta_api_disabled_{entry.entry_id}"
    assert issue_id in _issues(hass)
    _form, done = await _fix(hass, issue_id, {})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data[CONF_AZURE_API_VERSION] == ""
    assert entry.data[CONF_AZURE_DEPLOYMENT] == "gpt-realtime"
    assert entry.state is ConfigEntryState.LOADED
    assert not _issues(hass)


@pytest.mark.parametrize("denied_as", ["http_403", "model_not_found"])
async def test_key_without_realtime_access_asks_for_another_key(
    hass: HomeAssistant, emulator: RealtimeEmulator, denied_as: str
) -> None:
    """A key the endpoint knows but refuses the Realtime API: no re-auth flow but
    a fixable issue; its form checks each key it is given and keeps the one that
    works."""
    emulator.options.api_keys = {API_KEY, NO_ACCESS_KEY}
    emulator.options.keys_without_access = {NO_ACCESS_KEY}
    emulator.options.access_denied_as = denied_as  # type: ignore[assignment]
    entry = await _entry(hass, entry_data(emulator, NO_ACCESS_KEY))
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert not _reauth_started(hass)
    issue_id = f"no_realtime_access_{entry.entry_id}"
    assert issue_id in _issues(hass)

    form, still_denied, wrong, done = await _fix(
        hass,
        issue_id,
        {CONF_API_KEY: NO_ACCESS_KEY},
        {CONF_API_KEY: "sk-wrong"},
        {CONF_API_KEY: f" {API_KEY} "},
    )
    assert form["step_id"] == "api_key"
    assert still_denied["errors"] == {"base": "no_realtime_access"}
    assert wrong["errors"] == {"base": "invalid_auth"}
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data[CONF_API_KEY] == API_KEY
    assert entry.state is ConfigEntryState.LOADED
    assert not _issues(hass)


async def test_access_withdrawn_at_runtime_clears_when_it_returns(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The key loses Realtime access while the entry runs: the user hears where
    to look, the issue appears (no re-auth), and goes once a session opens again."""
    entry = await _entry(hass, entry_data(emulator))
    emulator.options.keys_without_access = {API_KEY}
    emulator.options.access_denied_as = "model_not_found"
    words = await _say(hass)
    assert words == (
        f"127.0.0.1:{emulator.port} refused this API key access to the realtime "
        "model. Please see the repairs in Home Assistant's settings."
    )
    assert f"no_realtime_access_{entry.entry_id}" in _issues(hass)
    assert not _reauth_started(hass)
    emulator.options.keys_without_access = set()
    assert await _say(hass) == "Hello! How can I help with your home?"
    assert not _issues(hass)


async def test_issues_go_with_the_entry(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Removing an entry removes its issues; a fix flow for a removed entry ends."""
    emulator.options.beta_disabled = True
    entry = await _entry(hass, entry_data(emulator), model=RETIRED)
    issue_id = f"beta_api_disabled_{entry.entry_id}"
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow: Any = await manager.async_init(
        DOMAIN, context={"issue_id": issue_id}, data={"issue_id": issue_id}
    )
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not _issues(hass)
    result: Any = await manager.async_configure(flow["flow_id"], {})
    assert result == result | {"type": FlowResultType.ABORT, "reason": "entry_removed"}
