"""Input tokens per turn and the cached share, by house size and kind of turn.

    python bench/tokens.py        (or: scripts/bench tokens)

The emulator counts input tokens and caches prefixes by content the way the real
server does (whole 128-token blocks, from 1,024 tokens on). For houses of 10, 50
and 200 exposed entities, three turns of one conversation each: typed, spoken
(from a satellite in an area) and typed without an LLM API ("chat-only", where HA
puts the clock in the prompt). Printed per turn: input tokens, the cached share,
and how many session.update events the turn sent.
"""

from __future__ import annotations

from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any

if __name__ == "__main__":
    from under_pytest import run  # bench/ is sys.path[0] when run as a script

    sys.exit(run(__file__))
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant.components import assist_pipeline, conversation, stt, tts  # noqa: E402
from homeassistant.components.assist_pipeline.pipeline import (  # noqa: E402
    AudioSettings,
    PipelineEventType,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.components.homeassistant.exposed_entities import (  # noqa: E402
    async_expose_entity,
)
from homeassistant.core import Context, HomeAssistant  # noqa: E402
from homeassistant.helpers import (  # noqa: E402
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.setup import async_setup_component  # noqa: E402
import pytest  # noqa: E402
from pytest_homeassistant_custom_component.common import MockConfigEntry  # noqa: E402

from bench.ha_setup import as_in_production, async_setup_ffmpeg  # noqa: E402
import custom_components.openai_realtime  # noqa: E402, F401
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS  # noqa: E402
from custom_components.openai_realtime.const import CONF_LLM_HASS_API  # noqa: E402
from realtime_emulator import EmulatorOptions, RealtimeEmulator, speech  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

HOUSES = (10, 50, 200)
AREAS = ("Kitchen", "Living Room", "Bedroom", "Office", "Hall")
METADATA = stt.SpeechMetadata(
    language="en",
    format=stt.AudioFormats.WAV,
    codec=stt.AudioCodecs.PCM,
    bit_rate=stt.AudioBitRates.BITRATE_16,
    sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
    channel=stt.AudioChannels.CHANNEL_MONO,
)
SAID = ("hello", "what can you do", "thank you")


async def _house(hass: HomeAssistant, size: int) -> None:
    """`size` switches spread over areas, all exposed to Assist."""
    areas = [ar.async_get(hass).async_get_or_create(name) for name in AREAS]
    config = {f"switch_{n}": {"name": f"Switch {n}"} for n in range(size)}
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": config})
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    for n in range(size):
        entity_id = f"input_boolean.switch_{n}"
        registry.async_update_entity(entity_id, area_id=areas[n % len(areas)].id)
        async_expose_entity(hass, "conversation", entity_id, True)


def _updates(emulator: RealtimeEmulator) -> int:
    return sum(
        event["type"] == "session.update"
        for session in emulator.sessions[1:]  # 0: the setup check
        for event in session.received
    )


async def _spoken(hass: HomeAssistant, text: str, cid: str | None, device: str) -> str:
    audio = speech.encode(text, rate=16000) + b"\x00\x00" * 3200

    async def mic() -> AsyncIterator[bytes]:
        for start in range(0, len(audio), 640):
            yield audio[start : start + 640]

    events: list[Any] = []
    await assist_pipeline.async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=METADATA,
        stt_stream=mic(),
        conversation_id=cid,
        device_id=device,
        tts_audio_output={tts.ATTR_PREFERRED_FORMAT: "wav"},
        audio_settings=AudioSettings(is_vad_enabled=False),
    )
    end = next(e for e in events if e.type is PipelineEventType.INTENT_END)
    start = next(e for e in events if e.type is PipelineEventType.RUN_START)
    stream = tts.async_get_stream(hass, start.data["tts_output"]["token"])
    assert stream is not None
    async for _chunk in stream.async_stream_result():
        pass
    return str(end.data["intent_output"]["conversation_id"])


async def _conversation(
    hass: HomeAssistant, emulator: RealtimeEmulator, kind: str, agent: str, device: str
) -> list[tuple[int, float, int]]:
    """(input tokens, cached share, session.updates) per turn."""
    rows: list[tuple[int, float, int]] = []
    cid: str | None = None
    for text in SAID:
        marks = [len(s.sent) for s in emulator.sessions]
        updates = _updates(emulator)
        if kind == "spoken":
            cid = await _spoken(hass, text, cid, device)
        else:
            result = await conversation.async_converse(
                hass, text, cid, Context(), language="en", agent_id=agent
            )
            cid = result.conversation_id
        usages = [
            event["response"]["usage"]
            for index, session in enumerate(emulator.sessions)
            for event in session.sent[(marks[index] if index < len(marks) else 0) :]
            if event["type"] == "response.done"
        ]
        usage = usages[0]  # the turn's first response: its whole input
        cached = (usage.get("input_token_details") or {}).get("cached_tokens", 0)
        rows.append(
            (
                usage["input_tokens"],
                cached / usage["input_tokens"],
                _updates(emulator) - updates,
            )
        )
    return rows


@pytest.mark.usefixtures("socket_enabled")
@pytest.mark.parametrize("size", HOUSES)
async def test_tokens(
    hass: HomeAssistant, enable_custom_integrations: None, size: int
) -> None:
    """Print the table's rows for a house of `size` exposed entities."""
    as_in_production()
    no_file_cache = patch("homeassistant.components.tts.DEFAULT_CACHE", False)
    no_file_cache.start()
    emulator = RealtimeEmulator(
        EmulatorOptions(cache_block_tokens=128, cache_min_tokens=1024)
    )
    await emulator.start()
    table: list[tuple[int, str, list[tuple[int, float, int]]]] = []
    try:
        assert await async_setup_component(hass, "homeassistant", {})
        await async_setup_ffmpeg(hass)
        assert await async_setup_component(hass, "assist_pipeline", {})
        satellite_entry = MockConfigEntry(domain="bench")
        satellite_entry.add_to_hass(hass)
        device = dr.async_get(hass).async_get_or_create(
            config_entry_id=satellite_entry.entry_id, identifiers={("bench", "sat")}
        )
        kitchen = ar.async_get(hass).async_get_or_create("Kitchen")
        dr.async_get(hass).async_update_device(device.id, area_id=kitchen.id)
        satellite = er.async_get(hass).async_get_or_create(
            "assist_satellite", "bench", "sat", device_id=device.id
        )
        await _house(hass, size)
        if True:
            for kind, apis in (
                ("typed", ["assist"]),
                ("spoken", ["assist"]),
                ("chat-only", []),
            ):
                entry = MockConfigEntry(
                    domain="openai_realtime",
                    data={
                        "endpoint_kind": "custom",
                        "base_url": emulator.base_url,
                        "api_key": "bench",
                    },
                    options=dict(DEFAULT_OPTIONS) | {CONF_LLM_HASS_API: apis},
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
                    prefer_local_intents=False,
                )
                hass.states.async_set(
                    satellite.entity_id, "listening" if kind == "spoken" else "idle"
                )
                table.append(
                    (
                        size,
                        kind,
                        await _conversation(
                            hass, emulator, kind, ours["conversation"], device.id
                        ),
                    )
                )
                assert await hass.config_entries.async_unload(entry.entry_id)
                await hass.config_entries.async_remove(entry.entry_id)
    finally:
        await emulator.stop()
        no_file_cache.stop()
    ha = __import__("homeassistant.const", fromlist=["__version__"]).__version__
    print(
        f"\nInput tokens and cache per turn, HA {ha} (cache: 128-token blocks from 1,024)\n"
    )
    print(
        "| exposed | turns | turn 1 in | turn 2 in (cached) | turn 3 in (cached) | "
        "session.update per turn |"
    )
    print("|---|---|---|---|---|---|")
    for exposed, kind, rows in table:
        (t1, _, u1), (t2, c2, u2), (t3, c3, u3) = rows
        print(
            f"| {exposed} | {kind} | {t1} | {t2} ({c2:.0%}) | {t3} ({c3:.0%}) | "
            f"{u1}, {u2}, {u3} |"
        )
