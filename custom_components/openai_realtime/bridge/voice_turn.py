"""One spoken turn, as one state machine: its states, and the only code that moves it.

A voice turn is one run of HA's Assist pipeline on a conversation. Our STT entity
starts it, our agent answers it, our TTS entity speaks it:

    LISTENING ─commit─▶ COMMITTED ─transcript─▶ HEARD ─agent claims─▶ ANSWERING ─▶ DONE
        │                   │                     │                       │
        └───────────────────┴──────────┬──────────┘                       │
                                       ▼                                  ▼
       ABANDONED: no speech, HA answered it, nobody claimed it        FAILED

Every failure ends in FAILED, from any state that is not over, with the words the
user hears. The conversation that owns the turn starts it and closes it; the STT,
agent and TTS stages call its transitions and read its state, nothing else changes
it. The model's audio of the answer goes into `audio`, which the TTS stage streams.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
import logging
import time
from typing import TYPE_CHECKING

from ..realtime import audio as pcm
from ..realtime.errors import RealtimeError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ..realtime.session import RealtimeSession, ResponseStream

_LOGGER = logging.getLogger(__name__)

# The turn of the pipeline run this code runs in. HA runs STT, the agent and TTS of
# one run in one task (TTS in tasks it starts there), so the turn our STT entity
# started is what the agent and the TTS entity of the same run see.
current_voice_turn: ContextVar[VoiceTurn | None] = ContextVar(
    "openai_realtime_voice_turn", default=None
)

# The pipeline calls the agent right after STT returns, or after HA's own intent
# matching ("prefer handling commands locally"), which takes seconds on a slow
# machine with many entities. If no agent has claimed the turn by then, its eager
# answer is cancelled (not billed further); the turn stays claimable, and an agent
# that comes later answers with a new response.
CLAIM_WINDOW = 5.0
# A cancelled response ends within a round trip; an abandoned answer's items are
# deleted once it has (the next turn of the conversation waits for that).
WITHDRAW_TIMEOUT = 5.0


class TurnState(StrEnum):
    """Where a voice turn is."""

    LISTENING = "listening"  # the user's audio streams into the session
    COMMITTED = "committed"  # audio committed (answer may be under way), no transcript
    HEARD = "heard"  # transcript known, waiting for our agent
    ANSWERING = "answering"  # our agent streams the answer into `audio`
    DONE = "done"  # the answer is complete
    ABANDONED = "abandoned"  # nothing to answer, or answered without us
    FAILED = "failed"  # broke; `failure` says what the user hears


_NEXT: dict[TurnState, frozenset[TurnState]] = {
    TurnState.LISTENING: frozenset({TurnState.COMMITTED}),
    TurnState.COMMITTED: frozenset({TurnState.HEARD}),
    TurnState.HEARD: frozenset({TurnState.ANSWERING}),
    TurnState.ANSWERING: frozenset({TurnState.DONE}),
}
_OVER = frozenset({TurnState.DONE, TurnState.ABANDONED, TurnState.FAILED})
_ABANDONABLE = frozenset({TurnState.LISTENING, TurnState.COMMITTED, TurnState.HEARD})


class TurnStateError(RuntimeError):
    """A transition the state machine does not allow (a bug, never user input)."""


@dataclass(frozen=True, slots=True)
class TurnFailure:
    """What went wrong, in the words the user hears.

    `reachable`: the model's session still works, so it can say `speech` in the
    configured voice. When it can't, the TTS stream ends with an error and the
    satellite plays its own error sound instead of a silent "success".
    """

    speech: str
    reachable: bool = True


class AudioBuffer:
    """The model's audio of one answer: written as it arrives, read by TTS.

    It also keeps which assistant item each part belongs to (an answer may have a
    spoken preamble item before a tool call, then the answer's item), so that a
    barge-in can cut each item where the user stopped hearing it.
    """

    def __init__(self) -> None:
        """Start empty and open."""
        self.chunks: list[bytes] = []
        self.items: list[tuple[str, int]] = []  # (item id, bytes), in order
        self.finished = False
        self._changed = asyncio.Event()

    @property
    def size(self) -> int:
        """Bytes received so far."""
        return sum(len(chunk) for chunk in self.chunks)

    def append(self, chunk: bytes, item_id: str = "") -> None:
        """Add audio (session-rate PCM16) of the assistant item `item_id`."""
        if chunk and not self.finished:
            self.chunks.append(chunk)
            if self.items and self.items[-1][0] == item_id:
                self.items[-1] = (item_id, self.items[-1][1] + len(chunk))
            else:
                self.items.append((item_id, len(chunk)))
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
    """One spoken turn on a conversation's realtime session."""

    def __init__(
        self, conversation_id: str, session: RealtimeSession, *, reused: bool
    ) -> None:
        """A turn that listens on `session` (`reused`: it was already warm)."""
        self.conversation_id = conversation_id
        self.session = session
        self.reused = reused
        self.state = TurnState.LISTENING
        self.item_id: str | None = None
        self.transcript: str | None = None
        self.response: ResponseStream | None = None  # the eager answer, if asked
        self.responses: list[ResponseStream] = []  # every response of the answer
        self.eager = False  # the answer was asked for at the commit
        self.ended_why: str | None = None  # why it was abandoned or failed
        self.failure: TurnFailure | None = None
        self.audio = AudioBuffer()
        self.delivered = 0  # bytes of the answer handed to HA's TTS
        self.playback_started_at: float | None = None
        self.started_at = time.monotonic()
        self.speech_ended_at: float | None = None
        self.audio_ms = 0
        self._claim_timer: asyncio.TimerHandle | None = None
        self._cancels: list[asyncio.Task[None]] = []  # close() waits for them

    # --- questions ------------------------------------------------------------------

    @property
    def over(self) -> bool:
        """Whether the turn reached an end state."""
        return self.state in _OVER

    @property
    def awaiting_agent(self) -> bool:
        """Heard (or being heard) and not yet claimed: our agent may still come."""
        return self.state in _ABANDONABLE

    def answers(self, conversation_id: str, text: str) -> bool:
        """Whether an agent call for this conversation and text is this turn's.

        The text guards against another call made inside the same pipeline run (an
        automation's conversation.process started by a sentence trigger).
        """
        return (
            self.state is TurnState.HEARD
            and self.conversation_id == conversation_id
            and self.transcript is not None
            and _norm(self.transcript) == _norm(text)
        )

    def heard_bytes(self, now: float) -> int:
        """How much of the answer the user can have heard by `now`.

        What was handed to HA, bounded by the time since it started playing: HA
        takes the audio as fast as it comes, the satellite plays it at 1x.
        """
        if self.playback_started_at is None:
            return 0
        played = int((now - self.playback_started_at) * pcm.SESSION_RATE) * 2
        return max(0, min(self.delivered, played))

    def unheard_items(self, now: float) -> list[tuple[str, int]]:
        """(item id, audio_end_ms) for each answer item not heard to its end."""
        heard = self.heard_bytes(now)
        cuts: list[tuple[str, int]] = []
        start = 0
        for item_id, size in self.audio.items:
            if item_id and heard < start + size:
                cuts.append((item_id, int(pcm.duration_ms(max(0, heard - start)))))
            start += size
        return cuts

    # --- transitions ----------------------------------------------------------------

    def _move(self, to: TurnState) -> None:
        if to not in _NEXT.get(self.state, frozenset()):
            raise TurnStateError(f"Voice turn cannot go from {self.state} to {to}")
        self.state = to

    def _track(self, response: ResponseStream | None) -> None:
        if response is not None and response not in self.responses:
            self.responses.append(response)

    def committed(self, response: ResponseStream | None, audio_ms: int) -> None:
        """The user's audio is committed; `response` is the eager answer, if asked."""
        self._move(TurnState.COMMITTED)
        self.speech_ended_at = time.monotonic()
        self.response = response
        self.eager = response is not None
        self._track(response)
        self.audio_ms = audio_ms

    def no_speech(self, audio_ms: int) -> None:
        """`audio_ms` of audio held no speech: nothing to answer."""
        self.audio_ms = audio_ms
        self.abandon("no speech")

    def heard(self, item_id: str, transcript: str) -> None:
        """The transcript arrived: wait (a bounded time) for our agent to claim it."""
        self._move(TurnState.HEARD)
        self.item_id, self.transcript = item_id, transcript
        loop = asyncio.get_running_loop()
        self._claim_timer = loop.call_later(CLAIM_WINDOW, self._unclaimed)

    def claim(self) -> ResponseStream | None:
        """Our agent takes the turn over; returns the eager answer, if any."""
        self._move(TurnState.ANSWERING)
        self._stop_timer()
        return self.response

    def answering(self, response: ResponseStream) -> None:
        """The agent streams this response (after tool calls, a new one each round)."""
        if self.state is not TurnState.ANSWERING:
            raise TurnStateError(f"Not answering: {self.state}")
        self.response = response
        self._track(response)

    def handed_over(self, num_bytes: int) -> None:
        """Our TTS stage gave HA `num_bytes` more of the answer's audio."""
        if self.playback_started_at is None:
            self.playback_started_at = time.monotonic()
        self.delivered += num_bytes

    def done(self) -> None:
        """The answer is complete."""
        self._move(TurnState.DONE)
        self.audio.finish()
        self._log_end()

    def fail(self, failure: TurnFailure) -> None:
        """The turn broke: the user hears `failure.speech` after any audio so far."""
        if self.over:
            return
        self.ended_why = f"failed while {self.state}: {failure.speech}"
        self.state = TurnState.FAILED
        self.failure = failure
        self._end()

    def abandon(self, why: str) -> None:
        """Nothing to answer, or HA answered without us: stop paying for the answer."""
        if self.state not in _ABANDONABLE:
            return
        self.ended_why = f"abandoned while {self.state}: {why}"
        self.state = TurnState.ABANDONED
        self._end()

    def _log_end(self) -> None:
        """One debug line per turn, when it ends: what a satellite problem needs.

        Session reused or opened, eager or not, seconds of speech, commit to the
        first audio delta on the wire, and the response ids to find on the server.
        """
        if not _LOGGER.isEnabledFor(logging.DEBUG):
            return
        first_audio = min(
            (r.first_audio_at for r in self.responses if r.first_audio_at is not None),
            default=None,
        )
        if first_audio is not None and self.speech_ended_at is not None:
            latency = f"{(first_audio - self.speech_ended_at) * 1000:.0f} ms"
        else:
            latency = "none"
        _LOGGER.debug(
            "Voice turn of conversation %s %s: session %s, %s, %.2f s of audio, "
            "commit -> first audio delta %s, responses %s",
            self.conversation_id,
            self.ended_why or self.state,
            "reused" if self.reused else "opened",
            "eager" if self.eager else "not eager",
            self.audio_ms / 1000,
            latency,
            ", ".join(r.response_id or "(not started)" for r in self.responses)
            or "none",
        )

    def _end(self) -> None:
        self._stop_timer()
        self.audio.finish()
        self._log_end()
        response = self.response
        if response is None or self.session.closed:
            return
        withdraw = self.state is TurnState.ABANDONED
        if withdraw or not response.finished:
            self._start_cancel(response, withdraw=withdraw)

    def _start_cancel(self, response: ResponseStream, *, withdraw: bool) -> None:
        self._cancels.append(
            asyncio.get_running_loop().create_task(
                self._cancel(response, withdraw=withdraw),
                name="openai_realtime cancel voice answer",
            )
        )

    async def _cancel(self, response: ResponseStream, *, withdraw: bool) -> None:
        """Stop the answer. An abandoned turn's answer was never heard: what it
        put into the conversation leaves it, so the model does not believe it
        said it (HA's own answer follows from the ChatLog)."""
        try:
            if not response.finished:
                await self.session.cancel_response(response)
            if not withdraw:
                return
            async with asyncio.timeout(WITHDRAW_TIMEOUT):
                done = await response.wait_done()
            for item in done.output:
                if item_id := str(item.get("id") or ""):
                    await self.session.delete_item(item_id)
        except (RealtimeError, TimeoutError) as err:
            _LOGGER.debug("Cancelling the voice turn's response failed: %s", err)

    def _unclaimed(self) -> None:
        self._claim_timer = None
        response, self.response = self.response, None
        if response is None or self.session.closed:
            return
        _LOGGER.debug(
            "No agent claimed the voice turn of conversation %s within %.0f s: "
            "its eager answer is withdrawn",
            self.conversation_id,
            CLAIM_WINDOW,
        )
        self._start_cancel(response, withdraw=True)

    def _stop_timer(self) -> None:
        if self._claim_timer is not None:
            self._claim_timer.cancel()
            self._claim_timer = None

    async def close(self) -> None:
        """End the turn (the conversation closes) and wait for its cancel, if any."""
        if not self.over:
            self.fail(TurnFailure("The conversation was closed.", reachable=False))
        await self.settle()

    async def settle(self) -> None:
        """Until the answers this turn cancelled are over: the server takes a new
        response only when none is active."""
        for cancel in list(self._cancels):
            await cancel


def _norm(text: str) -> str:
    return " ".join(
        "".join(c for c in text.lower() if c.isalnum() or c.isspace()).split()
    )
