"""Many satellites at once on one small Home Assistant: latency, loop lag, CPU.

    python bench/scale.py        (or: scripts/bench scale)
    BENCH_VOICE="1 10 25" BENCH_TYPED="1 25 50" BENCH_ROUNDS=3
    BENCH_HA_PROMPT_CACHE=1   what-if: HA builds its Assist prompt once, not per turn
    BENCH_PROFILE=tottime [BENCH_PROFILE_OUT=file]   profile 50 typed turns (or
    25 voice turns with BENCH_PROFILE_VOICE=1); BENCH_SLOW=1 lists slow callbacks

N satellites stop speaking at the same moment (their audio streams at real time
and ends together); N typed turns start together. The emulator runs in its own
process (`python -m realtime_emulator`), so the event loop, the CPU time and the
latency measured here are Home Assistant's and ours only. Per row:

    latency   end of speech (or the typed turn's start) -> first answer audio
              handed to HA (voice) / the agent's answer (typed)
    ours      voice: end of speech -> our response.create on the wire, plus the
              model's first audio delta -> that audio in the turn's buffer
    loop lag  how late a 10 ms timer fires on HA's event loop during the rounds
    CPU/turn  CPU seconds per turn of HA, the integration and the programs HA
              runs for it (ffmpeg converting TTS audio)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
from pathlib import Path
import resource
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Self

if __name__ == "__main__":
    from under_pytest import run  # bench/ is sys.path[0] when run as a script

    sys.exit(run(__file__, timeout=3600))
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from homeassistant.components import assist_pipeline, conversation, stt, tts  # noqa: E402
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
from custom_components.openai_realtime.bridge import tools, voice_turn  # noqa: E402
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS  # noqa: E402
from custom_components.openai_realtime.realtime import session as rt_session  # noqa: E402
from realtime_emulator import speech  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

VOICE = [int(n) for n in os.environ.get("BENCH_VOICE", "1 10 25").split()]
TYPED = [int(n) for n in os.environ.get("BENCH_TYPED", "1 25 50").split()]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MODEL_DELAY = 0.3
SPEED = 3.0
PORT = 18765
_NUMBERS = itertools.count(1)
METADATA = stt.SpeechMetadata(
    language="en",
    format=stt.AudioFormats.WAV,
    codec=stt.AudioCodecs.PCM,
    bit_rate=stt.AudioBitRates.BITRATE_16,
    sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
    channel=stt.AudioChannels.CHANNEL_MONO,
)


class LoopLag:
    """How late a 10 ms timer fires, sampled continuously."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.samples.append(max(0.0, loop.time() - due))

    def start(self) -> None:
        self.samples.clear()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class GcPauses:
    """Durations of the garbage collector's generation-2 runs while watched."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._began)

    def __enter__(self) -> Self:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


class Marks:
    """Our two segments of each voice turn, stamped in the integration's code.

    A: end of speech -> the eager response.create sent (the turn's `committed`);
    B: the model's first audio delta read off the socket -> in the turn's buffer.
    """

    def __init__(self) -> None:
        self.turns: list[dict[str, float]] = []

    @contextlib.contextmanager
    def watching(self) -> Any:
        loop = asyncio.get_running_loop()
        committed = voice_turn.VoiceTurn.committed
        feed = rt_session.ResponseStream._feed  # noqa: SLF001 - stamped here
        append = voice_turn.AudioBuffer.append

        def on_committed(turn: Any, *args: Any, **kwargs: Any) -> Any:
            turn.bench = {"committed": loop.time()}
            self.turns.append(turn.bench)
            turn.audio.bench = turn.bench
            return committed(turn, *args, **kwargs)

        def on_feed(stream: Any, event: Any) -> Any:
            if type(event).__name__ == "AudioDelta" and not hasattr(stream, "bench"):
                stream.bench = loop.time()
            return feed(stream, event)

        def on_append(buffer: Any, chunk: bytes, item_id: str = "") -> Any:
            marks = getattr(buffer, "bench", None)
            if marks is not None and "buffered" not in marks:
                marks["buffered"] = loop.time()
            return append(buffer, chunk, item_id)

        with (
            patch.object(voice_turn.VoiceTurn, "committed", on_committed),
            patch.object(rt_session.ResponseStream, "_feed", on_feed),
            patch.object(voice_turn.AudioBuffer, "append", on_append),
        ):
            yield


def _cpu() -> float:
    """CPU seconds of this process and the programs it ran (HA's ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _q(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


turn_ends: dict[int, tuple[Any, float]] = {}


async def _voice_turn(
    hass: HomeAssistant, go: asyncio.Event, lengths: list[float]
) -> tuple[float, float]:
    """One satellite: speech streamed at real time, ending when `go` is set.

    Returns (end of speech, first audio handed to HA by our TTS) as loop times.
    """
    said = speech.encode(f"hello {next(_NUMBERS)}", rate=16000)
    ended: list[float] = []
    loop = asyncio.get_running_loop()

    async def mic() -> AsyncIterator[bytes]:
        for start in range(0, len(said), 640):
            yield said[start : start + 640]
            await asyncio.sleep(0.02)
        await go.wait()  # everyone stops speaking at the same moment
        yield b"\x00\x00" * 1600
        ended.append(loop.time())
        if (turn := voice_turn.current_voice_turn.get()) is not None:
            turn_ends[id(turn)] = (turn, ended[0])

    events: list[PipelineEvent] = []
    await assist_pipeline.async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=METADATA,
        stt_stream=mic(),
        # What an ESPHome satellite asks for.
        tts_audio_output={
            tts.ATTR_PREFERRED_FORMAT: "wav",
            tts.ATTR_PREFERRED_SAMPLE_RATE: 16000,
            tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
            tts.ATTR_PREFERRED_SAMPLE_BYTES: 2,
        },
        audio_settings=AudioSettings(is_vad_enabled=False),
    )
    start = next(e for e in events if e.type is PipelineEventType.RUN_START)
    result = tts.async_get_stream(hass, start.data["tts_output"]["token"])  # type: ignore[index]
    assert result is not None
    first = None
    async for chunk in result.async_stream_result():
        if (first is None and len(chunk) > 44) or (
            first is None and chunk and not chunk.startswith(b"RIFF")
        ):
            first = loop.time()
    assert first is not None
    assert ended
    lengths.append(first - ended[0])
    return ended[0], first


async def _voice_round(hass: HomeAssistant, n: int) -> list[float]:
    go = asyncio.Event()
    lengths: list[float] = []
    runs = [hass.async_create_task(_voice_turn(hass, go, lengths)) for _ in range(n)]
    # Let every satellite get its speech out, then end them together.
    await asyncio.sleep(1.2)
    go.set()
    await asyncio.gather(*runs)
    return lengths


async def _typed_round(hass: HomeAssistant, agent: str, n: int) -> list[float]:
    loop = asyncio.get_running_loop()

    async def one() -> float:
        began = loop.time()
        await conversation.async_converse(
            hass,
            f"hello {next(_NUMBERS)}",
            None,
            Context(),
            language="en",
            agent_id=agent,
        )
        return loop.time() - began

    return list(await asyncio.gather(*(one() for _ in range(n))))


def _cache_ha_static_prompt() -> None:
    """What-if: HA's Assist API builds its static prompt (every exposed entity as
    YAML) once, not on every turn, as HA could if it rebuilt it only when the
    registries, the exposure settings or a name change. Nothing changes them
    during this bench, so one build per API and assistant is what that gives."""
    from homeassistant.components.homeassistant import llm as ha_llm

    build = ha_llm.async_get_tools
    built: dict[tuple[str, str | None], Any] = {}

    def cached(hass: HomeAssistant, llm_context: Any, api_id: str) -> Any:
        key = (api_id, llm_context.assistant)
        if key not in built:
            built[key] = build(hass, llm_context, api_id)
        return built[key]

    patch.object(ha_llm, "async_get_tools", cached).start()


def _start_emulator() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime_emulator",
            "--port",
            str(PORT),
            "--pacing",
            "realtime",
            "--audio-speed",
            str(SPEED),
            "--model-delay",
            str(MODEL_DELAY),
            "--transcription-delay",
            "0.15",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_for_emulator() -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{PORT}/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError("the emulator did not start")


def _our_share() -> list[float]:
    """Per voice turn: A + B (see Marks), from the stamps of the last round."""
    shares = []
    for turn, ended in turn_ends.values():
        marks = getattr(turn, "bench", None)
        response = turn.response
        arrived = getattr(response, "bench", None) if response is not None else None
        if marks is None or arrived is None or "buffered" not in marks:
            continue
        shares.append((marks["committed"] - ended) + (marks["buffered"] - arrived))
    turn_ends.clear()
    return shares


@pytest.mark.usefixtures("socket_enabled")
async def test_scale(hass: HomeAssistant, enable_custom_integrations: None) -> None:
    """Print the table."""
    as_in_production()
    if os.environ.get("BENCH_NO_SCHEMA_CACHE"):  # for a before/after ratio
        cache = tools._SCHEMAS  # noqa: SLF001
        convert = cache.parameters

        def uncached(tool: Any, serializer: Any) -> dict[str, Any]:
            cache._entries.clear()  # noqa: SLF001
            return convert(tool, serializer)

        patch.object(cache, "parameters", uncached).start()
    if os.environ.get("BENCH_HA_PROMPT_CACHE"):  # what the HA change would give
        _cache_ha_static_prompt()
    no_file_cache = patch("homeassistant.components.tts.DEFAULT_CACHE", False)
    no_file_cache.start()
    emulator = _start_emulator()
    try:
        await _wait_for_emulator()
        assert await async_setup_component(hass, "homeassistant", {})
        await async_setup_ffmpeg(hass)
        demo = MockConfigEntry(domain="demo")
        demo.add_to_hass(hass)
        assert await hass.config_entries.async_setup(demo.entry_id)
        await hass.async_block_till_done()
        for entity_id in hass.states.async_entity_ids():
            async_expose_entity(hass, "conversation", entity_id, True)
        assert await async_setup_component(hass, "assist_pipeline", {})
        entry = MockConfigEntry(
            domain="openai_realtime",
            data={
                "endpoint_kind": "custom",
                "base_url": f"http://127.0.0.1:{PORT}/v1",
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
        lag = LoopLag()
        rows: list[tuple[str, int, list[float], list[float], float, list[float]]] = []
        marks = Marks()
        gc_pauses = GcPauses()
        gc_pauses.__enter__()
        with marks.watching():
            await _voice_round(hass, 1)  # warm up imports and caches
            _our_share()
            for n in VOICE:
                lengths, lags, cpu, shares = [], [], 0.0, []
                for _ in range(ROUNDS):
                    lag.start()
                    began = _cpu()
                    lengths += await _voice_round(hass, n)
                    cpu += _cpu() - began
                    await lag.stop()
                    lags += lag.samples
                    shares += _our_share()
                rows.append(("voice", n, lengths, lags, cpu / (n * ROUNDS), shares))
        if os.environ.get("BENCH_SLOW"):  # which callbacks hold the loop
            import asyncio.events as aevents

            slow: list[tuple[float, str]] = []
            run = aevents.Handle._run  # noqa: SLF001 - timed for the report

            def timed(handle: Any) -> None:
                began = time.perf_counter()
                run(handle)
                took = time.perf_counter() - began
                if took > 0.005:
                    slow.append((took, repr(handle)[:160]))

            with patch.object(aevents.Handle, "_run", timed):
                await _typed_round(hass, ours["conversation"], 25)
            for took, what in sorted(slow, reverse=True)[:15]:
                print(f"{took * 1000:6.1f} ms {what}")
            print("handles over 5 ms:", len(slow), "total", sum(t for t, _ in slow))
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
            if os.environ.get("BENCH_PROFILE_VOICE"):
                await _voice_round(hass, 25)
            else:
                await _typed_round(hass, ours["conversation"], 50)
            profile.disable()
            stats = pstats.Stats(profile)
            stats.sort_stats(os.environ["BENCH_PROFILE"]).print_stats(40)
            if out := os.environ.get("BENCH_PROFILE_OUT"):  # for pstats or a split
                stats.dump_stats(out)
        for n in TYPED:
            lengths, lags, cpu = [], [], 0.0
            for _ in range(ROUNDS):
                lag.start()
                began = _cpu()
                lengths += await _typed_round(hass, ours["conversation"], n)
                cpu += _cpu() - began
                await lag.stop()
                lags += lag.samples
            rows.append(("typed", n, lengths, lags, cpu / (n * ROUNDS), []))
        gc_pauses.__exit__()
        turns = sum(len(row[2]) for row in rows)
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        emulator.terminate()
        emulator.wait()
        no_file_cache.stop()
    ha = __import__("homeassistant.const", fromlist=["__version__"]).__version__
    print(
        f"\nScale, HA {ha}, {ROUNDS} rounds per row, emulator in its own process "
        f"(model delay {MODEL_DELAY * 1000:.0f} ms, audio at {SPEED:g}x)\n"
    )
    print(
        "| turns | N at once | latency p50 (ms) | latency p99 (ms) | ours p50 (ms) | "
        "loop lag p50 (ms) | loop lag p99 (ms) | loop lag max (ms) | CPU per turn (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, n, lengths, lags, cpu, shares in rows:
        ours_p50 = f"{_q(shares, 50) * 1000:.0f}" if shares else "-"
        print(
            f"| {kind} | {n} | {_q(lengths, 50) * 1000:.0f} | "
            f"{_q(lengths, 99) * 1000:.0f} | {ours_p50} | {_q(lags, 50) * 1000:.1f} | "
            f"{_q(lags, 99) * 1000:.1f} | {max(lags) * 1000:.0f} | {cpu * 1000:.1f} |"
        )
    pauses = gc_pauses.pauses
    print(
        f"\nGarbage collector, generation 2: {len(pauses)} runs in {turns} turns, "
        f"longest {max(pauses, default=0) * 1000:.0f} ms, "
        f"total {sum(pauses) * 1000:.0f} ms"
    )
