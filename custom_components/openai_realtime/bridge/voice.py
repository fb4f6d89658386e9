"""One spoken turn as one realtime turn: STT -> agent -> TTS of one pipeline run.

The STT entity streams the satellite's audio into the conversation's warm session,
commits at end of speech and (eager response) asks for the spoken answer at once.
It sets `current_turn`, a ContextVar: the pipeline awaits STT, the agent and TTS
inside one task, so the agent and the TTS engine see the same `VoiceTurn`. The agent
then answers from the response already under way and forwards its audio to
`VoiceTurn.audio`, which the TTS entity streams to the satellite.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
import logging
import time
from typing import TYPE_CHECKING, Any

from ..realtime import audio as pcm, events as ev
from ..realtime.errors import RealtimeError, ServerError, TranscriptionFailedError

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Callable

    from ..realtime.session import RealtimeSession, ResponseStream
    from .pool import ConversationSession

_LOGGER = logging.getLogger(__name__)

current_turn: ContextVar[VoiceTurn | None] = ContextVar(
    "openai_realtime_voice_turn", default=None
)

SEND_FRAME_MS = 100  # audio goes to the server in 100 ms events, not HA's tiny chunks
TRANSCRIPT_TIMEOUT = 15.0
# The pipeline calls the agent right after STT returns; if it has not come within
# this many seconds, HA answered the turn itself and the response is cancelled.
LINK_WINDOW = 5.0
MIN_SPEECH_MS = 100  # the API rejects commits of less audio than this
SILENCE_DBFS = -60.0  # quieter than this throughout: nobody spoke


class SpeechError(Exception):
    """The spoken turn produced no usable transcript."""


class NoSpeechError(SpeechError):
    """Nobody spoke: silence, or a transcript with no words."""


class AudioBuffer:
    """The model's audio of one turn, written by the agent and read by TTS."""

    def __init__(self) -> None:
        """Start empty and open."""
        self.chunks: list[bytes] = []
        self.finished = False
        self._changed = asyncio.Event()

    def append(self, chunk: bytes) -> None:
        """Add audio (session rate PCM16)."""
        if chunk and not self.finished:
            self.chunks.append(chunk)
            self._changed.set()

    def finish(self) -> None:
        """No more audio will come."""
        self.finished = True
        self._changed.set()

    async def iterate(self) -> AsyncIterator[bytes]:
        """Every chunk from the start, waiting for more until finished."""
        index = 0
        while True:
            while index < len(self.chunks):
                yield self.chunks[index]
                index += 1
            if self.finished:
                return
            self._changed.clear()
            await self._changed.wait()


class VoiceTurn:
    """The state one pipeline run shares between our STT, agent and TTS."""

    def __init__(self, conv: ConversationSession, session: RealtimeSession) -> None:
        """A turn on a conversation's (warm) session."""
        self.conv = conv
        self.session = session
        self.item_id: str | None = None
        self.transcript: str | None = None
        self.stream: ResponseStream | None = None  # the eager response, if asked
        self.claimed = False  # the agent answered from this turn
        self.audio = AudioBuffer()
        self.speech_ended_at: float | None = None
        self.first_audio_at: float | None = None
        self._abandon: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> bool:
        """Waiting for its agent (not claimed, not abandoned)."""
        return not self.claimed and not self.audio.finished

    def matches(self, text: str) -> bool:
        """Fallback link: same transcript, recent enough."""
        if self.transcript is None or self.speech_ended_at is None:
            return False
        fresh = time.monotonic() - self.speech_ended_at < LINK_WINDOW
        return fresh and _norm(self.transcript) == _norm(text)

    def claim(self) -> None:
        """The agent takes over the turn."""
        self.claimed = True
        self._stop_timer()

    def schedule_abandon(self) -> None:
        """Cancel the response if no agent claims this turn in time."""
        self._stop_timer()
        loop = asyncio.get_running_loop()
        self._abandon = loop.call_later(
            LINK_WINDOW, lambda: loop.create_task(self.abandon("no agent claimed it"))
        )

    def _stop_timer(self) -> None:
        if self._abandon is not None:
            self._abandon.cancel()
            self._abandon = None

    async def abandon(self, why: str) -> None:
        """Stop the response (HA answered locally, or nobody came): no more billing."""
        self._stop_timer()
        if self.claimed or self.audio.finished:
            return
        _LOGGER.debug("Cancelling the realtime response of a voice turn: %s", why)
        self.audio.finish()
        if self.conv.voice_turn is self:
            self.conv.voice_turn = None
        if self.stream is not None and not self.stream.finished:
            try:
                await self.session.cancel_response(self.stream)
            except RealtimeError as err:
                _LOGGER.debug("Cancel failed: %s", err)


