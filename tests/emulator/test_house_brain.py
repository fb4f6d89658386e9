"""The house brain (what the demo runs): its grammar, tools by either name, the live
context, plain-word failures, and "it"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.openai_realtime.realtime.read_aloud import (
    READ_ALOUD_INSTRUCTIONS,
)
from realtime_emulator.brain import CallTool, HouseBrain, Say, TurnContext
from realtime_emulator.live_context import find_entity, parse_live_context

NAMES = [
    "HassTurnOn",
    "HassTurnOff",
    "HassLightSet",
    "HassClimateSetTemperature",
    "GetLiveContext",
]
# HA before 2026.9 offers bare names; from 2026.9 on, `domain__Name`.
OLD_TOOLS = [{"type": "function", "name": n, "parameters": {}} for n in NAMES]
NEW_TOOLS = [
    {
        "type": "function",
        "name": ("homeassistant__" if n == "GetLiveContext" else "intent__") + n,
        "parameters": {},
    }
    for n in NAMES
] + [{"type": "function", "name": "llm__GetDateTime", "parameters": {}}]
# HA's yaml.dump of the live context, as 2025.4 and 2026.2 produce it: quoted
# states, aliases after the name, a long value wrapped onto the next line.
LIVE_CONTEXT = """Live Context: An overview of the areas and the devices in this smart home:
- names: Ceiling Lights
  domain: light
  state: 'off'
  areas: Living Room
- names: 'Kitchen Lights, Cooking light with a very long alias name that goes on and
    on: yes'
  domain: light
  state: 'on'
  areas: Kitchen
  attributes:
    brightness: '180'
- names: Garage Door
  domain: cover
  state: open
  areas: Garage
- names: Thermostat
  domain: climate
  state: heat
  areas: Living Room
  attributes:
    current_temperature: 21.5
    temperature: '22'
- names: Bob's lamp
  domain: light
  state: unavailable
