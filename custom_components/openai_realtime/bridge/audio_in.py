"""The STT stage's audio: HA's chunks into the session, then commit and transcript.

HA hands the STT entity small chunks (20-30 ms) at the satellite's rate. They are
gathered into 100 ms blocks first and each block is resampled once to the
session's 24 kHz and sent as one event: fewer, larger numpy calls and events.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..realtime import audio as pcm, events as ev

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Callable

    from ..realtime.session import RealtimeSession

SEND_FRAME_MS = 100  # audio goes to the server in 100 ms events
MIN_SPEECH_MS = 100  # the API rejects commits of less audio than this
SILENCE_DBFS = -60.0  # quieter than this throughout: nobody spoke


@dataclass(slots=True)
class SentAudio:
    """What the STT stage sent: duration, the loudest 100 ms frame, and the user
    item when the server's turn detection committed the audio itself."""

    ms: int = 0
    peak_dbfs: float = -120.0
    server_item_id: str | None = None

    @property
    def has_speech(self) -> bool:
        """Enough audio, loud enough to be worth a commit (and a response)."""
        if self.server_item_id is not None:
            return True  # the server's VAD heard speech and ended it
        return self.ms >= MIN_SPEECH_MS and self.peak_dbfs > SILENCE_DBFS


async def async_stream_audio(
    session: RealtimeSession,
    stream: AsyncIterable[bytes],
    rate: int,
    channels: int,
    *,
    server_turns: bool = False,
) -> SentAudio:
    """Send HA's audio to the session in 100 ms events at the session rate.

    Odd-sized chunks are fine: the chunker and resampler carry partial samples
    over. With `server_turns` (turn detection on in the session) the server may
    end the turn before HA's VAD does: its commit stops the stream at once, and
    what was sent after it is cleared so it cannot leak into the next turn.
    """
    blocks = pcm.FrameChunker(pcm.bytes_for_ms(SEND_FRAME_MS, rate, channels))
    resampler = pcm.StreamResampler(rate, pcm.SESSION_RATE, channels)
    result = SentAudio()
    sent = 0

    async def send(block: bytes) -> None:
        nonlocal sent
        frame = resampler.process(block)
        if not frame:
            return
        loudness = pcm.rms_dbfs(pcm.pcm16_to_array(frame))
        result.peak_dbfs = max(result.peak_dbfs, loudness)
        await session.append_audio(frame)
        sent += len(frame)

    committed = _server_commit(session) if server_turns else None
    try:
        chunks = stream if committed is None else _until(stream, committed.future)
        async for chunk in chunks:
            for block in blocks.push(chunk):
                await send(block)
    finally:
        if committed is not None:
            committed.unsubscribe()
    if committed is not None and committed.future.done():
        result.server_item_id = committed.future.result()
        await session.clear_audio()
    else:
        if tail := blocks.flush():
            await send(tail)
        if rest := resampler.flush():
            await session.append_audio(rest)
            sent += len(rest)
    result.ms = int(pcm.duration_ms(sent))
    return result


@dataclass(slots=True)
class _ServerCommit:
    future: asyncio.Future[str]
    unsubscribe: Callable[[], None]


def _server_commit(session: RealtimeSession) -> _ServerCommit:
    """A future for the first user item the server commits on its own (VAD)."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_event(event: ev.ServerEvent) -> None:
        if isinstance(event, ev.AudioCommitted) and not future.done():
            future.set_result(event.item_id)

    return _ServerCommit(future, session.add_listener(on_event))


async def _until(
    stream: AsyncIterable[bytes], stop: asyncio.Future[str]
) -> AsyncIterator[bytes]:
    """The stream's chunks until `stop` resolves, without waiting for another chunk.

    Ending early is part of HA's STT contract: the pipeline stops feeding audio
    once the STT entity returns.
    """
    chunks = aiter(stream)
    while not stop.done():
        next_chunk = asyncio.ensure_future(anext(chunks))
        either: set[asyncio.Future[Any]] = {next_chunk, stop}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not next_chunk.done():
            next_chunk.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await next_chunk
            return
        try:
            chunk = next_chunk.result()
        except StopAsyncIteration:
            return
        yield chunk
