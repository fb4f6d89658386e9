"""One client websocket to the emulator: the realtime session it serves.

`EmulatorConnection` greets (`session.created`), reads client events, and hands
each to the piece that owns it: the dialect's validation rules (validate_ga.py,
validate_beta.py) for `session.update` and `response.create`, the input audio
buffer and VAD (input_audio.py), the conversation's items (conversation.py),
transcription (transcription.py) and responses (responses.py). Events go out
through the transport (transport.py), where the failure knobs act.

It knows nothing of the server: what it needs from it (the knobs, the brain) comes
in as an `EmulatorHost`, read live because tests change both while sessions run.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
import json
import math
import time
from typing import TYPE_CHECKING, Any, ClassVar

from . import validate_beta, validate_ga
from .checks import event_fields
from .conversation import Conversation
from .errors import Json, ProtocolError, invalid_value, string_too_long
from .ids import new_id
from .input_audio import MIN_COMMIT_MS, InputAudioBuffer, SpeechStarted, decode_audio
from .responses import Responder
from .session_config import Dialect, SessionView, default_session
from .transcription import transcribe
from .transport import Transport

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .options import EmulatorHost
    from .transport import PlayedAudio, Socket

CLIENT_EVENTS = [
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
    "transcription_session.update",
]
MAX_EVENT_ID = 512


@dataclass(frozen=True, slots=True)
class DialectRules:
    """A dialect's validation of `session.update` and `response.create`."""

    session_update: Callable[[Any, Json, bool, str], Json]
    response_create: Callable[[Json, str], None]


RULES: dict[Dialect, DialectRules] = {
    "ga": DialectRules(validate_ga.session_update, validate_ga.response_create),
    "beta": DialectRules(validate_beta.session_update, validate_beta.response_create),
}


