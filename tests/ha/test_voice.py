"""Voice turns through real Assist pipeline runs: our STT, agent and TTS as one turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import io
import logging
import re
from typing import Any
from unittest.mock import patch
import wave

from homeassistant.components import assist_pipeline, tts
from homeassistant.components.assist_pipeline.pipeline import (
    AudioSettings,
    PipelineEvent,
    PipelineEventType,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.core import Context, HomeAssistant
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge import voice_turn
from custom_components.openai_realtime.bridge.turns import TurnRunner
from custom_components.openai_realtime.diagnostics import (
    async_get_config_entry_diagnostics,
)
from realtime_emulator import RealtimeEmulator, speech

from .conftest import TTS, Wire
from .pipeline import (
    answer,
    event as _event,
    fixed_wav,
    metadata as _metadata,
    run as _run,
    spoken as _spoken,
    tts_audio,
)


def _session_events(emulator: RealtimeEmulator, kind: str) -> list[dict[str, Any]]:
    return [e for e in emulator.sessions[-1].received if e["type"] == kind]


@pytest.mark.usefixtures("voice_house")
async def test_spoken_command_end_to_end(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Spoken "turn on the kitchen lights": light on, transcript, tool call, voice."""
    links: list[bool] = []
    original = voice_turn.VoiceTurn.claim

    def spy(self: voice_turn.VoiceTurn) -> Any:
        links.append(voice_turn.current_voice_turn.get() is self)
        return original(self)

    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.kitchen_lights"}, blocking=True
    )
    with patch.object(voice_turn.VoiceTurn, "claim", spy):
        events = await _run(hass, _spoken("turn on the kitchen lights"))

    assert _event(events, PipelineEventType.STT_END)["stt_output"]["text"] == (
        "turn on the kitchen lights"
    )
    assert hass.states.get("light.kitchen_lights").state == "on"
    answer = _event(events, PipelineEventType.INTENT_END)["intent_output"]["response"][
        "speech"
    ]["plain"]["speech"]
    assert "kitchen lights" in answer.lower()
    assert await tts_audio(hass, events) == answer.lower()
    # The pipeline's stages shared the turn through the ContextVar, on this HA.
    assert links == [True]
    # The transcription got the pipeline's language as a hint.
    update = _session_events(emulator, "session.update")[0]["session"]
    assert update["audio"]["input"]["transcription"] == {
        "model": "gpt-4o-mini-transcribe",
        "language": "en",
    }
    # One response answered the speech (eager), one followed the tool result.
    creates = _session_events(emulator, "response.create")
    assert len(creates) == 2
    assert all(c["response"]["output_modalities"] == ["audio"] for c in creates)


