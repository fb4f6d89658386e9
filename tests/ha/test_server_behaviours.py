"""What the real server does that a client must cope with, through HA's pipeline.

Each test turns on one of the emulator's behaviours of the real server (see
realtime_emulator/options.py) and checks what the user gets.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import conversation
from homeassistant.components.assist_pipeline.pipeline import (
    PipelineEventType,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent, llm
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import CONF_LLM_HASS_API
from realtime_emulator import RealtimeEmulator
from realtime_emulator.brain import HouseBrain, Rule, ScriptedBrain

from .conftest import AGENT, Wire
from .pipeline import answer, event, run, spoken, tts_audio
from .typed import say, speech


@pytest.mark.usefixtures("voice_house")
async def test_a_spoken_preamble_before_the_tool_call_is_heard(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """ "One moment." then the tool call, in one response: the satellite hears the
    preamble and then the answer; the light switches; the ChatLog has both."""
    emulator.options.tool_preamble = "One moment."
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.kitchen_lights"}, blocking=True
    )
    events = await run(hass, spoken("turn on the kitchen lights"))
    assert hass.states.get("light.kitchen_lights").state == "on"
    heard = await tts_audio(hass, events)
    assert heard.startswith("one moment.")
    assert heard.endswith("turned on the kitchen lights.")
    assert answer(events) == "Turned on the kitchen lights."


@pytest.mark.usefixtures("setup_integration", "house")
async def test_two_tool_calls_in_one_response(hass: HomeAssistant) -> None:
    """Both run through HA; one answer follows their results."""
    for light in ("light.kitchen_lights", "light.ceiling_lights"):
        await hass.services.async_call(
            "light", "turn_on", {"entity_id": light}, blocking=True
        )
    result = await say(hass, "turn off the kitchen lights and the ceiling lights")
    assert hass.states.get("light.kitchen_lights").state == "off"
    assert hass.states.get("light.ceiling_lights").state == "off"
    assert "kitchen lights" in speech(result).lower()


@pytest.mark.usefixtures("setup_integration")
async def test_an_error_mid_response_fails_the_turn_and_frees_the_session(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The server sends an error while it keeps generating: the turn ends in our
    words, its response is cancelled, and the next turn is not refused as busy."""
    emulator.options.mid_response_error = "server_error"
    emulator.options.model_delay = 0.05
    failed = await say(hass, "hello")
    assert failed.response.response_type is intent.IntentResponseType.ERROR
    assert speech(failed) == "The model had a problem answering. Please try again."
    emulator.options.mid_response_error = None
    ok = await conversation.async_converse(
        hass, "hello", failed.conversation_id, Context(), language="en", agent_id=AGENT
    )
    assert ok.response.response_type is intent.IntentResponseType.ACTION_DONE
    # The failed turn's response was cancelled on the server (a new turn racing
    # the cancel is refused once as busy, then sent again: that is recovered).
    done = [
        e["response"]["status"]
        for session in emulator.sessions
        for e in session.sent
        if e["type"] == "response.done"
    ]
    assert done[0] == "cancelled"


@pytest.mark.usefixtures("voice_house")
async def test_the_transcript_after_the_first_audio(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The input transcript comes after the eager answer's first audio: the turn
    still links up and answers right."""
    emulator.options.transcript_after_output = True
    events = await run(hass, spoken("hello"))
    assert event(events, PipelineEventType.STT_END)["stt_output"]["text"] == "hello"
    assert await tts_audio(hass, events) == "hello! how can i help with your home?"


@pytest.mark.usefixtures("voice_house")
async def test_a_lone_response_done_after_an_early_cancel(
    hass: HomeAssistant, emulator: RealtimeEmulator, wire: Wire
) -> None:
    """HA answers locally before the model's first output: our cancel gets a
    `response.done` for a response whose `response.created` never came. Nothing
    hangs, and the conversation's next turn is answered by the model."""
    emulator.options.defer_response_created = True
    emulator.options.model_delay = 30.0  # only the cancel ends it
    await async_update_pipeline(
        hass, async_get_pipeline(hass), prefer_local_intents=True
    )
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.kitchen_lights"}, blocking=True
    )
    first = await run(hass, spoken("turn on the kitchen lights"))
    assert hass.states.get("light.kitchen_lights").state == "on"
    cid = event(first, PipelineEventType.INTENT_END)["intent_output"]["conversation_id"]
    session = next(s for s in emulator.sessions if s.received)  # the conversation's

    def done() -> list[dict[str, Any]]:
        return [e for e in session.sent if e["type"] == "response.done"]

    await wire.wait_for(lambda: bool(done()), "the cancelled response's end")
    lone = done()
    assert lone and lone[0]["response"]["status"] == "cancelled"
    assert not any(e["type"] == "response.created" for e in session.sent)

    emulator.options.model_delay = 0.0
    second = await run(hass, spoken("tell me a joke"), conversation_id=cid)
    assert await tts_audio(hass, second) == "you said: tell me a joke."


