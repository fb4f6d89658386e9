"""Every event on the wire, both directions, checked against the official SDK's models.

The `openai` package's pydantic models (GA `openai.types.realtime`, beta
`openai.types.beta.realtime`) are a definition none of us wrote. A full scenario per
dialect runs our library against the emulator; then every server event the emulator
sent and every client event our library sent must validate, with no unknown fields
(sdk.py has the check and its one documented exception).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import events as ev
from custom_components.openai_realtime.realtime.endpoint import Dialect, openai_endpoint
from custom_components.openai_realtime.realtime.errors import ServerError
from custom_components.openai_realtime.realtime.session import (
    FunctionCall,
    RealtimeSession,
)
from realtime_emulator import HouseBrain, RealtimeEmulator, speech
from realtime_emulator.brain import Rule, ScriptedBrain

from .sdk import ADAPTERS, check


@pytest.fixture
async def scripted_emu() -> AsyncIterator[RealtimeEmulator]:
    """An emulator with a scripted tool call plus the house brain."""
    emulator = RealtimeEmulator(
        brain=ScriptedBrain(
            [
                Rule(
                    "lights on",
                    call=[("HassTurnOn", {"name": "kitchen"})],
                    then_say="Done.",
                )
            ],
            fallback=HouseBrain(),
        )
    )
    await emulator.start()
    yield emulator
    await emulator.stop()


TOOLS = (
    ev.FunctionTool(
        "HassTurnOn",
        "Turns on a device",
        {"type": "object", "properties": {"name": {"type": "string"}}},
    ),
)


async def _scenario(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, dialect: Dialect
) -> None:
    model = "gpt-realtime" if dialect == "ga" else "gpt-4o-realtime-preview"
    endpoint = openai_endpoint("sk-any", model, base_url=emu.base_url, dialect=dialect)
    config = ev.SessionConfig(
        instructions="Be brief.",
        voice="alloy",
        transcription_model="gpt-4o-mini-transcribe",
        transcription_language="en",
        tools=TOOLS,
        turn_detection=ev.TurnDetection(silence_duration_ms=200),
        temperature=0.8 if dialect == "beta" else None,
    )
    session = await RealtimeSession.connect(http, endpoint, config)
    try:
        # Text turn.
        await session.add_user_text("hello")
        await (await session.create_response(modalities=("text",))).wait_done()
        # Audio turn with server VAD: the server commits and answers by itself.
        audio = speech.encode("hello there") + b"\x00\x00" * (24000 // 2)
        for start in range(0, len(audio), 4800):
            await session.append_audio(audio[start : start + 4800])
        vad_response = await session.server_responses.get()
        await vad_response.wait_done()
        # Function call round trip.
        await session.add_user_text("lights on")
        stream = await session.create_response(modalities=("text",))
        calls = [e async for e in stream if isinstance(e, FunctionCall)]
        await session.send_function_result(calls[0].call_id, '{"ok": true}')
        await (await session.create_response(modalities=("text",))).wait_done()
        # Barge-in: cancel mid-audio, truncate at the played position.
        emu.options.audio_pacing = "realtime"
        await session.add_user_text("tell me a story please")
        stream = await session.create_response()
        async for event in stream:
            if isinstance(event, ev.AudioDelta):
                await session.cancel_response()
                item_id = event.item_id
        await session.truncate(item_id, 50)
        emu.options.audio_pacing = "fast"
        # Errors: a bad update and a cancel with nothing active.
        with pytest.raises(ServerError):
            await session.configure(ev.SessionConfig(voice="nobody"))
        await session.cancel_response()  # nothing active: a no-op on our side
        await session.configure(config)
    finally:
        await session.close()


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_wire_conformance(
    http: aiohttp.ClientSession, scripted_emu: RealtimeEmulator, dialect: Dialect
) -> None:
    """Every event of a full scenario validates against the SDK's models."""
    await _scenario(http, scripted_emu, dialect)
    server_adapter, client_adapter = ADAPTERS[dialect]
    sent = [e for s in scripted_emu.sessions for e in s.sent]
    received = [e for s in scripted_emu.sessions for e in s.received]
    problems = [p for e in sent for p in check(server_adapter, e)]
    problems += [p for e in received for p in check(client_adapter, e)]
    assert not problems, "\n".join(problems[:40])
    types = {e["type"] for e in sent}
    expected = {
        "session.created",
        "session.updated",
        "error",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.done",
        "rate_limits.updated",
        "conversation.item.truncated",
    }
    if dialect == "ga":
        expected |= {
            "conversation.item.added",
            "conversation.item.done",
            "response.output_text.delta",
            "response.output_audio.delta",
            "response.output_audio_transcript.delta",
        }
    else:
        expected |= {
            "conversation.created",
            "conversation.item.created",
            "response.text.delta",
            "response.audio.delta",
            "response.audio_transcript.delta",
        }
    assert expected <= types, expected - types
    assert {e["type"] for e in received} >= {
        "session.update",
        "conversation.item.create",
        "input_audio_buffer.append",
        "response.create",
        "response.cancel",
        "conversation.item.truncate",
    }


@pytest.mark.parametrize(
    "truncation",
    [
        "auto",
        "disabled",
        ev.RetentionRatio(0.8),
        ev.RetentionRatio(0.5, post_instructions_tokens=8000),
    ],
    ids=["auto", "disabled", "ratio", "ratio-limit"],
)
def test_session_truncation_conforms(truncation: ev.Truncation) -> None:
    """Each GA truncation shape validates against the SDK's session model (and is
    typed there, not kept as an extra field); the beta update has none."""
    config = ev.SessionConfig(instructions="Be brief.", truncation=truncation)
    ga_update = ev.session_update(config, "ga") | {"event_id": "evt_1"}
    assert not check(ADAPTERS["ga"][1], ga_update)
    model = ADAPTERS["ga"][1].validate_python(ga_update)
    assert model.session.truncation is not None
    beta_update = ev.session_update(config, "beta") | {"event_id": "evt_2"}
    assert "truncation" not in beta_update["session"]
    assert not check(ADAPTERS["beta"][1], beta_update)
