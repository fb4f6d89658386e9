"""Talking to the model from the browser (the card's WebRTC calls): keys, tools, turns.

The browser streams its microphone to the model and plays the model's voice itself
(WebRTC). Home Assistant stays in charge of everything else, per logged-in user:

* `async_start` renders the user's prompt and LLM API tools through the
  conversation's ChatLog, exactly as a typed turn would (exposure rules, admin-only
  APIs left out for other users), and mints a short-lived client secret for that
  session: the API key never leaves Home Assistant. The ChatLog's recent turns come
  back as items for the browser to add, so the call continues the conversation.
* `async_run_tool` runs one function call the browser received, through that
  user's API instance with the user's context; the browser sends the result to
  the model.
* `async_record_turn` writes a finished turn into the ChatLog (the user's
  transcript, the tool calls this module ran and their results, the answer as far
  as it was heard), counts its responses' usage, and fires the turn event, so a
  later typed or satellite turn in the conversation knows it.

One `BrowserCall` per started call, known by a random handle and bound to its user.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field, replace
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from homeassistant.components import conversation
from homeassistant.core import Context
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import llm
import voluptuous as vol

from .. import compat
from ..const import DOMAIN
from ..realtime import events as ev
from ..realtime.client_secrets import create_client_secret
from .chat_log_sync import ChatLogPosition, missing_entries
from .llm_data import async_prepare_llm_data
from .rounds import TurnRecord
from .tools import InvalidToolArgumentsError, ToolSet
from .turns import TurnReport

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import aiohttp
    from homeassistant.auth.models import User
    from homeassistant.core import HomeAssistant

    from ..options import EntryOptions
    from ..realtime.endpoint import Endpoint
    from ..realtime.session import HistoryEntry
    from .llm_data import TurnLLMData
    from .usage import UsageAccountant

_LOGGER = logging.getLogger(__name__)

SECRET_TTL = 60  # seconds: the key only has to start the call
MAX_CALLS = 32  # started calls remembered per entry (oldest forgotten first)
MAX_TOOL_RESULTS = 64  # tool results remembered per call, for its turn records
MS_PER_AUDIO_TOKEN = 50  # the model's audio is billed at one token per 50 ms
INTERRUPTED = "…"


class BrowserCallError(HomeAssistantError):
    """A request of the card that cannot be served; `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the websocket error code and the words for the card."""
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """A tool call this module ran: its input, result (or error), and output."""

    tool_input: llm.ToolInput
    result: Any
    error: Exception | None
    output: str  # what the model reads (JSON)
    failed: bool


@dataclass
class BrowserCall:
    """A call the card started: whose, in which conversation, with which tools."""

    handle: str
    user_id: str
    conversation_id: str
    language: str
    tools: ToolSet
    api: llm.APIInstance | None
    results: OrderedDict[str, ToolOutcome] = field(default_factory=OrderedDict)
    counted: set[str] = field(default_factory=set)  # response ids with usage counted
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class TurnPart:
    """One item of a finished turn, in order: an answer or a function call."""

    kind: str  # "message" | "function_call"
    response_id: str = ""
    transcript: str = ""
    audio_end_ms: int | None = None  # set when the item was truncated (barge-in)
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class ResponseReport:
    """A response of the turn as `response.done` reported it."""

    response_id: str
    status: str
    usage: ev.Usage | None


@dataclass(frozen=True, slots=True)
class BrowserTurn:
    """A finished turn, as the card saw it on the data channel."""

    user_text: str
    parts: Sequence[TurnPart]
    responses: Sequence[ResponseReport]


class BrowserCalls:
    """The browser calls of one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        options: EntryOptions,
        http: aiohttp.ClientSession,
        endpoint: Callable[[], Endpoint],
        usage: UsageAccountant,
        agent_entity_id: Callable[[], str | None],
        report: Callable[[TurnReport, Context], None],
    ) -> None:
        """Keep what minting keys, running tools and recording turns need;
        `report` tells automations about each finished turn."""
        self.hass = hass
        self.entry_id = entry_id
        self.options = options
        self.http = http
        self.endpoint = endpoint
        self.usage = usage
        self._agent_entity_id = agent_entity_id
        self._report = report
        self.calls: OrderedDict[str, BrowserCall] = OrderedDict()

    # --- starting a call ---------------------------------------------------------------

    async def async_start(
        self, user: User, conversation_id: str | None, language: str
    ) -> dict[str, Any]:
        """Mint a client secret for this user's session; what the card needs.

        Raises BrowserCallError, or the protocol library's errors from minting.
        """
        context = Context(user_id=user.id)
        with (
            compat.get_chat_session(self.hass, conversation_id, context) as session,
            conversation.async_get_chat_log(self.hass, session) as chat_log,
        ):
            data = await self._llm_data(chat_log, context, language)
            contents = list(chat_log.content)
            conversation_id = session.conversation_id
        config = self.options.session_config(
            data.instructions, data.tools.tools, language
        )
        config = replace(config, turn_detection=self.options.browser_turn_detection())
        secret = await create_client_secret(
            self.http, self.endpoint(), config, ttl=SECRET_TTL
        )
        call = BrowserCall(
            handle=secrets.token_urlsafe(16),
            user_id=user.id,
            conversation_id=conversation_id,
            language=language,
            tools=data.tools,
            api=chat_log.llm_api,
        )
        self._remember(call)
        history = missing_entries(
            contents, ChatLogPosition(), len(contents), data.tools
        )
        return {
            "handle": call.handle,
            "conversation_id": conversation_id,
            "client_secret": secret.value,
            "expires_at": secret.expires_at,
            "calls_url": secret.calls_url,
            "model": config_model(secret.session),
            "voice": self.options.voice,
            "history": [_history_item(entry) for entry in history],
            "tools": [tool.name for tool in data.tools.tools],
        }

    def _remember(self, call: BrowserCall) -> None:
        self.calls[call.handle] = call
        while len(self.calls) > MAX_CALLS:
            self.calls.popitem(last=False)

    def _call(self, user: User, handle: str) -> BrowserCall:
        call = self.calls.get(handle)
        if call is None:
            raise BrowserCallError("not_found", "This call has ended. Start again.")
        if call.user_id != user.id:
            raise Unauthorized(user_id=user.id)
        self.calls.move_to_end(handle)
        return call

    async def _llm_data(
        self, chat_log: conversation.ChatLog, context: Context, language: str
    ) -> TurnLLMData:
        user_input = compat.conversation_input(
            text="",
            context=context,
            conversation_id=chat_log.conversation_id,
            device_id=None,
            satellite_id=None,
            language=language,
            agent_id=self._agent_entity_id() or "",
        )
        try:
            return await async_prepare_llm_data(
                chat_log,
                user_input,
                list(self.options.llm_hass_api),
                self.options.prompt or None,
            )
        except conversation.ConverseError as err:
            raise BrowserCallError("llm_api", str(err)) from err

    # --- tools -------------------------------------------------------------------------

    async def async_run_tool(
        self, user: User, handle: str, call_id: str, name: str, arguments: str
    ) -> str:
        """Run one function call of the call's model as the user; its output."""
        call = self._call(user, handle)
        if (done := call.results.get(call_id)) is not None:
            return done.output  # asked again (the card retried): same answer
        outcome = await self._run(call, user, call_id, name, arguments)
        call.results[call_id] = outcome
        while len(call.results) > MAX_TOOL_RESULTS:
            call.results.popitem(last=False)
        return outcome.output

    async def _run(
        self, call: BrowserCall, user: User, call_id: str, name: str, arguments: str
    ) -> ToolOutcome:
        try:
            tool_input = call.tools.tool_input(call_id, name, arguments)
        except InvalidToolArgumentsError as err:
            return _failed(_tool_input(call_id, name), err)
        if call.api is None:
            return _failed(tool_input, HomeAssistantError("No tools are configured"))
        # Every call runs as the user, with a context of its own.
        call.api.llm_context = replace(
            call.api.llm_context, context=Context(user_id=user.id)
        )
        try:
            result = await call.api.async_call_tool(tool_input)
        except (HomeAssistantError, vol.Invalid) as err:
            return _failed(tool_input, err)
        data, failed = compat.tool_call_outcome(result)
        return ToolOutcome(
            tool_input, result, None, json.dumps(data, default=str), failed
        )

    # --- finished turns ----------------------------------------------------------------

    async def async_record_turn(
        self, user: User, handle: str, turn: BrowserTurn
    ) -> str:
        """Write a finished turn into the ChatLog, count its usage; the
        conversation id (a new one if the conversation had expired)."""
        call = self._call(user, handle)
        async with call.lock:
            record = TurnRecord()
            for response in turn.responses:
                if response.response_id in call.counted:
                    continue
                call.counted.add(response.response_id)
                record.responses += 1
                record.add_usage(response.usage)
                self.usage.async_on_event(
                    ev.ResponseDone(
                        response.response_id, response.status, None, [], response.usage
                    )
                )
            context = Context(user_id=user.id)
            with (
                compat.get_chat_session(
                    self.hass, call.conversation_id, context
                ) as session,
                conversation.async_get_chat_log(self.hass, session) as chat_log,
            ):
                await self._llm_data(chat_log, context, call.language)
                answer = await self._write(chat_log, call, turn, record)
                call.conversation_id = session.conversation_id
            self._report(
                TurnReport(
                    entry_id=self.entry_id,
                    conversation_id=call.conversation_id,
                    device_id=None,
                    text=answer,
                    tool_calls=record.tool_calls,
                    usage=record.usage,
                    responses=record.responses,
                ),
                context,
            )
            return call.conversation_id

    async def _write(
        self,
        chat_log: conversation.ChatLog,
        call: BrowserCall,
        turn: BrowserTurn,
        record: TurnRecord,
    ) -> str:
        """The turn's contents, in order; the last answer as heard."""
        agent_id = self._agent_entity_id() or DOMAIN
        if turn.user_text:
            chat_log.async_add_user_content(
                conversation.UserContent(content=turn.user_text)
            )
        heard = _heard_parts(turn)
        text: list[str] = []
        outcomes: list[ToolOutcome] = []
        for part, words in zip(turn.parts, heard, strict=True):
            if part.kind == "function_call":
                if (outcome := call.results.get(part.call_id)) is not None:
                    outcomes.append(outcome)
                continue
            if outcomes:
                await _add_tool_round(chat_log, agent_id, text, outcomes, record)
                text, outcomes = [], []
            if words:
                text.append(words)
        if outcomes:
            await _add_tool_round(chat_log, agent_id, text, outcomes, record)
            text = []
        answer = " ".join(text)
        if answer:
            chat_log.async_add_assistant_content_without_tools(
                conversation.AssistantContent(agent_id=agent_id, content=answer)
            )
        return answer

    def close(self) -> None:
        """Forget every call (the entry unloads); their keys expire on their own."""
        self.calls.clear()


async def _add_tool_round(
    chat_log: conversation.ChatLog,
    agent_id: str,
    text: list[str],
    outcomes: list[ToolOutcome],
    record: TurnRecord,
) -> None:
    """The assistant's tool calls (and what it said before them) and their results.

    HA writes the results itself from the outcomes this module already has: the
    tools do not run again.
    """
    loop = asyncio.get_running_loop()
    done: dict[str, Any] = {}
    for outcome in outcomes:
        future: asyncio.Future[Any] = loop.create_future()
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.result)
        done[outcome.tool_input.id] = future
        record.add_tool_call(outcome.tool_input.tool_name, success=not outcome.failed)
    content = conversation.AssistantContent(
        agent_id=agent_id,
        content=" ".join(text) or None,
        tool_calls=[outcome.tool_input for outcome in outcomes],
    )
    async for _result in chat_log.async_add_assistant_content(
        content, tool_call_tasks=done
    ):
        pass


def _heard_parts(turn: BrowserTurn) -> list[str]:
    """Each part's words as the user heard them: a truncated answer is cut where
    playback stopped, estimated from its response's audio tokens (50 ms each)
    shared among the response's answers by their length."""
    audio_ms = {
        r.response_id: r.usage.output_audio_tokens * MS_PER_AUDIO_TOKEN
        for r in turn.responses
        if r.usage is not None
    }
    chars: dict[str, int] = {}
    for part in turn.parts:
        if part.kind == "message":
            chars[part.response_id] = chars.get(part.response_id, 0) + len(
                part.transcript
            )
    heard: list[str] = []
    for part in turn.parts:
        if part.kind != "message" or part.audio_end_ms is None:
            heard.append(part.transcript.strip() if part.kind == "message" else "")
            continue
        total = audio_ms.get(part.response_id, 0)
        share = total * len(part.transcript) / max(1, chars[part.response_id])
        heard.append(heard_text(part.transcript, part.audio_end_ms, share))
    return heard


def heard_text(transcript: str, audio_end_ms: int, audio_ms: float) -> str:
    """The words of `transcript` heard in its first `audio_end_ms` of `audio_ms`.

    Whole words only, and "…" where the user stopped hearing it. Unknown length
    (0): nothing can be said to have been heard but what was played, so nothing.
    """
    text = transcript.strip()
    if audio_ms <= 0 or audio_end_ms <= 0:
        return ""
    if audio_end_ms >= audio_ms:
        return text
    cut = int(len(text) * audio_end_ms / audio_ms)
    if cut < len(text) and not text[cut].isspace():
        cut = text.rfind(" ", 0, cut + 1)
    heard = text[: max(cut, 0)].rstrip(" ,;:")
    return f"{heard}{INTERRUPTED}" if heard else ""


def config_model(session: dict[str, Any]) -> str | None:
    """The model a client secret's session runs (as the server reported it)."""
    model = session.get("model")
    return model if isinstance(model, str) else None


def _tool_input(call_id: str, name: str) -> llm.ToolInput:
    return llm.ToolInput(id=call_id, tool_name=name, tool_args={})


def _failed(tool_input: llm.ToolInput, err: Exception) -> ToolOutcome:
    """A call that failed, told to the model the way HA's ChatLog tells it."""
    data = {"error": type(err).__name__}
    if str(err):
        data["error_text"] = str(err)
    error = err if isinstance(err, HomeAssistantError | vol.Invalid) else None
    return ToolOutcome(
        tool_input,
        data,
        error or HomeAssistantError(str(err)),
        json.dumps(data),
        True,
    )


def _history_item(entry: HistoryEntry) -> dict[str, Any]:
    """A ChatLog entry as the GA item the browser adds to its session."""
    if entry.kind == "user":
        return ev.user_text_item(entry.text)
    if entry.kind == "assistant":
        return ev.assistant_text_item(entry.text, "ga")
    if entry.kind == "function_call":
        return ev.function_call_item(entry.call_id, entry.name, entry.text)
    return ev.function_call_output_item(entry.call_id, entry.text)
