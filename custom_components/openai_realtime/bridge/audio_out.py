"""The TTS stage's audio: the session's PCM as the stream HA's TTS serves."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..realtime.audio import SESSION_RATE

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator


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


async def wav_stream(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes]:
    """Session-rate PCM chunks as one streamed WAV file."""
    yield wav_header()
    async for chunk in chunks:
        yield chunk
