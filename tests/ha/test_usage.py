"""Usage and cost accounting, its sensors and persistence, and diagnostics."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any
from unittest.mock import patch

from homeassistant.components import tts
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge.usage import SAVE_DELAY
from custom_components.openai_realtime.const import (
    CONF_BASE_URL,
    CONF_MODEL,
    CONF_PRICES,
    DEFAULT_PRICES,
    DOMAIN,
    EVENT_TURN,
)
from custom_components.openai_realtime.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.openai_realtime.realtime import events as ev
from realtime_emulator import RealtimeEmulator

from ..conftest import API_KEY, entry_data
from .forms import submission
from .typed import say

TTS = "tts.realtime_emulator_text_to_speech"
UNPRICED_MODEL = "my-local-realtime"
PRICES = {
    "text_in": 1.0,
    "cached_text_in": 0.5,
    "text_out": 2.0,
    "audio_in": 3.0,
    "cached_audio_in": 1.5,
    "audio_out": 4.0,
}


def _store_key(entry: MockConfigEntry) -> str:
    return f"{DOMAIN}.usage.{entry.entry_id}"


def _reported(emulator: RealtimeEmulator) -> list[dict[str, Any]]:
    """The usage of every `response.done` the emulator sent, on every session."""
    return [
        event["response"]["usage"]
        for session in emulator.sessions
        for event in session.sent
        if event["type"] == "response.done"
    ]


def _sum(usages: list[dict[str, Any]], *path: str) -> int:
    total = 0
    for usage in usages:
        value: Any = usage
        for key in path:
            value = (value or {}).get(key, 0)
        total += value or 0
    return total


def _expected_cost(usages: list[dict[str, Any]], prices: dict[str, float]) -> float:
    """Price each response as a bill would: cached input at the cached rate."""
    usd = 0.0
    for usage in usages:
        details = usage["input_token_details"]
        cached = details.get("cached_tokens_details") or {}
        cached_text = cached.get("text_tokens", 0)
        cached_audio = cached.get("audio_tokens", 0)
        out = usage["output_token_details"]
        usd += (
            (details["text_tokens"] - cached_text) * prices["text_in"]
            + cached_text * prices["cached_text_in"]
            + (details["audio_tokens"] - cached_audio) * prices["audio_in"]
            + cached_audio * prices["cached_audio_in"]
            + out["text_tokens"] * prices["text_out"]
            + out["audio_tokens"] * prices["audio_out"]
        )
    return usd / 1_000_000


def _entity_id(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}-{key}"
    )
    assert entity_id is not None, key
    return entity_id


def _value(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    state = hass.states.get(_entity_id(hass, entry, key))
    assert state is not None, key
    return state.state


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await async_setup_component(hass, "conversation", {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """What a restart does to the entry: unload it, then set it up afresh."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_typed_turns_are_counted_and_priced(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """Sensors show exactly the usage the server reported, priced at the defaults."""
    entry = setup_integration
    assert _value(hass, entry, "responses") == "0"
    assert float(_value(hass, entry, "cost")) == 0
    turns = async_capture_events(hass, EVENT_TURN)

    first = await say(hass, "hello")
    await say(hass, "what did I just say", first.conversation_id)

    reported = _reported(emulator)
    assert len(reported) == 2
    assert _sum(reported, "input_token_details", "cached_tokens") > 0  # follow-up
    assert _value(hass, entry, "responses") == "2"
    assert int(_value(hass, entry, "input_tokens")) == _sum(reported, "input_tokens")
    assert int(_value(hass, entry, "output_tokens")) == _sum(reported, "output_tokens")
    # The agent's own per-turn event agrees with the sensors.
    assert sum(e.data["usage"]["input_tokens"] for e in turns) == _sum(
        reported, "input_tokens"
    )
    cost = float(_value(hass, entry, "cost"))
    assert cost > 0
    assert cost == pytest.approx(
        _expected_cost(reported, DEFAULT_PRICES["gpt-realtime"]), abs=1e-6
    )
    cost_state = hass.states.get(_entity_id(hass, entry, "cost"))
    assert cost_state is not None
    assert cost_state.attributes["unit_of_measurement"] == "USD"
    assert cost_state.attributes["state_class"] == "total"

    # The splits are there for whoever enables them; they match the wire too.
    totals = entry.runtime_data.usage.totals
    assert totals.cached_tokens == _sum(
        reported, "input_token_details", "cached_tokens"
    )
    assert totals.output_text_tokens == _sum(
        reported, "output_token_details", "text_tokens"
    )
    assert totals.total_tokens == _sum(reported, "total_tokens")
    registry = er.async_get(hass)
    split = registry.async_get(_entity_id(hass, entry, "input_audio_tokens"))
    assert split is not None
    assert split.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_read_aloud_is_counted(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
) -> None:
    """TTS of arbitrary text is a billed response of its own: it counts."""
    # HA's TTS file cache is shared between tests: off, so our engine really runs.
    with patch("homeassistant.components.tts.DEFAULT_CACHE", False):
        await _setup(hass, config_entry)
        stream = tts.async_create_stream(
            hass, TTS, "en", {tts.ATTR_PREFERRED_FORMAT: "wav"}
        )
        stream.async_set_message("the usage of reading this aloud")
        assert b"".join([chunk async for chunk in stream.async_stream_result()])

    reported = _reported(emulator)
    assert len(reported) == 1
    assert _sum(reported, "output_token_details", "audio_tokens") > 0
    assert _value(hass, config_entry, "responses") == "1"
    usage = config_entry.runtime_data.usage.totals
    assert usage.output_audio_tokens == _sum(
        reported, "output_token_details", "audio_tokens"
    )
    assert float(_value(hass, config_entry, "cost")) == pytest.approx(
        _expected_cost(reported, DEFAULT_PRICES["gpt-realtime"]), abs=1e-6
    )
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_cancelled_response_is_counted(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """A response cancelled mid-way (as an eager voice answer is) is still billed."""
    emulator.options.model_delay = 5.0  # still running when we cancel it
    conv = setup_integration.runtime_data.pool.get("eager")
    async with conv.lock:
        session = await conv.ensure(ev.SessionConfig(output_modalities=("text",)))
        await session.add_user_text("hello")
        stream = await session.create_response(modalities=("text",))
        await session.cancel_response(stream)
        done = await stream.wait_done()

    assert done.status == "cancelled"
    reported = _reported(emulator)
    assert len(reported) == 1
    entry = setup_integration
    assert _value(hass, entry, "responses") == "1"
    assert int(_value(hass, entry, "input_tokens")) == _sum(reported, "input_tokens")


async def test_model_without_prices_has_unknown_cost(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
) -> None:
    """No prices for the model: cost is unknown, never a guess; prices fix it."""
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_MODEL: UNPRICED_MODEL}
    )
    await _setup(hass, config_entry)
    assert float(_value(hass, config_entry, "cost")) == 0  # nothing spent yet

    await say(hass, "hello")
    reported = _reported(emulator)
    assert int(_value(hass, config_entry, "output_tokens")) == _sum(
        reported, "output_tokens"
    )
    cost = hass.states.get(_entity_id(hass, config_entry, "cost"))
    assert cost is not None
    assert cost.state == STATE_UNKNOWN
    assert cost.attributes["unpriced_models"] == [UNPRICED_MODEL]

    # Entering the model's prices (the options flow reloads) prices what it used.
    flow = await hass.config_entries.options.async_init(config_entry.entry_id)
    flow = await hass.config_entries.options.async_configure(
        flow["flow_id"], submission(flow)
    )
    await hass.config_entries.options.async_configure(
        flow["flow_id"], submission(flow, model_prices=PRICES)
    )
    await hass.async_block_till_done()
    assert config_entry.options[CONF_PRICES] == {UNPRICED_MODEL: PRICES}
    assert config_entry.state is ConfigEntryState.LOADED
    assert float(_value(hass, config_entry, "cost")) == pytest.approx(
        _expected_cost(reported, PRICES), abs=1e-6
    )
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_totals_survive_reload_and_removal_deletes_them(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    setup_integration: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Totals are saved (delayed, and at unload), restored, and removed with the entry."""
    entry = setup_integration
    await say(hass, "hello")
    assert _store_key(entry) not in hass_storage  # saving is delayed …
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=SAVE_DELAY + 1))
    await hass.async_block_till_done()
    stored = hass_storage[_store_key(entry)]["data"]  # … but does happen
    assert stored["models"]["gpt-realtime"]["responses"] == 1

    await say(hass, "hello")
    before = {key: _value(hass, entry, key) for key in ("responses", "cost")}
    await _reload(hass, entry)
    after = {key: _value(hass, entry, key) for key in ("responses", "cost")}
    assert after == before == {"responses": "2", "cost": before["cost"]}

    await say(hass, "hello")
    assert _value(hass, entry, "responses") == "3"
    assert int(_value(hass, entry, "input_tokens")) == _sum(
        _reported(emulator), "input_tokens"
    )

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert _store_key(entry) not in hass_storage


