"""Responses into HA's ChatLog: text as deltas, tool calls run by HA, until answered.

Each round streams one response into the ChatLog. HA runs the tool calls found in
the deltas through the turn's LLM API (exposure rules apply) and yields their
results, which go back to the model as `function_call_output` items followed by a
new response, until the model answers without calling a tool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.components import conversation
from homeassistant.helpers import intent

from .. import compat
from ..realtime import events as ev
from ..realtime.errors import (
    AuthenticationError,
    BetaApiDisabledError,
    ConnectionLostError,
    RateLimitedError,
    ServerError,
)
from ..realtime.session import FunctionCall
from .tools import InvalidToolArgumentsError, short_tool_name

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    from homeassistant.components.conversation import ChatLog

    from ..realtime.session import RealtimeSession, ResponseStream
    from .tools import ToolSet

_LOGGER = logging.getLogger(__name__)

type AudioSink = Callable[[bytes], None]
type ResponseSink = Callable[[ResponseStream], None]

MAX_TOOL_ROUNDS = 10
RESPONSE_TIMEOUT = 60.0  # longest silence from the server within one response


class TurnError(Exception):
    """A turn failed; `speech` is what the user hears or reads."""

    def __init__(self, speech: str, code: intent.IntentResponseErrorCode) -> None:
        """Keep the words for the user and the intent error code."""
        super().__init__(speech)
        self.speech = speech
        self.code = code


@dataclass
class TurnRecord:
    """What happened in a turn, for the `openai_realtime_turn` event."""

    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    responses: int = 0

    def add_tool_call(self, name: str, *, success: bool) -> None:
        """One tool call, named as HA names it and without its domain prefix."""
        self.tool_calls.append(
            {"name": name, "short_name": short_tool_name(name), "success": success}
        )

    def add_usage(self, usage: ev.Usage | None) -> None:
        """Sum the usage of every response of the turn."""
        for key, value in (usage.as_dict() if usage else {}).items():
            self.usage[key] = self.usage.get(key, 0) + value


def error_for(err: Exception) -> TurnError:
    """Plain words for a failure; the log keeps the detail."""
    code = intent.IntentResponseErrorCode.UNKNOWN
    if isinstance(err, AuthenticationError):
        return TurnError("The OpenAI API key was rejected. Please re-enter it.", code)
    if isinstance(err, BetaApiDisabledError):
        return TurnError(
            "The chosen model is retired. Pick gpt-realtime in the options.", code
        )
    if isinstance(err, RateLimitedError):
        return TurnError("OpenAI is rate limiting requests. Try again shortly.", code)
    if isinstance(err, ConnectionLostError):
        return TurnError("The connection to the model dropped. Please try again.", code)
    if isinstance(err, ServerError):
        return TurnError(f"The model reported an error: {err.server_message}", code)
    if isinstance(err, TimeoutError):
        return TurnError("The model did not answer in time.", code)
    return TurnError("Sorry, something went wrong talking to the model.", code)


async def async_run_rounds(
    session: RealtimeSession,
    stream: ResponseStream,
    chat_log: ChatLog,
    agent_id: str,
    tools: ToolSet,
    record: TurnRecord,
    *,
    modalities: tuple[ev.Modality, ...] = ("text",),
    on_audio: AudioSink | None = None,
    on_response: ResponseSink | None = None,
) -> None:
    """Stream responses into the ChatLog until one calls no tool."""
    for _round in range(MAX_TOOL_ROUNDS):
        record.responses += 1
        invalid: list[tuple[FunctionCall, str]] = []
        deltas: Any = _deltas(stream, tools, invalid, on_audio)  # HA's TypedDicts
        async for content in chat_log.async_add_delta_content_stream(agent_id, deltas):
            if isinstance(content, conversation.ToolResultContent):
                result, failed = compat.tool_result_outcome(content)
                await session.send_function_result(
                    content.tool_call_id, json.dumps(result, default=str)
                )
                record.add_tool_call(content.tool_name, success=not failed)
        for call, message in invalid:
            await session.send_function_result(
                call.call_id, json.dumps({"error": message})
            )
            record.add_tool_call(tools.to_ha.get(call.name, call.name), success=False)
        record.add_usage(stream.usage)
        if not stream.function_calls:
            return
        stream = await session.create_response(modalities=modalities)
        if on_response is not None:
            on_response(stream)
    raise TurnError(
        "I stopped because the model kept calling tools without answering.",
        intent.IntentResponseErrorCode.UNKNOWN,
    )


async def _deltas(
    stream: ResponseStream,
    tools: ToolSet,
    invalid: list[tuple[FunctionCall, str]],
    on_audio: AudioSink | None,
) -> AsyncGenerator[dict[str, Any]]:
    """Translate one response into ChatLog deltas (text, then tool calls)."""
    yield {"role": "assistant"}
    events = aiter(stream)
    while True:
        try:
            async with asyncio.timeout(RESPONSE_TIMEOUT):
                event = await anext(events)
        except StopAsyncIteration:
            return
        if isinstance(event, ev.AudioDelta):
            if on_audio is not None:
                on_audio(event.audio)
        elif isinstance(event, ev.TextDelta | ev.TranscriptDelta):
            yield {"content": event.delta}
        elif isinstance(event, FunctionCall):
            try:
                tool_input = tools.tool_input(
                    event.call_id, event.name, event.arguments
                )
            except InvalidToolArgumentsError as err:
                invalid.append((event, str(err)))
                continue
            yield {"tool_calls": [tool_input]}
        elif isinstance(event, ev.ResponseDone) and event.status == "incomplete":
            _LOGGER.info("Response ended early: %s", event.reason)
