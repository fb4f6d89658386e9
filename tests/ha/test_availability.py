"""What the entities show while the endpoint can't be used, and the log about it.

The agent, STT and TTS are unavailable while the endpoint can't be reached (their
turns are still tried); the usage sensors stay. The change is logged once each
way. A probe (a handshake, no response) brings them back without a user's turn.
"""

from __future__ import annotations

from datetime import timedelta
import logging

from homeassistant.components import conversation
from homeassistant.components.assist_pipeline.pipeline import PipelineEventType
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Context, HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge.health import PROBE_FIRST
from realtime_emulator import RealtimeEmulator

from .pipeline import event, run, spoken

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")

AGENT = "conversation.realtime_emulator"
STT = "stt.realtime_emulator_speech_to_text"
TTS = "tts.realtime_emulator_text_to_speech"
SENSOR = "sensor.realtime_emulator_responses"
GREETING = "Hello! How can I help with your home?"


async def _say(hass: HomeAssistant) -> str:
    result = await conversation.async_converse(
        hass, "hello", None, Context(), language="en", agent_id=AGENT
    )
    return str(result.response.speech["plain"]["speech"])


def _states(hass: HomeAssistant, *entity_ids: str) -> list[bool]:
    """Whether each entity is unavailable."""
    return [
        state is not None and state.state == STATE_UNAVAILABLE
        for state in (hass.states.get(entity_id) for entity_id in entity_ids)
    ]


def _logged(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in record.getMessage() for record in caplog.records)


async def _later(hass: HomeAssistant, seconds: float) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.usefixtures("setup_integration")
async def test_unreachable_endpoint_and_back(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unreachable: the agent, STT and TTS become unavailable (logged once, however
    many turns fail) and the sensors stay; the probe finds the endpoint back
    (logged once), costing a handshake and nothing else."""
    caplog.set_level(logging.INFO, logger="custom_components.openai_realtime")
    assert _states(hass, AGENT, STT, TTS, SENSOR) == [False] * 4
    emulator.options.handshake_status = 503
    for _turn in range(2):
        assert "has a problem right now (HTTP 503)" in await _say(hass)
    assert _states(hass, AGENT, STT, TTS, SENSOR) == [True, True, True, False]
    assert _logged(caplog, "is unavailable") == 1

    await _later(hass, PROBE_FIRST + 1)  # the first probe: still down
    assert _states(hass, AGENT) == [True]
    emulator.options.handshake_status = None
    sessions = len(emulator.sessions)
    await _later(hass, PROBE_FIRST + 1)  # too early: the next one waits longer
    assert _states(hass, AGENT) == [True]
    await _later(hass, 3 * PROBE_FIRST + 2)
    assert _states(hass, AGENT, STT, TTS, SENSOR) == [False] * 4
    assert _logged(caplog, "is available again") == 1
    assert _logged(caplog, "is unavailable") == 1
    probe = emulator.sessions[sessions:]
    assert len(probe) == 1
    assert probe[0].received == []  # no session.update, no response: nothing billed
    assert await _say(hass) == GREETING


@pytest.mark.usefixtures("setup_integration")
async def test_a_turn_brings_the_entities_back(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Turns are still tried while unavailable; the first that opens a session
    makes the entities available again, before any probe."""
    caplog.set_level(logging.INFO, logger="custom_components.openai_realtime")
    emulator.options.handshake_status = 503
    await _say(hass)
    assert _states(hass, AGENT, STT, TTS) == [True] * 3
    emulator.options.handshake_status = None
    assert await _say(hass) == GREETING
    assert _states(hass, AGENT, STT, TTS) == [False] * 3
    assert _logged(caplog, "is available again") == 1


async def test_a_rejected_key_is_not_probed(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    setup_integration: MockConfigEntry,
) -> None:
    """A revoked key makes the entities unavailable and asks to re-authenticate;
    it is not probed (only the user can change it)."""
    emulator.options.api_keys = {"sk-another-key"}
    await _say(hass)
    assert _states(hass, AGENT) == [True]
    emulator.options.api_keys = None  # a probe would succeed now: none is made
    sessions = len(emulator.sessions)
    await _later(hass, 10 * PROBE_FIRST)
    assert len(emulator.sessions) == sessions
    assert _states(hass, AGENT) == [True]
    assert await hass.config_entries.async_unload(setup_integration.entry_id)


@pytest.mark.usefixtures("voice_house")
async def test_a_satellite_finds_the_endpoint_down_and_back(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A satellite's turn that cannot open a session ends at STT with an error
    and makes the entities unavailable; the next satellite turn that gets a
    session is answered and brings them back."""
    caplog.set_level(logging.INFO, logger="custom_components.openai_realtime")
    emulator.options.handshake_status = 503
    events = await run(hass, spoken("hello"))
    assert event(events, PipelineEventType.ERROR)["code"] == "stt-stream-failed"
    assert _states(hass, AGENT, STT, TTS, SENSOR) == [True, True, True, False]
    assert _logged(caplog, "is unavailable: ") == 1
    emulator.options.handshake_status = None
    events = await run(hass, spoken("hello"))
    assert event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello"
    assert _states(hass, AGENT, STT, TTS) == [False] * 3
    assert _logged(caplog, "is available again") == 1