class _BreakingTool(llm.Tool):
    """A tool whose call cuts the model's connection (a network failure)."""

    name = "Break"
    description = "Breaks the connection"
    parameters = vol.Schema({})

    def __init__(self, emulator: RealtimeEmulator, unreachable: bool) -> None:
        self.emulator = emulator
        self.unreachable = unreachable

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: Any
    ) -> Any:
        if self.unreachable:  # and nothing can reach the server afterwards
            self.emulator.options.handshake_status = 503
        live = [s for s in self.emulator.sessions if not s.closed]
        await live[-1].transport.drop()  # the conversation's connection
        result = getattr(llm, "ToolResult", None)
        return result(data={"ok": True}) if result else {"ok": True}


async def _breaking_house(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    voice_house: MockConfigEntry,
    unreachable: bool,
    preamble: str | None,
) -> Any:
    tool = _BreakingTool(emulator, unreachable)

    class _API(llm.API):
        async def async_get_api_instance(
            self, llm_context: llm.LLMContext
        ) -> llm.APIInstance:
            return llm.APIInstance(
                api=self, api_prompt="", llm_context=llm_context, tools=[tool]
            )

    unregister = llm.async_register_api(hass, _API(hass=hass, id="break", name="B"))
    hass.config_entries.async_update_entry(
        voice_house, options={**voice_house.options, CONF_LLM_HASS_API: ["break"]}
    )
    await hass.config_entries.async_reload(voice_house.entry_id)
    emulator.options.tool_preamble = preamble
    emulator.brain = ScriptedBrain(
        [Rule("break it", call=[("Break", {})], then_say="Done.")],
        fallback=HouseBrain(),
    )
    return unregister


async def test_a_failed_spoken_turn_plays_its_audio_then_says_why(
    hass: HomeAssistant, emulator: RealtimeEmulator, voice_house: MockConfigEntry
) -> None:
    """The connection drops after the preamble: the satellite hears the preamble,
    then why it failed, in the model's voice (a new connection reads it)."""
    unregister = await _breaking_house(
        hass, emulator, voice_house, unreachable=False, preamble="One moment."
    )
    try:
        events = await run(hass, spoken("break it"))
        words = "The connection to the model dropped. Please try again."
        assert answer(events) == words
        heard = await tts_audio(hass, events)
        assert heard.startswith("one moment.")
        assert heard.endswith(words.lower())
    finally:
        unregister()


async def test_a_failed_spoken_turn_that_cannot_be_told_fails_the_tts(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    voice_house: MockConfigEntry,
    hass_client: Any,
) -> None:
    """The server went away before the model said anything: nothing can say why,
    so the satellite's fetch of the answer fails (its error sound), not a silent
    200. (Once audio has gone out, HA ends a failing stream like a finished one:
    the satellite hears what came, then nothing.)"""
    unregister = await _breaking_house(
        hass, emulator, voice_house, unreachable=True, preamble=None
    )
    try:
        client = await hass_client()
        events = await run(hass, spoken("break it"))
        url = event(events, PipelineEventType.TTS_END)["tts_output"]["url"]
        response = await client.get(url)
        assert response.status == 500, await response.read()
    finally:
        unregister()
