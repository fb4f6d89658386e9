"""What real satellites hear: the answer in the format each one asks HA's TTS for.

Every satellite names a sample rate (and often a format), so HA converts our TTS
audio through ffmpeg (`tts/__init__.py`, `needs_conversion`); without a working
ffmpeg the satellite's fetch of the `tts_output` URL gets HTTP 500 and silence
while the pipeline reports success. The tests run a real pipeline, fetch that URL
over HTTP as a satellite does, and parse and decode what comes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import importlib.util
import io
from pathlib import Path
import struct
import subprocess
from typing import Any
from unittest.mock import patch
import wave

from homeassistant.components import ffmpeg as ha_ffmpeg, tts
from homeassistant.components.assist_pipeline.pipeline import PipelineEventType
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import parse_yaml
import imageio_ffmpeg
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime import compat
from realtime_emulator import speech

from .pipeline import answer, event, run, spoken


def _asks(fmt: str, rate: int) -> dict[str, Any]:
    return {
        tts.ATTR_PREFERRED_FORMAT: fmt,
        tts.ATTR_PREFERRED_SAMPLE_RATE: rate,
        tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
        tts.ATTR_PREFERRED_SAMPLE_BYTES: 2,
    }


WHEEL_BINARIES = Path(imageio_ffmpeg.__file__).resolve().parent / "binaries"
DEV_CONFIG = Path(__file__).resolve().parents[2] / "scripts" / "dev_config.py"


def _directory(path: str) -> Path:
    return Path(path).resolve().parent


# What each satellite puts in `tts_audio_output` (HA's esphome and wyoming code).
SATELLITES = [
    pytest.param(_asks("wav", 16000), id="esphome-speaker-wav-16k"),
    pytest.param(_asks("wav", 22050), id="wyoming-wav-22k"),
    pytest.param(_asks("flac", 48000), id="voice-pe-flac-48k"),
]


def _wav(data: bytes) -> tuple[int, int, int, bytes]:
    """(rate, channels, sample width, PCM) of a WAV stream (sizes may be unknown)."""
    with wave.open(io.BytesIO(data)) as wav:
        # A streamed WAV leaves its sizes "unknown" (0xFFFFFFFF): read what is there.
        return (
            wav.getframerate(),
            wav.getnchannels(),
            wav.getsampwidth(),
            wav.readframes(len(data)),
        )


def _flac_streaminfo(data: bytes) -> tuple[int, int, int]:
    """(rate, channels, bits per sample) from a FLAC stream's STREAMINFO block."""
    assert data[:4] == b"fLaC", data[:16]
    block_type, length = data[4] & 0x7F, int.from_bytes(data[5:8], "big")
    assert (block_type, length) == (0, 34)  # STREAMINFO comes first, 34 bytes
    # 16+16 bits block sizes, 24+24 bits frame sizes, then 20 bits sample rate,
    # 3 bits channels - 1, 5 bits bits per sample - 1, 36 bits total samples.
    (packed,) = struct.unpack(">Q", data[18:26])
    rate = packed >> 44
    channels = ((packed >> 41) & 0x7) + 1
    bits = ((packed >> 36) & 0x1F) + 1
    return rate, channels, bits


async def _decode_flac(binary: str, data: bytes, rate: int) -> bytes:
    """FLAC to mono PCM16 at `rate`, with the same ffmpeg."""
    process = await asyncio.create_subprocess_exec(
        *(binary, "-hide_banner", "-loglevel", "error", "-f", "flac", "-i", "pipe:0"),
        *("-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    pcm, errors = await process.communicate(data)
    assert process.returncode == 0, errors
    return pcm


@pytest.mark.parametrize("asks", SATELLITES)
@pytest.mark.usefixtures("voice_house")
async def test_satellite_hears_the_answer(
    hass: HomeAssistant,
    hass_client: Callable[[], Any],
    ffmpeg: str,
    asks: dict[str, Any],
) -> None:
    """Status 200, the asked container, rate, channels and width, and the answer."""
    # Every program started while the satellite's audio is made and fetched (HA
    # runs ffmpeg through asyncio on newer HA, through Popen in an executor on
    # 2025.4; both end in subprocess.Popen).
    programs: list[str] = []
    popen = subprocess.Popen

    def recorded(args: Any, *rest: Any, **kwargs: Any) -> Any:
        programs.append(str(args[0]))
        return popen(args, *rest, **kwargs)

    client = await hass_client()
    with patch("subprocess.Popen", recorded):
        events = await run(hass, spoken("turn on the kitchen lights"), tts_options=asks)
        url = event(events, PipelineEventType.TTS_END)["tts_output"]["url"]
        response = await client.get(url)
        data = await response.read()
    assert response.status == 200, data[:200]

    rate = asks[tts.ATTR_PREFERRED_SAMPLE_RATE]
    if asks[tts.ATTR_PREFERRED_FORMAT] == "wav":
        assert response.content_type == "audio/x-wav"
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
        got_rate, channels, width, pcm = _wav(data)
        assert (got_rate, channels, width) == (rate, 1, 2)
    else:
        assert response.content_type == "audio/flac"
        assert _flac_streaminfo(data) == (rate, 1, 16)
        pcm = await _decode_flac(ffmpeg, data, rate)
    # The satellite hears what the pipeline said, at the rate it asked for.
    assert speech.decode(pcm, rate) == speech.normalise(answer(events))
    # WAV comes out of our engine as asked: HA 2026.11+ (which lets an engine meet
    # the options it supports) runs no ffmpeg for it. Older HA, and FLAC on any
    # HA, convert with the wheel's ffmpeg, once.
    honours_engine = compat.TTS_SKIPS_SUPPORTED_CONVERSIONS
    wav = asks[tts.ATTR_PREFERRED_FORMAT] == "wav"
    assert programs == ([] if wav and honours_engine else [ffmpeg])


async def test_ffmpeg_is_the_wheels(hass: HomeAssistant, ffmpeg: str) -> None:
    """HA's ffmpeg manager, which TTS converts with, runs the imageio-ffmpeg wheel's
    binary, and that binary works here."""
    manager = ha_ffmpeg.get_ffmpeg_manager(hass)
    assert manager.binary == ffmpeg
    assert _directory(manager.binary) == WHEEL_BINARIES
    version, major = await manager.async_get_version()
    assert version is not None and major is not None and major >= 4


def _develop_house_yaml(tmp_path: Path) -> dict[str, Any]:
    """The configuration.yaml scripts/develop and the system test run, parsed."""
    spec = importlib.util.spec_from_file_location("dev_config", DEV_CONFIG)
    assert spec is not None and spec.loader is not None
    dev_config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev_config)
    text = dev_config.configuration_yaml(
        port=8123,
        token_file=tmp_path / "token",
        ready_file=tmp_path / "ready",
        emulator_url="http://127.0.0.1:8765/v1",
    )
    config: dict[str, Any] = parse_yaml(text)
    return config


async def test_develop_house_uses_the_wheels_ffmpeg(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """The develop house's `ffmpeg:` names the wheel's binary, and HA runs it; its
    log no longer hides ffmpeg's errors."""
    config = await hass.async_add_executor_job(_develop_house_yaml, tmp_path)
    assert "haffmpeg" not in config["logger"]["logs"]
    assert await async_setup_component(hass, "ffmpeg", {"ffmpeg": config["ffmpeg"]})
    manager = ha_ffmpeg.get_ffmpeg_manager(hass)
    assert _directory(manager.binary) == WHEEL_BINARIES
    version, _major = await manager.async_get_version()
    assert version is not None
