"""Speech in and out for the STT and TTS entities (HA-free where it can be)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..realtime.audio import SESSION_RATE

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

LANGUAGES = [
    "af", "ar", "bg", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et",
    "fa", "fi", "fr", "gl", "he", "hi", "hr", "hu", "hy", "id", "is", "it", "ja",
    "kk", "kn", "ko", "lt", "lv", "mi", "mk", "mr", "ms", "ne", "nl", "no", "pl",
    "pt", "ro", "ru", "sk", "sl", "sr", "sv", "sw", "ta", "th", "tl", "tr", "uk",
    "ur", "vi", "zh",
]  # fmt: skip


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
