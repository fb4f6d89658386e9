"""Entry lifecycle: setup, not-ready, auth failure, unload."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import CONF_BASE_URL, DOMAIN
from realtime_emulator import RealtimeEmulator

from ..conftest import entry_data
from .conftest import AGENT, Wire, emulator_finished

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")


async def test_setup_and_unload(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """Setup registers the agent; unload leaves no websocket open."""
    entry = setup_integration
    assert entry.state is ConfigEntryState.LOADED
    entity_id = er.async_get(hass).async_get_entity_id(
        "conversation", DOMAIN, entry.entry_id
    )
    assert entity_id == "conversation.realtime_emulator"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert all(session.closed for session in emulator.sessions)


async def test_unreachable_endpoint_is_not_ready(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """An endpoint that cannot be reached makes HA retry later."""
    data = entry_data(emulator) | {CONF_BASE_URL: "http://127.0.0.1:9/v1"}
    entry = MockConfigEntry(domain=DOMAIN, data=data)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_revoked_key_asks_for_reauth(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A 401 at setup fails the entry and starts a reauth flow."""
    entry = MockConfigEntry(domain=DOMAIN, data=entry_data(emulator, "sk-revoked"))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert any(
        flow["context"]["source"] == "reauth"
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    )


async def test_stop_closes_sessions(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    wire: Wire,
    setup_integration: MockConfigEntry,
) -> None:
    """Home Assistant stopping closes the websockets; a later unload is harmless."""
    from homeassistant.components import conversation
    from homeassistant.const import EVENT_HOMEASSISTANT_STOP
    from homeassistant.core import Context

    await conversation.async_converse(
        hass, "hello", None, Context(), language="en", agent_id=AGENT
    )
    assert not all(session.closed for session in emulator.sessions)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert wire.sockets and all(ws.closed for ws in wire.sockets)
    await emulator_finished()  # the emulator has seen every close
    assert all(session.closed for session in emulator.sessions)
    assert await hass.config_entries.async_unload(setup_integration.entry_id)
