"""The beta dialect through HA: compatible servers and Azure's preview route.

OpenAI retired the beta interface in May 2026; servers that copied it (and older
Azure deployments) still speak it. The same turns as on GA, against the
emulator's beta path.
"""

from __future__ import annotations

from homeassistant.components import conversation
from homeassistant.components.assist_pipeline.pipeline import PipelineEventType
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import CONF_MODEL, CONF_VOICE
from realtime_emulator import RealtimeEmulator

from .conftest import AGENT
from .pipeline import answer, event, run, spoken, tts_audio

BETA_MODEL = "gpt-4o-realtime-preview"


@pytest.fixture
def beta(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """The entry on a model that speaks the beta dialect (set before setup)."""
    hass.config_entries.async_update_entry(
        config_entry,
        options={**config_entry.options, CONF_MODEL: BETA_MODEL, CONF_VOICE: "alloy"},
    )
    return config_entry


def _beta_sessions(emulator: RealtimeEmulator) -> list[object]:
    return [s for s in emulator.sessions if s.dialect == "beta" and s.received]


@pytest.mark.usefixtures("beta", "setup_integration", "house")
async def test_a_typed_tool_turn_in_beta(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The light switches through HA's API; the beta events carry the answer."""
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.kitchen_lights"}, blocking=True
    )
    result = await conversation.async_converse(
        hass,
        "turn on the kitchen lights",
        None,
        Context(),
        language="en",
        agent_id=AGENT,
    )
    assert result.response.response_type is intent.IntentResponseType.ACTION_DONE
    assert hass.states.get("light.kitchen_lights").state == "on"
    assert "kitchen lights" in result.response.speech["plain"]["speech"].lower()
    sessions = _beta_sessions(emulator)
    assert sessions
    creates = [
        e for s in sessions for e in s.received if e["type"] == "response.create"
    ]
    assert all(e["response"]["modalities"] == ["text"] for e in creates)


@pytest.mark.usefixtures("beta", "voice_house")
async def test_a_spoken_turn_in_beta(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """STT, the agent and TTS as one realtime turn, in the beta dialect."""
    events = await run(hass, spoken("hello"))
    assert event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello"
    assert await tts_audio(hass, events) == answer(events).lower()
    sessions = _beta_sessions(emulator)
    update = next(
        e for s in sessions for e in s.received if e["type"] == "session.update"
    )
    assert update["session"]["input_audio_format"] == "pcm16"
    updated = next(
        e for s in sessions for e in s.sent if e["type"] == "session.updated"
    )
    assert updated["session"]["voice"] == "alloy"
