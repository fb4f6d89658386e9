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
    AccessDeniedError,
    AuthenticationError,
    BetaApiDisabledError,
    CannotConnectError,
    ConnectionLostError,
    RateLimitedError,
    ServerError,
    SessionNotStartedError,
)
from ..realtime.session import FunctionCall
from .tools import InvalidToolArgumentsError, short_tool_name

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    from homeassistant.components.conversation import ChatLog

    from ..realtime.session import RealtimeSession, ResponseStream
    from .tools import ToolSet

_LOGGER = logging.getLogger(__name__)

type AudioSink = Callable[[bytes, str], None]  # (audio, assistant item id)
type ResponseSink = Callable[[ResponseStream], None]

MAX_TOOL_ROUNDS = 10
RESPONSE_TIMEOUT = 60.0  # longest silence from the server within one response


class TurnError(Exception):
    """A turn failed; `speech` is what the user hears or reads.

    `reachable`: whether the model's endpoint still answers, so the words can be
    spoken in the model's voice (an unreachable endpoint or a rejected key can't).
    """

    def __init__(
        self,
        speech: str,
        code: intent.IntentResponseErrorCode = intent.IntentResponseErrorCode.UNKNOWN,
        *,
        reachable: bool = True,
    ) -> None:
        """Keep the words for the user, the intent error code, and reachability."""
        super().__init__(speech)
        self.speech = speech
        self.code = code
        self.reachable = reachable


@dataclass
class TurnRecord:
    """What happened in a turn, for the `openai_realtime_turn` event."""

    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    responses: int = 0
    # The response being read now: a failed turn cancels it (the server may go on
    # generating it and refuse the next turn's response as busy).
    current: ResponseStream | None = None

    def add_tool_call(self, name: str, *, success: bool) -> None:
        """One tool call, named as HA names it and without its domain prefix."""
        self.tool_calls.append(
            {"name": name, "short_name": short_tool_name(name), "success": success}
        )

    def add_usage(self, usage: ev.Usage | None) -> None:
        """Sum the usage of every response of the turn."""
        for key, value in (usage.as_dict() if usage else {}).items():
            self.usage[key] = self.usage.get(key, 0) + value


# Server error codes of a failed response, in words (the raw message may carry ids).
_RESPONSE_FAILURES = {
    "rate_limit_exceeded": "OpenAI is rate limiting requests. Try again shortly.",
    "insufficient_quota": "The OpenAI account is out of credit. Check its billing.",
    "server_error": "The model had a problem answering. Please try again.",
}


def error_for(err: Exception, host: str) -> TurnError:
    """Plain words for a failure, naming the endpoint where it helps.

    The log keeps the detail; the user never hears raw server text.
    """
    if isinstance(err, AccessDeniedError):
        return TurnError(
            f"{host} refused this API key access to the realtime model. "
            "Please see the repairs in Home Assistant's settings.",
            reachable=False,
        )
    if isinstance(err, AuthenticationError):
        return TurnError(
            f"{host} rejected the API key. Please re-enter it in the integration.",
            reachable=False,
        )
    if isinstance(err, BetaApiDisabledError):
        return TurnError(
            "The chosen model is retired. Pick gpt-realtime in the options.",
            reachable=False,
        )
    if isinstance(err, CannotConnectError):
        return TurnError(_cannot_connect(err, host), reachable=False)
    if isinstance(err, RateLimitedError):
        return TurnError(_RESPONSE_FAILURES["rate_limit_exceeded"])
    if isinstance(err, ConnectionLostError):
        return TurnError("The connection to the model dropped. Please try again.")
    if isinstance(err, ServerError):
        return TurnError(
            _RESPONSE_FAILURES.get(
                err.code or "", "The model could not answer that. Please try again."
            )
        )
    if isinstance(err, TimeoutError):
        return TurnError("The model did not answer in time. Please try again.")
    return TurnError("Sorry, something went wrong talking to the model.")


def _cannot_connect(err: CannotConnectError, host: str) -> str:
    if err.status is not None and err.status >= 500:
        return f"{host} has a problem right now (HTTP {err.status}). Try again shortly."
    if isinstance(err, SessionNotStartedError):
        return f"{host} answered but did not start a session."
    return f"I can't reach {host}. Check the network or the integration's endpoint."


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
        record.current = stream
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
        stream = await session.create_response(
            modalities=modalities, cancel_active=True
        )
        if on_response is not None:
            on_response(stream)
    raise TurnError("I stopped because the model kept calling tools without answering.")


async def _deltas(
    stream: ResponseStream,
    tools: ToolSet,
    invalid: list[tuple[FunctionCall, str]],
    on_audio: AudioSink | None,
) -> AsyncGenerator[dict[str, Any]]:
    """Translate one response into ChatLog deltas: text as it comes, then tool calls.

    Tool calls are handed to HA only once the response completed: HA runs them as
    soon as it sees them, and a response that breaks or is cancelled afterwards
    would leave the light switched while the user is told the turn failed.
    """
    yield {"role": "assistant"}
    calls: list[FunctionCall] = []
    events = aiter(stream)
    while True:
        try:
            async with asyncio.timeout(RESPONSE_TIMEOUT):
                event = await anext(events)
        except StopAsyncIteration:
            return
        if isinstance(event, ev.AudioDelta):
            if on_audio is not None:
                on_audio(event.audio, event.item_id)
        elif isinstance(event, ev.TextDelta | ev.TranscriptDelta):
            yield {"content": event.delta}
        elif isinstance(event, FunctionCall):
            calls.append(event)
        elif isinstance(event, ev.ResponseDone):
            if event.status == "incomplete":
                _LOGGER.info("Response ended early: %s", event.reason)
            if event.status == "completed" and (
                tool_inputs := _tool_inputs(calls, tools, invalid)
            ):
                yield {"tool_calls": tool_inputs}


def _tool_inputs(
    calls: list[FunctionCall], tools: ToolSet, invalid: list[tuple[FunctionCall, str]]
) -> list[Any]:
    """HA tool inputs for the calls; calls with bad arguments go to `invalid`."""
    inputs = []
    for call in calls:
        try:
            inputs.append(tools.tool_input(call.call_id, call.name, call.arguments))
        except InvalidToolArgumentsError as err:
            invalid.append((call, str(err)))
    return inputs