"""
MATCH_FAILED = (
    "<MatchFailedError result=MatchTargetsResult(is_match=False, "
    "no_match_reason=<MatchFailedReason.NAME: 1>, states=[], no_match_name=None, "
    "areas=[], floors=[]), constraints=MatchTargetsConstraints(name='garage lamp', "
    "area_name=None, floor_name=None, domains={'light'}, device_classes=None, "
    "features=None, states=None, assistant='conversation', allow_duplicate_names=False, "
    "single_target=False), preferences=MatchTargetsPreferences(area_id=None, floor_id=None)>"
)


def _ctx(
    *items: dict[str, Any], tools: list[dict[str, Any]] | None = None
) -> TurnContext:
    return TurnContext(list(items), OLD_TOOLS if tools is None else tools, "")


def _user(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def _heard(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": text}],
    }


def _call(name: str, args: dict[str, Any], call_id: str = "c1") -> dict[str, Any]:
    return {
        "type": "function_call",
        "name": name,
        "arguments": json.dumps(args),
        "call_id": call_id,
    }


def _output(result: Any, call_id: str = "c1") -> dict[str, Any]:
    return {
        "type": "function_call_output",
        "call_id": call_id,
        "output": json.dumps(result),
    }


def _answer(*items: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> str:
    outputs = HouseBrain().respond(_ctx(*items, tools=tools))
    assert len(outputs) == 1
    assert isinstance(outputs[0], Say)
    return outputs[0].text


@pytest.mark.parametrize("tools", [OLD_TOOLS, NEW_TOOLS], ids=["bare", "namespaced"])
@pytest.mark.parametrize(
    ("said", "tool", "args"),
    [
        ("turn on the kitchen lights", "HassTurnOn", {"name": "kitchen lights"}),
        ("Switch the porch light off please", "HassTurnOff", {"name": "porch light"}),
        (
            "set the bedroom lamp to 40 percent",
            "HassLightSet",
            {"name": "bedroom lamp", "brightness": 40},
        ),
        (
            "dim the desk lamp to 30 %",
            "HassLightSet",
            {"name": "desk lamp", "brightness": 30},
        ),
        (
            "set the temperature in the living room to 21 degrees",
            "HassClimateSetTemperature",
            {"name": "living room", "temperature": 21},
        ),
        ("what's the state of the garage door", "GetLiveContext", {}),
        ("is the kitchen light on", "GetLiveContext", {}),
    ],
)
def test_commands_call_the_offered_tool(
    said: str, tool: str, args: dict[str, Any], tools: list[dict[str, Any]]
) -> None:
    """Commands call the Assist tool by whichever name the session offers."""
    outputs = HouseBrain().respond(_ctx(_heard(said), tools=tools))
    offered = next(t["name"] for t in tools if t["name"].endswith(tool))
    assert outputs == [CallTool(offered, json.dumps(args))]


def test_results_answered_with_namespaced_names() -> None:
    """Confirmations work for `intent__HassTurnOn` calls too."""
    said = _user("turn on the kitchen lights")
    call = _call("intent__HassTurnOn", {"name": "kitchen lights"})
    done = {"response_type": "action_done", "data": {"success": [], "failed": []}}
    assert (
        _answer(said, call, _output(done), tools=NEW_TOOLS)
        == "Turned on the kitchen lights."
    )


def test_two_devices_two_calls() -> None:
    """ "A and B" is one call per device, in one response; one answer for both."""
    said = _user("turn on the kitchen lights and the porch light")
    assert HouseBrain().respond(_ctx(said)) == [
        CallTool("HassTurnOn", '{"name": "kitchen lights"}'),
        CallTool("HassTurnOn", '{"name": "porch light"}'),
    ]
    answer = _answer(
        said,
        _call("HassTurnOn", {"name": "kitchen lights"}, "c1"),
        _call("HassTurnOn", {"name": "porch light"}, "c2"),
        _output({"response_type": "action_done"}, "c1"),
        _output({"response_type": "action_done"}, "c2"),
    )
    assert answer == "Turned on the kitchen lights and the porch light."


def test_live_context_parsed() -> None:
    """HA's YAML: names and aliases, quoted and wrapped values, attributes."""
    entities = parse_live_context(json.dumps({"success": True, "result": LIVE_CONTEXT}))
    assert not isinstance(entities, str)
    assert [(e.name, e.domain, e.state) for e in entities] == [
        ("Ceiling Lights", "light", "off"),
        ("Kitchen Lights", "light", "on"),
        ("Garage Door", "cover", "open"),
        ("Thermostat", "climate", "heat"),
        ("Bob's lamp", "light", "unavailable"),
    ]
    kitchen = entities[1]
    assert (
        kitchen.names[1]
        == "Cooking light with a very long alias name that goes on and on: yes"
    )
    assert (kitchen.areas, kitchen.attributes) == (["Kitchen"], {"brightness": "180"})
    assert entities[3].attributes["current_temperature"] == "21.5"
    assert find_entity(entities, "living room lights") is entities[0]
    assert (
        find_entity(entities, "cooking light") is None
        or find_entity(entities, "cooking light") is kitchen
    )
    assert (
        find_entity(entities, "living room", prefer="current_temperature")
        is entities[3]
    )
    error = {"success": False, "error": "No entities exposed"}
    assert parse_live_context(json.dumps(error)) == "No entities exposed"


def test_live_context_from_pyyaml() -> None:
    """The parser reads what PyYAML (HA's dumper settings) writes."""
    yaml = pytest.importorskip("yaml")
    entities = [
        {
            "names": "Hall: main light, Entry",
            "domain": "light",
            "state": "on",
            "areas": "Hall",
        },
        {
            "names": "Patio",
            "domain": "switch",
            "state": "off",
            "attributes": {"percentage": "50"},
        },
    ]
    text = "Live Context: overview:\n" + yaml.dump(
        entities, default_flow_style=False, allow_unicode=True, sort_keys=False
    )
    parsed = parse_live_context(json.dumps({"success": True, "result": text}))
    assert not isinstance(parsed, str)
    assert [(e.names, e.state, e.attributes) for e in parsed] == [
        (["Hall: main light", "Entry"], "on", {}),
        (["Patio"], "off", {"percentage": "50"}),
    ]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("what is the state of the garage door", "Garage Door is open."),
        ("what's the status of the kitchen lights", "Kitchen Lights is on."),
        ("what is the state of the ceiling lights", "Ceiling Lights is off."),
        ("what is the state of bob's lamp", "Bob's lamp is unavailable."),
        ("is the kitchen lights on", "Yes, Kitchen Lights is on."),
        ("is the ceiling lights on", "No, Ceiling Lights is off."),
        (
            "what is the temperature in the living room",
            "The temperature in living room is 21.5.",
        ),
        (
            "what is the state of the attic fan",
            "Sorry, I couldn't find a device called attic fan.",
        ),
    ],
)
def test_state_answers_name_the_asked_entity(question: str, answer: str) -> None:
    """Each question is answered about the entity asked for, not the first one."""
    result = _output({"success": True, "result": LIVE_CONTEXT})
    assert _answer(_user(question), _call("GetLiveContext", {}), result) == answer


