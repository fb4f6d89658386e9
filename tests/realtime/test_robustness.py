"""Whatever the server sends, no caller hangs and the session's reader survives.

Each test plays a realistic server script (script_server.py) with one thing broken
the way real servers, proxies or bugs break it, over a real loopback websocket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import gc
import json
import logging
from typing import Any

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import events as ev
from custom_components.openai_realtime.realtime.connection import (
    MAX_MESSAGE_SIZE,
    RealtimeConnection,
)
from custom_components.openai_realtime.realtime.endpoint import Dialect
from custom_components.openai_realtime.realtime.errors import (
    ConnectionLostError,
    RateLimitedError,
    ResponseTimeoutError,
    ServerError,
    TranscriptionFailedError,
)
from custom_components.openai_realtime.realtime.session import RealtimeSession

from .script_server import (
    CALL_ARGUMENTS,
    CALL_NAME,
    TRANSCRIPT,
    Abort,
    Frame,
    Json,
    Raw,
    Script,
    ScriptServer,
)

DIALECTS = ["ga", "beta"]
CONFIG = ev.SessionConfig(instructions="Be brief.", voice="alloy")
QUICK = 2.0  # seconds: far more than any of these exchanges needs on loopback

Edit = Callable[[Script, Json, list[Frame]], list[Frame]]


class _Edited(Script):
    """The realistic script, with each reply passed through a test's edit."""

    def __init__(self, dialect: Dialect, edit: Edit) -> None:
        super().__init__(dialect)
        self._edit = edit

    def reply(self, event: Json) -> list[Frame]:
        return self._edit(self, event, super().reply(event))


@pytest.fixture
async def server() -> AsyncIterator[ScriptServer]:
    """A scripted server; tests choose the edits."""
    srv = ScriptServer()
    await srv.start()
    yield srv
    await srv.stop()


def _serve(server: ScriptServer, edit: Edit) -> None:
    server.factory = lambda _model, dialect: _Edited(dialect, edit)


async def _connect(
    http: aiohttp.ClientSession, server: ScriptServer, dialect: Dialect = "ga"
) -> RealtimeSession:
    return await RealtimeSession.connect(
        http, server.endpoint(dialect=dialect), CONFIG, timeout=QUICK
    )


def _types(frames: list[Frame]) -> list[str]:
    return [f["type"] if isinstance(f, dict) else "" for f in frames]


def _without(frames: list[Frame], *types: str) -> list[Frame]:
    return [f for f in frames if not (isinstance(f, dict) and f["type"] in types)]


def _on(kind: str, edit: Edit) -> Edit:
    """Apply `edit` to the replies to `kind` only."""
    return lambda s, e, frames: edit(s, e, frames) if e["type"] == kind else frames


def _reader_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if "reader failed" in r.getMessage()
        or "never retrieved" in r.getMessage()
        or "handling failed" in r.getMessage()
    ]


# --- 1. response.done without response.created -------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_done_without_created_ends_the_stream(
    http: aiohttp.ClientSession, server: ScriptServer, dialect: Dialect
) -> None:
    """The server may end a response it never announced (seen during interruption):
    the stream is matched by the metadata tag and ends; calls come from the output."""
    _serve(
        server, _on("response.create", lambda s, e, f: _without(f, "response.created"))
    )
    session = await _connect(http, server, dialect)
    try:
        await session.add_user_text("kitchen light")
        stream = await session.create_response()
        async with asyncio.timeout(QUICK):
            done = await stream.wait_done()
        assert done.status == "completed"
        assert stream.response_id == done.response_id
        assert [(c.name, c.arguments) for c in stream.function_calls] == [
            (CALL_NAME, CALL_ARGUMENTS)
        ]
        assert session.active_response is None
        assert session.server_responses.empty()
    finally:
        await session.close()


# --- 2. duplicate response.created -------------------------------------------------