async def test_diagnostics_redact_the_key(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    setup_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """The downloaded diagnostics hold the state of the entry and no secret."""
    result = await say(hass, "hello")
    assert await async_setup_component(hass, "diagnostics", {})
    client = await hass_client()
    response = await client.get(
        f"/api/diagnostics/config_entry/{setup_integration.entry_id}"
    )
    assert response.status == 200
    text = await response.text()
    assert API_KEY not in text

    data = json.loads(text)["data"]
    assert data["entry"]["data"]["api_key"] == "**REDACTED**"
    assert data["endpoint"]["dialect"] == "ga"
    assert data["endpoint"]["base_url"] == emulator.base_url
    assert data["model"] == "gpt-realtime"
    runtime = data["runtime"]
    assert runtime["open_sessions"] == 1
    assert runtime["conversations"][result.conversation_id]["session_open"]
    assert runtime["usage"]["totals"]["responses"] == 1


async def test_diagnostics_hide_secrets_anywhere(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Credentials in the base URL, or the key pasted elsewhere, are scrubbed too."""
    url = emulator.base_url.replace("http://", "http://admin:hunter2secret@")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Realtime ({url}?token=tok-0123456789)",
        data=entry_data(emulator) | {CONF_BASE_URL: f"{url}?token=tok-0123456789"},
        options={"prompt": f"My key is {API_KEY}."},
    )
    entry.add_to_hass(hass)  # not set up: diagnostics must work without a runtime
    data = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(data)
    for secret in (API_KEY, "hunter2secret", "tok-0123456789"):
        assert secret not in text
    assert data["runtime"] is None
    assert data["endpoint"]["url"].startswith("ws://**REDACTED**@127.0.0.1")
