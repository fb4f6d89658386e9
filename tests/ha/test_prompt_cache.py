"""The cached prefix survives follow-ups: no session.update unless something changed.

A change of the session's instructions or tools costs a round trip and the
provider's prompt cache. Volatile facts (the clock) go into the conversation;
a satellite's area is known from the first turn on.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.assist_pipeline.pipeline import PipelineEventType
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge import tools as tools_module
from custom_components.openai_realtime.const import CONF_LLM_HASS_API, CONF_PROMPT
from realtime_emulator import RealtimeEmulator

from .pipeline import event, run, spoken
from .typed import say


def _kinds(emulator: RealtimeEmulator, kind: str) -> list[dict[str, Any]]:
    return [e for e in emulator.sessions[-1].received if e["type"] == kind]


def _cached_shares(emulator: RealtimeEmulator) -> list[float]:
    """Cached share of the input tokens of each response, in order."""
    shares = []
    for event_ in emulator.sessions[-1].sent:
        if event_["type"] != "response.done":
            continue
        usage = event_["response"]["usage"]
        details = usage.get("input_token_details") or {}
        shares.append(details.get("cached_tokens", 0) / max(1, usage["input_tokens"]))
    return shares


@pytest.mark.parametrize("apis", [["assist"], []], ids=["assist", "chat-only"])
async def test_typed_follow_ups_keep_the_session_config(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
    apis: list[str],
) -> None:
    """Three turns: one session.update, and turns 2 and 3 ride the cached prefix.

    Chat-only (no LLM API): HA puts the clock in the prompt; it is given to the
    model as a system item before each turn instead.
    """
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "conversation", {})
    # A prompt of realistic length (the real server caches from 1,024 tokens),
    # and a cache counted token by token: the share says how much is a prefix.
    emulator.options.cache_block_tokens = 1
    prompt = "You are the voice of this house. " * 120
    hass.config_entries.async_update_entry(
        config_entry,
        options={**config_entry.options, CONF_LLM_HASS_API: apis, CONF_PROMPT: prompt},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    first = await say(hass, "hello", None)
    for text in ("hello again", "and once more"):
        await say(hass, text, first.conversation_id)

    updates = _kinds(emulator, "session.update")
    assert len(updates) == 1
    assert "Current time is" not in updates[0]["session"]["instructions"]
    system_items = [
        e["item"]
        for e in _kinds(emulator, "conversation.item.create")
        if e["item"].get("role") == "system"
    ]
    # The clock comes as a system item before each turn wherever HA put it in the
    # prompt: always on chat-only; with the Assist API only on HA 2025.4 (which
    # has no time tool yet).
    assert len(system_items) == (3 if not apis else len(system_items))
    assert len(system_items) in (0, 3)
    assert all(
        item["content"][0]["text"].startswith("Current time is")
        for item in system_items
    )
    shares = _cached_shares(emulator)
    assert len(shares) == 3
    assert all(share >= 0.9 for share in shares[1:]), shares
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_a_satellite_in_an_area_is_known_from_the_first_turn(
    hass: HomeAssistant, emulator: RealtimeEmulator, voice_house: MockConfigEntry
) -> None:
    """The satellite's area is in the session from its first turn, and follow-ups
    send no second session.update (no round trip before intent-end, no lost
    cache)."""
    area = ar.async_get(hass).async_create("Living Room")
    satellite_entry = MockConfigEntry(domain="test")
    satellite_entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=satellite_entry.entry_id, identifiers={("test", "sat1")}
    )
    dr.async_get(hass).async_update_device(device.id, area_id=area.id)
    satellite = er.async_get(hass).async_get_or_create(
        "assist_satellite", "test", "sat1", device_id=device.id
    )
    # A satellite entity turns "listening" when its STT stage starts.
    hass.states.async_set(satellite.entity_id, "listening")

    first = await run(hass, spoken("hello"), device_id=device.id)
    conversation_id = event(first, PipelineEventType.INTENT_END)["intent_output"][
        "conversation_id"
    ]
    await run(
        hass,
        spoken("hello again"),
        conversation_id=conversation_id,
        device_id=device.id,
    )

    updates = _kinds(emulator, "session.update")
    assert len(updates) == 1
    assert "You are in area Living Room" in updates[0]["session"]["instructions"]
    shares = _cached_shares(emulator)
    assert shares[-1] >= 0.9, shares


async def test_tool_schemas_are_converted_once(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    setup_integration: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HA builds new tool objects every turn from the same validators: their
    conversion to JSON schema runs once, not on every turn of every conversation."""
    converted: list[Any] = []
    convert = tools_module.schema_to_openapi

    def counting(schema: Any, serializer: Any) -> dict[str, Any]:
        converted.append(schema)
        return convert(schema, serializer)

    monkeypatch.setattr(tools_module, "schema_to_openapi", counting)
    await say(hass, "hello", None)
    once = len(converted)
    await say(hass, "hello", None)  # a new conversation: new tool objects
    await say(hass, "hello", None)
    assert len(converted) == once
    offered = [
        tool["name"]
        for tool in _kinds(emulator, "session.update")[0]["session"]["tools"]
    ]
    assert offered  # the tools still reach the session
