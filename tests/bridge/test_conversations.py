"""The conversation pool without a server: reuse, reopen with replay, the warm cap."""

from __future__ import annotations

from typing import Any

from homeassistant.components import conversation
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


async def test_the_session_follows_the_chat_log(
    pool: ConversationPool, opened: list[FakeSession]
) -> None:
    """Turns the session missed are appended in order, once; a spoken turn HA
    answered itself is not added twice; a new session is rebuilt."""
    contents: list[conversation.Content] = [
        conversation.SystemContent("prompt"),
        conversation.UserContent("turn on the porch light"),
        conversation.AssistantContent("conversation.home_assistant", "Turned on."),
    ]
    conv = pool.get("c1")
    session = await conv.ensure(CONFIG)
    await conv.follow(contents, len(contents))
    assert [(e.kind, e.text) for e in session.replayed] == [
        ("user", "turn on the porch light"),
        ("assistant", "Turned on."),
    ]
    await conv.follow(contents, len(contents))  # nothing new
    assert len(session.replayed) == 2

    # Our own turn: the session has it natively, nothing is added for it.
    contents += [
        conversation.UserContent("and dim it to 30 %"),
        conversation.AssistantContent("conversation.realtime", "Dimmed to 30 %."),
    ]
    conv.followed(len(contents))
    await conv.follow(contents, len(contents))
    assert len(session.replayed) == 2

    # A spoken turn HA answered: its audio is in the session, its text is skipped.
    turn = await conv.start_voice_turn(CONFIG, None)
    turn.committed(None, 900)
    turn.heard("item_9", "what time is it")
    turn.abandon("another agent answered")
    contents += [
        conversation.UserContent("what time is it"),
        conversation.AssistantContent("conversation.home_assistant", "It is 9:30."),
    ]
    await conv.follow(contents, len(contents))
    assert [(e.kind, e.text) for e in session.replayed[2:]] == [
        ("assistant", "It is 9:30.")
    ]

    # Dropped: the next session is rebuilt from the ChatLog.
    session.closed = True
    rebuilt = await conv.ensure(CONFIG)
    await conv.follow(contents, len(contents))
    assert [e.text for e in rebuilt.replayed] == [
        "turn on the porch light",
        "Turned on.",
        "and dim it to 30 %",
        "Dimmed to 30 %.",
        "what time is it",
        "It is 9:30.",
    ]


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
    first = await conv.start_voice_turn(CONFIG, None)
    assert first.reused is False
    second = await conv.start_voice_turn(CONFIG, None)
    assert first.state is TurnState.ABANDONED
    assert second.reused is True and conv.voice_turn is second
    assert not conv.idle  # a voice turn still waits for its agent
    second.abandon("test over")
    assert conv.idle
