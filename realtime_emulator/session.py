"""One emulated realtime session: audio buffer and VAD, items, responses, errors.

VAD: the input is cut into 10 ms frames; a frame is speech when its RMS level is
above ``vad_threshold_dbfs + 60 x threshold`` dBFS (threshold 0.5 → -30 dBFS with
the default knob). Speech starts at the first speech frame (reported minus
``prefix_padding_ms``) and stops after ``silence_duration_ms`` of non-speech
(reported at the end of that window); semantic VAD uses a silence window from its
eagerness. Times count from the first audio appended in the session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import json
import logging
import math
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from custom_components.openai_realtime.realtime import audio as pcm

from . import speech
from .brain import CallTool, Output, Say, TurnContext
from .protocol import (
    TOKENS_PER_SECOND_OUT,
    Dialect,
    Json,
    ProtocolError,
    SessionView,
    brain_item,
    default_session,
    invalid,
    item_tokens,
    new_id,
    part_type,
    text_tokens,
    tools_tokens,
    unknown,
    usage,
    validate_update,
    wire_item,
)

if TYPE_CHECKING:
    from aiohttp import web

    from .server import RealtimeEmulator

_LOGGER = logging.getLogger(__name__)
FRAME_MS = 10
EAGERNESS_SILENCE_MS = {"low": 800, "medium": 500, "auto": 500, "high": 250}
_CLIENT_EVENTS = {
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
}


class _Response:
    """A response being generated."""

    def __init__(self, params: Json, in_conversation: bool) -> None:
        self.id = new_id("resp_")
        self.params = params
        self.in_conversation = in_conversation
        self.cancel_reason: str | None = None
        self.cancelled = asyncio.Event()
        self.output: list[Json] = []
        self.task: asyncio.Task[None] | None = None
        # What the model sees, fixed at response.create like the real server: audio
        # committed (or items added) after it are not part of this response.
        self.context: list[Json] = []


class EmulatedSession:
    """State and handlers of one websocket."""

    def __init__(
        self,
        emulator: RealtimeEmulator,
        ws: web.WebSocketResponse,
        request: web.Request,
        dialect: Dialect,
        model: str,
    ) -> None:
        """A new session with the dialect's defaults."""
        self.emulator = emulator
        self.ws = ws
        self.request = request
        self.dialect = dialect
        self.model = model
        self.config = default_session(dialect, model)
        self.id = str(self.config.get("id") or new_id("sess_"))
        self.conversation_id = new_id("conv_")
        self.received: list[Json] = []
        self.sent: list[Json] = []
        # (time.perf_counter(), "in" | "out", event type): when things happened, for
        # benchmarks that separate the emulator's share of a latency from the client's.
        self.timeline: list[tuple[float, str, str]] = []
        self.items: list[Json] = []
        self.responses: list[_Response] = []
        self.closed = False
        self.audio_started = False  # assistant audio was produced (voice is fixed)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._buffer = bytearray()  # PCM16 at the input rate
        self._appended_ms = 0.0
        self._speech_item: str | None = None
        self._speech_start_ms = 0.0
        self._silence_ms = 0.0
        self._last_prefix: list[tuple[str, int, int]] | None = None
        self._malformed_sent = False
        self._started = time.monotonic()

    # --- plumbing --------------------------------------------------------------------

    @property
    def view(self) -> SessionView:
        """Dialect-neutral reads of the configuration."""
        return SessionView(self.dialect, self.config)

    @property
    def active(self) -> _Response | None:
        """The response writing to the default conversation, if any."""
        for response in self.responses:
            if response.in_conversation and response.task and not response.task.done():
                return response
        return None

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _mark(self, direction: str, event: Json) -> None:
        if len(self.timeline) < self.emulator.options.received_limit:
            self.timeline.append(
                (time.perf_counter(), direction, str(event.get("type")))
            )

    async def send(self, event: Json) -> None:
        """Send a server event (with a fresh event_id), applying the failure knobs."""
        if self.closed or self.ws.closed:
            return
        event = {"event_id": new_id("event_"), **event}
        options = self.emulator.options
        if (
            options.drop_after_events is not None
            and len(self.sent) >= options.drop_after_events
        ):
            await self._drop()
            return
        if (
            options.malformed_after_events is not None
            and len(self.sent) >= options.malformed_after_events
            and not self._malformed_sent
        ):
            self._malformed_sent = True
            await self.ws.send_str('{"type": "response.output_text.delta", "delta": ')
        self.sent.append(event)
        self._mark("out", event)
        try:
            await self.ws.send_str(json.dumps(event))
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def _drop(self) -> None:
        """Abort the TCP connection without a close frame (a network failure)."""
        self.closed = True
        if (transport := self.request.transport) is not None:
            transport.abort()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()

    async def close(self, code: int = 1000, message: str = "") -> None:
        """Close the websocket and stop every task of the session."""
        self.closed = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=code, message=message.encode())
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _error(self, err: ProtocolError, event_id: str | None) -> None:
        await self.send(err.event(event_id))

    # --- main loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Greet, then handle client events until the socket closes."""
        from aiohttp import WSMsgType

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
        self._spawn(self._expire())
        try:
            async for msg in self.ws:
                if msg.type is WSMsgType.TEXT:
                    await self._handle_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await self._error(
                        ProtocolError(
                            "Binary frames are not supported.", "invalid_event"
                        ),
                        None,
                    )
        finally:
            await self.close()

    async def _expire(self) -> None:
        limit = self.emulator.options.session_max_duration
        await asyncio.sleep(limit)
        minutes = max(1, round(limit / 60))
        text = f"Your session hit the maximum duration of {minutes} minutes."
        await self._error(ProtocolError(text, "session_expired"), None)
        self.closed = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=1001, message=text.encode())

    async def _handle_text(self, raw: str) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            await self._error(
                ProtocolError("The event is not valid JSON.", "invalid_json"), None
            )
            return
        if not isinstance(event, dict):
            await self._error(
                ProtocolError("The event must be an object.", "invalid_event"), None
            )
            return
        if len(self.received) < self.emulator.options.received_limit:
            self.received.append(event)
            self._mark("in", event)
        event_id = (
            event.get("event_id") if isinstance(event.get("event_id"), str) else None
        )
        kind = event.get("type")
        try:
            if kind is None:
                raise ProtocolError("The 'type' field is missing.", "invalid_event")
            if kind not in _CLIENT_EVENTS:
                raise invalid("type", kind, "Unknown event type.")
            handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
            if handler is None:
                raise ProtocolError(
                    f"{kind} is not supported by this session.", "invalid_value", "type"
                )
            await handler(event)
        except ProtocolError as err:
            await self._error(err, event_id)

    @staticmethod
    def _fields(event: Json, allowed: set[str]) -> None:
        for key in event:
            if key not in allowed | {"type", "event_id"}:
                raise unknown(key)

    # --- session ---------------------------------------------------------------------

    async def _on_session_update(self, event: Json) -> None:
        self._fields(event, {"session"})
        self.config = validate_update(
            self.dialect, event.get("session"), self.config, self.audio_started
        )
        await self.send(
            {"type": "session.updated", "session": copy.deepcopy(self.config)}
        )

    async def _on_transcription_session_update(self, event: Json) -> None:
        if self.dialect == "ga":
            raise ProtocolError(
                "Passing a transcription session update event to a realtime session "
                "is not allowed.",
                "invalid_value",
                "type",
            )
        raise ProtocolError("Not a transcription session.", "invalid_value", "type")

    # --- input audio -----------------------------------------------------------------

    def _input_rate(self) -> int:
        return 24000 if self.view.input_format == "pcm16" else 8000

    async def _on_input_audio_buffer_append(self, event: Json) -> None:
        self._fields(event, {"audio"})
        try:
            data = base64.b64decode(str(event.get("audio", "")), validate=True)
        except binascii.Error as err:
            raise invalid(
                "audio", "<base64>", "The audio is not valid base64."
            ) from err
        fmt = self.view.input_format
        if fmt == "g711_ulaw":
            data = pcm.ulaw_decode(data)
        elif fmt == "g711_alaw":
            data = pcm.alaw_decode(data)
        elif len(data) % 2:
            data = data[:-1]
        self._buffer += data
        await self._vad(data)

    async def _vad(self, data: bytes) -> None:
        td = self.view.turn_detection
        rate = self._input_rate()
        frame = rate * FRAME_MS // 1000 * 2
        if td is None:
            self._appended_ms += pcm.duration_ms(len(data), rate)
            return
        threshold = self.emulator.options.vad_threshold_dbfs + 60 * float(
            td.get("threshold", 0.5)
        )
        if td["type"] == "semantic_vad":
            silence_ms = EAGERNESS_SILENCE_MS[str(td.get("eagerness", "auto"))]
        else:
            silence_ms = int(td.get("silence_duration_ms", 200))
        prefix_ms = int(td.get("prefix_padding_ms", 300))
        for start in range(0, len(data) - frame + 1, frame):
            level = pcm.rms_dbfs(pcm.pcm16_to_array(data[start : start + frame]))
            now = self._appended_ms
            self._appended_ms += FRAME_MS
            if level > threshold:
                self._silence_ms = 0
                if self._speech_item is None:
                    self._speech_item = new_id("item_")
                    self._speech_start_ms = max(0.0, now - prefix_ms)
                    await self.send(
                        {
                            "type": "input_audio_buffer.speech_started",
                            "audio_start_ms": int(self._speech_start_ms),
                            "item_id": self._speech_item,
                        }
                    )
                    if td.get("interrupt_response", True) and (active := self.active):
                        self._cancel(active, "turn_detected")
            elif self._speech_item is not None:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= silence_ms:
                    item_id, self._speech_item = self._speech_item, None
                    await self.send(
                        {
                            "type": "input_audio_buffer.speech_stopped",
                            "audio_end_ms": int(self._appended_ms),
                            "item_id": item_id,
                        }
                    )
                    await self._commit(item_id)
                    if td.get("create_response", True) and self.active is None:
                        await self._start_response({}, None)
        rest = len(data) % frame
        if rest:
            self._appended_ms += pcm.duration_ms(rest, rate)

    async def _on_input_audio_buffer_commit(self, event: Json) -> None:
        self._fields(event, set())
        ms = pcm.duration_ms(len(self._buffer), self._input_rate())
        if ms < 100:
            raise ProtocolError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        item_id, self._speech_item = self._speech_item or new_id("item_"), None
        await self._commit(item_id)

    async def _on_input_audio_buffer_clear(self, event: Json) -> None:
        self._fields(event, set())
        self._buffer.clear()
        self._speech_item = None
        await self.send({"type": "input_audio_buffer.cleared"})

    async def _on_output_audio_buffer_clear(self, event: Json) -> None:
        raise ProtocolError(
            "output_audio_buffer.clear is only supported for WebRTC and SIP.",
            "invalid_value",
            "type",
        )

    async def _commit(self, item_id: str) -> None:
        audio, rate = bytes(self._buffer), self._input_rate()
        self._buffer.clear()
        previous = self.items[-1]["id"] if self.items else None
        heard = speech.decode(audio, rate)
        item: Json = {
            "id": item_id,
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
            "_heard": heard,
            "_audio_seconds": len(audio) / 2 / rate,
        }
        self.items.append(item)
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": previous,
            }
        )
        await self._announce(item, previous)
        if (transcription := self.view.transcription) is not None:
            self._spawn(
                self._transcribe(item, heard, str(transcription.get("model", "")))
            )

    async def _transcribe(self, item: Json, heard: str, model: str) -> None:
        await asyncio.sleep(self.emulator.options.transcription_delay)
        item_id = item["id"]
        if not heard:
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item_id,
                    "content_index": 0,
                    "error": {
                        "type": "transcription_error",
                        "code": "audio_unintelligible",
                        "message": "Audio could not be transcribed.",
                        "param": None,
                    },
                }
            )
            return
        words = heard.split(" ")
        for index, word in enumerate(words):
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": word if index == 0 else " " + word,
                }
            )
        audio_tokens = math.ceil(item["_audio_seconds"] * 10)
        out_tokens = text_tokens(heard)
        item["content"][0]["transcript"] = heard
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": heard,
                "usage": {
                    "type": "tokens",
                    "input_tokens": audio_tokens,
                    "output_tokens": out_tokens,
                    "total_tokens": audio_tokens + out_tokens,
                    "input_token_details": {
                        "text_tokens": 0,
                        "audio_tokens": audio_tokens,
                    },
                },
            }
        )

    # --- items -----------------------------------------------------------------------

    async def _announce(self, item: Json, previous: str | None) -> None:
        wire = wire_item(item, self.dialect)
        if self.dialect == "ga":
            await self.send(
                {
                    "type": "conversation.item.added",
                    "item": wire,
                    "previous_item_id": previous,
                }
            )
            await self.send(
                {
                    "type": "conversation.item.done",
                    "item": wire,
                    "previous_item_id": previous,
                }
            )
        else:
            await self.send(
                {
                    "type": "conversation.item.created",
                    "item": wire,
                    "previous_item_id": previous,
                }
            )

    def _find(self, item_id: Any) -> Json | None:
        return next((i for i in self.items if i["id"] == item_id), None)

    async def _on_conversation_item_create(self, event: Json) -> None:
        self._fields(event, {"item", "previous_item_id"})
        item = copy.deepcopy(event.get("item"))
        if not isinstance(item, dict):
            raise ProtocolError(
                "Missing required parameter: 'item'.",
                "missing_required_parameter",
                "item",
            )
        kind = item.get("type")
        if kind not in ("message", "function_call", "function_call_output"):
            raise invalid("item.type", kind)
        if kind == "function_call_output" and not any(
            i.get("type") == "function_call" and i.get("call_id") == item.get("call_id")
            for i in self.items
        ):
            raise ProtocolError(
                f"No tool call found for function call output with call_id {item.get('call_id')}.",
                "invalid_value",
                "item.call_id",
            )
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system"):
                raise invalid("item.role", role)
            for part in item.get("content") or []:
                if part.get("type") in ("text", "output_text") and role != "assistant":
                    raise invalid("item.content.type", part.get("type"))
                if part.get("type") == "text" and self.dialect == "ga":
                    part["type"] = "output_text"
        item.setdefault("id", new_id("item_"))
        if self._find(item["id"]) is not None:
            raise ProtocolError(
                f"Item with id {item['id']} already exists.", "invalid_value", "item.id"
            )
        item["object"] = "realtime.item"
        item["status"] = "completed"
        previous = event.get("previous_item_id")
        if previous is None:
            index = len(self.items)
        elif previous == "root":
            index = 0
        elif (found := self._find(previous)) is not None:
            index = self.items.index(found) + 1
        else:
            raise ProtocolError(
                f"Item with item_id not found: {previous}",
                "invalid_value",
                "previous_item_id",
            )
        self.items.insert(index, item)
        before = self.items[index - 1]["id"] if index > 0 else None
        await self._announce(item, before)

    async def _on_conversation_item_truncate(self, event: Json) -> None:
        self._fields(event, {"item_id", "content_index", "audio_end_ms"})
        item = self._find(event.get("item_id"))
        if item is None or item.get("role") != "assistant":
            raise ProtocolError(
                f"Item with item_id not found: {event.get('item_id')}",
                "item_truncate_invalid_item_id",
                "item_id",
            )
        end_ms = event.get("audio_end_ms")
        length_ms = 1000 * float(item.get("_out_audio_seconds", 0.0))
        if not isinstance(end_ms, int) or end_ms < 0 or end_ms > length_ms:
            raise ProtocolError(
                f"Audio content of {length_ms:.0f}ms is already shorter than {end_ms}ms",
                "invalid_value",
                "audio_end_ms",
            )
        item["_out_audio_seconds"] = end_ms / 1000
        for part in item.get("content", []):
            if "transcript" in part:
                part["transcript"] = ""
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": int(event.get("content_index", 0)),
                "audio_end_ms": end_ms,
            }
        )

    async def _on_conversation_item_delete(self, event: Json) -> None:
        self._fields(event, {"item_id"})
        item = self._find(event.get("item_id"))
        if item is None:
            raise ProtocolError(
                f"Item with item_id not found: {event.get('item_id')}",
                "item_delete_invalid_item_id",
                "item_id",
            )
        self.items.remove(item)
        await self.send({"type": "conversation.item.deleted", "item_id": item["id"]})

    async def _on_conversation_item_retrieve(self, event: Json) -> None:
        self._fields(event, {"item_id"})
        item = self._find(event.get("item_id"))
        if item is None:
            raise ProtocolError(
                f"Item with item_id not found: {event.get('item_id')}",
                "item_retrieve_invalid_item_id",
                "item_id",
            )
        await self.send(
            {
                "type": "conversation.item.retrieved",
                "item": wire_item(item, self.dialect),
            }
        )

    # --- responses -------------------------------------------------------------------

    async def _on_response_create(self, event: Json) -> None:
        self._fields(event, {"response"})
        params = event.get("response") or {}
        if not isinstance(params, dict):
            raise invalid("response", params)
        allowed = {
            "output_modalities",
            "modalities",
            "instructions",
            "tools",
            "tool_choice",
            "max_output_tokens",
            "max_response_output_tokens",
            "conversation",
            "metadata",
            "input",
            "audio",
            "voice",
            "output_audio_format",
            "temperature",
            "prompt",
        }
        for key in params:
            if key not in allowed:
                raise unknown(f"response.{key}")
        await self._start_response(params, event.get("event_id"))

    async def _start_response(self, params: Json, event_id: Any) -> None:
        in_conversation = params.get("conversation", "auto") != "none"
        if in_conversation and (active := self.active) is not None:
            raise ProtocolError(
                "Conversation already has an active response in progress: "
                f"{active.id}. Wait until the response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        response = _Response(params, in_conversation)
        response.context = self._context(response)
        self.responses.append(response)
        response.task = self._spawn(self._run_response(response))

    async def _on_response_cancel(self, event: Json) -> None:
        self._fields(event, {"response_id"})
        wanted = event.get("response_id")
        for response in self.responses:
            running = response.task is not None and not response.task.done()
            if (
                running
                and wanted in (None, response.id)
                and response.cancel_reason is None
            ):
                self._cancel(response, "client_cancelled")
                return
        raise ProtocolError(
            "Cancellation failed: no active response found",
            "response_cancel_not_active",
        )

    def _cancel(self, response: _Response, reason: str) -> None:
        response.cancel_reason = reason
        response.cancelled.set()

    def _response_object(
        self, response: _Response, status: str, usage_obj: Json | None
    ) -> Json:
        params = response.params
        audio = self._response_audio(response)
        details: Json | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": response.cancel_reason}
        elif status == "incomplete":
            details = {"type": "incomplete", "reason": "max_output_tokens"}
        elif status == "completed":
            details = None
        base: Json = {
            "id": response.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": [wire_item(item, self.dialect) for item in response.output],
            "conversation_id": self.conversation_id
            if response.in_conversation
            else None,
            "usage": usage_obj,
            "metadata": params.get("metadata"),
        }
        max_tokens = params.get(
            "max_output_tokens", params.get("max_response_output_tokens")
        )
        if max_tokens is None:
            max_tokens = self.view.max_output_tokens or "inf"
        if self.dialect == "ga":
            fmt = self.config["audio"]["output"]["format"]
            return base | {
                "output_modalities": ["audio"] if audio else ["text"],
                "max_output_tokens": max_tokens,
                "audio": {"output": {"format": fmt, "voice": self.view.voice}},
            }
        return base | {
            "modalities": ["audio", "text"] if audio else ["text"],
            "voice": self.view.voice,
            "output_audio_format": self.view.output_format,
            "temperature": self.config.get("temperature", 0.8),
            "max_output_tokens": max_tokens,
        }

    def _response_audio(self, response: _Response) -> bool:
        params = response.params
        if "output_modalities" in params:
            return "audio" in params["output_modalities"]
        if "modalities" in params:
            return "audio" in params["modalities"]
        return self.view.audio_out

    async def _run_response(self, response: _Response) -> None:
        await self.send(
            {
                "type": "response.created",
                "response": self._response_object(response, "in_progress", None),
            }
        )
        if self.dialect == "beta":
            await self._rate_limits()
        try:
            async with asyncio.timeout(self.emulator.options.model_delay):
                await response.cancelled.wait()
        except TimeoutError:
            pass
        context_items = response.context
        instructions = str(
            response.params.get("instructions") or self.config.get("instructions") or ""
        )
        tools = response.params.get("tools", self.config.get("tools")) or []
        outputs: list[Output] = []
        if response.cancel_reason is None:
            ctx = TurnContext(
                [brain_item(i) for i in context_items], tools, instructions
            )
            outputs = self.emulator.brain.respond(ctx)
        out_text = out_audio = 0
        status = "completed"
        limit = response.params.get("max_output_tokens") or self.view.max_output_tokens
        for index, output in enumerate(outputs):
            if response.cancel_reason is not None:
                break
            if isinstance(output, Say):
                text = output.text
                if isinstance(limit, int) and text_tokens(text) > limit:
                    text, status = text[: limit * 4], "incomplete"
                tokens = await self._say(response, index, text)
                out_text += tokens[0]
                out_audio += tokens[1]
            else:
                out_text += await self._call(response, index, output)
            if status == "incomplete":
                break
        if response.cancel_reason is not None:
            status = "cancelled"
        prefix = self._input_prefix(instructions, tools, context_items)
        usage_obj = usage(self.dialect, prefix, self._last_prefix, out_text, out_audio)
        self._last_prefix = prefix
        await self.send(
            {
                "type": "response.done",
                "response": self._response_object(response, status, usage_obj),
            }
        )
        if self.dialect == "ga":
            await self._rate_limits()

    def _context(self, response: _Response) -> list[Json]:
        given = response.params.get("input")
        if given is None:
            return list(self.items)
        items: list[Json] = []
        for entry in given:
            if isinstance(entry, dict) and entry.get("type") == "item_reference":
                if (found := self._find(entry.get("id"))) is not None:
                    items.append(found)
            elif isinstance(entry, dict):
                items.append(entry)
        return items

    @staticmethod
    def _input_prefix(
        instructions: str, tools: list[Json], items: list[Json]
    ) -> list[tuple[str, int, int]]:
        prefix = [("instructions+tools", tools_tokens(instructions, tools), 0)]
        for item in items:
            text, audio = item_tokens(item)
            prefix.append((str(item.get("id", "")), text, audio))
        return prefix

    async def _rate_limits(self) -> None:
        await self.send(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {
                        "name": "requests",
                        "limit": 5000,
                        "remaining": 4999,
                        "reset_seconds": 0.012,
                    },
                    {
                        "name": "tokens",
                        "limit": 400000,
                        "remaining": 398000,
                        "reset_seconds": 0.3,
                    },
                ],
            }
        )

    def _add_output(self, response: _Response, item: Json) -> str | None:
        previous = self.items[-1]["id"] if self.items else None
        response.output.append(item)
        if response.in_conversation:
            self.items.append(item)
        return previous

    async def _announce_output(
        self, response: _Response, index: int, item: Json, previous: str | None
    ) -> None:
        wire = wire_item(item, self.dialect)
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": index,
                "item": wire,
            }
        )
        if response.in_conversation:
            kind = (
                "conversation.item.added"
                if self.dialect == "ga"
                else "conversation.item.created"
            )
            await self.send({"type": kind, "item": wire, "previous_item_id": previous})

    async def _finish_output(self, response: _Response, index: int, item: Json) -> None:
        item["status"] = "incomplete" if response.cancel_reason else "completed"
        wire = wire_item(item, self.dialect)
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": response.id,
                "output_index": index,
                "item": wire,
            }
        )
        if response.in_conversation and self.dialect == "ga":
            await self.send(
                {
                    "type": "conversation.item.done",
                    "item": wire,
                    "previous_item_id": None,
                }
            )

    async def _say(self, response: _Response, index: int, text: str) -> tuple[int, int]:
        """Stream a message; return (text tokens, audio tokens) produced."""
        audio = self._response_audio(response)
        kind: Literal["text", "audio"] = "audio" if audio else "text"
        ptype = part_type(kind, "assistant", "ga")
        item: Json = {
            "id": new_id("item_"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        previous = self._add_output(response, item)
        await self._announce_output(response, index, item, previous)
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
        names = self._delta_names(audio)
        spoken = ""
        seconds = 0.0
        if audio:
            self.audio_started = True
            spoken, seconds = await self._stream_audio(response, ids, text, names)
            await self.send({"type": names["audio_done"], **ids})
            await self.send(
                {"type": names["transcript_done"], **ids, "transcript": spoken}
            )
            part: Json = {"type": ptype, "transcript": spoken}
            done_part: Json = {"type": "audio", "transcript": spoken}
        else:
            for word in self._words(text):
                if response.cancel_reason is not None:
                    break
                spoken += word
                await self.send({"type": names["text_delta"], **ids, "delta": word})
                await asyncio.sleep(0)
            await self.send({"type": names["text_done"], **ids, "text": spoken})
            part = {"type": ptype, "text": spoken}
            done_part = {"type": "text", "text": spoken}
        item["content"] = [part]
        item["_out_audio_seconds"] = seconds
        await self.send(
            {"type": "response.content_part.done", **ids, "part": done_part}
        )
        await self._finish_output(response, index, item)
        return text_tokens(spoken), math.ceil(seconds * TOKENS_PER_SECOND_OUT)

    def _delta_names(self, audio: bool) -> dict[str, str]:
        if self.dialect == "ga":
            return {
                "audio_delta": "response.output_audio.delta",
                "audio_done": "response.output_audio.done",
                "transcript_delta": "response.output_audio_transcript.delta",
                "transcript_done": "response.output_audio_transcript.done",
                "text_delta": "response.output_text.delta",
                "text_done": "response.output_text.done",
            }
        return {
            "audio_delta": "response.audio.delta",
            "audio_done": "response.audio.done",
            "transcript_delta": "response.audio_transcript.delta",
            "transcript_done": "response.audio_transcript.done",
            "text_delta": "response.text.delta",
            "text_done": "response.text.done",
        }

    @staticmethod
    def _words(text: str) -> list[str]:
        words = text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    async def _stream_audio(
        self, response: _Response, ids: Json, text: str, names: dict[str, str]
    ) -> tuple[str, float]:
        """Audio deltas interleaved with transcript deltas; returns (said, seconds)."""
        options = self.emulator.options
        audio = speech.encode(text)
        chunk = pcm.bytes_for_ms(options.audio_chunk_ms)
        fmt = self.view.output_format
        words = self._words(text)
        total = max(1, math.ceil(len(audio) / chunk))
        said = ""
        sent_bytes = 0
        started = time.monotonic()
        for n in range(total):
            if response.cancel_reason is not None:
                break
            piece = audio[n * chunk : (n + 1) * chunk]
            sent_bytes += len(piece)
            wire = piece
            if fmt != "pcm16":
                narrow = pcm.array_to_pcm16(
                    pcm.resample(np.frombuffer(piece, dtype="<i2"), 24000, 8000)
                )
                wire = (
                    pcm.ulaw_encode(narrow)
                    if fmt == "g711_ulaw"
                    else pcm.alaw_encode(narrow)
                )
            await self.send(
                {
                    "type": names["audio_delta"],
                    **ids,
                    "delta": base64.b64encode(wire).decode(),
                }
            )
            # Transcript keeps pace with the audio: words up to this point.
            due = math.ceil(len(words) * (n + 1) / total)
            while len(said.split()) < due and len(said) < len(text):
                word = words[len(said.split())]
                said += word
                await self.send(
                    {"type": names["transcript_delta"], **ids, "delta": word}
                )
            if options.audio_pacing == "realtime":
                ahead = started + pcm.duration_ms(sent_bytes) / 1000 - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, ahead)):
                        await response.cancelled.wait()
            else:
                await asyncio.sleep(0)
        return said, pcm.duration_ms(sent_bytes) / 1000

    async def _call(self, response: _Response, index: int, output: CallTool) -> int:
        """Stream a function call; return its text tokens."""
        item: Json = {
            "id": new_id("item_"),
            "type": "function_call",
            "status": "in_progress",
            "name": output.name,
            "call_id": new_id("call_", 16),
            "arguments": "",
        }
        previous = self._add_output(response, item)
        await self._announce_output(response, index, item, previous)
        ids = {
            "response_id": response.id,
            "item_id": item["id"],
            "output_index": index,
            "call_id": item["call_id"],
        }
        args = output.arguments
        for start in range(0, len(args), 16):
            await self.send(
                {
                    "type": "response.function_call_arguments.delta",
                    **ids,
                    "delta": args[start : start + 16],
                }
            )
        done: Json = {
            "type": "response.function_call_arguments.done",
            **ids,
            "arguments": args,
        }
        if self.dialect == "ga":
            done["name"] = output.name
        await self.send(done)
        item["arguments"] = args
        await self._finish_output(response, index, item)
        return text_tokens(output.name + args)