def _duplicate_created(then: list[Frame] | None = None) -> Edit:
    def edit(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
        created = frames[0]
        assert isinstance(created, dict)
        again = dict(created, event_id=s.new_id("event_"))
        other = dict(again, response=dict(created["response"], id=s.new_id("resp_")))
        rest = frames[1:] if then is None else frames[1:6] + then
        return [created, again, other, *rest]

    return _on("response.create", edit)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_duplicate_created_keeps_the_callers_stream(
    http: aiohttp.ClientSession, server: ScriptServer, dialect: Dialect
) -> None:
    """A repeated `response.created` (same id, or another id with our tag) does not
    take the caller's stream out of the routing tables."""
    _serve(server, _duplicate_created())
    session = await _connect(http, server, dialect)
    try:
        await session.add_user_text("kitchen light")
        stream = await session.create_response()
        async with asyncio.timeout(QUICK):
            done = await stream.wait_done()
        assert done.status == "completed"
        assert stream.text == "Turning on the kitchen light."
        assert len(stream.function_calls) == 1
        assert session.server_responses.empty()  # no phantom server response
        assert session.active_response is None
    finally:
        await session.close()


async def test_duplicate_created_then_connection_lost_fails_the_stream(
    http: aiohttp.ClientSession, server: ScriptServer
) -> None:
    """After a duplicate, losing the connection still reaches the caller's stream."""
    _serve(server, _duplicate_created(then=[Abort()]))
    session = await _connect(http, server)
    try:
        await session.add_user_text("kitchen light")
        stream = await session.create_response()
        with pytest.raises(ConnectionLostError):
            async with asyncio.timeout(QUICK):
                await stream.wait_done()
    finally:
        await session.close()


# --- 3. rate limits without event_id -------------------------------------------------


@pytest.mark.parametrize("code", ["rate_limit_exceeded", "insufficient_quota"])
async def test_rate_limit_error_fails_pending_and_active_responses(
    http: aiohttp.ClientSession, server: ScriptServer, code: str
) -> None:
    """A rate-limit `error` that names no client event fails the response that is
    waiting to start and the one under way, at once and with the typed error."""

    def edit(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
        if s.responses == 1:  # refused before it started
            return [s.error(code, None, "Rate limit reached", "rate_limit_error")]
        return [*frames[:4], s.error(code, None, "Rate limit reached")]  # mid-response

    _serve(server, _on("response.create", edit))
    session = await _connect(http, server)
    try:
        await session.add_user_text("hello")
        for _ in range(2):
            stream = await session.create_response()
            with pytest.raises(RateLimitedError):
                async with asyncio.timeout(QUICK):
                    await stream.wait_done()
        assert session.active_response is None
        assert not session.closed
    finally:
        await session.close()


# --- 4. conversation_already_has_active_response -----------------------------------

_ACTIVE = (
    "Conversation already has an active response in progress: resp_ghost. "
    "Wait until the response is finished before creating a new one."
)


def _busy_once(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
    """The first response.create meets a response still running on the server."""
    if e["type"] == "response.create" and not hasattr(s, "ghost"):
        s.responses = 0
        s.ghost = "running"  # type: ignore[attr-defined]
        return [
            s.error("conversation_already_has_active_response", e["event_id"], _ACTIVE)
        ]
    if e["type"] == "response.cancel" and getattr(s, "ghost", "") == "running":
        s.ghost = "cancelled"  # type: ignore[attr-defined]
        done = s.response("resp_ghost", None, "cancelled")
        done["status_details"] = {"type": "cancelled", "reason": "client_cancelled"}
        return [s.event("response.done", response=done)]
    return frames


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_create_response_can_cancel_the_active_response_and_retry(
    http: aiohttp.ClientSession, server: ScriptServer, dialect: Dialect
) -> None:
    """`cancel_active=True`: on `conversation_already_has_active_response` the
    session cancels the server's active response and asks once more."""
    _serve(server, _busy_once)
    session = await _connect(http, server, dialect)
    try:
        await session.add_user_text("kitchen light")
        stream = await session.create_response(cancel_active=True)
        async with asyncio.timeout(QUICK):
            done = await stream.wait_done()
        assert done.status == "completed"
        script = server.scripts["gpt-realtime"]
        sent = [e["type"] for e in script.received]
        assert sent[-3:] == ["response.create", "response.cancel", "response.create"]
        creates = [e for e in script.received if e["type"] == "response.create"]
        assert creates[0]["response"]["metadata"] == creates[1]["response"]["metadata"]
        assert creates[0]["event_id"] != creates[1]["event_id"]
    finally:
        await session.close()


async def test_active_response_error_without_retry_is_raised(
    http: aiohttp.ClientSession, server: ScriptServer
) -> None:
    """By default the error reaches the caller, as before."""
    _serve(server, _busy_once)
    session = await _connect(http, server)
    try:
        stream = await session.create_response()
        with pytest.raises(ServerError) as err:
            async with asyncio.timeout(QUICK):
                await stream.wait_done()
        assert err.value.code == "conversation_already_has_active_response"
    finally:
        await session.close()


async def test_cancelling_a_failed_response_reaches_the_server(
    http: aiohttp.ClientSession, server: ScriptServer
) -> None:
    """A response failed by an `error` mid-way may still run on the server: a
    cancel for it is sent (the bridge cancels when a turn fails)."""

    def edit(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
        return [*frames[:4], s.error("server_error", None, "Oops", "server_error")]

    _serve(server, _on("response.create", edit))
    session = await _connect(http, server)
    try:
        stream = await session.create_response()
        with pytest.raises(ServerError):
            async with asyncio.timeout(QUICK):
                await stream.wait_done()
        await session.cancel_response(stream)
        await asyncio.sleep(0.05)
        cancel = server.scripts["gpt-realtime"].received[-1]
        assert cancel["type"] == "response.cancel"
        assert cancel["response_id"] == stream.response_id
    finally:
        await session.close()


# --- 5. mistyped fields --------------------------------------------------------------


def _deep(depth: int = 10_000) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "rate_limits.updated", "rate_limits": 5}',
        '{"type": "rate_limits.updated", "rate_limits": {"name": "tokens"}}',
        (
            '{"type": "response.output_audio.delta", "response_id": "r",'
            ' "item_id": "i", "delta": "\u00df\u00e4AA"}'
        ),
        (
            '{"type": "response.audio.delta", "response_id": "r", "item_id": "i",'
            ' "delta": "AAA\u20ac"}'
        ),
        (
            '{"type": "response.function_call_arguments.done", "response_id": "r",'
            f' "item_id": "i", "call_id": "c", "arguments": {_deep()}}}'
        ),
        f'{{"type": "response.done", "response": {_deep()}}}',
        _deep(),
    ],
    ids=[
        "rate-limits-int",
        "rate-limits-dict",
        "audio-non-ascii",
        "beta-audio-non-ascii",
        "deep-arguments",
        "deep-response",
        "deep-frame",
    ],
)
def test_parser_skips_mistyped_events(
    raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Well-formed JSON with mistyped fields, or nested beyond the parser's reach,
    is skipped with a warning, never raised."""
    with caplog.at_level(logging.WARNING):
        assert ev.parse_server_event(raw) is None
    assert caplog.records and caplog.records[-1].levelno == logging.WARNING


def _mistyped_then_normal(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
    """Mistyped fields the session (not the parser) used to trip over."""
    if e["type"] == "input_audio_buffer.commit":
        item_id = frames[0]["item_id"]  # type: ignore[index]
        completed = frames[-1]
        failed = s.event(
            "conversation.item.input_audio_transcription.failed",
            item_id=item_id,
            content_index=0,
            error={"type": "transcription_error", "code": "audio_unintelligible"},
        )
        # completed twice, then failed: the first word stands
        return [*frames, completed, failed]
    if e["type"] == "conversation.item.create":
        # failed for an item nobody waits for, then completed after failed
        other = s.new_id("item_")
        return [
            *frames,
            s.event(
                "conversation.item.input_audio_transcription.failed",
                item_id=other,
                content_index=0,
                error={"message": "no"},
            ),
            s.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=other,
                content_index=0,
                transcript="late",
            ),
        ]
    if e["type"] == "response.create" and s.responses == 1:
        broken: list[Frame] = []
        for original in frames:
            frame = original
            if isinstance(frame, dict) and frame["type"] == "response.output_item.done":
                item = frame["item"]
                if item["type"] == "message":  # content not a list
                    frame = dict(frame, item=dict(item, content=5))
            broken.append(frame)
            if isinstance(frame, dict) and frame["type"] == "rate_limits.updated":
                broken.append(dict(frame, rate_limits=7))
                broken.append(
                    dict(frame, type="response.output_item.done", item=[1, 2])
                )
                broken.append(
                    Raw('{"type": "response.output_audio.delta", "delta": 5}')
                )
        return broken
    return frames


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_reader_survives_mistyped_events(
    http: aiohttp.ClientSession,
    server: ScriptServer,
    dialect: Dialect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mistyped content, repeated or contradictory transcription events: skipped;
    the first transcription outcome stands and the session carries on."""
    _serve(server, _mistyped_then_normal)
    session = await _connect(http, server, dialect)
    try:
        await session.append_audio(b"\x01\x00" * 2400)
        item_id = await session.commit(timeout=QUICK)
        assert await session.wait_transcript(item_id, timeout=QUICK) == TRANSCRIPT
        await session.add_user_text("hello")
        stream = await session.create_response()
        async with asyncio.timeout(QUICK):
            await stream.wait_done()
        assert len(stream.function_calls) == 1
        follow = await session.create_response(modalities=("text",))
        async with asyncio.timeout(QUICK):
            await follow.wait_done()
        assert not session.closed
        assert session.error is None
    finally:
        await session.close()
    del session
    gc.collect()
    assert not _reader_failures(caplog)


async def test_failed_transcription_nobody_awaits_is_not_logged(
    http: aiohttp.ClientSession, server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A `.failed` transcription nobody asks for leaves no "exception was never
    retrieved" behind; one asked for still raises."""

    def edit(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
        return [
            f
            if not (
                isinstance(f, dict) and f["type"].endswith("transcription.completed")
            )
            else s.event(
                "conversation.item.input_audio_transcription.failed",
                item_id=f["item_id"],
                content_index=0,
                error={"message": "Audio unintelligible"},
            )
            for f in frames
        ]

    _serve(server, _on("input_audio_buffer.commit", edit))
    session = await _connect(http, server)
    try:
        await session.append_audio(b"\x01\x00" * 2400)
        first = await session.commit(timeout=QUICK)
        await session.append_audio(b"\x01\x00" * 2400)
        await session.commit(timeout=QUICK)  # its failure is never asked for
        with pytest.raises(TranscriptionFailedError):
            await session.wait_transcript(first, timeout=QUICK)
    finally:
        await session.close()
    del session
    gc.collect()
    await asyncio.sleep(0)
    assert not _reader_failures(caplog)


# --- 6. frames ---------------------------------------------------------------------


async def test_frame_limit_is_a_clear_error(
    http: aiohttp.ClientSession, server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Frames up to the limit pass; a bigger one ends the session with a clear
    ConnectionLostError instead of being buffered whole."""
    assert MAX_MESSAGE_SIZE == 16 * 1024 * 1024
    size = {"instructions": 12 * 1024 * 1024}

    def edit(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
        updated = frames[0]
        assert isinstance(updated, dict)
        session = dict(updated["session"], instructions="x" * size["instructions"])
        return [dict(updated, session=session)]

    _serve(server, _on("session.update", edit))
    session = await _connect(http, server)  # 12 MiB: fine
    try:
        assert len(session.server_session["instructions"]) == 12 * 1024 * 1024
    finally:
        await session.close()
    size["instructions"] = MAX_MESSAGE_SIZE
    with pytest.raises(ConnectionLostError, match="larger than"):
        await _connect(http, server)
    assert not _reader_failures(caplog)


async def test_deeply_nested_event_is_skipped(
    http: aiohttp.ClientSession, server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON nested 10,000 deep (function-call arguments as an array) is malformed,
    not a RecursionError that kills the reader."""

    def edit(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
        deep = Raw(
            json.dumps(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": "resp_x",
                    "item_id": "item_x",
                    "call_id": "call_x",
                    "arguments": "@",
                }
            ).replace('"@"', _deep())
        )
        return [frames[0], deep, *frames[1:]]

    _serve(server, _on("response.create", edit))
    session = await _connect(http, server)
    try:
        stream = await session.create_response()
        async with asyncio.timeout(QUICK):
            assert (await stream.wait_done()).status == "completed"
        assert not session.closed
    finally:
        await session.close()
    assert not _reader_failures(caplog)
    assert any("nested too deep" in r.getMessage() for r in caplog.records)


# --- 7. aiohttp's heartbeat timer ----------------------------------------------------


def _heartbeat_timers(loop: asyncio.AbstractEventLoop) -> list[Any]:
    scheduled = getattr(loop, "_scheduled", [])
    return [
        handle
        for handle in scheduled
        if not handle.cancelled() and "heartbeat" in repr(handle)
    ]


@pytest.mark.parametrize("close_by", ["connection", "session"])
async def test_close_leaves_no_heartbeat_timer(
    http: aiohttp.ClientSession, server: ScriptServer, close_by: str
) -> None:
    """aiohttp 3.14 re-arms the heartbeat when the peer's close frame arrives after
    ours went out; closing cancels it, so no timer outlives the connection."""
    loop = asyncio.get_running_loop()
    if close_by == "connection":
        connection, _created = await RealtimeConnection.open(
            http, server.endpoint(), timeout=QUICK, heartbeat=20.0
        )
        await connection.close()
    else:
        session = await _connect(http, server)
        await session.close()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not _heartbeat_timers(loop)


# --- 8. deadlines and loss: every waiter is released ---------------------------------


async def test_silent_response_fails_after_its_idle_deadline(
    http: aiohttp.ClientSession, server: ScriptServer
) -> None:
    """A response whose end never comes fails with ResponseTimeoutError (also a
    TimeoutError) once the server was silent about it for the deadline; its late
    events change nothing and the session stays usable."""

    def edit(s: Script, e: Json, frames: list[Frame]) -> list[Frame]:
        if s.responses == 1:
            return frames[:6]  # started, then nothing more about it
        return frames

    _serve(server, _on("response.create", edit))
    session = await RealtimeSession.connect(
        http, server.endpoint(), CONFIG, timeout=QUICK, response_idle_timeout=0.3
    )
    try:
        stream = await session.create_response()
        with pytest.raises(ResponseTimeoutError) as err:
            async with asyncio.timeout(QUICK):
                await stream.wait_done()
        assert isinstance(err.value, TimeoutError)
        assert session.active_response is None
        follow = await session.create_response(modalities=("text",))
        async with asyncio.timeout(QUICK):
            assert (await follow.wait_done()).status == "completed"
    finally:
        await session.close()


async def test_requests_after_connection_loss_leave_nothing_unseen(
    http: aiohttp.ClientSession, server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    """After the connection dropped, requests raise the session's error at once;
    no future is left with an exception nobody retrieves, nothing stays routed."""
    _serve(server, _on("response.create", lambda s, e, f: [*f[:4], Abort()]))
    session = await _connect(http, server)
    try:
        stream = await session.create_response()
        with pytest.raises(ConnectionLostError):
            async with asyncio.timeout(QUICK):
                await stream.wait_done()
        with pytest.raises(ConnectionLostError):
            await session.configure(CONFIG)
        with pytest.raises(ConnectionLostError):
            await session.start_commit()
        with pytest.raises(ConnectionLostError):
            await session.wait_transcript("item_unknown", timeout=QUICK)
        state = session._state
        assert not (state.pending or state.by_event or state.streams or state.waiters)
    finally:
        await session.close()
    del session, stream, state  # the session's error holds the last traceback
    gc.collect()
    await asyncio.sleep(0)
    assert not _reader_failures(caplog)