def _settle(future: asyncio.Future[str]) -> None:
    """Cancel a commit nobody will await, or mark its failure as seen."""
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()


def _norm(text: str) -> str:
    return " ".join(
        "".join(c for c in text.lower() if c.isalnum() or c.isspace()).split()
    )


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
    """Resample HA's audio to the session rate and send it in 100 ms events.

    Odd-sized chunks are fine: the resampler carries partial samples over. With
    `server_turns` (turn detection on in the session) the server may end the turn
    before HA's VAD does: its commit stops the stream at once, and what was sent
    after it is cleared so it cannot leak into the next turn.
    """
    resampler = pcm.StreamResampler(rate, pcm.SESSION_RATE, channels)
    chunker = pcm.FrameChunker(pcm.bytes_for_ms(SEND_FRAME_MS))
    result = SentAudio()
    sent = 0

    async def send(frame: bytes) -> None:
        nonlocal sent
        result.peak_dbfs = max(
            result.peak_dbfs, pcm.rms_dbfs(pcm.pcm16_to_array(frame))
        )
        await session.append_audio(frame)
        sent += len(frame)

    committed = _server_commit(session) if server_turns else None
    try:
        chunks = stream if committed is None else _until(stream, committed.future)
        async for chunk in chunks:
            for frame in chunker.push(resampler.process(chunk)):
                await send(frame)
    finally:
        if committed is not None:
            committed.unsubscribe()
    if committed is not None and committed.future.done():
        result.server_item_id = committed.future.result()
        await session.clear_audio()
    else:
        for frame in chunker.push(resampler.flush()):
            await send(frame)
        if tail := chunker.flush():
            await send(tail)
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


async def async_finish_speech(turn: VoiceTurn, sent: SentAudio, eager: bool) -> str:
    """Commit the user's audio, ask for the answer (eager), return the transcript.

    Raises SpeechError, after cancelling any response, when there is no speech or it
    cannot be transcribed. Silence is never sent for a response: a false wake costs
    nothing.
    """
    session = turn.session
    turn.speech_ended_at = time.monotonic()
    if not sent.has_speech:
        await session.clear_audio()
        await turn.abandon("no speech")
        raise NoSpeechError(f"No speech in {sent.ms} ms of audio")
    if sent.server_item_id is not None:  # the server's turn detection committed
        commit: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        commit.set_result(sent.server_item_id)
    else:
        commit = await session.start_commit()
    try:
        if eager:  # right behind the commit: the model starts on this speech now
            turn.stream = await session.create_response(modalities=("audio",))
        turn.item_id = await commit
        turn.transcript = await session.wait_transcript(
            turn.item_id, timeout=TRANSCRIPT_TIMEOUT
        )
    except (TranscriptionFailedError, ServerError, TimeoutError) as err:
        await turn.abandon(f"no transcript: {err}")
        raise SpeechError(str(err)) from err
    finally:
        _settle(commit)
    if not turn.transcript.strip():
        await turn.abandon("empty transcript")
        raise NoSpeechError("The transcript is empty")
    turn.schedule_abandon()
    return turn.transcript
