"""The voice turn's state machine, without a server: every state and transition."""

from __future__ import annotations

import asyncio

import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge import voice_turn
from custom_components.openai_realtime.bridge.voice_turn import (
    TurnFailure,
    TurnState,
    TurnStateError,
    VoiceTurn,
)

from .fake_model import FakeSession, finish


def _turn() -> tuple[VoiceTurn, FakeSession]:
    session = FakeSession()
    return VoiceTurn("conv-1", session, reused=False), session  # type: ignore[arg-type]


async def test_a_turn_from_listening_to_done() -> None:
    """The happy path: each stage moves the turn on; the audio ends with it."""
    turn, session = _turn()
    assert turn.state is TurnState.LISTENING and turn.awaiting_agent
    response = await session.create_response()
    turn.committed(response, audio_ms=1200)
    assert turn.state is TurnState.COMMITTED and turn.audio_ms == 1200
    turn.heard("item_1", "Turn on the lights.")
    assert turn.answers("conv-1", "turn on the lights")
    assert not turn.answers("conv-2", "turn on the lights")
    assert not turn.answers("conv-1", "turn off the lights")
    assert turn.claim() is response
    assert turn.state is TurnState.ANSWERING and not turn.awaiting_agent
    turn.audio.append(b"\x01\x00")
    turn.done()
    assert turn.over and turn.audio.finished
    assert [chunk async for chunk in turn.audio.iterate()] == [b"\x01\x00"]
    await turn.close()
    assert session.cancelled == []  # nothing to cancel: it was answered


@pytest.mark.parametrize(
    "steps",
    [
        ["claim"],  # nobody heard anything yet
        ["committed", "committed"],
        ["committed", "heard", "done"],  # done needs a claim first
        ["committed", "heard", "claim", "claim"],
    ],
)
async def test_transitions_out_of_order_are_bugs(steps: list[str]) -> None:
    """Only the drawn arrows exist; anything else raises TurnStateError."""
    turn, _session = _turn()
    actions = {
        "committed": lambda: turn.committed(None, 500),
        "heard": lambda: turn.heard("item_1", "hi"),
        "claim": turn.claim,
        "done": turn.done,
    }
    *before, last = steps
    for step in before:
        actions[step]()
    with pytest.raises(TurnStateError):
        actions[last]()
    await turn.close()


async def test_an_unclaimed_answer_is_withdrawn_and_the_turn_stays_claimable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No agent within the claim window: the eager answer is cancelled (unbilled)
    and leaves the conversation, but the turn waits on: HA may still be matching
    its own intents, and a late agent answers with a new response."""
    monkeypatch.setattr(voice_turn, "CLAIM_WINDOW", 0.01)
    turn, session = _turn()
    response = await session.create_response()
    turn.committed(response, 500)
    turn.heard("item_1", "what time is it")
    async with asyncio.timeout(5):
        await session.cancel_seen.wait()
    await turn.settle()
    assert session.cancelled == [response]
    assert turn.state is TurnState.HEARD and turn.awaiting_agent
    assert turn.answers("conv-1", "what time is it")
    assert turn.claim() is None  # the agent asks for a new answer
    turn.done()
    await turn.close()
    assert session.cancelled == [response]  # nothing more to cancel


async def test_an_unclaimed_turn_ends_when_ha_answers_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HA answered without our agent (its TTS stage or chat log says so): the
    turn ends; a withdrawn answer is not cancelled twice."""
    monkeypatch.setattr(voice_turn, "CLAIM_WINDOW", 0.01)
    turn, session = _turn()
    response = await session.create_response()
    turn.committed(response, 500)
    turn.heard("item_1", "what time is it")
    async with asyncio.timeout(5):
        await session.cancel_seen.wait()
    turn.abandon("answered without the agent")
    await turn.close()
    assert turn.state is TurnState.ABANDONED and turn.audio.finished
    assert session.cancelled == [response]


async def test_an_abandoned_answer_leaves_the_conversation() -> None:
    """HA answered the turn itself: the eager answer, cancelled or already done,
    was never heard, so its items are deleted from the conversation."""
    turn, session = _turn()
    response = await session.create_response()
    turn.committed(response, 500)
    turn.heard("item_1", "turn off the lights")
    finish(response, output=[{"id": "item_call", "type": "function_call"}])
    turn.abandon("another agent answered")
    await turn.close()
    assert session.cancelled == []  # it had finished
    assert session.deleted == ["item_call"]


async def test_a_failed_answer_stays_in_the_conversation() -> None:
    """What a failed turn said was played: it stays (barge-in cuts it where heard)."""
    turn, session = _turn()
    response = await session.create_response()
    turn.committed(response, 500)
    turn.heard("item_1", "hello")
    turn.claim()
    turn.fail(TurnFailure("The connection to the model dropped."))
    await turn.close()
    assert session.cancelled == [response]
    assert session.deleted == []


async def test_failure_from_any_live_state_keeps_the_words() -> None:
    """A failure ends the turn with what the user hears; later calls change nothing."""
    turn, session = _turn()
    response = await session.create_response()
    turn.committed(response, 500)
    turn.heard("item_1", "hello")
    turn.claim()
    turn.fail(TurnFailure("The connection to the model dropped."))
    assert turn.state is TurnState.FAILED and turn.audio.finished
    assert turn.failure == TurnFailure("The connection to the model dropped.")
    turn.fail(TurnFailure("second"))
    turn.abandon("late")
    assert turn.failure.speech == "The connection to the model dropped."
    await turn.close()
    assert session.cancelled == [response]


async def test_abandon_does_not_stop_an_answer_under_way() -> None:
    """Once our agent answers, only the agent ends the turn (done or failed)."""
    turn, session = _turn()
    turn.committed(None, 500)
    turn.heard("item_1", "hello")
    stream = await session.create_response()
    turn.claim()
    turn.answering(stream)
    turn.abandon("another agent answered")
    assert turn.state is TurnState.ANSWERING
    finish(stream)
    turn.done()
    await turn.close()
    assert session.cancelled == []


async def test_closing_a_live_turn_fails_it_unreachable() -> None:
    """Unload while a turn listens: it ends, its satellite gets an error, not silence."""
    turn, _session = _turn()
    await turn.close()
    assert turn.state is TurnState.FAILED
    assert turn.failure is not None and not turn.failure.reachable
    assert turn.audio.finished
