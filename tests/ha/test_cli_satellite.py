"""tools/satellite against Home Assistant's own websocket API and TTS proxy.

HA's HTTP app is served on a loopback port; the satellite talks to it exactly as
it talks to a remote instance: the spoken turn in the emulator's tone speech, the
answer fetched as soon as HA announces it, the conversation id printed and usable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import re

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime import compat
from realtime_emulator import RealtimeEmulator, speech
from realtime_emulator.brain import Rule, ScriptedBrain
from tools import satellite

LIGHT = "light.kitchen_lights"
LONG_ANSWER = (
    "Tomorrow starts cloudy with a light breeze from the west, the sun comes out "
    "after lunch and the evening stays dry and mild."
)


@pytest.fixture
async def ha_url(
    hass: HomeAssistant, voice_house: object, aiohttp_client: ClientSessionGenerator
) -> str:
    """The URL of HA's HTTP app (websocket API, TTS proxy) on a loopback port."""
    assert await async_setup_component(hass, "websocket_api", {})
    client = await aiohttp_client(hass.http.app)
    return str(client.make_url("")).rstrip("/")


@pytest.fixture
async def ha(
    ha_url: str, hass_access_token: str
) -> AsyncIterator[satellite.HomeAssistantClient]:
    """The satellite's connection to HA, authenticated with a long-lived token."""
    async with aiohttp.ClientSession() as http:
        client = satellite.HomeAssistantClient(http, ha_url, hass_access_token)
        await client.connect()
        yield client
        await client.close()


async def test_spoken_turn_first_audio_before_the_run_ends(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    ha: satellite.HomeAssistantClient,
) -> None:
    """The answer is fetched as soon as HA announces it: where HA streams answers,
    its first byte comes while the model still speaks, so the printed time is the
    one a satellite hears, not the whole answer's."""
    emulator.options.audio_pacing = "realtime"  # the answer takes its spoken time
    emulator.brain = ScriptedBrain([Rule("weather", say=LONG_ANSWER)])
    result = await satellite.run_turn(
        ha,
        audio=satellite.wav_chunks(satellite.tone_speech("weather"), realtime=False),
    )
    assert result.error is None
    assert result.transcript == "weather"
    assert result.answer == LONG_ANSWER
    assert speech.decode(result.audio, result.audio_rate) == LONG_ANSWER.lower()
    assert result.latency_ms is not None
    answer_ms = len(result.audio) / 2 / result.audio_rate * 1000
    if _streams_answers(result.events):
        # HA starts speaking after 60 characters; the rest is still to come.
        assert result.latency_ms < answer_ms * 0.7
    else:  # HA 2025.4: TTS starts when the agent is done
        assert result.latency_ms > answer_ms


async def test_the_conversation_id_continues_the_conversation(
    hass: HomeAssistant, ha: satellite.HomeAssistantClient
) -> None:
    """The id a turn reports is the conversation a follow-up continues."""
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": LIGHT}, blocking=True
    )
    first = await satellite.run_turn(
        ha,
        audio=satellite.wav_chunks(
            satellite.tone_speech("turn on the kitchen lights"), realtime=False
        ),
    )
    assert first.answer == "Turned on the kitchen lights."
    assert hass.states.get(LIGHT).state == "on"
    assert first.conversation_id
    follow_up = await satellite.run_turn(
        ha, text="turn off the kitchen lights", conversation_id=first.conversation_id
    )
    assert follow_up.conversation_id == first.conversation_id
    assert hass.states.get(LIGHT).state == "off"


def _streams_answers(events: list[dict[str, object]]) -> bool:
    start = next(e for e in events if e["type"] == "run-start")
    output = (start.get("data") or {}).get("tts_output") or {}  # type: ignore[union-attr]
    return bool(output.get("stream_response"))


async def test_the_cli_prints_what_it_heard_and_the_conversation(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    ha_url: str,
    hass_access_token: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`tools/satellite --say` prints the transcript, the answer, the conversation
    id and the time from end of speech to the first audio byte."""
    code = await satellite.main(
        [
            "--url",
            ha_url,
            "--token",
            hass_access_token,
            "--say",
            "hello",
            "--out",
            "/dev/null",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "you said: hello\n" in out
    assert re.search(r"^answer: +\S", out, re.MULTILINE)
    assert re.search(r"^conversation: [0-9A-Z]{26}$", out, re.MULTILINE), out
    assert re.search(
        r"^timing: +end of speech → first audio byte \d+ ms$", out, re.MULTILINE
    ), out
    assert compat  # the integration's HA shims load with the satellite beside them
