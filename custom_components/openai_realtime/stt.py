"""Speech-to-text entity: the satellite's audio straight into the realtime session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import stt

from . import compat
from .const import LANGUAGES
from .entity import OpenAIRealtimeEntity

if TYPE_CHECKING:
    from collections.abc import AsyncIterable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .entry import OpenAIRealtimeConfigEntry

# Satellites stream side by side, each into its own conversation's session.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One STT entity per config entry."""
    async_add_entities([OpenAIRealtimeSTTEntity(entry)])


class OpenAIRealtimeSTTEntity(OpenAIRealtimeEntity, stt.SpeechToTextEntity):
    """Streams audio as it arrives; the transcript comes from the same session."""

    _uses_endpoint = True
    _attr_translation_key = "stt"

    def __init__(self, entry: OpenAIRealtimeConfigEntry) -> None:
        """Bind to the entry's runtime."""
        super().__init__(entry, "stt")

    @property
    def audio_processing(self) -> Any:
        """With the server's turn detection on, HA's VAD must not end the stream.

        Read by HA 2026.5+ only (None before).
        """
        return compat.audio_processing(
            server_ends_turns=self.entry.runtime_data.options.server_ends_turns,
            raw_audio=False,
        )

    @property
    def supported_languages(self) -> list[str]:
        """Languages the realtime models understand."""
        return LANGUAGES

    @property
    def supported_formats(self) -> list[stt.AudioFormats]:
        """Raw PCM in a WAV stream (what pipelines send)."""
        return [stt.AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[stt.AudioCodecs]:
        """PCM only."""
        return [stt.AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[stt.AudioBitRates]:
        """16-bit samples."""
        return [stt.AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[stt.AudioSampleRates]:
        """Rates our resampler converts to the session's 24 kHz."""
        return [
            stt.AudioSampleRates.SAMPLERATE_8000,
            stt.AudioSampleRates.SAMPLERATE_16000,
            stt.AudioSampleRates.SAMPLERATE_44100,
            stt.AudioSampleRates.SAMPLERATE_48000,
        ]

    @property
    def supported_channels(self) -> list[stt.AudioChannels]:
        """Mono, or stereo mixed down."""
        return [stt.AudioChannels.CHANNEL_MONO, stt.AudioChannels.CHANNEL_STEREO]

    async def async_process_audio_stream(
        self, metadata: stt.SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> stt.SpeechResult:
        """Stream the audio into the conversation's session; return the transcript."""
        text = await self.entry.runtime_data.voice.async_transcribe(
            metadata.language, int(metadata.sample_rate), int(metadata.channel), stream
        )
        if text is None:
            return stt.SpeechResult(None, stt.SpeechResultState.ERROR)
        return stt.SpeechResult(text, stt.SpeechResultState.SUCCESS)
