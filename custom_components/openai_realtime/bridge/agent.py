"""One conversation turn on a realtime session, recorded in HA's ChatLog.

The response streams into the ChatLog as deltas; HA runs the tool calls found there
through the turn's LLM API (exposure rules apply) and yields their results, which go
back to the model as `function_call_output` items followed by a new response, until
the model answers without calling a tool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.components import conversation
from homeassistant.const import MATCH_ALL
from homeassistant.core import Context
from homeassistant.helpers import intent, llm

from .. import compat
from ..const import (
    CONF_LLM_HASS_API,
    CONF_MAX_OUTPUT_TOKENS,
    CONF_MODEL,
    CONF_PROMPT,
    CONF_TEMPERATURE,
    CONF_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION,
    CONF_VAD_EAGERNESS,
    CONF_VAD_PREFIX_PADDING_MS,
    CONF_VAD_SILENCE_MS,
    CONF_VAD_THRESHOLD,
    CONF_VOICE,
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    DEFAULT_TURN_DETECTION,
    DEFAULT_VAD_EAGERNESS,
    DEFAULT_VAD_PREFIX_PADDING_MS,
    DEFAULT_VAD_SILENCE_MS,
    DEFAULT_VAD_THRESHOLD,
    DEFAULT_VOICE,
    DOMAIN,
    EVENT_TURN,
    TURN_DETECTION_SEMANTIC_VAD,
    TURN_DETECTION_SERVER_VAD,
    dialect_for_model,
)
from ..realtime import events as ev
from ..realtime.errors import (
    AuthenticationError,
    BetaApiDisabledError,
    ConnectionLostError,
    RateLimitedError,
    RealtimeError,
    ServerError,
)
from ..realtime.session import FunctionCall, RealtimeSession, ResponseStream
from .tools import (
    InvalidToolArgumentsError,
    SafeAPIInstance,
    ToolSet,
    short_tool_name,
)
from .voice import VoiceTurn, current_turn

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Mapping

    from homeassistant.components.conversation import ChatLog, ConversationInput
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from .pool import ConversationSession, SessionPool

_LOGGER = logging.getLogger(__name__)

type AudioSink = Callable[[bytes], None]

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


async def async_provide_llm_data(
    chat_log: ChatLog,
    user_input: ConversationInput,
    api_ids: list[str],
    prompt: str | None,
) -> None:
    """Fill the ChatLog's system prompt and LLM API, on old and new HA alike.

    Admin-only APIs are left out for turns without an admin user (every spoken
    turn): asking for them would fail the whole turn. HA 2025.5+ merges several
    APIs itself; on 2025.4 the others are merged here. Either way the instance is
    wrapped so that a failing tool yields an error result instead of ending the turn.
    """
    hass = chat_log.hass
    api_ids = await _usable_api_ids(hass, api_ids, user_input.context)
    first: str | list[str] | None = (
        (api_ids if compat.MERGES_APIS else api_ids[0]) if api_ids else None
    )
    await compat.async_provide_llm_data(chat_log, user_input, DOMAIN, first, prompt)
    if chat_log.llm_api is None:
        return
    instances = [chat_log.llm_api]
    if not compat.MERGES_APIS:
        context = chat_log.llm_api.llm_context
        instances += [
            await llm.async_get_api(hass, api_id, context) for api_id in api_ids[1:]
        ]
    chat_log.llm_api = SafeAPIInstance.wrap(instances)


async def _usable_api_ids(
    hass: HomeAssistant, api_ids: list[str], context: Context
) -> list[str]:
    """The configured APIs this turn may use (admin-only ones need an admin)."""
    admin_only = {
        api.id for api in llm.async_get_apis(hass) if compat.api_requires_admin(api)
    }
    if not admin_only.intersection(api_ids):
        return api_ids
    user = await hass.auth.async_get_user(context.user_id) if context.user_id else None
    if user is not None and user.is_admin:
        return api_ids
    _LOGGER.debug("Leaving out admin-only LLM APIs %s: no admin user", admin_only)
    return [api_id for api_id in api_ids if api_id not in admin_only]


def turn_detection(options: Mapping[str, Any]) -> ev.TurnDetection | None:
    """The server's end-of-turn detection, if the user turned it on.

    Off by default: HA's pipeline (the satellite's "finished speaking" setting) ends
    the turn. When on, the server may end it sooner; it never answers or cancels on
    its own, because the STT entity decides when to ask for the response.
    """
    kind = options.get(CONF_TURN_DETECTION, DEFAULT_TURN_DETECTION)
    if kind == TURN_DETECTION_SEMANTIC_VAD:
        return ev.TurnDetection(
            "semantic_vad",
            eagerness=options.get(CONF_VAD_EAGERNESS, DEFAULT_VAD_EAGERNESS),
            create_response=False,
            interrupt_response=False,
        )
    if kind == TURN_DETECTION_SERVER_VAD:
        return ev.TurnDetection(
            "server_vad",
            threshold=float(options.get(CONF_VAD_THRESHOLD, DEFAULT_VAD_THRESHOLD)),
            prefix_padding_ms=int(
                options.get(CONF_VAD_PREFIX_PADDING_MS, DEFAULT_VAD_PREFIX_PADDING_MS)
            ),
            silence_duration_ms=int(
                options.get(CONF_VAD_SILENCE_MS, DEFAULT_VAD_SILENCE_MS)
            ),
            create_response=False,
            interrupt_response=False,
        )
    return None


def transcription_language(language: str | None) -> str | None:
    """HA's language ("en-US", "nl", "*") as the ISO-639-1 hint the API takes."""
    if not language or language == MATCH_ALL:
        return None
    primary = language.replace("_", "-").split("-")[0].lower()
    return primary if len(primary) == 2 and primary.isalpha() else None


