"""The TTS stream in the shape a satellite asks for: rate, channels, width."""

from __future__ import annotations

from collections.abc import AsyncIterator
import io
import wave

import numpy as np
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge.audio_out import WavShape, wav_stream
from custom_components.openai_realtime.realtime.audio import (
    SESSION_RATE,
    AudioFormatError,
)
from realtime_emulator import speech


async def _chunks(data: bytes, size: int = 4801) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):  # odd sizes, as deltas may come
        yield data[start : start + size]


def _read(data: bytes) -> tuple[int, int, int, bytes]:
    body = len(data) - 44
    fixed = data[:4] + (36 + body).to_bytes(4, "little") + data[8:40]
    fixed += body.to_bytes(4, "little") + data[44:]
    with wave.open(io.BytesIO(fixed)) as wav:
        return (
            wav.getframerate(),
            wav.getnchannels(),
            wav.getsampwidth(),
            wav.readframes(wav.getnframes()),
        )


def _mono16(frames: bytes, channels: int, width: int) -> bytes:
    """Back to mono PCM16, to decode what the satellite would play."""
    if width == 1:
        samples = (np.frombuffer(frames, np.uint8).astype(np.int32) - 128) << 8
    elif width == 4:
        samples = np.frombuffer(frames, "<i4") >> 16
    else:
        samples = np.frombuffer(frames, "<i2").astype(np.int32)
    return samples[::channels].astype("<i2").tobytes()


@pytest.mark.parametrize(
    "shape",
    [
        WavShape(),
        WavShape(16000),
        WavShape(22050),
        WavShape(48000, 2),
        WavShape(16000, 1, 4),
        WavShape(8000, 1, 1),
    ],
    ids=str,
)
async def test_the_answer_comes_in_the_asked_shape(shape: WavShape) -> None:
    """Header and samples as asked; the words survive the conversion."""
    said = "turn on the kitchen lights"
    pcm = speech.encode(said, rate=SESSION_RATE)
    data = b"".join([chunk async for chunk in wav_stream(_chunks(pcm), shape)])
    rate, channels, width, frames = _read(data)
    assert (rate, channels, width) == (shape.rate, shape.channels, shape.sample_bytes)
    seconds = len(frames) / (rate * channels * width)
    assert abs(seconds - len(pcm) / (2 * SESSION_RATE)) < 0.01
    assert speech.decode(_mono16(frames, channels, width), rate) == said


@pytest.mark.parametrize(
    "shape", [WavShape(12345), WavShape(16000, 6), WavShape(16000, 1, 3)], ids=str
)
def test_shapes_we_cannot_make_are_refused(shape: WavShape) -> None:
    """A clear error, before any audio is promised."""
    with pytest.raises((ValueError, AudioFormatError)):
        shape.validate()
