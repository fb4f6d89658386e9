"""The conversation pool without a server: reuse, reopen with replay, the warm cap."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge import conversations
from custom_components.openai_realtime.bridge.conversations import (
    MAX_WARM_SESSIONS,
    ConversationPool,
)
from custom_components.openai_realtime.bridge.voice_turn import TurnState
from custom_components.openai_realtime.realtime import events as ev
from custom_components.openai_realtime.realtime.session import HistoryEntry

from .fake_model import FakeSession

CONFIG = ev.SessionConfig(instructions="Be brief.", voice="marin")


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[FakeSession]:
    """Every session the pool opens, as fakes."""
    sessions: list[FakeSession] = []

    class _Connect:
        @staticmethod
        async def connect(
            _http: Any, _endpoint: Any, config: Any, **_: Any
        ) -> FakeSession:
            sessions.append(FakeSession(config=config))
            return sessions[-1]

    monkeypatch.setattr(conversations, "RealtimeSession", _Connect)
    return sessions


@pytest.fixture
async def pool(hass: HomeAssistant) -> ConversationPool:
    pool = ConversationPool(hass, None, lambda: None, idle_timeout=300)  # type: ignore[arg-type]
    yield pool
    await pool.async_close()


async def test_a_conversation_reuses_its_session(
    pool: ConversationPool, opened: list[FakeSession]
) -> None:
    """Follow-ups use the same session; a changed config is sent as an update."""
    conv = pool.get("c1")
    first = await conv.ensure(CONFIG)
    assert await conv.ensure(CONFIG) is first
    changed = ev.SessionConfig(instructions="Be brief. You are in the kitchen.")
    assert await conv.ensure(changed) is first
    assert first.configured == [changed]
    assert len(opened) == 1 and pool.get("c1") is conv


async def test_a_closed_session_reopens_with_the_recent_turns(
    pool: ConversationPool, opened: list[FakeSession]
) -> None:
    """After a drop the next turn reopens; replay starts at a user turn."""
    conv = pool.get("c1")
    session = await conv.ensure(CONFIG)
    session.history = [
        HistoryEntry("function_call_output", text="{}", call_id="c0"),
        HistoryEntry("user", text="my name is Ada"),
        HistoryEntry("assistant", text="Hello Ada."),
    ]
    session.closed = True
    reopened = await conv.ensure(CONFIG)
    assert reopened is not session and conv.opened == 2
    assert [e.text for e in reopened.replayed] == ["my name is Ada", "Hello Ada."]


async def test_idle_sessions_beyond_the_cap_are_suspended(
    hass: HomeAssistant, pool: ConversationPool, opened: list[FakeSession]
) -> None:
    """The least recently used idle sessions close first; a busy one never does."""
    busy = pool.get("busy")
    await busy.ensure(CONFIG)
    await busy.lock.acquire()
    for n in range(MAX_WARM_SESSIONS + 2):
        conv = pool.get(f"c{n}")
        await conv.ensure(CONFIG)
        conv.touch()
    await hass.async_block_till_done()
    still_open = [s for s in opened if not s.closed]
    assert len(still_open) == MAX_WARM_SESSIONS
    assert busy.session is not None and not busy.session.closed
    assert pool.get("c0").session is None and pool.get("c1").session is None
    busy.lock.release()


async def test_a_new_voice_turn_ends_the_previous_one(
    pool: ConversationPool, opened: list[FakeSession]
) -> None:
    """A conversation has one voice turn at a time; a new one abandons the old."""
    conv = pool.get("c1")
    first = await conv.start_voice_turn(CONFIG)
    assert first.reused is False
    second = await conv.start_voice_turn(CONFIG)
    assert first.state is TurnState.ABANDONED
    assert second.reused is True and conv.voice_turn is second
    assert not conv.idle  # a voice turn still waits for its agent
    second.abandon("test over")
    assert conv.idle
