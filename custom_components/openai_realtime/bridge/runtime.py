"""What the platforms of one config entry share: HTTP, the session pool, the agent."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from homeassistant.core import callback
from homeassistant.helpers import chat_session
from homeassistant.util.ulid import ulid_now

from .. import compat
from ..const import (
    CONF_EAGER_RESPONSE,
    CONF_IDLE_TIMEOUT,
    CONF_MODEL,
    DEFAULT_EAGER_RESPONSE,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MODEL,
)
from ..realtime import events as ev
from ..realtime.audio import AudioFormatError
from ..realtime.errors import RealtimeError
from ..realtime.read_aloud import READ_ALOUD_INSTRUCTIONS, read_aloud_input
from . import voice
from .agent import RealtimeAgent
from .endpoints import build_endpoint
from .pool import SessionPool
from .speech import wav_stream
from .usage import UsageAccountant, model_prices

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable

    import aiohttp
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from ..realtime.endpoint import Endpoint

_LOGGER = logging.getLogger(__name__)

TTS_CONVERSATION = "tts"  # pool key prefix of the sessions that read text aloud


class RealtimeRuntime:
    """Per-entry state; closing it closes every websocket, timer and task it owns."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, http: aiohttp.ClientSession
    ) -> None:
        """Build the pool and agent from the entry's data and options."""
        self.hass = hass
        self.entry = entry
        self.http = http
        self.options_at_setup = dict(entry.options)
        self.model = str(entry.options.get(CONF_MODEL, DEFAULT_MODEL))
        self.eager = bool(
            entry.options.get(CONF_EAGER_RESPONSE, DEFAULT_EAGER_RESPONSE)
        )
        self.usage = UsageAccountant(
            hass, entry.entry_id, self.model, model_prices(entry.options)
        )
        self.pool = SessionPool(
            hass,
            http,
            self.endpoint,
            float(entry.options.get(CONF_IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT)),
            listeners=[self.usage.async_on_event],
        )
        self.agent = RealtimeAgent(hass, entry, self.pool)
        self.agent_entity_id = ""  # set when the conversation entity is added
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False

    async def async_start(self) -> None:
        """Load the usage totals, then listen for other agents' answers."""
        await self.usage.async_load()
        self._unsubscribe = compat.subscribe_chat_logs(self.hass, self._on_chat_log)

    @callback
    def _on_chat_log(
        self, conversation_id: str, event_type: Any, data: dict[str, Any]
    ) -> None:
        """Another agent answered a conversation: cancel our eager response now.

        This is how "prefer handling commands locally" shows itself on HA versions
        that publish chat log events; elsewhere the TTS stage or a timer does it.
        """
        content = data.get("content") or {}
        conv = self.pool.conversations.get(conversation_id)
        if (
            conv is None
            or conv.voice_turn is None
            or not conv.voice_turn.pending
            or content.get("role") != "assistant"
            or content.get("agent_id") in (None, self.agent_entity_id)
        ):
            return
        self.hass.async_create_task(conv.voice_turn.abandon("another agent answered"))

    def endpoint(self) -> Endpoint:
        """The websocket endpoint for the configured model."""
        return build_endpoint(self.entry.data, self.model)

    async def async_transcribe(
        self, language: str, rate: int, channels: int, stream: AsyncIterable[bytes]
    ) -> str | None:
        """STT: stream the audio into the conversation's session.

        Returns the transcript, "" when nobody spoke, None when it failed.
        """
        turn: voice.VoiceTurn | None = None
        try:
            turn = await self._async_start_voice_turn(language)
            server_turns = bool(turn.conv.config and turn.conv.config.turn_detection)
            sent = await voice.async_stream_audio(
                turn.session, stream, rate, channels, server_turns=server_turns
            )
            return await voice.async_finish_speech(turn, sent, self.eager)
        except voice.NoSpeechError as err:
            _LOGGER.debug("Nothing was said: %s", err)
            return ""
        except voice.SpeechError as err:
            _LOGGER.info("No transcript for this voice turn: %s", err)
        except AudioFormatError as err:
            _LOGGER.warning("Unsupported audio from the pipeline: %s", err)
        except (RealtimeError, TimeoutError) as err:
            _LOGGER.warning("Realtime session failed during speech: %s", err)
            if turn is not None:
                turn.conv.drop()
        if turn is not None:
            await turn.abandon("speech failed")
        return None

    async def _async_start_voice_turn(self, language: str) -> voice.VoiceTurn:
        """Open (or reuse) the conversation's session and start a voice turn.

        The pipeline runs inside a chat session, whose id is the conversation id
        the agent will see: the turn lives on that conversation's session.
        """
        current = chat_session.current_session.get()
        conversation_id = current.conversation_id if current else f"stt-{ulid_now()}"
        conv = self.pool.get(conversation_id)
        async with conv.lock:
            config = conv.config or await self.agent.async_voice_config(
                conversation_id, language, self.agent_entity_id
            )
            session = await conv.ensure(config)
        if conv.voice_turn is not None:
            await conv.voice_turn.abandon("a new turn started")
        turn = conv.voice_turn = voice.VoiceTurn(conv, session)
        voice.current_turn.set(turn)  # seen by the agent and TTS of this pipeline run
        return turn

    async def async_speak(
        self, message: AsyncIterable[str], voice_name: str
    ) -> AsyncGenerator[bytes]:
        """TTS: the linked turn's audio, or the message read aloud, as WAV."""
        turn = voice.current_turn.get()
        if turn is not None and turn.claimed:
            return wav_stream(turn.audio.iterate())
        if turn is not None and turn.pending:
            # HA answered this turn itself (local intents): stop the model's answer.
            await turn.abandon("answered without the agent")
        text = "".join([chunk async for chunk in message])
        return wav_stream(self._read_aloud(text, voice_name))

    async def _read_aloud(self, text: str, voice_name: str) -> AsyncIterator[bytes]:
        """Speak `text` with a response outside any conversation (no context grows)."""
        conv = self.pool.get(f"{TTS_CONVERSATION}-{voice_name}")
        config = ev.SessionConfig(
            instructions=READ_ALOUD_INSTRUCTIONS,
            voice=voice_name,
            output_modalities=("audio",),
        )
        async with conv.lock:
            try:
                session = await conv.ensure(config)
                stream = await session.create_response(
                    modalities=("audio",),
                    instructions=READ_ALOUD_INSTRUCTIONS,
                    out_of_band_input=read_aloud_input(text),
                )
                async for event in stream:
                    if isinstance(event, ev.AudioDelta):
                        yield event.audio
            except (RealtimeError, TimeoutError):
                conv.drop()
                raise
            finally:
                conv.touch()

    async def async_close(self) -> None:
        """Close every realtime session, timer and task this entry opened.

        Runs at Home Assistant's stop and again at unload: the second time is a no-op.
        """
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.pool.async_close()
        await self.usage.async_close()  # after the pool: its last responses count