@pytest.mark.parametrize(
    ("result", "answer"),
    [
        (
            {"error": "MatchFailedError", "error_text": MATCH_FAILED},
            "Sorry, I couldn't find a device called garage lamp.",
        ),
        (
            {
                "error": "MatchFailedError",
                "error_text": MATCH_FAILED.replace("NAME: 1", "ASSISTANT: 8"),
            },
            "Sorry, garage lamp is not exposed to me.",
        ),
        (
            {
                "error": "NoStatesMatchedError",
                "error_text": MATCH_FAILED.replace(
                    "MatchFailedError", "NoStatesMatchedError"
                ).replace("NAME: 1", "STATE: 7"),
            },
            "Sorry, garage lamp is not in a state where that works.",
        ),
        (
            {"error": "HomeAssistantError", "error_text": "not exposed"},
            "Sorry, I couldn't do that: not exposed.",
        ),
        (
            {"error": "ServiceValidationError"},
            "Sorry, something went wrong with garage lamp.",
        ),
        (
            {"error": "Unknown tool HassTurnOn"},
            "Sorry, I couldn't do that: Unknown tool HassTurnOn.",
        ),
        (
            {
                "response_type": "error",
                "speech": {"plain": {"speech": "Sorry, no device called garage lamp"}},
            },
            "Sorry, no device called garage lamp",
        ),
    ],
)
def test_failures_in_plain_words(result: dict[str, Any], answer: str) -> None:
    """Home Assistant's error reprs never reach the user."""
    said = _user("turn on the garage lamp")
    text = _answer(said, _call("HassTurnOn", {"name": "garage lamp"}), _output(result))
    assert text == answer
    assert "<" not in text and "MatchTargetsResult" not in text


def test_it_is_the_last_device_acted_on() -> None:
    """ "turn it off", "dim it to 30 %" act on the device of the latest call."""
    history = [
        _user("turn on the kitchen lights"),
        _call("intent__HassTurnOn", {"name": "kitchen lights"}),
        _output({"response_type": "action_done"}),
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Done."}],
        },
    ]
    brain = HouseBrain()
    assert brain.respond(_ctx(*history, _user("turn it off"), tools=NEW_TOOLS)) == [
        CallTool("intent__HassTurnOff", '{"name": "kitchen lights"}')
    ]
    assert brain.respond(_ctx(*history, _heard("dim it to 30 %"), tools=NEW_TOOLS)) == [
        CallTool("intent__HassLightSet", '{"name": "kitchen lights", "brightness": 30}')
    ]
    assert brain.respond(_ctx(_user("turn it on"))) == [
        Say("Which device do you mean?")
    ]


def test_fallbacks_and_read_aloud() -> None:
    """Missing tools, greetings, chit-chat; the integration's read-aloud prompt."""
    brain = HouseBrain()
    assert brain.respond(_ctx(_user("turn on the lights"), tools=[])) == [
        Say("Sorry, I can't control that.")
    ]
    assert brain.respond(_ctx(_user("hello"))) == [
        Say("Hello! How can I help with your home?")
    ]
    assert brain.respond(_ctx(_user("tell me a joke"))) == [
        Say("You said: tell me a joke.")
    ]
    reading = TurnContext(
        [_user("Turn on the lights.")], OLD_TOOLS, READ_ALOUD_INSTRUCTIONS
    )
    assert brain.respond(reading) == [Say("Turn on the lights.")]
