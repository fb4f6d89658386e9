"""The conversation agent's turns: typed or spoken, on the conversation's session.

A typed turn adds the user's text to the conversation's realtime session and asks
for a text response. A spoken turn was started by our STT stage on the same
session: the agent claims it and answers from the response already under way,
its audio flowing into the turn for our TTS stage. Either way the answer streams
into HA's ChatLog and tool calls run through HA (see rounds.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.components import conversation
from homeassistant.core import Context, callback
from homeassistant.helpers import intent

from .. import compat
from ..const import EVENT_TURN
from ..realtime.errors import ConnectionLostError, RealtimeError
from .endpoint_config import endpoint_host
from .llm_data import async_prepare_llm_data
from .rounds import TurnError, TurnRecord, async_run_rounds, error_for
from .voice_turn import TurnFailure, VoiceTurn, current_voice_turn

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.components.conversation import ChatLog, ConversationInput
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from ..options import EntryOptions
    from ..realtime import events as ev
    from ..realtime.session import ResponseStream
    from .conversations import Conversation, ConversationPool
    from .llm_data import TurnLLMData
    from .tools import ToolSet

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnReport:
    """What one turn of the agent did: the `openai_realtime_turn` event's data.

    `error` holds the plain words the user got when the turn failed (else None).
    """

    entry_id: str
    conversation_id: str
    device_id: str | None
    text: str
    tool_calls: list[dict[str, Any]]
    usage: dict[str, int]
    responses: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The event data (a copy)."""
        return asdict(self)


type TurnListener = Callable[[TurnReport], None]


@dataclass(frozen=True, slots=True)
class VoicePreparation:
    """The ChatLog so far, and a session config when one had to be computed
    (with `context`, this moment's facts for the session, when it has some)."""

    config: ev.SessionConfig | None
    tools: ToolSet | None
    contents: list[conversation.Content]
    context: str = ""


