"""Automations that talk: every path through HA's satellite and conversation services.

A real `assist_satellite` entity (tests/ha/satellite.py) runs HA's own pipelines
with our STT, agent and TTS against the emulator: `start_conversation`,
`ask_question`, `announce`, a sentence trigger answered during a spoken turn,
`continue_conversation`, and `conversation.process` from an automation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
import logging
from typing import Any

from homeassistant.components import assist_pipeline, assist_satellite, conversation
from homeassistant.components.assist_pipeline.pipeline import (
    AudioSettings,
    PipelineEvent,
    PipelineEventType,
    PipelineStage,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import EVENT_TURN
from custom_components.openai_realtime.realtime.read_aloud import (
    READ_ALOUD_INSTRUCTIONS,
)
from realtime_emulator import HouseBrain, RealtimeEmulator, Say, TurnContext
from realtime_emulator.brain import Rule, ScriptedBrain

from .conftest import Wire, bus_wait_for
from .pipeline import chunks, event, metadata, spoken
from .satellite import SATELLITE, KitchenSatellite, turn_answers

AGENT = "conversation.realtime_emulator"
# Longer than any test: a response held this long runs until it is cancelled.
HOLD = 3600.0
ROLES = ("user", "assistant")

HAS_ASK_QUESTION = hasattr(
    assist_satellite.AssistSatelliteEntity, "async_internal_ask_question"
)
HAS_CONTINUE = "continue_conversation" in {
    f.name for f in fields(conversation.ConversationResult)
}


@pytest.fixture(autouse=True)
def _debug_log(caplog: pytest.LogCaptureFixture) -> None:
    """A failing test shows each voice turn's end and why (one debug line each)."""
    caplog.set_level(logging.DEBUG, logger="custom_components.openai_realtime")


def _conversation_session(emulator: RealtimeEmulator) -> Any:
    """The session that heard the user's audio (not the read-aloud one)."""
    heard = [
        session
        for session in emulator.sessions
        if any(e["type"] == "input_audio_buffer.append" for e in session.received)
    ]
    assert len(heard) == 1, f"{len(heard)} sessions heard audio"
    return heard[0]


def _kinds(session: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in session.received if e["type"] == kind]


def _items(session: Any) -> list[tuple[str, str]]:
    """(role, text) of the session's message items; user audio as its transcript."""
    out = []
    for item in session.items:
        if item["type"] != "message":
            out.append((item["type"], item.get("name") or item.get("output", "")))
            continue
        text = " ".join(
            part.get("text") or part.get("transcript") or item.get("_heard", "")
            for part in item["content"]
        )
        out.append((item["role"], text))
    return out


def _messages(session: Any) -> list[tuple[str, str]]:
    """The user's and the assistant's messages (HA 2025.4 adds the clock as a
    system item before each turn)."""
    return [(role, text) for role, text in _items(session) if role in ROLES]


@dataclass
class QuestionBrain:
    """Answers a reply from what it was told: the question asked just before the
    user's words, and the automation's extra system prompt."""

    question: str
    hint: str
    seen: list[TurnContext] = field(default_factory=list)

    def respond(self, ctx: TurnContext) -> list[Any]:
        if READ_ALOUD_INSTRUCTIONS in ctx.instructions:
            return HouseBrain().respond(ctx)
        self.seen.append(ctx)
        users = [i for i, item in enumerate(ctx.items) if item.get("role") == "user"]
        before = ctx.items[: users[-1]] if users else []
        asked = any(
            item.get("role") == "assistant"
            and any(self.question in (p.get("text") or "") for p in item["content"])
            for item in before
        )
        if not asked:
            return [Say("Yes to what?")]
        if self.hint not in ctx.instructions:
            return [Say("I will remind you.")]
        return [Say("I will remind you at six.")]


async def test_start_conversation_answer_knows_the_question(
    hass: HomeAssistant, emulator: RealtimeEmulator, satellite: KitchenSatellite
) -> None:
    """An automation asks through the satellite; the user's spoken reply is
    answered by the model with the question (and the automation's extra prompt) in
    its context, and nothing was paid for an answer made without them."""
    question = "The washing machine is done. Shall I remind you to hang it up?"
    hint = "If the user agrees, promise a reminder at six."
    emulator.brain = brain = QuestionBrain(question, hint)
    satellite.replies = ["yes please"]
    await hass.services.async_call(
        "assist_satellite",
        "start_conversation",
        {
            "entity_id": SATELLITE,
            "start_message": question,
            "extra_system_prompt": hint,
            "preannounce": False,
        },
        blocking=True,
    )
    # The question in our voice, then the model's answer to "yes please".
    assert satellite.played == [
        "the washing machine is done. shall i remind you to hang it up?",
        "i will remind you at six.",
    ]
    session = _conversation_session(emulator)
    assert _messages(session) == [
        ("assistant", question),
        ("user", "yes please"),
        ("assistant", "I will remind you at six."),
    ]
    # One response, made knowing both: no answer was paid for without them.
    assert len(_kinds(session, "response.create")) == 1
    assert len(brain.seen) == 1


