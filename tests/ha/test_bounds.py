"""Nothing grows without bound: conversations held, client state, server context."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime import options as options_module
from custom_components.openai_realtime.bridge.conversations import MAX_WARM_SESSIONS
from realtime_emulator import RealtimeEmulator

from .typed import say


async def test_one_off_conversations_leave_at_most_the_warm_cap(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """500 one-off conversations (every voice command is one): the pool keeps at
    most the warm cap of them, and every other websocket is closed."""
    for n in range(500):
        await say(hass, f"hello {n}")
    await hass.async_block_till_done()
    pool = setup_integration.runtime_data.pool
    assert len(pool.conversations) <= MAX_WARM_SESSIONS
    assert len(pool.open_sessions) <= MAX_WARM_SESSIONS
    assert sum(not s.closed for s in emulator.sessions) <= MAX_WARM_SESSIONS


async def test_a_long_conversation_stays_bounded(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200 turns in one conversation: the session's client-side state stays small,
    and the context the server bills stops growing (the GA session's truncation,
    here with a small limit so that it is reached), while most turns still ride
    the cached prefix."""
    from homeassistant.setup import async_setup_component

    monkeypatch.setattr(options_module, "CONTEXT_TOKENS", 600)
    emulator.options.cache_block_tokens = 1
    assert await async_setup_component(hass, "conversation", {})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    first = await say(hass, "hello")
    for n in range(199):
        await say(hass, f"number {n}", first.conversation_id)

    conv = config_entry.runtime_data.pool.conversations[first.conversation_id]
    session = conv.session
    assert session is not None
    assert len(session.history) <= session.history_limit

    usages = [
        e["response"]["usage"]
        for s in emulator.sessions
        for e in s.sent
        if e["type"] == "response.done"
    ]
    inputs = [u["input_tokens"] for u in usages]
    assert max(inputs[100:]) <= max(inputs[:100]) + 50  # it stopped growing
    cached = [
        u["input_token_details"]["cached_tokens"] / u["input_tokens"]
        for u in usages[1:]
    ]
    assert sum(share >= 0.5 for share in cached) >= 0.8 * len(cached)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
