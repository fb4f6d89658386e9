"""The TTS stage's audio: the session's PCM as the stream a satellite asked for.

Satellites ask HA's TTS for a sample rate, channel count and sample width (ESPHome
16 kHz, Wyoming 22,050 Hz, Voice PE 48 kHz FLAC). Where HA lets an engine meet
them (HA 2026.11 skips its ffmpeg conversion for options the engine supports), the
WAV comes out in that shape here, resampled as it streams: no ffmpeg process per
answer, and the first audio is not held up by one. Older HA converts anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
import struct
from typing import TYPE_CHECKING

import numpy as np

from ..realtime.audio import SESSION_RATE, StreamResampler, pcm16_to_array

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator


@dataclass(frozen=True, slots=True)
class WavShape:
    """Rate, channels and bytes per sample of a WAV stream."""

    rate: int = SESSION_RATE
    channels: int = 1
    sample_bytes: int = 2

    def validate(self) -> WavShape:
        """This shape, or ValueError naming what cannot be produced."""
        if self.channels not in (1, 2):
            raise ValueError(f"Cannot produce {self.channels} channels")
        if self.sample_bytes not in (1, 2, 4):
            raise ValueError(f"Cannot produce {self.sample_bytes}-byte samples")
        StreamResampler(SESSION_RATE, self.rate)  # raises for a rate we can't make
        return self


def wav_header(
    rate: int = SESSION_RATE, channels: int = 1, sample_bytes: int = 2
) -> bytes:
    """A WAV header for a stream of unknown length.

    The sizes are set to the maximum: players and ffmpeg read such a stream to its
    end, which is how streamed WAV is served.
    """
    byte_rate = rate * channels * sample_bytes
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH",
            16,
            1,
            channels,
            rate,
            byte_rate,
            channels * sample_bytes,
            8 * sample_bytes,
        )
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
    )


SESSION_WAV = WavShape()  # what the session speaks: 24 kHz mono PCM16


async def wav_stream(
    chunks: AsyncIterator[bytes], shape: WavShape = SESSION_WAV
) -> AsyncGenerator[bytes]:
    """Session-rate PCM chunks as one streamed WAV file of `shape`.

    The header goes out with the first audio: if the audio fails before any of it
    exists, nothing was sent, and HA answers the satellite's request with an
    error (its error sound) instead of a WAV file that is silent.
    """
    header = wav_header(shape.rate, shape.channels, shape.sample_bytes)
    resampler = (
        StreamResampler(SESSION_RATE, shape.rate)
        if shape.rate != SESSION_RATE
        else None
    )
    async for pcm in chunks:
        out = pcm
        if shape != SESSION_WAV:
            out = _shaped(resampler.process(pcm) if resampler else pcm, shape)
        if not out:
            continue
        if header:
            yield header
            header = b""
        yield out
    if resampler is not None and (tail := _shaped(resampler.flush(), shape)):
        if header:
            yield header
            header = b""
        yield tail
    if header:
        yield header  # no audio at all: an empty WAV file


def _shaped(pcm16: bytes, shape: WavShape) -> bytes:
    """Mono PCM16 as `shape`'s channels and sample width."""
    if not pcm16:
        return b""
    samples = pcm16_to_array(pcm16)
    if shape.channels == 2:
        samples = np.repeat(samples, 2)
    # tobytes() already copies into new bytes: no second copy per chunk.
    if shape.sample_bytes == 2:
        return samples.astype("<i2", copy=False).tobytes()
    if shape.sample_bytes == 4:
        return (samples.astype("<i4") << 16).tobytes()
    # 8-bit WAV is unsigned, centred on 128.
    return ((samples.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