@pytest.mark.usefixtures("voice_house")
async def test_follow_up_reuses_session(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A second spoken turn in the same conversation uses the same websocket."""
    events = await _run(hass, _spoken("hello"))
    conversation_id = _event(events, PipelineEventType.INTENT_END)["intent_output"][
        "conversation_id"
    ]
    opened = len(emulator.sessions)
    events = await _run(hass, _spoken("hello again"), conversation_id=conversation_id)
    assert (
        _event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello again"
    )
    assert len(emulator.sessions) == opened
    assert await tts_audio(hass, events) == "you said: hello again."


# Longer than any test: a response held this long runs until it is cancelled.
HOLD = 3600.0


@pytest.mark.usefixtures("voice_house")
async def test_prefer_local_cancels_the_response(
    hass: HomeAssistant, emulator: RealtimeEmulator, wire: Wire
) -> None:
    """When HA answers locally, the eager realtime response is cancelled."""
    await async_update_pipeline(
        hass, async_get_pipeline(hass), prefer_local_intents=True
    )
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.kitchen_lights"}, blocking=True
    )
    # The eager answer is held until cancelled, however long HA takes to answer
    # locally. The emulator reads the delay as it announces a response, so once
    # ours has heard `response.created` the hold is set for that response, and the
    # read-aloud of HA's answer that follows need not wait.
    emulator.options.model_delay = HOLD
    wire.when(
        lambda: bool(_sent_anywhere(emulator, "response.created")),
        lambda: setattr(emulator.options, "model_delay", 0.0),
    )
    events = await _run(hass, _spoken("turn on the kitchen lights"))
    assert hass.states.get("light.kitchen_lights").state == "on"
    answer = _event(events, PipelineEventType.INTENT_END)["intent_output"]["response"][
        "speech"
    ]["plain"]["speech"]
    # HA's own answer is read aloud in our voice …
    assert await tts_audio(hass, events) == answer.lower()
    # … and the model's eager answer was cancelled, on the conversation's session
    # (the one that heard the speech): the cancel is sent from a task of its own,
    # so wait for the server's verdict on that response.
    conversation = next(
        session
        for session in emulator.sessions
        if any(e["type"] == "input_audio_buffer.append" for e in session.received)
    )

    def done() -> list[dict[str, Any]]:
        return [e for e in conversation.sent if e["type"] == "response.done"]

    await wire.wait_for(lambda: bool(done()), "response.done of the eager answer")
    assert any(e["type"] == "response.cancel" for e in conversation.received)
    assert [e["response"]["status"] for e in done()] == ["cancelled"]


@pytest.mark.usefixtures("voice_house")
async def test_an_agent_that_comes_late_still_answers_by_voice(
    hass: HomeAssistant, emulator: RealtimeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HA may match its own intents for seconds before it calls our agent (prefer
    local, a slow machine, many entities): the claim window withdraws the eager
    answer, and the agent that comes after it still answers the spoken turn in
    the model's voice, with the user's words in the session once."""
    monkeypatch.setattr(voice_turn, "CLAIM_WINDOW", 0.01)
    withdrawn = asyncio.Event()
    unclaimed = voice_turn.VoiceTurn._unclaimed
    handle = TurnRunner.async_handle

    def spy(self: voice_turn.VoiceTurn) -> None:
        unclaimed(self)
        withdrawn.set()

    async def late_agent(self: TurnRunner, *args: Any, **kwargs: Any) -> Any:
        await withdrawn.wait()  # the agent comes after the claim window
        return await handle(self, *args, **kwargs)

    with (
        patch.object(voice_turn.VoiceTurn, "_unclaimed", spy),
        patch.object(TurnRunner, "async_handle", late_agent),
    ):
        events = await _run(hass, _spoken("hello"))
    assert await tts_audio(hass, events) == answer(events).lower()
    conversation = next(
        session
        for session in emulator.sessions
        if any(e["type"] == "input_audio_buffer.append" for e in session.received)
    )
    roles = [i["role"] for i in conversation.items if i["type"] == "message"]
    assert roles.count("user") == 1
    # The withdrawn eager answer left the conversation; the late one is spoken.
    assert roles.count("assistant") == 1
    creates = [e for e in conversation.received if e["type"] == "response.create"]
    assert [c["response"]["output_modalities"] for c in creates] == [["audio"]] * 2


def _sent_anywhere(emulator: RealtimeEmulator, kind: str) -> list[dict[str, Any]]:
    return [e for s in emulator.sessions for e in s.sent if e["type"] == kind]


@pytest.mark.usefixtures("voice_house")
async def test_tts_for_arbitrary_text(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Text with no realtime audio behind it is read aloud in the configured voice."""
    stream = tts.async_create_stream(
        hass, TTS, "en", {tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    stream.async_set_message("the garage door is open")
    data = b"".join([chunk async for chunk in stream.async_stream_result()])
    with wave.open(io.BytesIO(fixed_wav(data))) as wav:
        assert speech.decode(
            wav.readframes(wav.getnframes()), rate=wav.getframerate()
        ) == ("the garage door is open")
    create = [e for e in emulator.received if e["type"] == "response.create"][-1]
    assert create["response"]["conversation"] == "none"


@pytest.mark.parametrize(
    ("rate", "channels", "chunk"),
    [
        (8000, 1, 320),
        (44100, 1, 1764),
        (48000, 2, 3840),
        (16000, 2, 1280),
        (16000, 1, 333),
    ],
)
@pytest.mark.usefixtures("voice_house")
async def test_input_formats(
    hass: HomeAssistant, rate: int, channels: int, chunk: int
) -> None:
    """8 kHz, 44.1 kHz, stereo, and odd-sized chunks all reach a transcript."""
    events = await _run(
        hass,
        _spoken("hello", rate, channels),
        rate=rate,
        channels=channels,
        chunk=chunk,
    )
    assert _event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello"


@pytest.mark.usefixtures("voice_house")
async def test_silence_is_a_clean_stt_error(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Silence only: an STT error event, and no response left running."""
    events = await _run(hass, b"\x00\x00" * 16000)
    error = _event(events, PipelineEventType.ERROR)
    assert error["code"] == "stt-no-text-recognized"
    # Too little audio to commit: nothing was asked of the model.
    assert not _session_events(emulator, "response.create")


@pytest.mark.usefixtures("voice_house")
async def test_unintelligible_speech_is_a_clean_stt_error(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Loud audio the server cannot transcribe: it is committed, STT fails (no
    transcript), and the endpoint still counts as available."""
    # A loud hum below every symbol of the emulator's speech: heard, not words.
    hum = (8000 * np.sin(2 * np.pi * 150 * np.arange(16000) / 16000)).astype(np.int16)
    events = await _run(hass, hum.tobytes() + b"\x00\x00" * 3200)
    error = _event(events, PipelineEventType.ERROR)
    assert error["code"] == "stt-stream-failed"
    assert _session_events(emulator, "input_audio_buffer.commit")
    state = hass.states.get("stt.realtime_emulator_speech_to_text")
    assert state is not None and state.state != "unavailable"


@pytest.mark.usefixtures("voice_house")
async def test_drop_mid_turn_then_next_run(
    hass: HomeAssistant, emulator: RealtimeEmulator, wire: Wire
) -> None:
    """The connection drops in the middle of the answer: the user is told so (in
    the model's voice, on a new connection), and the next run works."""

    def answering() -> list[Any]:
        return [
            s
            for s in emulator.sessions
            if any(e["type"] == "response.output_audio.delta" for e in s.sent)
        ]

    # Cut the conversation's connection at its first audio of the answer.
    wire.when(
        lambda: bool(answering()),
        lambda: hass.async_create_task(answering()[0].transport.drop()),
    )
    events = await _run(hass, _spoken("hello"))
    words = "The connection to the model dropped. Please try again."
    assert answer(events) == words
    assert (await tts_audio(hass, events)).endswith(words.lower())
    events = await _run(hass, _spoken("hello"))
    assert _event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello"
    assert await tts_audio(hass, events) == "hello! how can i help with your home?"


@pytest.mark.parametrize(
    "detection",
    [
        {"turn_detection": "server_vad", "vad_silence_duration_ms": 300},
        {"turn_detection": "semantic_vad", "vad_eagerness": "high"},
    ],
)
@pytest.mark.usefixtures("voice_house")
async def test_server_turn_detection_ends_the_turn_early(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    wire: Wire,
    detection: dict[str, Any],
) -> None:
    """With turn detection on, the server's commit ends STT before HA's stream does.

    Nothing the STT stage sent after that commit may leak into the next turn.
    """
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, **detection}
    )
    await hass.config_entries.async_reload(config_entry.entry_id)
    said = speech.encode("hello", rate=16000)
    audio = said + b"\x00\x00" * 16000 * 3
    total = -(-len(audio) // 640)  # 20 ms chunks
    # Speech and 800 ms of silence: more than either detector needs (300 ms; high
    # eagerness 250 ms) to end the turn. The stream holds there until the server
    # has, however long that takes, so STT cannot run past it unnoticed.
    barrier = (len(said) + 2 * 16 * 800) // 640
    consumed = 0

    def server_committed() -> bool:
        return any(
            e["type"] == "input_audio_buffer.committed"
            for session in emulator.sessions
            for e in session.sent
        )

    async def satellite() -> AsyncIterator[bytes]:
        nonlocal consumed
        for index, start in enumerate(range(0, len(audio), 640)):
            if index == barrier:
                await wire.wait_for(server_committed, "the server's commit")
            consumed += 1
            yield audio[start : start + 640]
            await asyncio.sleep(0)  # chunks arrive from the network, between turns

    events: list[PipelineEvent] = []
    await assist_pipeline.async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=_metadata(),
        stt_stream=satellite(),
        tts_audio_output={tts.ATTR_PREFERRED_FORMAT: "wav"},
        audio_settings=AudioSettings(is_vad_enabled=False),
    )
    assert _event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello"
    assert server_committed()
    # STT stopped reading once the server had committed, deep in the silence.
    assert consumed <= barrier + 5 < total // 2
    received = [e["type"] for e in emulator.sessions[-1].received]
    assert "input_audio_buffer.commit" not in received  # the server committed
    assert received.index("input_audio_buffer.clear") < received.index(
        "response.create"
    )
    assert await tts_audio(hass, events) == "hello! how can i help with your home?"
    conversation_id = _event(events, PipelineEventType.INTENT_END)["intent_output"][
        "conversation_id"
    ]
    events = await _run(hass, _spoken("hello again"), conversation_id=conversation_id)
    assert (
        _event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello again"
    )


@pytest.mark.usefixtures("voice_house")
async def test_repeated_answer_is_spoken_right(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The same answer twice: HA serves the second from its TTS memory cache.

    (Seen on 2025.4 and 2026.2: our engine is called once.) The user still hears
    the right words, and the second turn's realtime response was read to its end
    by the agent, so nothing is left streaming on the session.
    """
    for _ in range(2):
        events = await _run(hass, _spoken("hello"))
        assert await tts_audio(hass, events) == "hello! how can i help with your home?"
    session = emulator.sessions[-1]
    done = [e for e in session.sent if e["type"] == "response.done"]
    assert done and all(e["response"]["status"] == "completed" for e in done)


def _turn_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == voice_turn.__name__
        and record.getMessage().startswith("Voice turn")
    ]


@pytest.mark.usefixtures("voice_house")
async def test_one_debug_line_per_voice_turn(
    hass: HomeAssistant, emulator: RealtimeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """With debug logging on, each spoken turn logs one line when it ends: the
    session reused or opened, eager or not, the seconds of audio, commit -> first
    audio delta and the response ids, so a satellite's problem can be placed."""
    caplog.set_level(logging.DEBUG, logger="custom_components.openai_realtime")
    events = await _run(hass, _spoken("turn on the kitchen lights"))
    conversation_id = _event(events, PipelineEventType.INTENT_END)["intent_output"][
        "conversation_id"
    ]
    created = [
        e["response"]["id"]
        for e in emulator.sessions[-1].sent
        if e["type"] == "response.created"
    ]
    assert len(created) == 2  # the eager answer, then the one after the tool call
    [line] = _turn_lines(caplog)
    match = re.fullmatch(
        rf"Voice turn of conversation {conversation_id} done: session opened, "
        r"eager, (\d+\.\d\d) s of audio, commit -> first audio delta (\d+) ms, "
        rf"responses {created[0]}, {created[1]}",
        line,
    )
    assert match, line
    audio_s = len(_spoken("turn on the kitchen lights")) / 32000
    assert float(match[1]) == pytest.approx(audio_s, abs=0.1)

    caplog.clear()
    await _run(hass, _spoken("hello"), conversation_id=conversation_id)
    [line] = _turn_lines(caplog)
    assert "done: session reused, eager" in line

    caplog.clear()
    await _run(hass, b"\x00\x00" * 16000, conversation_id=conversation_id)
    [line] = _turn_lines(caplog)
    assert "abandoned while listening: no speech: session reused, not eager, " in line
    assert "1.00 s of audio, commit -> first audio delta none, responses none" in line


@pytest.mark.usefixtures("voice_house")
async def test_diagnostics_show_the_last_turns_state(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """A conversation whose spoken turn is over says so; nothing stays pending."""
    events = await _run(hass, _spoken("hello"))
    conversation_id = _event(events, PipelineEventType.INTENT_END)["intent_output"][
        "conversation_id"
    ]
    data = await async_get_config_entry_diagnostics(hass, config_entry)
    conversation = data["runtime"]["conversations"][conversation_id]
    assert conversation["voice_turn"] == "done"
    assert "voice_turn_pending" not in conversation

    await _run(hass, b"\x00\x00" * 16000, conversation_id=conversation_id)
    data = await async_get_config_entry_diagnostics(hass, config_entry)
    assert data["runtime"]["conversations"][conversation_id]["voice_turn"] == (
        "abandoned"
    )
