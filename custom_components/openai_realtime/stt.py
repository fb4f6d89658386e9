"""Speech-to-text entity: the satellite's audio straight into the realtime session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import stt
from homeassistant.helpers.device_registry import DeviceInfo

from . import compat
from .bridge.speech import LANGUAGES
from .const import (
    CONF_TURN_DETECTION,
    DEFAULT_TURN_DETECTION,
    DOMAIN,
    TURN_DETECTION_OFF,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .entry import OpenAIRealtimeConfigEntry


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One STT entity per config entry."""
    async_add_entities([OpenAIRealtimeSTTEntity(entry)])


class OpenAIRealtimeSTTEntity(stt.SpeechToTextEntity):
    """Streams audio as it arrives; the transcript comes from the same session."""

    _attr_has_entity_name = True
    _attr_name = "Speech-to-text"

    def __init__(self, entry: OpenAIRealtimeConfigEntry) -> None:
        """Bind to the entry's runtime."""
        self.entry = entry
        self._attr_unique_id = f"{entry.entry_id}-stt"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})

    @property
    def audio_processing(self) -> Any:
        """With the server's turn detection on, HA's VAD must not end the stream.

        Read by HA 2026.5+ only (None before).
        """
        turn_detection = self.entry.options.get(
            CONF_TURN_DETECTION, DEFAULT_TURN_DETECTION
        )
        return compat.audio_processing(
            server_ends_turns=turn_detection != TURN_DETECTION_OFF, raw_audio=False
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
        text = await self.entry.runtime_data.async_transcribe(
            metadata.language, int(metadata.sample_rate), int(metadata.channel), stream
        )
        if text is None:
            return stt.SpeechResult(None, stt.SpeechResultState.ERROR)
        return stt.SpeechResult(text, stt.SpeechResultState.SUCCESS)
