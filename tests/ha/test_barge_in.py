"""Barge-in: what the model believes it said is what the user heard."""

from __future__ import annotations

import time
from types import SimpleNamespace

from homeassistant.components.assist_pipeline.pipeline import PipelineEventType
from homeassistant.core import HomeAssistant
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge import conversations
from realtime_emulator import RealtimeEmulator
from realtime_emulator.brain import Rule, ScriptedBrain

from .pipeline import event, run, spoken

# About 8 s of the emulator's speech (40 ms a character): still playing when the
# user speaks again right after the first run.
LONG_ANSWER = (
    "Here is the whole weather report for today and tomorrow, with the wind, "
    "the rain, the temperatures hour by hour, and what to wear outside later."
)


@pytest.mark.usefixtures("voice_house")
async def test_waking_the_satellite_mid_answer_cuts_what_was_not_heard(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The user wakes the satellite while a long answer plays: the next run on the
    same conversation truncates the answer's item at the position the user could
    have heard, and the server forgets the transcript past it."""
    emulator.brain = ScriptedBrain(
        [Rule("weather", say=LONG_ANSWER), Rule("stop", say="Okay.")]
    )
    first = await run(hass, spoken("weather"))
    conversation_id = event(first, PipelineEventType.INTENT_END)["intent_output"][
        "conversation_id"
    ]
    second = await run(hass, spoken("stop"), conversation_id=conversation_id)
    assert event(second, PipelineEventType.STT_END)["stt_output"]["text"] == "stop"

    session = emulator.sessions[1]  # the conversation's (0: the setup check)
    truncates = [
        e for e in session.received if e["type"] == "conversation.item.truncate"
    ]
    assert len(truncates) == 1
    answer = next(
        item
        for item in session.items
        if item.get("role") == "assistant" and item["id"] == truncates[0]["item_id"]
    )
    full_ms = len(LONG_ANSWER) * 40
    assert 0 <= truncates[0]["audio_end_ms"] < full_ms / 2
    assert all(not part.get("transcript") for part in answer["content"])
    # The truncate reached the server before the new turn's audio was committed.
    kinds = [e["type"] for e in session.received]
    assert (
        kinds.index("conversation.item.truncate")
        < len(kinds) - kinds[::-1].index("input_audio_buffer.commit") - 1
    )


@pytest.mark.usefixtures("voice_house")
async def test_a_follow_up_after_the_answer_finished_cuts_nothing(
    hass: HomeAssistant, emulator: RealtimeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer played to its end before the user spoke again: nothing is cut."""
    emulator.brain = ScriptedBrain(
        [Rule("weather", say=LONG_ANSWER), Rule("thanks", say="You're welcome.")]
    )
    first = await run(hass, spoken("weather"))
    conversation_id = event(first, PipelineEventType.INTENT_END)["intent_output"][
        "conversation_id"
    ]
    # The user speaks again a minute later (the clock the barge-in check reads).
    later = time.monotonic() + 60
    monkeypatch.setattr(conversations, "time", SimpleNamespace(monotonic=lambda: later))
    await run(hass, spoken("thanks"), conversation_id=conversation_id)
    session = emulator.sessions[1]
    assert not any(e["type"] == "conversation.item.truncate" for e in session.received)
