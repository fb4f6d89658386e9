"""Voice turn latency through full Home Assistant pipeline runs.

    python bench/voice_turn.py        (or: scripts/bench voice_turn; BENCH_TURNS=50)

Drives `assist_pipeline.async_pipeline_from_audio_stream` with our STT, agent and
TTS against the emulator with a set model first-output delay M and transcription
delay T, and measures end of speech -> first TTS audio byte, for eager response vs
waiting for the transcript, in one run.

The emulator's share of each turn is measured from its own event timeline (same
clock, same process): transcription = commit received -> transcript sent; model =
response.create received -> response.done sent (the answers here are short, and
Home Assistant starts TTS on short answers when the agent finishes). Eager runs the
two in parallel (share = the longer one), waiting runs them one after the other
(share = the sum). Overhead = latency - share: everything else, ours and HA's
pipeline (resampling and sending the last audio, the intent stage, the chat log,
the TTS stream).
"""

from __future__ import annotations

from dataclasses import dataclass
import itertools
import logging
import os
from pathlib import Path
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

if __name__ == "__main__":
    from under_pytest import run  # bench/ is sys.path[0] when run as a script

    sys.exit(run(__file__))
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant.components import assist_pipeline, stt, tts  # noqa: E402
from homeassistant.components.assist_pipeline.pipeline import (  # noqa: E402
    AudioSettings,
    PipelineEventType,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.core import Context, HomeAssistant  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
import pytest  # noqa: E402
from pytest_homeassistant_custom_component.common import MockConfigEntry  # noqa: E402

from bench.ha_setup import as_in_production  # noqa: E402
import custom_components.openai_realtime  # noqa: E402, F401
from custom_components.openai_realtime.bridge import (  # noqa: E402
    voice_pipeline as runtime_module,
)
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS  # noqa: E402
from custom_components.openai_realtime.const import CONF_EAGER_RESPONSE  # noqa: E402
from realtime_emulator import EmulatorOptions, RealtimeEmulator, speech  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TURNS = int(os.environ.get("BENCH_TURNS", "50"))
_TURN_NUMBERS = itertools.count(1)  # every utterance (and so every answer) is new
CONFIGS = [(0.20, 0.15), (0.10, 0.30)]  # (M, T) seconds
METADATA = stt.SpeechMetadata(
    language="en",
    format=stt.AudioFormats.WAV,
    codec=stt.AudioCodecs.PCM,
    bit_rate=stt.AudioBitRates.BITRATE_16,
    sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
    channel=stt.AudioChannels.CHANNEL_MONO,
)


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


@dataclass
class Turn:
    """One measured pipeline run (seconds)."""

    latency: float  # end of speech -> first TTS audio byte
    transcription: float  # emulator: commit received -> transcript sent
    model: float  # emulator: response.create received -> response.done sent

    def share(self, eager: bool) -> float:
        """The emulator's part of the latency."""
        if eager:
            return max(self.transcription, self.model)
        return self.transcription + self.model


def _emulator_times(emulator: RealtimeEmulator, since: float) -> tuple[float, float]:
    """(transcription, model) seconds of the session that heard this turn."""
    marks = [
        (t, direction, kind)
        for session in emulator.sessions
        for t, direction, kind in session.timeline
        if t >= since
    ]

    def first(direction: str, kind: str) -> float:
        return min(t for t, d, k in marks if d == direction and k == kind)

    transcription = first(
        "out", "conversation.item.input_audio_transcription.completed"
    ) - first("in", "input_audio_buffer.commit")
    model = first("out", "response.done") - first("in", "response.create")
    return transcription, model


async def _turn(
    hass: HomeAssistant, emulator: RealtimeEmulator, first_audio: list[float]
) -> Turn:
    """One pipeline run, measured.

    Each turn says something new: HA caches TTS by text, and a repeated answer
    would be served from that cache without reaching our engine.
    """
    spoken = (
        speech.encode(f"number {next(_TURN_NUMBERS)}", rate=16000) + b"\x00\x00" * 3200
    )
    ended: list[float] = []
    began = time.perf_counter()

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(spoken), 640):
            yield spoken[start : start + 640]
        ended.append(time.perf_counter())

    events: list[assist_pipeline.PipelineEvent] = []
    first_audio.clear()
    await assist_pipeline.async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=METADATA,
        stt_stream=stream(),
        tts_audio_output={tts.ATTR_PREFERRED_FORMAT: "wav"},
        audio_settings=AudioSettings(is_vad_enabled=False),
    )
    start = next(e for e in events if e.type is PipelineEventType.RUN_START)
    result = tts.async_get_stream(hass, start.data["tts_output"]["token"])  # type: ignore[index]
    assert result is not None, [(e.type, e.data) for e in events]
    async for _chunk in result.async_stream_result():  # play it all
        pass
    assert first_audio, [(e.type, e.data) for e in events]
    return Turn(first_audio[0] - ended[0], *_emulator_times(emulator, began))


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[RealtimeEmulator]:
    """The emulator, fast pacing: delays are only the configured M and T."""
    emu = RealtimeEmulator(EmulatorOptions())
    await emu.start()
    yield emu
    await emu.stop()


