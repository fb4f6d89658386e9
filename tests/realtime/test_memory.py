"""A long conversation on one session keeps every client-side structure bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sized
import dataclasses
import gc
from pathlib import Path
import tracemalloc
from typing import Any

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import events as ev, session as rs
from custom_components.openai_realtime.realtime.endpoint import Dialect
from custom_components.openai_realtime.realtime.session import RealtimeSession

from .script_server import TRANSCRIPT, Frame, Json, Script, ScriptServer

TURNS = 500
HISTORY = 40
CONFIG = ev.SessionConfig(instructions="Be brief.", voice="alloy")
AUDIO = b"\x01\x00" * 2400
LIBRARY = str(Path(rs.__file__).parent)


class _LongScript(Script):
    """Each turn: the answer calls a tool, the follow-up speaks. Around them, what
    a long session also sees: transcripts nobody asks for (completed, failed),
    responses the server starts itself, repeated items."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.turn_started = False

    def on_input_audio_buffer_commit(self, event: Json) -> list[Frame]:
        frames = super().on_input_audio_buffer_commit(event)
        stray, failed = self.new_id("item_"), self.new_id("item_")
        return [
            *frames,
            self.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=stray,
                content_index=0,
                transcript="nobody asked",
            ),
            self.event(
                "conversation.item.input_audio_transcription.failed",
                item_id=failed,
                content_index=0,
                error={"message": "unintelligible"},
            ),
        ]

    def on_response_create(self, event: Json) -> list[Frame]:
        self.turn_started = not self.turn_started
        self.responses = 0 if self.turn_started else 1  # a call, then an answer
        frames = super().on_response_create(event)
        repeated = [
            f
            for f in frames
            if isinstance(f, dict) and f["type"] == "response.output_item.done"
        ]
        server_id = self.new_id("resp_")  # turn detection answering on its own
        return [
            *frames,
            *repeated,
            self.event("response.created", response=self.response(server_id, None)),
            self.event(
                "response.done", response=self.response(server_id, None, "completed")
            ),
        ]


@pytest.fixture
async def server() -> AsyncIterator[ScriptServer]:
    """The long-conversation script."""
    srv = ScriptServer(lambda _model, dialect: _LongScript(dialect))
    await srv.start()
    yield srv
    await srv.stop()


def _containers(session: RealtimeSession) -> dict[str, int]:
    """The size of every container the session (and its routing state) holds."""
    found: dict[str, int] = {}
    owners: list[tuple[str, Any]] = [("session", session)]
    state = getattr(session, "_state", None)
    if dataclasses.is_dataclass(state):
        owners.append(("state", state))
    for prefix, owner in owners:
        names = (
            [f.name for f in dataclasses.fields(owner)]
            if dataclasses.is_dataclass(owner)
            else list(vars(owner))
        )
        for name in names:
            value = getattr(owner, name)
            if isinstance(value, asyncio.Queue):
                found[f"{prefix}.{name}"] = value.qsize()
            elif isinstance(value, Sized) and not isinstance(value, str | bytes):
                found[f"{prefix}.{name}"] = len(value)
    return found


def _library_memory() -> int:
    """Bytes still allocated by the library's own code."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, f"{LIBRARY}/*")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def _turn(session: RealtimeSession) -> None:
    await session.append_audio(AUDIO)
    commit = await session.start_commit(timeout=5)
    stream = await session.create_response()
    item_id = await commit
    assert await session.wait_transcript(item_id, timeout=5) == TRANSCRIPT
    await stream.wait_done()
    assert len(stream.function_calls) == 1  # once, though the item came twice
    for call in stream.function_calls:
        await session.send_function_result(call.call_id, '{"success": true}')
    follow = await session.create_response(modalities=("text",))
    await follow.wait_done()


async def test_500_turns_stay_bounded(
    server: ScriptServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """History keeps its window, transcripts and server responses their caps, and
    nothing else grows: sizes and the library's traced memory after 100 and 500
    turns are the same."""
    async with aiohttp.ClientSession() as http:
        session = await RealtimeSession.connect(
            http, server.endpoint(), CONFIG, timeout=5, history_limit=HISTORY
        )
        tracemalloc.start()
        try:
            for turn in range(1, TURNS + 1):
                await _turn(session)
                if turn == 100:
                    gc.collect()
                    at_100, memory_100 = _containers(session), _library_memory()
            gc.collect()
            at_500, memory_500 = _containers(session), _library_memory()
        finally:
            tracemalloc.stop()
            await session.close()
    with capsys.disabled():
        print(
            f"\nmemory: after 100 turns {at_100}, {memory_100} B traced; "
            f"after {TURNS} turns {at_500}, {memory_500} B traced"
        )
    assert at_500 == at_100
    assert at_500["session.history"] == HISTORY
    assert at_500["state.transcripts"] <= rs.TRANSCRIPT_LIMIT
    assert at_500["session.server_responses"] <= rs.SERVER_RESPONSE_LIMIT
    assert memory_500 - memory_100 < 16 * 1024