class TurnRunner:
    """Runs the conversation agent's turns for one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        options: EntryOptions,
        pool: ConversationPool,
        agent_entity_id: Callable[[], str | None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Keep the entry, its options and its conversations.

        `on_error` hears every failure (a rejected key starts re-authentication).
        """
        self.hass = hass
        self.entry = entry
        self.options = options
        self.pool = pool
        self._agent_entity_id = agent_entity_id
        self._on_error = on_error
        self._listeners: list[TurnListener] = []

    def add_listener(self, listener: TurnListener) -> Callable[[], None]:
        """Hear every turn's report (the event entity); returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def async_handle(
        self, user_input: ConversationInput, chat_log: ChatLog, agent_id: str
    ) -> conversation.ConversationResult:
        """Answer one turn; failures become an error response, never an exception."""
        record = TurnRecord()
        try:
            data = await self._llm_data(chat_log, user_input)
        except conversation.ConverseError as err:
            return err.as_conversation_result()
        config = self._session_config(data, user_input.language)
        conv = self.pool.get(chat_log.conversation_id)
        turn = current_voice_turn.get()
        if turn is not None and not turn.answers(conv.conversation_id, user_input.text):
            turn = None
        try:
            async with conv.lock:
                try:
                    if turn is None:
                        await self._answer_typed(
                            conv,
                            config,
                            user_input.text,
                            chat_log,
                            agent_id,
                            data,
                            record,
                        )
                    else:
                        await self._answer_spoken(
                            turn, conv, config, chat_log, agent_id, data, record
                        )
                        # Follow-ups get this turn's full context (device, area),
                        # sent when the next turn starts: not on this answer's path.
                        conv.want(config, data.tools)
                        conv.clock = bool(data.context)
                except (RealtimeError, TimeoutError) as err:
                    raise self._failed(conv, err, record.current) from err
                finally:
                    conv.followed(len(chat_log.content))  # this turn is its own
                    conv.touch()
        except TurnError as err:
            if turn is not None:
                turn.fail(TurnFailure(err.speech, reachable=err.reachable))
            return self._error_result(user_input, chat_log, err, record)
        if turn is not None:
            turn.done()
        result = self._result(user_input, chat_log)
        self._fire_event(user_input, chat_log, record, result.response.speech)
        return result

    async def _answer_typed(
        self,
        conv: Conversation,
        config: ev.SessionConfig,
        text: str,
        chat_log: ChatLog,
        agent_id: str,
        data: TurnLLMData,
        record: TurnRecord,
    ) -> None:
        """Add what the session missed and the text; stream a text answer."""
        session = await conv.ensure(config, data.tools)
        await conv.follow(chat_log.content, len(chat_log.content) - 1)
        conv.clock = bool(data.context)
        if data.context:
            await session.add_system_text(data.context)
        await session.add_user_text(text)
        stream = await session.create_response(modalities=("text",), cancel_active=True)
        await async_run_rounds(session, stream, chat_log, agent_id, data.tools, record)

    async def _answer_spoken(
        self,
        turn: VoiceTurn,
        conv: Conversation,
        config: ev.SessionConfig,
        chat_log: ChatLog,
        agent_id: str,
        data: TurnLLMData,
        record: TurnRecord,
    ) -> None:
        """Answer from the response the STT stage already started, or start it
        with this turn's instructions (device, area, an automation's extra prompt).
        """
        stream = turn.claim()
        if stream is None:
            await turn.settle()  # an eager answer withdrawn while HA matched intents
            if not turn.session.closed:
                await conv.ensure(config, data.tools)
            stream = await turn.session.create_response(modalities=("audio",))
        turn.answering(stream)
        await async_run_rounds(
            turn.session,
            stream,
            chat_log,
            agent_id,
            data.tools,
            record,
            modalities=("audio",),
            on_audio=turn.audio.append,
            on_response=turn.answering,
        )

    async def async_prepare_voice(
        self,
        conversation_id: str,
        language: str,
        device_id: str | None,
        *,
        configure: bool,
    ) -> VoicePreparation:
        """What a voice turn needs before the agent is called: the ChatLog so far
        and, for a conversation without a session config yet, that config.

        The config is computed through the conversation's ChatLog exactly as the
        agent will (with the satellite's device, when it is known), so tools and
        instructions are ready for the eager response and the agent finds the
        same config: no second session.update, and on HA 2026.11 HA keeps the
        LLM API it built here for the agent's turn.
        """
        user_input = compat.conversation_input(
            text="",
            context=Context(),
            conversation_id=conversation_id,
            device_id=device_id,
            satellite_id=None,
            language=language,
            agent_id=self._agent_entity_id() or "",
        )
        with (
            compat.get_chat_session(self.hass, conversation_id) as session,
            conversation.async_get_chat_log(self.hass, session) as chat_log,
        ):
            contents = list(chat_log.content)
            if not configure:
                return VoicePreparation(None, None, contents)
            data = await self._llm_data(chat_log, user_input)
        return VoicePreparation(
            self._session_config(data, language), data.tools, contents, data.context
        )

    async def _llm_data(
        self, chat_log: ChatLog, user_input: ConversationInput
    ) -> TurnLLMData:
        return await async_prepare_llm_data(
            chat_log,
            user_input,
            list(self.options.llm_hass_api),
            self.options.prompt or None,
        )

    def _session_config(
        self, data: TurnLLMData, language: str | None
    ) -> ev.SessionConfig:
        return self.options.session_config(
            data.instructions, data.tools.tools, language
        )

    def _failed(
        self, conv: Conversation, err: Exception, response: ResponseStream | None
    ) -> TurnError:
        """Tidy up after a failure; the words for the user.

        A dropped session is forgotten (the next turn reopens it); a kept one has
        the turn's response cancelled, or the server refuses the next one as busy.
        """
        _LOGGER.warning("Realtime turn failed: %s", err)
        self._on_error(err)
        if isinstance(err, ConnectionLostError | TimeoutError):
            conv.drop()
        elif (session := conv.session) is not None and not session.closed:
            conv.cancel_in_background(response or session.active_response)
        return error_for(err, endpoint_host(self.pool.endpoint()))

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
        return compat.conversation_result(
            response, chat_log.conversation_id, chat_log.continue_conversation
        )

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
        return compat.conversation_result(
            response, chat_log.conversation_id, continue_conversation=False
        )

    def _fire_event(
        self,
        user_input: ConversationInput,
        chat_log: ChatLog,
        record: TurnRecord,
        speech: dict[str, dict[str, Any]],
        error: str | None = None,
    ) -> None:
        report = TurnReport(
            entry_id=self.entry.entry_id,
            conversation_id=chat_log.conversation_id,
            device_id=user_input.device_id,
            text=speech.get("plain", {}).get("speech", ""),
            tool_calls=record.tool_calls,
            usage=record.usage,
            responses=record.responses,
            error=error,
        )
        self.report(report, user_input.context)

    @callback
    def report(self, report: TurnReport, context: Context) -> None:
        """Tell automations about a finished turn (typed, spoken or in the
        browser card): the bus event, then the event entity."""
        self.hass.bus.async_fire(EVENT_TURN, report.as_dict(), context=context)
        for listener in list(self._listeners):
            listener(report)
