"""Text-to-speech entity: the model's own voice, streamed as it speaks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import tts
from homeassistant.components.tts.entity import TTSAudioRequest, TTSAudioResponse
from homeassistant.helpers.device_registry import DeviceInfo

from .bridge.speech import LANGUAGES
from .const import (
    CONF_MODEL,
    CONF_VOICE,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    DOMAIN,
    dialect_for_model,
    voices_for_dialect,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .entry import OpenAIRealtimeConfigEntry


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One TTS entity per config entry."""
    async_add_entities([OpenAIRealtimeTTSEntity(entry)])


class OpenAIRealtimeTTSEntity(tts.TextToSpeechEntity):
    """Speaks a linked voice turn's audio, or reads any text aloud."""

    _attr_has_entity_name = True
    _attr_name = "Text-to-speech"
    _attr_default_language = "en"

    def __init__(self, entry: OpenAIRealtimeConfigEntry) -> None:
        """Bind to the entry's runtime."""
        self.entry = entry
        self._attr_unique_id = f"{entry.entry_id}-tts"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})
        self._default_voice = str(entry.options.get(CONF_VOICE, DEFAULT_VOICE))
        # WAV is what we produce: callers that name no format (HA's websocket API
        # cannot) get it as is, instead of HA's default MP3 through ffmpeg.
        self._attr_default_options = {
            tts.ATTR_VOICE: self._default_voice,
            tts.ATTR_PREFERRED_FORMAT: "wav",
        }
        self._attr_supported_options = [tts.ATTR_VOICE, tts.ATTR_PREFERRED_FORMAT]
        model = str(entry.options.get(CONF_MODEL, DEFAULT_MODEL))
        self._voices = voices_for_dialect(dialect_for_model(model))

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
        data = await self.entry.runtime_data.async_speak(request.message_gen, voice)
        return TTSAudioResponse("wav", data)
