"""Running Assist pipelines from audio, as a satellite does, and reading their events."""

from __future__ import annotations

from collections.abc import AsyncIterator
import io
from typing import Any
import wave

from homeassistant.components import assist_pipeline, stt, tts
from homeassistant.components.assist_pipeline.pipeline import (
    AudioSettings,
    PipelineEvent,
    PipelineEventType,
)
from homeassistant.core import Context, HomeAssistant
import numpy as np

from realtime_emulator import speech

WAV = {tts.ATTR_PREFERRED_FORMAT: "wav"}


def metadata(rate: int = 16000, channels: int = 1) -> stt.SpeechMetadata:
    """What a satellite streams: 16-bit PCM at `rate`."""
    return stt.SpeechMetadata(
        language="en",
        format=stt.AudioFormats.WAV,
        codec=stt.AudioCodecs.PCM,
        bit_rate=stt.AudioBitRates.BITRATE_16,
        sample_rate=stt.AudioSampleRates(rate),
        channel=stt.AudioChannels(channels),
    )


def spoken(text: str, rate: int = 16000, channels: int = 1) -> bytes:
    """`text` in the emulator's speech encoding, plus trailing silence."""
    audio = speech.encode(text, rate=rate) + b"\x00\x00" * (rate // 5)
    if channels == 2:
        mono = np.frombuffer(audio, dtype=np.int16)
        audio = np.repeat(mono, 2).astype(np.int16).tobytes()
    return audio


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    """`data` in pieces of `size` bytes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def run(
    hass: HomeAssistant,
    audio: bytes,
    *,
    rate: int = 16000,
    channels: int = 1,
    chunk: int = 640,
    conversation_id: str | None = None,
    tts_options: dict[str, Any] | None = None,
    device_id: str | None = None,
) -> list[PipelineEvent]:
    """One pipeline run from speech to TTS; its events. `tts_options` is what the
    satellite asks of TTS (format, rate, channels, sample width); WAV by default."""
    events: list[PipelineEvent] = []
    await assist_pipeline.async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=metadata(rate, channels),
        stt_stream=chunks(audio, chunk),
        conversation_id=conversation_id,
        device_id=device_id,
        tts_audio_output=WAV if tts_options is None else tts_options,
        audio_settings=AudioSettings(is_vad_enabled=False),
    )
    return events


def event(events: list[PipelineEvent], kind: PipelineEventType) -> dict[str, Any]:
    """The data of the last event of `kind` (which must be there)."""
    matching = [e for e in events if e.type is kind]
    assert matching, f"no {kind} in {[e.type for e in events]}"
    return matching[-1].data or {}


def answer(events: list[PipelineEvent]) -> str:
    """The agent's spoken answer, as text."""
    response = event(events, PipelineEventType.INTENT_END)["intent_output"]["response"]
    return str(response["speech"]["plain"]["speech"])


async def tts_audio(hass: HomeAssistant, events: list[PipelineEvent]) -> str:
    """The TTS result of a run, decoded with the emulator's speech decoder."""
    event(events, PipelineEventType.TTS_END)
    token = event(events, PipelineEventType.RUN_START)["tts_output"]["token"]
    stream = tts.async_get_stream(hass, token)
    assert stream is not None
    data = b"".join([chunk async for chunk in stream.async_stream_result()])
    with wave.open(io.BytesIO(fixed_wav(data))) as wav:
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    return speech.decode(frames, rate=rate)


def fixed_wav(data: bytes) -> bytes:
    """Our streamed WAV has 'unknown' sizes; set them so `wave` can read it."""
    body = len(data) - 44
    return (
        data[:4]
        + (36 + body).to_bytes(4, "little")
        + data[8:40]
        + body.to_bytes(4, "little")
        + data[44:]
    )