@pytest.mark.skipif(not HAS_ASK_QUESTION, reason="HA 2025.4 has no ask_question")
async def test_ask_question_pays_for_no_answer(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    satellite: KitchenSatellite,
    voice_house: MockConfigEntry,
) -> None:
    """`ask_question` only wants the transcript: the run ends after STT, so no
    answer is asked of the model; only the question read aloud is billed."""
    satellite.replies = ["the blue one"]
    answer = await hass.services.async_call(
        "assist_satellite",
        "ask_question",
        {
            "entity_id": SATELLITE,
            "question": "Which towel should I warm?",
            "preannounce": False,
            "answers": [
                {"id": "blue", "sentences": ["[the] blue [one]"]},
                {"id": "red", "sentences": ["[the] red [one]"]},
            ],
        },
        blocking=True,
        return_response=True,
    )
    assert answer == {"id": "blue", "sentence": "the blue one", "slots": {}}
    assert satellite.played == ["which towel should i warm?"]
    session = _conversation_session(emulator)
    assert not _kinds(session, "response.create")
    usage = voice_house.runtime_data.usage.totals
    assert usage.responses == 1  # the question, read aloud


async def test_speech_to_text_only_run_asks_for_no_answer(
    hass: HomeAssistant, emulator: RealtimeEmulator, voice_house: MockConfigEntry
) -> None:
    """Any run that ends at STT (ask_question's, or a websocket run asking for a
    transcript) gets the transcript without an answer being paid for."""
    events: list[PipelineEvent] = []
    await assist_pipeline.async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=metadata(),
        stt_stream=chunks(spoken("what time is it"), 640),
        end_stage=PipelineStage.STT,
        audio_settings=AudioSettings(is_vad_enabled=False),
    )
    assert event(events, PipelineEventType.STT_END)["stt_output"]["text"] == (
        "what time is it"
    )
    assert not _kinds(_conversation_session(emulator), "response.create")
    assert voice_house.runtime_data.usage.totals.responses == 0


async def test_announce_is_read_aloud_in_our_voice(
    hass: HomeAssistant, emulator: RealtimeEmulator, satellite: KitchenSatellite
) -> None:
    """`announce` reads the message aloud with the pipeline's voice, outside any
    conversation."""
    await async_update_pipeline(hass, async_get_pipeline(hass), tts_voice="cedar")
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"entity_id": SATELLITE, "message": "Dinner is ready!", "preannounce": False},
        blocking=True,
    )
    assert satellite.played == ["dinner is ready!"]
    (create,) = [
        e
        for s in emulator.sessions
        for e in s.received
        if e["type"] == "response.create"
    ]
    assert create["response"]["conversation"] == "none"
    (done,) = [
        e["response"]
        for s in emulator.sessions
        for e in s.sent
        if e["type"] == "response.done"
    ]
    assert done["audio"]["output"]["voice"] == "cedar"