class EmulatorConnection:
    """The server side of one realtime socket: a session's state and handlers.

    A websocket session, or (with `played` set) a WebRTC call's: its client
    events come over the data channel, its input audio from the call's track,
    and its voice goes to the call's audio track.
    """

    def __init__(
        self,
        host: EmulatorHost,
        ws: Socket,
        abort: Callable[[], None],
        dialect: Dialect,
        model: str,
        played: PlayedAudio | None = None,
    ) -> None:
        """A new session with the dialect's defaults."""
        self.host = host
        self.dialect = dialect
        self.model = model
        self.played = played
        self.transport = Transport(ws, abort, lambda: self.host.options)
        self.id = new_id("sess_")
        expires = math.ceil(time.time() + host.options.session_max_duration)
        self.config = default_session(dialect, model, self.id, expires)
        self.conversation_id = new_id("conv_")
        self.conversation = Conversation(dialect, self.transport.send)
        self.buffer = InputAudioBuffer()
        self.responder = Responder(
            dialect,
            self.transport.send,
            self.transport.spawn,
            self.conversation,
            lambda: self.host.options,
            lambda: self.host.brain,
            lambda: self.view,
            self.conversation_id,
            audio_out=played.play if played is not None else None,
            on_done=played.response_done if played is not None else None,
        )

    # --- what tests and benchmarks read ----------------------------------------------

    @property
    def view(self) -> SessionView:
        """Dialect-neutral reads of the configuration."""
        return SessionView(self.dialect, self.config)

    @property
    def sent(self) -> list[Json]:
        """Every server event sent, in order."""
        return self.transport.sent

    @property
    def received(self) -> list[Json]:
        """Every client event received (up to `received_limit`), in order."""
        return self.transport.received

    @property
    def timeline(self) -> list[tuple[float, str, str]]:
        """(perf_counter, "in" | "out", event type) of every event."""
        return self.transport.timeline

    @property
    def closed(self) -> bool:
        """Whether the websocket is closed (or dropped)."""
        return self.transport.closed

    @property
    def items(self) -> list[Json]:
        """The conversation's items, in order."""
        return self.conversation.items

    @property
    def audio_started(self) -> bool:
        """Whether assistant audio was produced (the voice is then fixed)."""
        return self.responder.audio_started

    async def send(self, event: Json) -> None:
        """Send a server event."""
        await self.transport.send(event)

    async def close(self, code: int = 1000, message: str = "") -> None:
        """Close the websocket and stop every task."""
        await self.transport.close(code, message)

    # --- main loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Greet, then handle client events until the socket closes."""
        from aiohttp import WSMsgType

        silent = self.host.options.silent_after_handshake
        if not silent:
            await self.send(
                {"type": "session.created", "session": copy.deepcopy(self.config)}
            )
            if self.dialect == "beta":
                await self.send(
                    {
                        "type": "conversation.created",
                        "conversation": {
                            "id": self.conversation_id,
                            "object": "realtime.conversation",
                        },
                    }
                )
        self.transport.spawn(self._expire())
        try:
            async for msg in self.transport.ws:
                if silent:
                    if msg.type is WSMsgType.TEXT:
                        self._record(msg.data)
                elif msg.type is WSMsgType.TEXT:
                    await self._handle_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    err = ProtocolError(
                        "Binary frames are not supported.", "invalid_event"
                    )
                    await self.transport.error(err, None)
        finally:
            await self.close()

    def _record(self, raw: str) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            return
        if isinstance(event, dict):
            self.transport.record(event)

    async def _expire(self) -> None:
        limit = self.host.options.session_max_duration
        await asyncio.sleep(limit)
        minutes = max(1, round(limit / 60))
        text = f"Your session hit the maximum duration of {minutes} minutes."
        await self.transport.error(ProtocolError(text, "session_expired"), None)
        await self.transport.close_quietly(1001, text)

    async def _handle_text(self, raw: str) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            err = ProtocolError("The event is not valid JSON.", "invalid_json")
            await self.transport.error(err, None)
            return
        if not isinstance(event, dict):
            err = ProtocolError("The event must be an object.", "invalid_event")
            await self.transport.error(err, None)
            return
        self.transport.record(event)
        raw_id = event.get("event_id")
        event_id = raw_id if isinstance(raw_id, str) else None
        try:
            if event_id is not None and len(event_id) > MAX_EVENT_ID:
                raise string_too_long("event_id", len(event_id), MAX_EVENT_ID)
            kind = event.get("type")
            if kind is None:
                raise ProtocolError("The 'type' field is missing.", "invalid_event")
            if kind not in CLIENT_EVENTS:
                raise invalid_value("type", kind, CLIENT_EVENTS)
            await self._handlers[kind](self, event)
        except ProtocolError as err:
            await self.transport.error(err, event_id)

    # --- session ---------------------------------------------------------------------

    async def _session_update(self, event: Json) -> None:
        event_fields(event, {"session"})
        rules = RULES[self.dialect]
        self.config = rules.session_update(
            event.get("session"), self.config, self.audio_started, self.model
        )
        await self.send(
            {"type": "session.updated", "session": copy.deepcopy(self.config)}
        )

    async def _transcription_session_update(self, event: Json) -> None:
        if self.dialect == "ga":
            raise ProtocolError(
                "Passing a transcription session update event to a realtime session "
                "is not allowed.",
                "invalid_value",
                "type",
            )
        raise ProtocolError("Not a transcription session.", "invalid_value", "type")

    # --- input audio -----------------------------------------------------------------

    async def _append(self, event: Json) -> None:
        event_fields(event, {"audio"})
        await self.append_audio(
            decode_audio(str(event.get("audio", "")), self.view.input_format)
        )

    async def append_audio(self, data: bytes) -> None:
        """Input audio as PCM16 at the session's input rate (an append event's, or
        a WebRTC call's microphone track)."""
        view = self.view
        found = self.buffer.append(
            data,
            view.input_rate,
            view.turn_detection,
            self.host.options.vad_threshold_dbfs,
        )
        td = view.turn_detection or {}
        for vad in found:
            if isinstance(vad, SpeechStarted):
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": vad.audio_start_ms,
                        "item_id": vad.item_id,
                    }
                )
                if td.get("interrupt_response", True):
                    if active := self.responder.active:
                        active.cancel("turn_detected")
                    if self.played is not None:
                        # WebRTC: the server stops the voice and truncates what
                        # the user did not hear.
                        await self.played.interrupt()
                continue
            await self.send(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": vad.audio_end_ms,
                    "item_id": vad.item_id,
                }
            )
            await self._commit(vad.item_id, self.buffer.take(vad.offset))
            if td.get("create_response", True) and self.responder.active is None:
                self.responder.start({})

    async def _commit_event(self, event: Json) -> None:
        event_fields(event, set())
        ms = self.buffer.duration_ms(self.view.input_rate)
        if ms < MIN_COMMIT_MS:
            raise ProtocolError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        item_id = self.buffer.speech_item or new_id("item_")
        self.buffer.speech_item = None
        await self._commit(item_id, self.buffer.take())

    async def _clear(self, event: Json) -> None:
        event_fields(event, set())
        self.buffer.clear()
        await self.send({"type": "input_audio_buffer.cleared"})

    async def _output_clear(self, event: Json) -> None:
        if self.played is not None:
            event_fields(event, set())
            await self.played.interrupt()
            return
        raise ProtocolError(
            "output_audio_buffer.clear is only supported for WebRTC and SIP.",
            "invalid_value",
            "type",
        )

    async def _commit(self, item_id: str, audio: bytes) -> None:
        """Committed audio becomes a user item; transcribe it if asked to."""
        previous = self.conversation.last_id()
        item: Json = {
            "id": item_id,
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.conversation.hear(item, audio, self.view.input_rate)
        self.conversation.items.append(item)
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": previous,
            }
        )
        await self.conversation.announce(item)
        if self.view.transcription is not None:
            options = self.host.options
            waiter = (
                self.responder.next_output()
                if options.transcript_after_output
                else None
            )
            self.transport.spawn(
                transcribe(self.send, item, options.transcription_delay, waiter)
            )

    # --- items -----------------------------------------------------------------------

    async def _item_create(self, event: Json) -> None:
        await self.conversation.create(event, self.view.input_format)

    async def _item_truncate(self, event: Json) -> None:
        await self.conversation.truncate(event)

    async def _item_delete(self, event: Json) -> None:
        await self.conversation.delete(event)

    async def _item_retrieve(self, event: Json) -> None:
        await self.conversation.retrieve(event)

    # --- responses -------------------------------------------------------------------

    async def _response_create(self, event: Json) -> None:
        event_fields(event, {"response"})
        params = event.get("response")
        if params is None:
            params = {}
        RULES[self.dialect].response_create(params, self.model)
        self.responder.start(params)

    async def _response_cancel(self, event: Json) -> None:
        event_fields(event, {"response_id"})
        self.responder.cancel(event.get("response_id"))

    _handlers: ClassVar[
        dict[str, Callable[[EmulatorConnection, Json], Awaitable[None]]]
    ] = {
        "session.update": _session_update,
        "transcription_session.update": _transcription_session_update,
        "input_audio_buffer.append": _append,
        "input_audio_buffer.commit": _commit_event,
        "input_audio_buffer.clear": _clear,
        "output_audio_buffer.clear": _output_clear,
        "conversation.item.create": _item_create,
        "conversation.item.truncate": _item_truncate,
        "conversation.item.delete": _item_delete,
        "conversation.item.retrieve": _item_retrieve,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
    }
