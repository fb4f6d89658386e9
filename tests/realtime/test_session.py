"""The protocol library over a real loopback websocket to the emulator."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
import json
from typing import Any

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import events as ev
from custom_components.openai_realtime.realtime.audio import SESSION_RATE
from custom_components.openai_realtime.realtime.endpoint import (
    Dialect,
    Endpoint,
    azure_endpoint,
    openai_endpoint,
)
from custom_components.openai_realtime.realtime.errors import (
    AccessDeniedError,
    AuthenticationError,
    BetaApiDisabledError,
    CannotConnectError,
    ConnectionLostError,
    RateLimitedError,
    ServerError,
    SessionExpiredError,
    TranscriptionFailedError,
)
from custom_components.openai_realtime.realtime.session import (
    FunctionCall,
    RealtimeSession,
)
from realtime_emulator import RealtimeEmulator, speech
from realtime_emulator.brain import Rule, ScriptedBrain

from ..conftest import API_KEY as KEY

CONFIG = ev.SessionConfig(
    instructions="You are a test.",
    voice="alloy",
    transcription_model="gpt-4o-mini-transcribe",
    tools=(
        ev.FunctionTool(
            "HassTurnOn",
            "Turns on a device",
            {"type": "object", "properties": {"name": {"type": "string"}}},
        ),
    ),
)


def _endpoint(
    emu: RealtimeEmulator, dialect: Dialect = "ga", key: str = KEY
) -> Endpoint:
    model = "gpt-realtime" if dialect == "ga" else "gpt-4o-realtime-preview"
    return openai_endpoint(key, model, base_url=emu.base_url, dialect=dialect)


async def _open(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, dialect: Dialect = "ga"
) -> RealtimeSession:
    return await RealtimeSession.connect(
        http, _endpoint(emu, dialect), CONFIG, timeout=5
    )


def _silence(ms: int) -> bytes:
    return b"\x00\x00" * (SESSION_RATE * ms // 1000)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_text_turn(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, dialect: Dialect
) -> None:
    """A text turn streams text deltas and ends with usage."""
    session = await _open(http, emu, dialect)
    try:
        assert session.dialect == dialect
        await session.add_user_text("hello")
        stream = await session.create_response(modalities=("text",))
        deltas = [e.delta async for e in stream if isinstance(e, ev.TextDelta)]
        assert "".join(deltas) == stream.text == "Hello! How can I help with your home?"
        assert stream.done is not None and stream.done.status == "completed"
        assert stream.usage is not None and stream.usage.output_tokens > 0
        assert session.history[-1].kind == "assistant"
    finally:
        await session.close()
    assert session.closed


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_audio_turn_manual_commit(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, dialect: Dialect
) -> None:
    """Speech in, commit, response with audio that decodes to the transcript."""
    session = await _open(http, emu, dialect)
    try:
        audio = speech.encode("hello") + _silence(300)
        for start in range(0, len(audio), 4800):
            await session.append_audio(audio[start : start + 4800])
        commit = await session.start_commit()
        stream = await session.create_response()  # eager: right behind the commit
        item_id = await commit
        assert await session.wait_transcript(item_id) == "hello"
        # The commit went out first, so the response answers this speech.
        received = [e["type"] for e in emu.sessions[-1].received]
        assert received.index("input_audio_buffer.commit") < received.index(
            "response.create"
        )
        assert stream.text.lower().startswith("hello")
        pcm = b"".join([e.audio async for e in stream if isinstance(e, ev.AudioDelta)])
        assert speech.decode(pcm) == stream.text.lower()
        assert stream.usage is not None and stream.usage.input_audio_tokens > 0
    finally:
        await session.close()


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_function_call_round_trip(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, dialect: Dialect
) -> None:
    """A function call arrives whole; its output and a new response continue."""
    emu.brain = ScriptedBrain(
        [
            Rule(
                "lights on",
                call=[("HassTurnOn", {"name": "kitchen"})],
                then_say="Done.",
            )
        ]
    )
    session = await _open(http, emu, dialect)
    try:
        await session.add_user_text("lights on")
        stream = await session.create_response(modalities=("text",))
        calls = [e async for e in stream if isinstance(e, FunctionCall)]
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("HassTurnOn", {"name": "kitchen"})
        ]
        await session.send_function_result(calls[0].call_id, '{"success": true}')
        follow = await session.create_response(modalities=("text",))
        await follow.wait_done()
        assert follow.text == "Done."
        kinds = [h.kind for h in session.history]
        assert kinds == ["user", "function_call", "function_call_output", "assistant"]
    finally:
        await session.close()


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_barge_in_cancel_and_truncate(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, dialect: Dialect
) -> None:
    """Cancel mid-audio, then truncate the assistant item at the played position."""
    emu.options.audio_pacing = "realtime"
    emu.brain = ScriptedBrain([Rule("story", say="once upon a time " * 4)])
    session = await _open(http, emu, dialect)
    try:
        await session.add_user_text("story")
        stream = await session.create_response()
        played = 0
        item_id = ""
        async for event in stream:
            if isinstance(event, ev.AudioDelta):
                item_id = event.item_id
                played += len(event.audio)
                if played >= 2 * 4800:  # 200 ms played
                    await session.cancel_response()
        assert stream.done is not None and stream.done.status == "cancelled"
        await session.truncate(item_id, 200)
        await asyncio.sleep(0.05)
        sent = emu.sessions[-1].sent
        assert any(e["type"] == "conversation.item.truncated" for e in sent)
        assert {"type": "conversation.item.truncate", "audio_end_ms": 200}.items() <= (
            next(
                e for e in emu.received if e["type"] == "conversation.item.truncate"
            ).items()
        )
    finally:
        await session.close()


async def test_auth_rate_limit_and_unreachable(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Handshake failures map to typed errors."""
    with pytest.raises(AuthenticationError):
        await RealtimeSession.connect(http, _endpoint(emu, key="sk-wrong"))
    emu.options.handshake_status = 429
    with pytest.raises(RateLimitedError):
        await RealtimeSession.connect(http, _endpoint(emu))
    emu.options.handshake_status = 500
    with pytest.raises(CannotConnectError):
        await RealtimeSession.connect(http, _endpoint(emu))
    closed = openai_endpoint(KEY, "gpt-realtime", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(CannotConnectError):
        await RealtimeSession.connect(http, closed, timeout=2)


async def test_key_without_realtime_access(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A key the server knows but refuses Realtime access (HTTP 403 at the
    handshake, or model_not_found once open) is AccessDeniedError, a kind of
    AuthenticationError; a wrong key (401) is not."""
    emu.options.keys_without_access = {KEY}
    with pytest.raises(AccessDeniedError, match="HTTP 403"):
        await RealtimeSession.connect(http, _endpoint(emu))
    emu.options.access_denied_as = "model_not_found"
    with pytest.raises(AccessDeniedError, match="gpt-realtime"):
        await RealtimeSession.connect(http, _endpoint(emu))
    with pytest.raises(AuthenticationError) as err:
        await RealtimeSession.connect(http, _endpoint(emu, key="sk-wrong"))
    assert not isinstance(err.value, AccessDeniedError)


async def test_beta_disabled_names_the_fix(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A retired beta dialect fails with an actionable message."""
    emu.options.beta_disabled = True
    with pytest.raises(BetaApiDisabledError, match="gpt-realtime"):
        await RealtimeSession.connect(http, _endpoint(emu, "beta"), CONFIG)


async def test_bad_session_update_is_a_server_error(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A rejected session.update raises with the server's code and param."""
    session = await RealtimeSession.connect(http, _endpoint(emu))
    try:
        with pytest.raises(ServerError) as err:
            await session.configure(ev.SessionConfig(voice="nobody"))
        assert err.value.param and "voice" in err.value.param
        await session.configure(CONFIG)  # the session stays usable
    finally:
        await session.close()


async def test_second_response_create_is_rejected(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Two concurrent responses: the second stream raises the server's error."""
    emu.options.model_delay = 0.2
    session = await _open(http, emu)
    try:
        await session.add_user_text("hello")
        first = await session.create_response(modalities=("text",))
        second = await session.create_response(modalities=("text",))
        with pytest.raises(ServerError) as err:
            await second.wait_done()
        assert err.value.code == "conversation_already_has_active_response"
        assert (await first.wait_done()).status == "completed"
    finally:
        await session.close()


async def test_drop_mid_response_fails_the_stream(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A connection closed during a response raises ConnectionLostError, no hang."""
    session = await _open(http, emu)
    try:
        emu.options.drop_after_events = len(emu.sessions[-1].sent) + 4
        await session.add_user_text("hello")
        stream = await session.create_response(modalities=("text",))
        with pytest.raises(ConnectionLostError):
            async with asyncio.timeout(5):
                await stream.wait_done()
        assert session.closed
        with pytest.raises(ConnectionLostError):
            await session.add_user_text("again")
    finally:
        await session.close()


async def test_malformed_frames_are_skipped(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A non-JSON frame mid-response is skipped; the response still completes."""
    session = await _open(http, emu)
    try:
        emu.options.malformed_after_events = len(emu.sessions[-1].sent) + 3
        await session.add_user_text("hello")
        stream = await session.create_response(modalities=("text",))
        assert (await stream.wait_done()).status == "completed"
        assert stream.text == "Hello! How can I help with your home?"
        # The bad frame really went over the wire, and was skipped with a warning.
        assert emu.sessions[-1].transport._malformed_sent
        assert "Skipping a frame that is not JSON" in caplog.text
    finally:
        await session.close()


async def test_session_expiry(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """The server's maximum duration ends the session with SessionExpiredError."""
    emu.options.session_max_duration = 0.3
    session = await _open(http, emu)
    try:
        await session.add_user_text("hello")
        async with asyncio.timeout(10):  # the server ends it after 0.3 s
            await asyncio.wait([session._reader])
        assert session.closed
        assert isinstance(session.error, SessionExpiredError)
    finally:
        await session.close()


async def test_failed_transcription(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Noise that does not decode: the transcript wait raises, it does not hang."""
    session = await _open(http, emu)
    try:
        await session.append_audio(_silence(300))
        item_id = await session.commit()
        with pytest.raises(TranscriptionFailedError):
            await session.wait_transcript(item_id, timeout=5)
    finally:
        await session.close()


async def test_azure_and_replay(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Azure GA route; replayed history reaches the new session as items."""
    endpoint = azure_endpoint(emu.url, "gpt-realtime", KEY)
    session = await RealtimeSession.connect(http, endpoint, CONFIG)
    try:
        await session.add_user_text("hello")
        await (await session.create_response(modalities=("text",))).wait_done()
        history = list(session.history)
    finally:
        await session.close()
    again = await RealtimeSession.connect(http, endpoint, CONFIG)
    try:
        await again.replay(history)
        await again.add_user_text("and now?")
        await (await again.create_response(modalities=("text",))).wait_done()
        items = [
            e["item"]
            for e in emu.sessions[-1].received
            if e["type"] == "conversation.item.create"
        ]
        assert [i["role"] for i in items] == ["user", "assistant", "user"]
    finally:
        await again.close()


def _frame(event: dict[str, Any]) -> str:
    return json.dumps(event)


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[]",
        '{"no_type": 1}',
        '{"type": "response.output_audio.delta", "response_id": "r", "item_id": "i"}',
        (
            '{"type": "response.output_audio.delta", "response_id": "r", "item_id": "i",'
            ' "delta": "!!notbase64"}'
        ),
        '{"type": "some.future.event"}',
    ],
)
def test_parser_skips_bad_frames(raw: str) -> None:
    """Malformed or unknown frames give None, never an exception."""
    assert ev.parse_server_event(raw) is None


def test_parser_normalises_dialects() -> None:
    """GA and beta names map onto the same typed events."""
    for name in ("response.output_audio.delta", "response.audio.delta"):
        event = ev.parse_server_event(
            _frame({"type": name, "response_id": "r", "item_id": "i", "delta": "AAA="})
        )
        assert event == ev.AudioDelta("r", "i", b"\x00\x00")
    for name in ("conversation.item.added", "conversation.item.created"):
        event = ev.parse_server_event(_frame({"type": name, "item": {"id": "x"}}))
        assert isinstance(event, ev.ItemAdded) and event.item_id == "x"
    usage = ev.Usage.from_wire(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "input_token_details": {"audio_tokens": 7, "cached_tokens": 3},
        }
    )
    assert usage is not None and usage.total_tokens == 15 and usage.cached_tokens == 3


@pytest.mark.parametrize("event_id", ["evt_1a2b_7", 'odd"id\\'])
def test_audio_append_frame_is_the_event_as_json(event_id: str) -> None:
    """The hand-written audio frame parses to exactly the event, ids escaped."""
    audio = bytes(range(256)) * 19
    frame = ev.input_audio_append_frame(audio, event_id)
    assert json.loads(frame) == {
        "type": "input_audio_buffer.append",
        "audio": base64.b64encode(audio).decode(),
        "event_id": event_id,
    }


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_reconfigure_after_speaking_keeps_the_voice(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, dialect: Dialect
) -> None:
    """Once the session has spoken, updates leave the (fixed) voice out; a change
    of voice is the server's clear error, and the session stays usable."""
    session = await _open(http, emu, dialect)
    try:
        await session.add_user_text("hello")
        await (await session.create_response(modalities=("audio",))).wait_done()
        await session.configure(replace(CONFIG, instructions="Be brief."))
        update = emu.sessions[-1].received[-1]
        assert update["type"] == "session.update"
        voice = (
            update["session"]["audio"]["output"].get("voice")
            if dialect == "ga"
            else update["session"].get("voice")
        )
        assert voice is None
        with pytest.raises(ServerError) as err:
            await session.configure(replace(CONFIG, voice="verse"))
        assert err.value.code == "cannot_update_voice"
        await session.add_user_text("still there?")
        done = await (await session.create_response()).wait_done()
        assert done.status == "completed"
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("truncation", "wire"),
    [
        ("auto", "auto"),
        ("disabled", "disabled"),
        (ev.RetentionRatio(0.8), {"type": "retention_ratio", "retention_ratio": 0.8}),
        (
            ev.RetentionRatio(0.5, post_instructions_tokens=8000),
            {
                "type": "retention_ratio",
                "retention_ratio": 0.5,
                "token_limits": {"post_instructions": 8000},
            },
        ),
    ],
)
def test_truncation_is_sent_in_ga_only(
    truncation: ev.Truncation, wire: str | dict[str, Any]
) -> None:
    """GA sessions carry the context truncation setting; beta has no such field."""
    config = ev.SessionConfig(truncation=truncation)
    assert ev.session_update(config, "ga")["session"]["truncation"] == wire
    assert "truncation" not in ev.session_update(config, "beta")["session"]
    assert "truncation" not in ev.session_update(ev.SessionConfig(), "ga")["session"]


async def test_truncation_reaches_the_server(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """The emulator (validating like the GA server) accepts and reports it."""
    config = replace(CONFIG, truncation=ev.RetentionRatio(0.75))
    session = await RealtimeSession.connect(http, _endpoint(emu), config, timeout=5)
    try:
        assert session.server_session["truncation"] == {
            "type": "retention_ratio",
            "retention_ratio": 0.75,
        }
        await session.configure(replace(CONFIG, truncation="disabled"))
        assert session.server_session["truncation"] == "disabled"
    finally:
        await session.close()