async def test_sentence_trigger_during_a_spoken_turn(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    satellite: KitchenSatellite,
    voice_house: MockConfigEntry,
    wire: Wire,
) -> None:
    """A sentence-trigger automation answers a spoken command before any agent:
    our eager answer is cancelled (not billed beyond what it reported) and the
    trigger's response is read aloud in our voice."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "triggers": [
                    {"trigger": "conversation", "command": "open the garage door"}
                ],
                "actions": [
                    {"set_conversation_response": "The garage door is opening."}
                ],
            }
        },
    )
    # The eager answer is held until cancelled, however long the trigger takes.
    emulator.options.model_delay = HOLD
    wire.when(
        lambda: any(
            e["type"] == "response.created" for s in emulator.sessions for e in s.sent
        ),
        lambda: setattr(emulator.options, "model_delay", 0.0),
    )
    satellite.replies = ["open the garage door"]
    await satellite.listen()

    assert satellite.played == ["the garage door is opening."]
    session = _conversation_session(emulator)

    def done() -> list[dict[str, Any]]:
        return [e for e in session.sent if e["type"] == "response.done"]

    await wire.wait_for(lambda: bool(done()), "response.done of the eager answer")
    assert _kinds(session, "response.cancel")
    assert [e["response"]["status"] for e in done()] == ["cancelled"]
    reported = [
        e["response"]["usage"]
        for s in emulator.sessions
        for e in s.sent
        if e["type"] == "response.done"
    ]
    usage = voice_house.runtime_data.usage
    await bus_wait_for(
        hass, lambda: usage.totals.responses >= 2, "both responses counted"
    )
    totals = usage.totals
    assert totals.responses == len(reported) == 2  # the cancelled one, the read-aloud
    assert hass.states.get("sensor.realtime_emulator_responses").state == "2"
    assert totals.output_tokens == sum(u["output_tokens"] for u in reported)
    assert totals.input_tokens == sum(u["input_tokens"] for u in reported)


@pytest.mark.skipif(not HAS_CONTINUE, reason="HA 2025.4 has no continue_conversation")
async def test_a_question_keeps_the_satellite_listening(
    hass: HomeAssistant, emulator: RealtimeEmulator, satellite: KitchenSatellite
) -> None:
    """The model answers with a question: the run says continue_conversation and
    the satellite listens again, on the same conversation."""
    emulator.brain = ScriptedBrain(
        [
            Rule("set a timer", say="For how long?"),
            Rule("ten minutes", say="Your ten minute timer is running."),
        ]
    )
    satellite.replies = ["set a timer", "ten minutes"]
    await satellite.listen()
    first, second = turn_answers(satellite)
    assert first["continue_conversation"] is True
    assert second["continue_conversation"] is False
    assert first["conversation_id"] == second["conversation_id"]
    assert satellite.played == ["for how long?", "your ten minute timer is running."]
    session = _conversation_session(emulator)
    assert [text for role, text in _items(session) if role == "user"] == [
        "set a timer",
        "ten minutes",
    ]


async def test_conversation_process_from_an_automation_keeps_its_conversation(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """An automation calling conversation.process with a fixed conversation_id:
    every call continues the same conversation on one warm session."""
    emulator.brain = ScriptedBrain(
        [
            Rule("the roses", say="Noted: the roses were watered."),
            Rule("the tomatoes", say="Noted: the tomatoes were watered."),
            Rule("what did I water", say="The roses and the tomatoes."),
        ]
    )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "garden_log",
                "triggers": [{"trigger": "event", "event_type": "garden"}],
                "actions": [
                    {
                        "action": "conversation.process",
                        "data": {
                            "agent_id": AGENT,
                            "conversation_id": "garden-log",
                            "text": "{{ trigger.event.data.text }}",
                        },
                        "response_variable": "reply",
                    },
                    {
                        "event": "garden_reply",
                        "event_data": {
                            "speech": "{{ reply.response.speech.plain.speech }}",
                            "conversation_id": "{{ reply.conversation_id }}",
                        },
                    },
                ],
            }
        },
    )
    events = async_capture_events(hass, "garden_reply")
    for text in ("I watered the roses", "I watered the tomatoes", "what did I water"):
        hass.bus.async_fire("garden", {"text": text})
        await hass.async_block_till_done()
    replies = [event.data for event in events]
    assert [r["speech"] for r in replies] == [
        "Noted: the roses were watered.",
        "Noted: the tomatoes were watered.",
        "The roses and the tomatoes.",
    ]
    assert {r["conversation_id"] for r in replies} == {"garden-log"}
    conversation_sessions = emulator.sessions[1:]  # 0: the setup check
    assert len(conversation_sessions) == 1  # one warm websocket for all three
    assert _messages(conversation_sessions[0]) == [
        ("user", "I watered the roses"),
        ("assistant", "Noted: the roses were watered."),
        ("user", "I watered the tomatoes"),
        ("assistant", "Noted: the tomatoes were watered."),
        ("user", "what did I water"),
        ("assistant", "The roses and the tomatoes."),
    ]


async def test_mixed_conversation_context_has_every_turn(
    hass: HomeAssistant, emulator: RealtimeEmulator, satellite: KitchenSatellite
) -> None:
    """One satellite conversation through every path: an automation's question,
    a reply the model answers, a command HA answers itself, a sentence trigger,
    then a question for the model: its context holds every turn the user had."""
    await async_update_pipeline(
        hass, async_get_pipeline(hass), prefer_local_intents=True
    )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "triggers": [
                    {"trigger": "conversation", "command": "open the garage door"}
                ],
                "actions": [
                    {"set_conversation_response": "The garage door is opening."}
                ],
            }
        },
    )
    emulator.brain = ScriptedBrain(
        [
            Rule("not yet", say="Okay, the blinds stay closed."),
            Rule("what did i ask", say="Lights, then the garage."),
        ]
    )
    question = "Good morning. Shall I open the blinds?"
    satellite.replies = ["not yet"]
    await hass.services.async_call(
        "assist_satellite",
        "start_conversation",
        {"entity_id": SATELLITE, "start_message": question, "preannounce": False},
        blocking=True,
    )
    for said in (
        "turn off the kitchen lights",
        "open the garage door",
        "what did I ask",
    ):
        satellite.replies = [said]
        await satellite.listen()
    local = turn_answers(satellite)[1]["response"]["speech"]["plain"]["speech"]
    assert hass.states.get("light.kitchen_lights").state == "off"
    assert {a["conversation_id"] for a in turn_answers(satellite)} == {
        turn_answers(satellite)[0]["conversation_id"]
    }
    session = _conversation_session(emulator)
    assert _messages(session) == [
        ("assistant", question),
        ("user", "not yet"),
        ("assistant", "Okay, the blinds stay closed."),
        ("user", "turn off the kitchen lights"),
        ("assistant", local),
        ("user", "open the garage door"),
        ("assistant", "The garage door is opening."),
        ("user", "what did i ask"),
        ("assistant", "Lights, then the garage."),
    ]
    # Newer HA records its own handling as tool calls: each has its result (the
    # eager answers HA made unnecessary left no call, no words behind).
    calls = [i["call_id"] for i in session.items if i["type"] == "function_call"]
    outputs = [
        i["call_id"] for i in session.items if i["type"] == "function_call_output"
    ]
    assert calls == outputs


TURN_EVENT = "event.realtime_emulator_turn"


@pytest.mark.usefixtures("voice_house")
async def test_the_turn_event_entity_fires_for_each_turn(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The entry's event entity fires `tool_call` per call, then `answered` or
    `error`, with the turn's attributes; an automation made in the editor (a
    state trigger on the entity) sees each; the bus event still fires."""
    registry = er.async_get(hass)
    entity = registry.async_get(TURN_EVENT)
    assert entity is not None
    agent = registry.async_get(AGENT)
    assert agent is not None and entity.device_id == agent.device_id
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "triggers": [{"trigger": "state", "entity_id": TURN_EVENT}],
                "actions": [
                    {
                        "event": "heard_turn",
                        "event_data": {
                            "type": "{{ trigger.to_state.attributes.event_type }}"
                        },
                    }
                ],
            }
        },
    )
    heard = async_capture_events(hass, "heard_turn")
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)

    def states() -> list[dict[str, Any]]:
        return [
            dict(e.data["new_state"].attributes)
            for e in changes
            if e.data["entity_id"] == TURN_EVENT
        ]

    def fired() -> list[str]:
        return [e.data["type"] for e in heard]

    bus = async_capture_events(hass, EVENT_TURN)
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.kitchen_lights"}, blocking=True
    )
    result = await conversation.async_converse(
        hass, "turn on the kitchen lights", None, Context(), agent_id=AGENT
    )
    await hass.async_block_till_done()
    call, answered = states()
    assert call["event_type"] == "tool_call"
    assert call["short_name"] == "HassTurnOn" and call["success"] is True
    assert call["conversation_id"] == result.conversation_id
    assert answered["event_type"] == "answered"
    assert answered["text"] == result.response.speech["plain"]["speech"]
    assert answered["conversation_id"] == result.conversation_id
    assert answered["usage"]["output_tokens"] > 0
    assert "device_id" in answered
    assert fired() == ["tool_call", "answered"]
    assert len(bus) == 1 and bus[0].data["tool_calls"] == answered["tool_calls"]

    emulator.options.fail_responses = "insufficient_quota"
    await conversation.async_converse(hass, "hello", None, Context(), agent_id=AGENT)
    await hass.async_block_till_done()
    assert states()[-1]["event_type"] == "error"
    assert states()[-1]["error"] == (
        "The OpenAI account is out of credit. Check its billing."
    )
    assert fired()[-1] == "error"
    state = hass.states.get(TURN_EVENT)
    assert state is not None
    assert state.attributes["event_types"] == ["answered", "tool_call", "error"]
    assert state.attributes["friendly_name"] == "Realtime (emulator) Turn"
