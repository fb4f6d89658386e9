"""End of speech -> first audio byte, as a satellite hears it, stage by stage.

    python bench/satellite_latency.py      (or: scripts/bench satellite_latency)
    BENCH_TURNS=5 per row; BENCH_SPEED=3 (the emulator makes audio at 3x real time)

A satellite learns the TTS URL at `run-start` and fetches it at once (HTTP, in the
format it asks for); HA holds the response until it has audio to send. This bench
does the same, against a house of many exposed entities, with the emulator
producing audio at a realistic speed after a model delay, and measures per turn:

    eos       the satellite's last audio chunk (end of speech)
    ttfa      the model's own time to first audio: its response.create received
              -> its first audio delta sent (emulator timeline, same clock)
    tts       eos -> HA set the TTS message (tts-start, or streaming began)
    first     eos -> the first audio byte the satellite received

and reports p50 of `first`, of `ttfa`, and of `first - ttfa` (what the goal,
"first <= ttfa + 100 ms", is about), per answer kind and satellite format.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import itertools
import json
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
    PipelineEvent,
    PipelineEventType,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.components.homeassistant.exposed_entities import (  # noqa: E402
    async_expose_entity,
)
from homeassistant.core import Context, HomeAssistant  # noqa: E402
from homeassistant.helpers import entity_registry as er  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
import pytest  # noqa: E402
from pytest_homeassistant_custom_component.common import MockConfigEntry  # noqa: E402

from bench.ha_setup import as_in_production, async_setup_ffmpeg  # noqa: E402
import custom_components.openai_realtime  # noqa: E402, F401
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS  # noqa: E402
from realtime_emulator import EmulatorOptions, RealtimeEmulator, speech  # noqa: E402
from realtime_emulator.brain import CallTool, Say, TurnContext  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TURNS = int(os.environ.get("BENCH_TURNS", "5"))
SPEED = float(os.environ.get("BENCH_SPEED", "3"))  # audio made per second, x RT
MODEL_DELAY = 0.4  # the model's own time to its first output
TRANSCRIPTION_DELAY = 0.2
_NUMBERS = itertools.count(1)  # every answer is new: HA caches TTS by text

LONG = (
    "Here is today's weather: sunny in the morning, clouds after lunch, a light "
    "breeze from the west and nineteen degrees at the warmest."
)
SATELLITES: dict[str, dict[str, Any]] = {
    "esphome wav 16k": {"rate": 16000, "format": "wav"},
    "wyoming wav 22k": {"rate": 22050, "format": "wav"},
    "voice pe flac 48k": {"rate": 48000, "format": "flac"},
}
METADATA = stt.SpeechMetadata(
    language="en",
    format=stt.AudioFormats.WAV,
    codec=stt.AudioCodecs.PCM,
    bit_rate=stt.AudioBitRates.BITRATE_16,
    sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
    channel=stt.AudioChannels.CHANNEL_MONO,
)


@dataclass
class Kind:
    """An answer kind: what the user says, and how the brain answers."""

    name: str
    said: str  # without the turn number


KINDS = [
    Kind("short", "hello"),
    Kind("long", "weather"),
    Kind("short + tool", "switch"),
    Kind("long + tool", "report"),
]


class BenchBrain:
    """Answers carry the turn's number, so no TTS result repeats (HA caches TTS
    by text: a cached answer would not reach our engine at all)."""

    def respond(self, ctx: TurnContext) -> list[Say | CallTool]:
        """Short or long, with or without a tool call first."""
        kind, number = (ctx.last_user_text() or "x 0").rsplit(" ", 1)
        long = f"Answer {number}. {LONG}"
        short = f"Answer {number}, done."
        if kind in ("switch", "report") and not ctx.tool_results_since_user():
            tool = ctx.tool_named("HassTurnOff") or "HassTurnOff"
            return [CallTool(tool, json.dumps({"name": "kitchen lights"}))]
        return [Say(long if kind in ("weather", "report") else short)]


@dataclass
class Turn:
    """One measured run (seconds from end of speech, except ttfa)."""

    first: float
    ttfa: float
    tts: float


def _percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _audio_offset(data: bytes, fmt: str) -> int | None:
    """Where the audio starts in what the satellite received so far (None: not yet)."""
    if fmt == "wav":
        at = data.find(b"data")
        return at + 8 if at >= 0 and len(data) > at + 8 else None
    if len(data) < 4 or data[:4] != b"fLaC":
        return None
    pos = 4
    while len(data) >= pos + 4:  # metadata blocks: last one has the top bit set
        last, length = data[pos] & 0x80, int.from_bytes(data[pos + 1 : pos + 4], "big")
        pos += 4 + length
        if last:
            return pos if len(data) > pos else None
    return None


async def _first_audio(client: Any, url: str, fmt: str, seen: list[float]) -> None:
    """Fetch the TTS URL like a satellite; note when the first audio byte came."""
    response = await client.get(url)
    assert response.status == 200, await response.text()
    data = b""
    async for chunk in response.content.iter_any():
        data += chunk
        if not seen and _audio_offset(data, fmt) is not None:
            seen.append(time.monotonic())
    response.release()


def _emulator_ttfa(emulator: RealtimeEmulator, since: float) -> float:
    marks = [
        (t, d, k)
        for session in emulator.sessions
        for t, d, k in session.timeline
        if t >= since
    ]
    create = min(t for t, d, k in marks if d == "in" and k == "response.create")
    audio = min(
        t
        for t, d, k in marks
        if d == "out" and k == "response.output_audio.delta" and t >= create
    )
    return audio - create


async def _turn(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    client: Any,
    kind: Kind,
    satellite: dict[str, Any],
) -> Turn:
    said = f"{kind.said} {next(_NUMBERS)}"
    audio = speech.encode(said, rate=16000) + b"\x00\x00" * 3200
    ended: list[float] = []
    first: list[float] = []
    fetch: list[asyncio.Task[None]] = []
    tts_set: list[float] = []

    async def satellite_mic() -> AsyncIterator[bytes]:
        for start in range(0, len(audio), 640):
            yield audio[start : start + 640]
        ended.append(time.monotonic())

    def on_event(event: PipelineEvent) -> None:
        data = event.data or {}
        if event.type is PipelineEventType.RUN_START:
            url = data["tts_output"]["url"]
            fetch.append(
                hass.async_create_task(
                    _first_audio(client, url, satellite["format"], first)
                )
            )
        elif (
            (
                event.type is PipelineEventType.INTENT_PROGRESS
                and data.get("tts_start_streaming")
            )
            or event.type is PipelineEventType.TTS_START
        ) and not tts_set:
            tts_set.append(time.monotonic())

    since = time.monotonic()
    await assist_pipeline.async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=on_event,
        stt_metadata=METADATA,
        stt_stream=satellite_mic(),
        tts_audio_output={
            tts.ATTR_PREFERRED_FORMAT: satellite["format"],
            tts.ATTR_PREFERRED_SAMPLE_RATE: satellite["rate"],
            tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
            tts.ATTR_PREFERRED_SAMPLE_BYTES: 2,
        },
        audio_settings=AudioSettings(is_vad_enabled=False),
    )
    await asyncio.gather(*fetch)
    assert first, f"no audio reached the satellite for {said!r}"
    return Turn(
        first=first[0] - ended[0],
        ttfa=_emulator_ttfa(emulator, since),
        tts=tts_set[0] - ended[0],
    )


async def _house(hass: HomeAssistant) -> int:
    """The demo house with every entity exposed to Assist; how many there are."""
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    assert await hass.config_entries.async_setup(demo.entry_id)
    await hass.async_block_till_done()
    entities = hass.states.async_entity_ids()
    for entity_id in entities:
        async_expose_entity(hass, "conversation", entity_id, True)
    return len(entities)


@pytest.mark.usefixtures("socket_enabled")
async def test_satellite_latency(
    hass: HomeAssistant, enable_custom_integrations: None, hass_client: Any
) -> None:
    """Print the table (run as a script; the tests don't collect bench/)."""
    as_in_production()
    no_file_cache = patch("homeassistant.components.tts.DEFAULT_CACHE", False)
    no_file_cache.start()
    emulator = RealtimeEmulator(
        EmulatorOptions(
            audio_pacing="realtime",
            audio_speed=SPEED,
            model_delay=MODEL_DELAY,
            transcription_delay=TRANSCRIPTION_DELAY,
            cache_block_tokens=128,
            cache_min_tokens=1024,
        ),
        brain=BenchBrain(),
    )
    await emulator.start()
    try:
        assert await async_setup_component(hass, "homeassistant", {})
        await async_setup_ffmpeg(hass)
        exposed = await _house(hass)
        assert await async_setup_component(hass, "assist_pipeline", {})
        entry = MockConfigEntry(
            domain="openai_realtime",
            data={
                "endpoint_kind": "custom",
                "base_url": emulator.base_url,
                "api_key": "bench",
            },
            options=dict(DEFAULT_OPTIONS),
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        ours = {
            e.domain: e.entity_id
            for e in er.async_entries_for_config_entry(
                er.async_get(hass), entry.entry_id
            )
        }
        await async_update_pipeline(
            hass,
            async_get_pipeline(hass),
            conversation_engine=ours["conversation"],
            conversation_language="en",
            language="en",
            stt_engine=ours["stt"],
            stt_language="en",
            tts_engine=ours["tts"],
            tts_language="en",
            tts_voice="marin",
            prefer_local_intents=False,
        )
        client = await hass_client()
        rows = []
        for kind in KINDS:
            for name, satellite in SATELLITES.items():
                turns = [
                    await _turn(hass, emulator, client, kind, satellite)
                    for _ in range(TURNS)
                ]
                firsts = [t.first for t in turns]
                ttfas = [t.ttfa for t in turns]
                over = [t.first - t.ttfa for t in turns]
                rows.append(
                    (
                        kind.name,
                        name,
                        _percentile(firsts, 50),
                        _percentile(ttfas, 50),
                        _percentile(over, 50),
                        _percentile([t.tts for t in turns], 50),
                    )
                )
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await emulator.stop()
        no_file_cache.stop()
    ha = __import__("homeassistant.const", fromlist=["__version__"]).__version__
    print(
        f"\nSatellite latency, HA {ha}, {exposed} exposed entities, model delay "
        f"{MODEL_DELAY * 1000:.0f} ms, audio made at {SPEED:g}x real time, "
        f"{TURNS} turns per row (ms, p50)\n"
    )
    print(
        "| answer | satellite | end of speech -> first audio | model TTFA | "
        "first - TTFA | end of speech -> TTS message |"
    )
    print("|---|---|---|---|---|---|")
    for kind, name, first, ttfa, over, tts_at in rows:
        print(
            f"| {kind} | {name} | {first * 1000:.0f} | {ttfa * 1000:.0f} | "
            f"{over * 1000:.0f} | {tts_at * 1000:.0f} |"
        )
