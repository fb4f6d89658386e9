"""Text-to-speech entity: the model's own voice, streamed as it speaks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import tts
from homeassistant.components.tts.entity import TTSAudioRequest, TTSAudioResponse
from homeassistant.exceptions import HomeAssistantError

from .bridge.audio_out import WavShape
from .const import LANGUAGES, voices_for_dialect
from .entity import OpenAIRealtimeEntity
from .realtime.audio import SESSION_RATE, AudioFormatError

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .entry import OpenAIRealtimeConfigEntry

# Answers and read-aloud requests stream side by side (one session per voice).
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One TTS entity per config entry."""
    async_add_entities([OpenAIRealtimeTTSEntity(entry)])


class OpenAIRealtimeTTSEntity(OpenAIRealtimeEntity, tts.TextToSpeechEntity):
    """Speaks a voice turn's answer audio, or reads any text aloud."""

    _uses_endpoint = True
    _attr_translation_key = "tts"
    _attr_default_language = "en"

    def __init__(self, entry: OpenAIRealtimeConfigEntry) -> None:
        """Bind to the entry's runtime."""
        super().__init__(entry, "tts")
        options = entry.runtime_data.options
        self._default_voice = options.voice
        # WAV is what we produce: callers that name no format (HA's websocket API
        # cannot) get it as is, instead of HA's default MP3 through ffmpeg.
        self._attr_default_options = {
            tts.ATTR_VOICE: self._default_voice,
            tts.ATTR_PREFERRED_FORMAT: "wav",
        }
        # The rate, channels and width a satellite asks for are produced here
        # (see bridge/audio_out.py): HA then needs no ffmpeg for WAV satellites.
        self._attr_supported_options = [
            tts.ATTR_VOICE,
            tts.ATTR_PREFERRED_FORMAT,
            tts.ATTR_PREFERRED_SAMPLE_RATE,
            tts.ATTR_PREFERRED_SAMPLE_CHANNELS,
            tts.ATTR_PREFERRED_SAMPLE_BYTES,
        ]
        self._voices = voices_for_dialect(options.dialect)

    @property
    def supported_languages(self) -> list[str]:
        """Languages the realtime models speak."""
        return LANGUAGES

    def async_get_supported_voices(self, language: str) -> list[tts.Voice]:
        """The voices of the configured model's dialect."""
        return [tts.Voice(voice, voice.capitalize()) for voice in self._voices]

    def async_supports_streaming_input(self) -> bool:
        """Text may arrive while the agent still talks (HA 2025.7+)."""
        return True

    async def async_stream_tts_audio(
        self, request: TTSAudioRequest
    ) -> TTSAudioResponse:
        """The model's audio of this pipeline run, or the text read aloud."""
        options: dict[str, Any] = request.options
        voice = str(options.get(tts.ATTR_VOICE) or self._default_voice)
        shape = WavShape(
            rate=int(options.get(tts.ATTR_PREFERRED_SAMPLE_RATE) or SESSION_RATE),
            channels=int(options.get(tts.ATTR_PREFERRED_SAMPLE_CHANNELS) or 1),
            sample_bytes=int(options.get(tts.ATTR_PREFERRED_SAMPLE_BYTES) or 2),
        )
        try:
            shape.validate()
        except (ValueError, AudioFormatError) as err:
            raise HomeAssistantError(f"Unsupported TTS audio format: {err}") from err
        data = await self.entry.runtime_data.voice.async_speak(
            request.message_gen, voice, shape
        )
        return TTSAudioResponse("wav", data)
