"""A tiny Realtime server for the library's robustness tests: scripted replies.

Unlike the emulator, it does not think: each client event gets a realistic,
fixed reply (the sequences of the protocol reference, §7, in the GA or beta
dialect) that a test may edit, drop, duplicate or break before it is sent. One
server serves many connections; a factory gives each its own `Script`, chosen by
the `model` query parameter, so a test can run many different cases at once.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
import itertools
import json
import secrets
from typing import Any

from aiohttp import web

from custom_components.openai_realtime.realtime.endpoint import (
    Dialect,
    Endpoint,
    openai_endpoint,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class Close:
    """Close the websocket with a code and reason (after the frames before it)."""

    code: int
    message: str = ""


@dataclass(frozen=True)
class Abort:
    """Drop the TCP connection without a close frame."""


@dataclass(frozen=True)
class Raw:
    """A text frame sent as is (not JSON, or JSON the test built by hand)."""

    text: str


# A frame to send: an event (serialised as JSON), raw text, binary, or an action.
Frame = Json | Raw | bytes | Close | Abort

TRANSCRIPT = "turn on the kitchen light"
ANSWER_WORDS = ("Turning ", "on ", "the ", "kitchen ", "light.")
FOLLOW_UP = "Done."
CALL_NAME = "HassTurnOn"
CALL_ARGUMENTS = '{"name": "kitchen light"}'


def _b64(audio: bytes) -> str:
    return base64.b64encode(audio).decode("ascii")


class Script:
    """Realistic server replies for one connection, per client event."""

    def __init__(self, dialect: Dialect, model: str = "gpt-realtime") -> None:
        """Start a conversation in `dialect`."""
        self.dialect = dialect
        self.model = model
        self._ids = itertools.count(1)
        self._tag = secrets.token_hex(4)
        self.session: Json = self._default_session()
        self.last_item: str | None = None
        self.responses = 0  # response.create events answered so far
        self.received: deque[Json] = deque(maxlen=200)  # the latest client events

    # --- helpers ----------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """An id shaped like the server's (prefix + this connection's tag + counter)."""
        return f"{prefix}{self._tag}{next(self._ids):05d}"

    def event(self, type_: str, **fields: Any) -> Json:
        """A server event with its own event_id."""
        return {"type": type_, "event_id": self.new_id("event_"), **fields}

    @property
    def ga(self) -> bool:
        """Whether this connection speaks GA."""
        return self.dialect == "ga"

    def _default_session(self) -> Json:
        if self.ga:
            return {
                "type": "realtime",
                "object": "realtime.session",
                "id": self.new_id("sess_"),
                "model": self.model,
                "output_modalities": ["audio"],
                "instructions": "You are helpful.",
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "prompt": None,
                "truncation": "auto",
                "include": None,
                "expires_at": 1_900_000_000,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": None,
                        "noise_reduction": None,
                        "turn_detection": None,
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "voice": "marin",
                        "speed": 1.0,
                    },
                },
            }
        return {
            "id": self.new_id("sess_"),
            "object": "realtime.session",
            "model": self.model,
            "modalities": ["audio", "text"],
            "instructions": "You are helpful.",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "turn_detection": None,
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
        }

    # --- the replies -------------------------------------------------------------------

    def hello(self) -> list[Frame]:
        """What the server sends when the websocket opens."""
        frames: list[Frame] = [self.event("session.created", session=self.session)]
        if not self.ga:
            conversation = {
                "id": self.new_id("conv_"),
                "object": "realtime.conversation",
            }
            frames.append(self.event("conversation.created", conversation=conversation))
        return frames

    def reply(self, event: Json) -> list[Frame]:
        """The server's reply to one client event."""
        self.received.append(event)
        handler = getattr(self, "on_" + str(event.get("type")).replace(".", "_"), None)
        return handler(event) if handler is not None else []

    def on_session_update(self, event: Json) -> list[Frame]:
        """`session.updated` with the merged configuration."""
        update = event.get("session") or {}
        self.session = {**self.session, **update}
        return [self.event("session.updated", session=self.session)]

    def on_input_audio_buffer_append(self, event: Json) -> list[Frame]:
        """No acknowledgement."""
        return []

    def on_input_audio_buffer_clear(self, event: Json) -> list[Frame]:
        """`input_audio_buffer.cleared`."""
        return [self.event("input_audio_buffer.cleared")]

    def _item_added(self, item: Json, previous: str | None) -> list[Frame]:
        if self.ga:
            return [
                self.event(
                    "conversation.item.added", previous_item_id=previous, item=item
                ),
                self.event(
                    "conversation.item.done", previous_item_id=previous, item=item
                ),
            ]
        return [
            self.event(
                "conversation.item.created", previous_item_id=previous, item=item
            )
        ]

    def on_input_audio_buffer_commit(self, event: Json) -> list[Frame]:
        """Committed, the user item, then its transcription."""
        item_id, previous = self.new_id("item_"), self.last_item
        self.last_item = item_id
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        words = TRANSCRIPT.split(" ")
        return [
            self.event(
                "input_audio_buffer.committed",
                previous_item_id=previous,
                item_id=item_id,
            ),
            *self._item_added(item, previous),
            *(
                self.event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item_id,
                    content_index=0,
                    delta=word + " ",
                )
                for word in words[:2]
            ),
            self.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=TRANSCRIPT,
                usage={"type": "duration", "seconds": 2},
            ),
        ]

    def on_conversation_item_create(self, event: Json) -> list[Frame]:
        """The item as the server stores it."""
        item = dict(event.get("item") or {})
        item.setdefault("id", self.new_id("item_"))
        item["object"] = "realtime.item"
        item["status"] = "completed"
        previous, self.last_item = self.last_item, item["id"]
        return self._item_added(item, previous)

    def on_conversation_item_truncate(self, event: Json) -> list[Frame]:
        """`conversation.item.truncated`."""
        return [
            self.event(
                "conversation.item.truncated",
                item_id=event.get("item_id"),
                content_index=0,
                audio_end_ms=event.get("audio_end_ms"),
            )
        ]

    def on_response_cancel(self, event: Json) -> list[Frame]:
        """Every reply is sent whole at once: nothing is ever active to cancel."""
        return [self.error("response_cancel_not_active", event.get("event_id"))]

    def error(
        self,
        code: str | None,
        event_id: str | None = None,
        message: str = "",
        error_type: str = "invalid_request_error",
    ) -> Json:
        """An `error` event."""
        return self.event(
            "error",
            error={
                "type": error_type,
                "code": code,
                "message": message or f"Error {code}",
                "param": None,
                "event_id": event_id,
            },
        )

    def on_response_create(self, event: Json) -> list[Frame]:
        """A whole response: audio + transcript and a function call the first time,
        a short answer afterwards (text or audio, as asked)."""
        self.responses += 1
        params = event.get("response") or {}
        metadata = params.get("metadata")
        modalities = params.get("output_modalities" if self.ga else "modalities")
        audio = not modalities or "audio" in modalities
        response_id = self.new_id("resp_")
        frames: list[Frame] = [
            self.event(
                "response.created", response=self.response(response_id, metadata)
            ),
            self.event(
                "rate_limits.updated",
                rate_limits=[
                    {
                        "name": "requests",
                        "limit": 1000,
                        "remaining": 999,
                        "reset_seconds": 0.06,
                    },
                    {
                        "name": "tokens",
                        "limit": 40000,
                        "remaining": 39000,
                        "reset_seconds": 1.5,
                    },
                ],
            ),
        ]
        words = ANSWER_WORDS if self.responses == 1 else (FOLLOW_UP,)
        message = self._message(response_id, 0, words, audio, frames)
        output = [message]
        if self.responses == 1:
            output.append(self._function_call(response_id, 1, frames))
        frames.append(
            self.event(
                "response.done",
                response=self.response(response_id, metadata, "completed", output),
            )
        )
        return frames

    def response(
        self,
        response_id: str,
        metadata: Any,
        status: str = "in_progress",
        output: list[Json] | None = None,
    ) -> Json:
        """The response object of `response.created` / `response.done`."""
        done = status != "in_progress"
        response: Json = {
            "id": response_id,
            "object": "realtime.response",
            "status": status,
            "status_details": {"type": status} if done else None,
            "output": output or [],
            "conversation_id": "conv_1",
            "max_output_tokens": "inf",
            "metadata": metadata,
            "usage": {
                "total_tokens": 120,
                "input_tokens": 100,
                "output_tokens": 20,
                "input_token_details": {
                    "text_tokens": 80,
                    "audio_tokens": 20,
                    "cached_tokens": 64,
                    "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0},
                },
                "output_token_details": {"text_tokens": 5, "audio_tokens": 15},
            }
            if done
            else None,
        }
        if self.ga:
            response["output_modalities"] = ["audio"]
            response["audio"] = {
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "marin",
                }
            }
        else:
            response |= {
                "modalities": ["audio", "text"],
                "voice": "alloy",
                "output_audio_format": "pcm16",
                "temperature": 0.8,
            }
        return response

    def _names(self, audio: bool) -> tuple[str, str, str]:
        """Delta, done and content type names of the dialect and modality."""
        if audio:
            if self.ga:
                return "response.output_audio_transcript", "output_audio", "audio"
            return "response.audio_transcript", "audio", "audio"
        if self.ga:
            return "response.output_text", "output_text", "text"
        return "response.text", "text", "text"

    def _message(
        self,
        response_id: str,
        index: int,
        words: tuple[str, ...],
        audio: bool,
        frames: list[Frame],
    ) -> Json:
        item_id = self.new_id("item_")
        previous, self.last_item = self.last_item, item_id
        text = "".join(words)
        stream, content_type, part_type = self._names(audio)
        item: Json = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        ids = {"response_id": response_id, "item_id": item_id, "output_index": index}
        part_ids = ids | {"content_index": 0}
        text_key = "transcript" if audio else "text"
        frames += [
            self.event(
                "response.output_item.added",
                response_id=response_id,
                output_index=index,
                item=item,
            ),
            *(self._item_added(item, previous)[:1]),
            self.event(
                "response.content_part.added",
                **part_ids,
                part={"type": part_type, text_key: ""},
            ),
        ]
        audio_event = "response.output_audio" if self.ga else "response.audio"
        for word in words:
            if audio:
                frames.append(
                    self.event(
                        f"{audio_event}.delta",
                        **part_ids,
                        delta=_b64(b"\x01\x00" * 240),
                    )
                )
            frames.append(self.event(f"{stream}.delta", **part_ids, delta=word))
        if audio:
            frames.append(self.event(f"{audio_event}.done", **part_ids))
        frames += [
            self.event(f"{stream}.done", **part_ids, **{text_key: text}),
            self.event(
                "response.content_part.done",
                **part_ids,
                part={"type": part_type, text_key: text},
            ),
        ]
        done_item = item | {
            "status": "completed",
            "content": [{"type": content_type, text_key: text}],
        }
        frames.append(self.event("response.output_item.done", **ids, item=done_item))
        if self.ga:
            frames.append(
                self.event(
                    "conversation.item.done", previous_item_id=previous, item=done_item
                )
            )
        return done_item

    def _function_call(self, response_id: str, index: int, frames: list[Frame]) -> Json:
        item_id, call_id = self.new_id("item_"), self.new_id("call_")
        previous, self.last_item = self.last_item, item_id
        item: Json = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": CALL_NAME,
            "call_id": call_id,
            "arguments": "",
        }
        ids = {"response_id": response_id, "item_id": item_id, "output_index": index}
        done_item = item | {"status": "completed", "arguments": CALL_ARGUMENTS}
        args_done = {"call_id": call_id, "arguments": CALL_ARGUMENTS}
        if self.ga:
            args_done["name"] = CALL_NAME
        frames += [
            self.event(
                "response.output_item.added",
                response_id=response_id,
                output_index=index,
                item=item,
            ),
            *self._item_added(item, previous)[:1],
            self.event(
                "response.function_call_arguments.delta",
                **ids,
                call_id=call_id,
                delta=CALL_ARGUMENTS,
            ),
            self.event("response.function_call_arguments.done", **ids, **args_done),
            self.event("response.output_item.done", **ids, item=done_item),
        ]
        if self.ga:
            frames.append(
                self.event(
                    "conversation.item.done", previous_item_id=previous, item=done_item
                )
            )
        return done_item


