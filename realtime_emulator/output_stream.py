"""A response's state, and the events of its output items as they stream.

A message streams as `response.output_item.added` → (conversation item added) →
`response.content_part.added` → text deltas, or audio deltas interleaved with
transcript deltas at the audio's pace → the `.done` events → `output_item.done`.
A function call streams its arguments in 16-character deltas. Cancelling stops the
deltas; the `.done` events still follow with what was produced.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import math
import time
from typing import TYPE_CHECKING, Literal

import numpy as np

from custom_components.openai_realtime.realtime import audio as pcm

from . import speech
from .conversation import Conversation, audio_digest
from .errors import Json
from .ids import new_id
from .items import part_type, wire_item
from .usage import TOKENS_PER_SECOND_OUT, text_tokens

if TYPE_CHECKING:
    from .options import EmulatorOptions
    from .session_config import Dialect, SessionView

Send = Callable[[Json], Awaitable[None]]
# (response id, item id, 24 kHz PCM16): where a WebRTC call's voice goes.
AudioOut = Callable[[str, str, bytes], None]

_NAMES = {
    "ga": {
        "audio_delta": "response.output_audio.delta",
        "audio_done": "response.output_audio.done",
        "transcript_delta": "response.output_audio_transcript.delta",
        "transcript_done": "response.output_audio_transcript.done",
        "text_delta": "response.output_text.delta",
        "text_done": "response.output_text.done",
    },
    "beta": {
        "audio_delta": "response.audio.delta",
        "audio_done": "response.audio.done",
        "transcript_delta": "response.audio_transcript.delta",
        "transcript_done": "response.audio_transcript.done",
        "text_delta": "response.text.delta",
        "text_done": "response.text.done",
    },
}


@dataclass
class Response:
    """A response being generated."""

    params: Json
    in_conversation: bool
    index: int  # its position among the connection's responses
    id: str = field(default_factory=lambda: new_id("resp_"))
    cancel_reason: str | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    output: list[Json] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    # What the model sees, fixed at response.create like the real server: audio
    # committed (or items added) after it are not part of this response.
    context: list[Json] = field(default_factory=list)
    created_sent: bool = False
    has_output: bool = False

    @property
    def running(self) -> bool:
        """Whether its task is still going."""
        return self.task is not None and not self.task.done()

    def cancel(self, reason: str) -> None:
        """Stop generating; `response.done` will say `cancelled` with `reason`."""
        self.cancel_reason = reason
        self.cancelled.set()


def words(text: str) -> list[str]:
    """Text as deltas: words with their leading space."""
    return [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]


class OutputStreamer:
    """Streams a response's output items as server events."""

    def __init__(
        self,
        dialect: Dialect,
        send: Send,
        conversation: Conversation,
        options: Callable[[], EmulatorOptions],
        view: Callable[[], SessionView],
        on_output: Callable[[Response], Awaitable[None]],
        audio_out: AudioOut | None = None,
    ) -> None:
        """Wire the streamer to the connection's pieces (`options()`: the knobs now).

        With `audio_out` (WebRTC) the voice goes there, not into delta events.
        """
        self.dialect = dialect
        self.send = send
        self.conversation = conversation
        self._options = options
        self.view = view
        self.on_output = on_output
        self.audio_out = audio_out
        self.names = _NAMES[dialect]

    async def _delta(self, response: Response, event: Json) -> None:
        await self.send(event)
        await self._first(response)

    async def _first(self, response: Response) -> None:
        if not response.has_output:
            response.has_output = True
            await self.on_output(response)

    async def _start_item(self, response: Response, index: int, item: Json) -> None:
        response.output.append(item)
        if response.in_conversation:
            self.conversation.items.append(item)
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": index,
                "item": self._wire(item),
            }
        )
        if response.in_conversation:
            await self.conversation.output_started(item)

    def _wire(self, item: Json) -> Json:
        return wire_item(item, self.dialect)

    async def _finish_item(self, response: Response, index: int, item: Json) -> None:
        item["status"] = "incomplete" if response.cancel_reason else "completed"
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": response.id,
                "output_index": index,
                "item": self._wire(item),
            }
        )
        if response.in_conversation:
            await self.conversation.output_done(item)

    async def say(
        self, response: Response, index: int, text: str, audio: bool
    ) -> tuple[int, int]:
        """Stream a message; return the (text, audio) tokens produced."""
        kind: Literal["text", "audio"] = "audio" if audio else "text"
        item: Json = {
            "id": new_id("item_"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        await self._start_item(response, index, item)
        ids = {
            "response_id": response.id,
            "item_id": item["id"],
            "output_index": index,
            "content_index": 0,
        }
        empty: Json = (
            {"type": kind, "transcript": ""} if audio else {"type": kind, "text": ""}
        )
        await self.send({"type": "response.content_part.added", **ids, "part": empty})
        spoken, seconds = "", 0.0
        if audio:
            spoken, seconds, digest = await self._stream_audio(response, ids, text)
            item["_audio_digest"] = digest
            await self.send({"type": self.names["audio_done"], **ids})
            await self.send(
                {"type": self.names["transcript_done"], **ids, "transcript": spoken}
            )
            part: Json = {
                "type": part_type("audio", "assistant", "ga"),
                "transcript": spoken,
            }
            done_part: Json = {"type": "audio", "transcript": spoken}
        else:
            for word in words(text):
                if response.cancel_reason is not None:
                    break
                spoken += word
                await self._delta(
                    response, {"type": self.names["text_delta"], **ids, "delta": word}
                )
                await asyncio.sleep(0)
            await self.send({"type": self.names["text_done"], **ids, "text": spoken})
            part = {"type": part_type("text", "assistant", "ga"), "text": spoken}
            done_part = {"type": "text", "text": spoken}
        item["content"] = [part]
        item["_out_audio_seconds"] = seconds
        await self.send(
            {"type": "response.content_part.done", **ids, "part": done_part}
        )
        await self._finish_item(response, index, item)
        return text_tokens(spoken), math.ceil(seconds * TOKENS_PER_SECOND_OUT)

    def _wire_audio(self, piece: bytes) -> bytes:
        fmt = self.view().output_format
        if fmt == "pcm16":
            return piece
        narrow = pcm.array_to_pcm16(
            pcm.resample(np.frombuffer(piece, dtype="<i2"), 24000, 8000)
        )
        return (
            pcm.ulaw_encode(narrow) if fmt == "g711_ulaw" else pcm.alaw_encode(narrow)
        )

    async def _stream_audio(
        self, response: Response, ids: Json, text: str
    ) -> tuple[str, float, str]:
        """Audio deltas interleaved with transcript deltas: (said, seconds, digest)."""
        options = self._options()
        audio = speech.encode(text)
        chunk = pcm.bytes_for_ms(options.audio_chunk_ms)
        parts = words(text)
        total = max(1, math.ceil(len(audio) / chunk))
        said = ""
        sent_bytes = 0
        started = time.monotonic()
        for n in range(total):
            if response.cancel_reason is not None:
                break
            piece = audio[n * chunk : (n + 1) * chunk]
            sent_bytes += len(piece)
            if self.audio_out is not None:
                self.audio_out(response.id, str(ids["item_id"]), piece)
                await self._first(response)
            else:
                delta = base64.b64encode(self._wire_audio(piece)).decode()
                await self._delta(
                    response,
                    {"type": self.names["audio_delta"], **ids, "delta": delta},
                )
            # Transcript keeps pace with the audio: words up to this point.
            due = math.ceil(len(parts) * (n + 1) / total)
            while len(said.split()) < due and len(said) < len(text):
                word = parts[len(said.split())]
                said += word
                await self.send(
                    {"type": self.names["transcript_delta"], **ids, "delta": word}
                )
            if options.audio_pacing == "realtime":
                made = pcm.duration_ms(sent_bytes) / 1000 / options.audio_speed
                ahead = started + made - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, ahead)):
                        await response.cancelled.wait()
            else:
                await asyncio.sleep(0)
        return said, pcm.duration_ms(sent_bytes) / 1000, audio_digest(audio)

    async def call(
        self, response: Response, index: int, name: str, arguments: str
    ) -> int:
        """Stream a function call; return its text tokens."""
        item: Json = {
            "id": new_id("item_"),
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": new_id("call_", 16),
            "arguments": "",
        }
        await self._start_item(response, index, item)
        ids = {
            "response_id": response.id,
            "item_id": item["id"],
            "output_index": index,
            "call_id": item["call_id"],
        }
        for start in range(0, len(arguments), 16):
            delta = arguments[start : start + 16]
            await self._delta(
                response,
                {
                    "type": "response.function_call_arguments.delta",
                    **ids,
                    "delta": delta,
                },
            )
        done: Json = {
            "type": "response.function_call_arguments.done",
            **ids,
            "arguments": arguments,
        }
        if self.dialect == "ga":
            done["name"] = name
        await self.send(done)
        item["arguments"] = arguments
        await self._finish_item(response, index, item)
        return text_tokens(name + arguments)