async def test_voice_turn_bench(
    hass: HomeAssistant, enable_custom_integrations: None, emulator: RealtimeEmulator
) -> None:
    """Measure and print the table (a benchmark, not a test: no assertions on time)."""
    # Only the table on the console: no setup chatter, no ffmpeg probe (no ffmpeg
    # is needed, the pipeline is asked for WAV).
    as_in_production()
    logging.getLogger("haffmpeg").setLevel(logging.CRITICAL)
    no_file_cache = patch("homeassistant.components.tts.DEFAULT_CACHE", False)
    no_file_cache.start()
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "assist_pipeline", {})
    first_audio: list[float] = []
    original = runtime_module.wav_stream

    async def timed(chunks: AsyncIterator[bytes], *shape: Any) -> AsyncIterator[bytes]:
        async for index, chunk in _enumerate(original(chunks, *shape)):
            if index == 1:  # the first audio after the WAV header
                first_audio.append(time.perf_counter())
            yield chunk

    rows = []
    with patch.object(runtime_module, "wav_stream", timed):
        for eager in (True, False):
            options = dict(DEFAULT_OPTIONS) | {CONF_EAGER_RESPONSE: eager}
            entry = MockConfigEntry(
                domain="openai_realtime",
                data={
                    "endpoint_kind": "custom",
                    "base_url": emulator.base_url,
                    "api_key": "bench",
                },
                options=options,
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            await async_update_pipeline(
                hass,
                async_get_pipeline(hass),
                conversation_engine="conversation.mock_title",
                stt_engine="stt.mock_title_speech_to_text",
                tts_engine="tts.mock_title_text_to_speech",
                language="en",
                stt_language="en",
                tts_language="en",
                conversation_language="en",
                prefer_local_intents=False,
            )
            for model_delay, transcription_delay in CONFIGS:
                emulator.options.model_delay = model_delay
                emulator.options.transcription_delay = transcription_delay
                await _turn(hass, emulator, first_audio)  # warm imports and caches
                turns = [await _turn(hass, emulator, first_audio) for _ in range(TURNS)]
                rows.append((eager, model_delay, transcription_delay, turns))
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.config_entries.async_remove(entry.entry_id)
    no_file_cache.stop()
    _print(rows)


async def _enumerate(items: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    index = 0
    async for item in items:
        yield index, item
        index += 1


def _print(rows: list[tuple[bool, float, float, list[Turn]]]) -> None:
    print(f"\nVoice turn: end of speech -> first TTS audio byte, {TURNS} turns each")
    print(
        "| mode | M (ms) | T (ms) | p50 (ms) | p95 (ms) | p99 (ms) "
        "| emulator share p50 (ms) | overhead p50 (ms) | overhead p99 (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    by_config: dict[tuple[float, float], dict[bool, float]] = {}
    for eager, m, t, turns in rows:
        p50, p95, p99 = (1000 * v for v in _percentiles([x.latency for x in turns]))
        share = 1000 * statistics.median(x.share(eager) for x in turns)
        over = [1000 * (x.latency - x.share(eager)) for x in turns]
        o50, _, o99 = _percentiles(over)
        by_config.setdefault((m, t), {})[eager] = p50
        mode = "eager" if eager else "wait for transcript"
        print(
            f"| {mode} | {m * 1000:.0f} | {t * 1000:.0f} | {p50:.1f} | {p95:.1f} | "
            f"{p99:.1f} | {share:.1f} | {o50:.1f} | {o99:.1f} |"
        )
    print(
        "\n| M (ms) | T (ms) | eager saves (ms, p50) | min(M, T) (ms) | share of min(M, T) |"
    )
    print("|---|---|---|---|---|")
    for (m, t), modes in by_config.items():
        saved = modes[False] - modes[True]
        floor = 1000 * min(m, t)
        print(
            f"| {m * 1000:.0f} | {t * 1000:.0f} | {saved:.1f} | {floor:.0f} | "
            f"{saved / floor:.0%} |"
        )
    print(
        "\nTargets: overhead <= 5 ms p50, <= 15 ms p99; eager saves >= 90% of min(M, T)."
    )