ScriptFactory = Callable[[str, Dialect], Script]


@dataclass
class ScriptServer:
    """Serves `/v1/realtime`; each connection plays the script the factory gives."""

    factory: ScriptFactory = Script
    scripts: dict[str, Script] = field(default_factory=dict)  # by model
    _runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_get("/v1/realtime", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Close every connection and the listener."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def endpoint(
        self, model: str = "gpt-realtime", dialect: Dialect = "ga"
    ) -> Endpoint:
        """An endpoint whose connections play the script made for `model`."""
        return openai_endpoint(
            "sk-script", model, base_url=self.base_url, dialect=dialect
        )

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        dialect: Dialect = "beta" if request.headers.get("OpenAI-Beta") else "ga"
        model = request.query.get("model", "")
        script = self.scripts[model] = self.factory(model, dialect)
        ws = web.WebSocketResponse(timeout=1.0, max_msg_size=0)
        await ws.prepare(request)
        if not await self._play(request, ws, script.hello()):
            return ws
        async for msg in ws:
            if msg.type is not web.WSMsgType.TEXT:
                continue
            try:
                event = json.loads(msg.data)
            except ValueError:
                continue
            if not await self._play(request, ws, script.reply(event)):
                break
        return ws

    @staticmethod
    async def _play(
        request: web.Request, ws: web.WebSocketResponse, frames: list[Frame]
    ) -> bool:
        """Send the frames; False once the connection is (being) closed."""
        for frame in frames:
            if ws.closed:
                return False
            try:
                if isinstance(frame, Close):
                    await ws.close(code=frame.code, message=frame.message.encode())
                    return False
                if isinstance(frame, Abort):
                    if request.transport is not None:
                        request.transport.abort()
                    return False
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                elif isinstance(frame, Raw):
                    await ws.send_str(frame.text)
                else:
                    await ws.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                return False
        return True