def session_config(
    options: Mapping[str, Any],
    instructions: str,
    tools: ToolSet,
    language: str | None = None,
) -> ev.SessionConfig:
    """The realtime session configuration for a turn."""
    model = str(options.get(CONF_MODEL, DEFAULT_MODEL))
    beta = dialect_for_model(model) == "beta"
    return ev.SessionConfig(
        instructions=instructions,
        voice=str(options.get(CONF_VOICE, DEFAULT_VOICE)),
        output_modalities=("audio",),
        transcription_model=str(
            options.get(CONF_TRANSCRIPTION_MODEL) or DEFAULT_TRANSCRIPTION_MODEL
        ),
        transcription_language=transcription_language(language),
        turn_detection=turn_detection(options),
        tools=tools.tools,
        max_output_tokens=int(options[CONF_MAX_OUTPUT_TOKENS])
        if options.get(CONF_MAX_OUTPUT_TOKENS)
        else None,
        temperature=float(options[CONF_TEMPERATURE])
        if beta and options.get(CONF_TEMPERATURE)
        else None,
    )


def _error_for(err: Exception) -> TurnError:
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


class RealtimeAgent:
    """Runs conversation turns for one config entry."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, pool: SessionPool
    ) -> None:
        """Keep the entry (options) and the session pool."""
        self.hass = hass
        self.entry = entry
        self.pool = pool

    async def async_handle(
        self, user_input: ConversationInput, chat_log: ChatLog, agent_id: str
    ) -> conversation.ConversationResult:
        """Answer one turn; failures become an error response, never an exception."""
        options = self.entry.options
        record = TurnRecord()
        try:
            await async_provide_llm_data(
                chat_log,
                user_input,
                list(options.get(CONF_LLM_HASS_API) or []),
                options.get(CONF_PROMPT),
            )
        except conversation.ConverseError as err:
            return err.as_conversation_result()
        tools = ToolSet.from_api(chat_log.llm_api)
        instructions = str(getattr(chat_log.content[0], "content", "") or "")
        config = session_config(options, instructions, tools, user_input.language)
        conv = self.pool.get(chat_log.conversation_id)
        turn = _linked_turn(conv, user_input.text)
        try:
            async with conv.lock:
                try:
                    if turn is None:
                        session = await conv.ensure(config)
                        await session.add_user_text(user_input.text)
                        stream = await session.create_response(modalities=("text",))
                        await self._run_rounds(
                            session, stream, chat_log, agent_id, tools, record
                        )
                    else:
                        await self._answer_voice_turn(
                            turn, chat_log, agent_id, tools, record
                        )
                        # Follow-ups get this turn's full context (device, area).
                        await conv.ensure(config)
                except (RealtimeError, TimeoutError) as err:
                    self._on_failure(conv, err)
                    raise _error_for(err) from err
                finally:
                    if turn is not None:
                        turn.audio.finish()
                    conv.touch()
        except TurnError as err:
            return self._error_result(user_input, chat_log, err, record)
        result = self._result(user_input, chat_log)
        self._fire_event(user_input, chat_log, record, result.response.speech)
        return result

    async def _answer_voice_turn(
        self,
        turn: VoiceTurn,
        chat_log: ChatLog,
        agent_id: str,
        tools: ToolSet,
        record: TurnRecord,
    ) -> None:
        """Answer from the response the STT stage already started (or start it)."""
        turn.claim()
        stream = turn.stream or await turn.session.create_response(
            modalities=("audio",)
        )
        await self._run_rounds(
            turn.session,
            stream,
            chat_log,
            agent_id,
            tools,
            record,
            modalities=("audio",),
            on_audio=turn.audio.append,
        )

    async def async_voice_config(
        self, conversation_id: str, language: str, agent_id: str
    ) -> ev.SessionConfig:
        """The session config a voice turn needs before the agent is called.

        Computed through a throwaway copy of the conversation's ChatLog, exactly as
        the agent will, so tools and instructions are ready for the eager response.
        The satellite's device is not known yet; the agent refreshes the config
        with it after the turn.
        """
        options = self.entry.options
        user_input = _conversation_input(conversation_id, language, agent_id)
        with (
            compat.get_chat_session(self.hass, conversation_id) as session,
            conversation.async_get_chat_log(self.hass, session) as chat_log,
        ):
            await async_provide_llm_data(
                chat_log,
                user_input,
                list(options.get(CONF_LLM_HASS_API) or []),
                options.get(CONF_PROMPT),
            )
            tools = ToolSet.from_api(chat_log.llm_api)
            instructions = str(getattr(chat_log.content[0], "content", "") or "")
        return session_config(options, instructions, tools, language)

    def _on_failure(self, conv: ConversationSession, err: Exception) -> None:
        _LOGGER.warning("Realtime turn failed: %s", err)
        if isinstance(err, AuthenticationError):
            self.entry.async_start_reauth(self.hass)
        if isinstance(err, ConnectionLostError | TimeoutError):
            conv.drop()

    async def _run_rounds(
        self,
        session: RealtimeSession,
        stream: ResponseStream,
        chat_log: ChatLog,
        agent_id: str,
        tools: ToolSet,
        record: TurnRecord,
        modalities: tuple[ev.Modality, ...] = ("text",),
        on_audio: AudioSink | None = None,
    ) -> None:
        """Stream responses into the ChatLog until one calls no tool."""
        for _round in range(MAX_TOOL_ROUNDS):
            record.responses += 1
            invalid: list[tuple[FunctionCall, str]] = []
            # HA types the deltas as TypedDicts.
            deltas: Any = _deltas(stream, tools, invalid, on_audio)
            async for content in chat_log.async_add_delta_content_stream(
                agent_id, deltas
            ):
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
                record.add_tool_call(
                    tools.to_ha.get(call.name, call.name), success=False
                )
            record.add_usage(stream.usage)
            if not stream.function_calls:
                return
            stream = await session.create_response(modalities=modalities)
        raise TurnError(
            "I stopped because the model kept calling tools without answering.",
            intent.IntentResponseErrorCode.UNKNOWN,
        )

    def _result(
        self, user_input: ConversationInput, chat_log: ChatLog
    ) -> conversation.ConversationResult:
        response = intent.IntentResponse(language=user_input.language)
        # Newer HA keeps the intent response of a tool (for the satellite's card).
        for content in reversed(chat_log.content):
            if isinstance(content, conversation.ToolResultContent):
                data, _failed = compat.tool_result_outcome(content)
                response = compat.intent_response_of(data) or response
                break
            if isinstance(content, conversation.UserContent):
                break
        last = chat_log.content[-1]
        speech = last.content if isinstance(last, conversation.AssistantContent) else ""
        response.async_set_speech(speech or "")
        return _conversation_result(response, chat_log)

    def _error_result(
        self,
        user_input: ConversationInput,
        chat_log: ChatLog,
        err: TurnError,
        record: TurnRecord,
    ) -> conversation.ConversationResult:
        response = intent.IntentResponse(language=user_input.language)
        response.async_set_error(err.code, err.speech)
        self._fire_event(
            user_input, chat_log, record, response.speech, error=err.speech
        )
        return _conversation_result(response, chat_log, continue_conversation=False)

    def _fire_event(
        self,
        user_input: ConversationInput,
        chat_log: ChatLog,
        record: TurnRecord,
        speech: dict[str, dict[str, Any]],
        error: str | None = None,
    ) -> None:
        self.hass.bus.async_fire(
            EVENT_TURN,
            {
                "entry_id": self.entry.entry_id,
                "conversation_id": chat_log.conversation_id,
                "device_id": user_input.device_id,
                "text": speech.get("plain", {}).get("speech", ""),
                "tool_calls": record.tool_calls,
                "usage": record.usage,
                "responses": record.responses,
                "error": error,
            },
            context=user_input.context,
        )


def _conversation_result(
    response: intent.IntentResponse,
    chat_log: ChatLog,
    continue_conversation: bool | None = None,
) -> conversation.ConversationResult:
    """Build a result; by default the conversation continues if the model asked."""
    if continue_conversation is None:
        continue_conversation = chat_log.continue_conversation
    return compat.conversation_result(
        response, chat_log.conversation_id, continue_conversation
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


def _linked_turn(conv: ConversationSession, text: str) -> VoiceTurn | None:
    """The voice turn of this pipeline run, if our STT heard it.

    Primary link: the ContextVar the STT entity set in this pipeline task. Fallback:
    the conversation's pending turn with the same transcript, heard recently.
    """
    turn = current_turn.get()
    if turn is not None and turn.conv is conv and turn.pending:
        return turn
    pending = conv.voice_turn
    if pending is not None and pending.pending and pending.matches(text):
        return pending
    return None


def _conversation_input(
    conversation_id: str, language: str, agent_id: str
) -> ConversationInput:
    """A ConversationInput for computing LLM data before the agent is called."""
    return compat.conversation_input(
        text="",
        context=Context(),
        conversation_id=conversation_id,
        device_id=None,
        satellite_id=None,
        language=language,
        agent_id=agent_id,
    )
