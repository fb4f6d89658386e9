"""The voice path of an entry: the STT stage into a conversation's session, TTS out.

STT: open (or reuse) the conversation's session, start a voice turn, stream the
satellite's audio, commit at end of speech, ask for the answer at once (eager
response) and return the transcript. The agent then answers that turn. TTS: speak
the turn's answer in the model's own voice, or read any other text aloud.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import chat_session, entity_registry as er
from homeassistant.util.ulid import ulid_now

from .. import compat
from ..const import DOMAIN
from ..realtime import events as ev
from ..realtime.audio import AudioFormatError
from ..realtime.errors import RealtimeError, ServerError, TranscriptionFailedError
from ..realtime.read_aloud import READ_ALOUD_INSTRUCTIONS, read_aloud_input
from .audio_in import SentAudio, async_stream_audio
from .audio_out import SESSION_WAV, WavShape, wav_stream
from .llm_data import render_clock
from .voice_turn import TurnFailure, TurnState, VoiceTurn, current_voice_turn

if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        AsyncIterable,
        AsyncIterator,
        Awaitable,
        Callable,
    )

    from homeassistant.core import HomeAssistant

    from ..options import EntryOptions
    from .conversations import Conversation, ConversationPool
    from .turns import VoicePreparation

_LOGGER = logging.getLogger(__name__)

TRANSCRIPT_TIMEOUT = 15.0
SATELLITE_DOMAIN = "assist_satellite"
READ_ALOUD_CONVERSATION = "tts"  # pool key prefix of the sessions that read aloud

type PrepareVoice = Callable[..., Awaitable[VoicePreparation]]


class SpeechError(Exception):
    """The spoken turn produced no usable transcript."""


class NoSpeechError(SpeechError):
    """Nobody spoke: silence, or a transcript with no words."""


class VoicePipeline:
    """Our STT and TTS entities' side of HA's Assist pipeline."""

    def __init__(
        self,
        hass: HomeAssistant,
        options: EntryOptions,
        pool: ConversationPool,
        prepare: PrepareVoice,
        agent_entity_id: Callable[[], str | None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """`prepare(conversation_id, language, configure=)` reads the ChatLog and
        configures a new conversation.

        `on_error` hears every failure (a rejected key starts re-authentication).
        """
        self.hass = hass
        self.options = options
        self.pool = pool
        self._prepare = prepare
        self._agent_entity_id = agent_entity_id
        self._on_error = on_error
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Listen for other agents' answers (HA 2025.7+)."""
        self._unsubscribe = compat.subscribe_chat_logs(self.hass, self._on_chat_log)

    def close(self) -> None:
        """Stop listening."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- speech to text -------------------------------------------------------------

    async def async_transcribe(
        self, language: str, rate: int, channels: int, stream: AsyncIterable[bytes]
    ) -> str | None:
        """Stream the audio into the conversation's session; return the transcript.

        Returns "" when nobody spoke and None when it failed.
        """
        turn: VoiceTurn | None = None
        conv: Conversation | None = None
        try:
            conv, turn = await self._start_turn(language)
            sent = await async_stream_audio(
                turn.session,
                stream,
                rate,
                channels,
                server_turns=self.options.server_ends_turns,
            )
            return await self._finish_speech(turn, sent)
        except NoSpeechError as err:
            _LOGGER.debug("Nothing was said: %s", err)
            return ""
        except SpeechError as err:
            _LOGGER.info("No transcript for this voice turn: %s", err)
        except AudioFormatError as err:
            _LOGGER.warning("Unsupported audio from the pipeline: %s", err)
        except (RealtimeError, TimeoutError) as err:
            _LOGGER.warning("Realtime session failed during speech: %s", err)
            self._on_error(err)
            if conv is not None:
                conv.drop()
        if turn is not None:
            turn.abandon("speech failed")
        return None

    async def _start_turn(self, language: str) -> tuple[Conversation, VoiceTurn]:
        """Open (or reuse) the conversation's session and start a voice turn on it.

        The pipeline runs inside a chat session whose id is the conversation id
        the agent will see: the turn lives on that conversation.
        """
        current = chat_session.current_session.get()
        conversation_id = current.conversation_id if current else f"stt-{ulid_now()}"
        conv = self.pool.get(conversation_id)
        async with conv.lock:
            ready = await self._prepare(
                conversation_id,
                language,
                listening_satellite(self.hass),
                configure=conv.config is None and conv.wanted is None,
            )
            config = conv.wanted or conv.config or ready.config
            assert config is not None
            if ready.config is not None:
                conv.clock = bool(ready.context)
            turn = await conv.start_voice_turn(config, ready.tools)
            # Earlier turns the session missed, and the clock where no tool tells
            # the time, go in before this turn's audio.
            await conv.follow(ready.contents, len(ready.contents))
            if conv.clock:
                await turn.session.add_system_text(
                    ready.context or render_clock(self.hass)
                )
        current_voice_turn.set(turn)  # seen by the agent and TTS of this run
        return conv, turn

    async def _finish_speech(self, turn: VoiceTurn, sent: SentAudio) -> str:
        """Commit the user's audio, ask for the answer (eager), return the transcript.

        Raises SpeechError, after ending the turn, when there is no speech or it
        cannot be transcribed. Silence is never sent for a response: a false wake
        costs nothing.
        """
        session = turn.session
        if not sent.has_speech:
            await session.clear_audio()
            turn.no_speech(sent.ms)
            raise NoSpeechError(f"No speech in {sent.ms} ms of audio")
        if sent.server_item_id is not None:  # the server's turn detection committed
            commit: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            commit.set_result(sent.server_item_id)
        else:
            commit = await session.start_commit()
        try:
            response = None
            if self.options.eager_response:
                # Right behind the commit: the model starts on this speech now.
                response = await session.create_response(modalities=("audio",))
            turn.committed(response, sent.ms)
            item_id = await commit
            transcript = await session.wait_transcript(
                item_id, timeout=TRANSCRIPT_TIMEOUT
            )
        except (TranscriptionFailedError, ServerError, TimeoutError) as err:
            turn.abandon(f"no transcript: {err}")
            raise SpeechError(str(err)) from err
        finally:
            _settle(commit)
        if not transcript.strip():
            turn.abandon("empty transcript")
            raise NoSpeechError("The transcript is empty")
        turn.heard(item_id, transcript)
        return transcript

    # --- text to speech -------------------------------------------------------------

    async def async_speak(
        self, message: AsyncIterable[str], voice: str, shape: WavShape = SESSION_WAV
    ) -> AsyncGenerator[bytes]:
        """TTS: this run's answer audio, or the message read aloud, as WAV."""
        turn = current_voice_turn.get()
        if turn is not None and turn.state in (
            TurnState.ANSWERING,
            TurnState.DONE,
            TurnState.FAILED,
        ):
            failure = turn.failure
            if failure is not None and not failure.reachable and not turn.audio.size:
                # Nothing can be said: fail the request, the satellite sounds an error.
                raise _cannot_answer(failure)
            return wav_stream(self._answer_audio(turn, voice), shape)
        if turn is not None and turn.awaiting_agent:
            # HA answered this turn itself (local intents): stop the model's answer.
            turn.abandon("answered without the agent")
        text = "".join([chunk async for chunk in message])
        return wav_stream(self._read_aloud(text, voice), shape)

    async def _answer_audio(self, turn: VoiceTurn, voice: str) -> AsyncIterator[bytes]:
        """The answer's audio as it arrives; after a failure, why, in words.

        The words come in the configured voice when the endpoint still answers;
        otherwise the stream ends with an error instead of a silent success.
        """
        async for chunk in turn.audio.iterate():
            turn.handed_over(len(chunk))
            yield chunk
        if (failure := turn.failure) is None:
            return
        if not failure.reachable:
            raise _cannot_answer(failure)
        async for chunk in self._read_aloud(failure.speech, voice):
            yield chunk

    async def _read_aloud(self, text: str, voice: str) -> AsyncIterator[bytes]:
        """Speak `text` with a response outside any conversation (no context grows)."""
        conv = self.pool.get(f"{READ_ALOUD_CONVERSATION}-{voice}")
        config = ev.SessionConfig(
            instructions=READ_ALOUD_INSTRUCTIONS,
            voice=voice,
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

    # --- other agents ---------------------------------------------------------------

    @callback
    def _on_chat_log(
        self, conversation_id: str, event_type: Any, data: dict[str, Any]
    ) -> None:
        """Another agent answered a conversation: cancel our eager response now.

        This is how "prefer handling commands locally" and sentence triggers show
        themselves; on HA without chat log events, the TTS stage or the claim
        window does it.
        """
        content = data.get("content") or {}
        conv = self.pool.conversations.get(conversation_id)
        turn = conv.voice_turn if conv is not None else None
        if (
            turn is None
            or not turn.awaiting_agent
            or content.get("role") != "assistant"
            or content.get("agent_id") in (None, self._agent_entity_id())
        ):
            return
        turn.abandon("another agent answered")


def _cannot_answer(failure: TurnFailure) -> HomeAssistantError:
    """The TTS request's error when the failure can't be spoken (translated)."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="turn_failed",
        translation_placeholders={"reason": failure.speech},
    )


def _settle(future: asyncio.Future[str]) -> None:
    """Cancel a commit nobody will await, or mark its failure as seen."""
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()


def listening_satellite(hass: HomeAssistant) -> str | None:
    """The device of the satellite whose speech our STT stage is hearing.

    HA does not tell an STT entity which device speaks; a satellite entity turns
    "listening" just before its STT stage starts. When exactly one does, that is
    it (its area then shapes the prompt from the first turn on); otherwise the
    agent learns the device with its turn.
    """
    listening = [
        state.entity_id
        for state in hass.states.async_all(SATELLITE_DOMAIN)
        if state.state == "listening"
    ]
    if len(listening) != 1:
        return None
    entry = er.async_get(hass).async_get(listening[0])
    return entry.device_id if entry is not None else None
