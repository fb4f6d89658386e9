"""Responses: create, cancel, and the life of one response from created to done.

One response at a time may write to the default conversation; out-of-band
responses (`conversation: "none"`) run beside it. A response's context is fixed
when it is created. After `model_delay` the brain decides its outputs, which stream
through `OutputStreamer`; `response.done` carries the usage, with the prompt cache
compared by content (usage.py). The knobs that shape a response
(`defer_response_created`, `tool_preamble`, `mid_response_error`, `rate_limits`)
act here; see options.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
import contextlib
from typing import TYPE_CHECKING, Any

from .errors import Json, ProtocolError
from .items import brain_item, wire_item
from .output_stream import AudioOut, OutputStreamer, Response
from .session_config import view_truncation
from .turns import Brain, CallTool, Output, Say, TurnContext
from .usage import PromptCache, input_units, item_units, text_tokens, usage

if TYPE_CHECKING:
    from .conversation import Conversation
    from .options import EmulatorOptions
    from .session_config import Dialect, SessionView

Send = Callable[[Json], Awaitable[None]]
RATE_LIMITS = [
    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
    {"name": "tokens", "limit": 400000, "remaining": 398000, "reset_seconds": 0.3},
]


class Responder:
    """The responses of one connection."""

    def __init__(
        self,
        dialect: Dialect,
        send: Send,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        conversation: Conversation,
        options: Callable[[], EmulatorOptions],
        brain: Callable[[], Brain],
        view: Callable[[], SessionView],
        conversation_id: str,
        audio_out: AudioOut | None = None,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        """Wire the responder to its connection (`options` and `brain` read live).

        `audio_out` takes the voice instead of audio delta events (a WebRTC call's
        track); `on_done` hears each response's id once its `response.done` is out.
        """
        self.dialect = dialect
        self.send = send
        self.spawn = spawn
        self.conversation = conversation
        self._options = options
        self.brain = brain
        self.view = view
        self.conversation_id = conversation_id
        self.responses: list[Response] = []
        self.audio_started = False  # assistant audio was produced: the voice is fixed
        self.cache = PromptCache()
        self._output_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._on_done = on_done
        self.streamer = OutputStreamer(
            dialect, send, conversation, options, view, self._first_output, audio_out
        )

    @property
    def options(self) -> EmulatorOptions:
        """The knobs as they are now."""
        return self._options()

    @property
    def active(self) -> Response | None:
        """The response writing to the default conversation, if any."""
        return next(
            (r for r in self.responses if r.in_conversation and r.running), None
        )

    def start(self, params: Json) -> Response:
        """Create a response (validated params); ProtocolError if one is active."""
        in_conversation = params.get("conversation", "auto") != "none"
        if in_conversation and (active := self.active) is not None:
            raise ProtocolError(
                "Conversation already has an active response in progress: "
                f"{active.id}. Wait until the response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        response = Response(params, in_conversation, len(self.responses))
        response.context = self._context(params)
        self.responses.append(response)
        response.task = self.spawn(self._run(response))
        return response

    def cancel(self, response_id: str | None) -> None:
        """`response.cancel`: the running response (or the one named)."""
        for response in self.responses:
            if (
                response.running
                and response_id in (None, response.id)
                and response.cancel_reason is None
            ):
                response.cancel("client_cancelled")
                return
        raise ProtocolError(
            "Cancellation failed: no active response found",
            "response_cancel_not_active",
        )

    def next_output(self) -> asyncio.Future[None]:
        """Resolves at the first output of a response created from now on (or its end)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._output_waiters.append((len(self.responses), waiter))
        return waiter

    async def _first_output(self, response: Response) -> None:
        self._release_waiters(response)
        if code := self.options.mid_response_error:
            kind = "server_error" if code == "server_error" else "invalid_request_error"
            await self.send(
                {
                    "type": "error",
                    "error": {
                        "type": kind,
                        "code": code,
                        "message": f"The server reported '{code}' while generating "
                        f"response {response.id}; the response continues.",
                        "param": None,
                        "event_id": None,
                    },
                }
            )

    def _release_waiters(self, response: Response) -> None:
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for first, waiter in self._output_waiters:
            if response.index >= first:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                keep.append((first, waiter))
        self._output_waiters = keep

    def _context(self, params: Json) -> list[Json]:
        given = params.get("input")
        if given is None:
            return self._within_window(params)
        items: list[Json] = []
        for entry in given:
            if entry.get("type") == "item_reference":
                if (found := self.conversation.find(entry.get("id"))) is not None:
                    items.append(found)
            else:
                items.append(entry)
        return items

    def _within_window(self, params: Json) -> list[Json]:
        """The conversation's items the model still sees: the oldest are dropped,
        for good, when the context outgrows the window or the truncation limit."""
        view = self.view()
        instructions = str(params.get("instructions") or view.instructions)
        tools: list[Json] = params.get("tools", view.tools) or []
        fixed = len(input_units(instructions, tools, []))
        items = self.conversation.items[self.conversation.dropped :]
        sizes = [len(item_units(item)) for item in items]
        limit, keep = self._truncation_limit(fixed)
        if limit is None or sum(sizes) <= limit:
            return list(items)
        target = int(limit * keep)
        drop = 0
        while drop < len(items) and sum(sizes[drop:]) > target:
            drop += 1
        self.conversation.dropped += drop
        return list(items[drop:])

    def _truncation_limit(self, fixed: int) -> tuple[int | None, float]:
        """(the most item tokens the model sees, the share kept when cutting)."""
        window = self.options.context_window_tokens - fixed
        truncation = view_truncation(self.view().config)
        if truncation == "disabled":
            return None, 1.0
        if isinstance(truncation, dict) and truncation.get("type") == "retention_ratio":
            limits = truncation.get("token_limits") or {}
            post = limits.get("post_instructions")
            limit = min(window, post) if isinstance(post, int) else window
            return limit, float(truncation.get("retention_ratio", 1.0))
        return window, 1.0

    # --- one response ----------------------------------------------------------------

    def _speaks(self, response: Response) -> bool:
        params = response.params
        if "output_modalities" in params:
            return "audio" in params["output_modalities"]
        if "modalities" in params:
            return "audio" in params["modalities"]
        return self.view().audio_out

    def _rate_limits_at(self, moment: str) -> bool:
        where = self.options.rate_limits
        if where == "auto":
            where = "after_created" if self.dialect == "beta" else "after_done"
        return where == moment

    async def _created(self, response: Response) -> None:
        response.created_sent = True
        await self.send(
            {
                "type": "response.created",
                "response": self._object(response, "in_progress", None),
            }
        )
        if self._rate_limits_at("after_created"):
            await self.send({"type": "rate_limits.updated", "rate_limits": RATE_LIMITS})

    def _outputs(
        self, response: Response, instructions: str, tools: list[Json]
    ) -> list[Output]:
        ctx = TurnContext(
            [brain_item(i) for i in response.context], tools, instructions
        )
        outputs = list(self.brain().respond(ctx))
        preamble = self.options.tool_preamble
        calls = [i for i, o in enumerate(outputs) if isinstance(o, CallTool)]
        if (
            preamble
            and calls
            and not any(isinstance(o, Say) for o in outputs[: calls[0]])
        ):
            outputs.insert(calls[0], Say(preamble))
        return outputs

    async def _run(self, response: Response) -> None:
        if not self.options.defer_response_created:
            await self._created(response)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.options.model_delay):
                await response.cancelled.wait()
        if not response.created_sent and response.cancel_reason is None:
            await self._created(response)
        params, view = response.params, self.view()
        instructions = str(params.get("instructions") or view.instructions)
        tools: list[Json] = params.get("tools", view.tools) or []
        failure = self.options.fail_responses
        outputs = (
            []
            if response.cancel_reason or failure
            else self._outputs(response, instructions, tools)
        )
        speaks = self._speaks(response)
        limit = params.get(
            "max_output_tokens", params.get("max_response_output_tokens")
        )
        if not isinstance(limit, int):
            limit = view.max_output_tokens
        out_text = out_audio = 0
        status = "completed"
        for index, output in enumerate(outputs):
            if response.cancel_reason is not None:
                break
            if isinstance(output, Say):
                text = output.text
                if limit is not None and text_tokens(text) > limit:
                    text, status = text[: limit * 4], "incomplete"
                self.audio_started |= speaks
                tokens = await self.streamer.say(response, index, text, speaks)
                out_text, out_audio = out_text + tokens[0], out_audio + tokens[1]
            else:
                out_text += await self.streamer.call(
                    response, index, output.name, output.arguments
                )
            if status == "incomplete":
                break
        if response.cancel_reason is not None:
            status = "cancelled"
        elif failure:
            status = "failed"
        units = input_units(instructions, tools, response.context)
        cached = self.cache.cached(
            units, self.options.cache_block_tokens, self.options.cache_min_tokens
        )
        usage_obj = usage(self.dialect, units, cached, out_text, out_audio)
        self._release_waiters(response)
        await self.send(
            {
                "type": "response.done",
                "response": self._object(response, status, usage_obj),
            }
        )
        if self._on_done is not None:
            self._on_done(response.id)
        if self._rate_limits_at("after_done"):
            await self.send({"type": "rate_limits.updated", "rate_limits": RATE_LIMITS})

    def _object(self, response: Response, status: str, usage_obj: Json | None) -> Json:
        """The response object of `response.created` / `response.done`."""
        params, view = response.params, self.view()
        details: Json | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": response.cancel_reason}
        elif status == "incomplete":
            details = {"type": "incomplete", "reason": "max_output_tokens"}
        elif status == "failed":
            details = {"type": "failed", "error": _failure(self.options.fail_responses)}
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
            max_tokens = view.max_output_tokens or "inf"
        speaks = self._speaks(response)
        if self.dialect == "ga":
            out = (params.get("audio") or {}).get("output") or {}
            voice = out.get("voice", view.voice)
            audio_out = {
                "format": out.get("format", view.config["audio"]["output"]["format"]),
                # The response object's voice is a string (SDK `RealtimeResponse`):
                # a custom voice shows as its id.
                "voice": voice["id"] if isinstance(voice, dict) else voice,
            }
            return base | {
                "output_modalities": ["audio"] if speaks else ["text"],
                "max_output_tokens": max_tokens,
                "audio": {"output": audio_out},
            }
        return base | {
            "modalities": ["audio", "text"] if speaks else ["text"],
            "voice": params.get("voice", view.voice),
            "output_audio_format": params.get(
                "output_audio_format", view.output_format
            ),
            "temperature": params.get(
                "temperature", view.config.get("temperature", 0.8)
            ),
            "max_output_tokens": max_tokens,
        }


_FAILURE_MESSAGES = {
    "rate_limit_exceeded": "Rate limit reached for gpt-realtime in organization "
    "org-emulator on tokens per min (TPM): Limit 40000, Used 39990, Requested 420.",
    "insufficient_quota": "You exceeded your current quota, please check your plan "
    "and billing details.",
}


def _failure(code: str | None) -> Json:
    """The error object of a failed response, worded like the real server's."""
    message = _FAILURE_MESSAGES.get(
        code or "",
        "The server had an error while processing your request. "
        "Please include the request ID resp_emulated in your message.",
    )
    error_type = (
        "invalid_request_error" if code == "insufficient_quota" else "server_error"
    )
    if code == "rate_limit_exceeded":
        error_type = "rate_limit_error"
    return {"type": error_type, "code": code, "message": message}
