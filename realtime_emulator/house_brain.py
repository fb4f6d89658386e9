"""The house brain: simple English home commands onto Home Assistant's Assist tools.

What the demo runs. Its whole grammar (case and punctuation ignored, a trailing
"please"/"now" dropped, "the/my/a/an" dropped before a device):

    hello | hi | hey                                  → a greeting
    tell me a [long] story                            → STORY (a long answer, ~16 s
                                                        of speech: for barge-in)
    turn|switch on DEVICES  /  turn|switch DEVICES on → HassTurnOn {name}
    turn|switch off DEVICES /  turn|switch DEVICES off→ HassTurnOff {name}
    set|dim DEVICE [brightness] to N %|percent        → HassLightSet {name, brightness}
    set the temperature of|in DEVICE to N [degrees]   → HassClimateSetTemperature
    set DEVICE to N degrees                             {name, temperature}
    what is|what's the state|status of DEVICE         → GetLiveContext, then its state
    is DEVICE on|off|open|closed                      → GetLiveContext, then yes/no
    what is|what's the temperature in|of DEVICE       → GetLiveContext, then the value
    anything else                                     → "You said: …"

DEVICES is one device or "A and B" (one call each, in one response). DEVICE "it"
is the device the conversation's latest function call named ("turn it off").
Tools are found by name with or without their API namespace (`HassTurnOn` before
HA 2026.9, `intent__HassTurnOn` after). A read-aloud response (the integration's
`READ_ALOUD_INSTRUCTIONS`) says the user's text. Tool failures are answered in
plain words, never with Home Assistant's error repr.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import re
from typing import Any

from custom_components.openai_realtime.realtime.read_aloud import (
    READ_ALOUD_INSTRUCTIONS,
)

from .live_context import find_entity, parse_live_context
from .turns import (
    CallTool,
    Output,
    Say,
    ToolResults,
    TurnContext,
    base_tool_name,
    call_arguments,
)

GREETING = "Hello! How can I help with your home?"
STORY = (
    "Once upon a time, in a small house at the edge of a quiet town, there lived a "
    "lamp that could not sleep. Every night it listened to the kettle humming, the "
    "clock ticking and the wind knocking at the window. One winter evening the "
    "heating stopped, and the lamp glowed a little warmer to keep the cat cozy "
    "until morning. From then on, everyone in the house said goodnight to the lamp "
    "before they went to bed, and it finally slept."
)
_ARTICLES = re.compile(r"^(the|my|a|an)\s+")
_PLEASE = re.compile(r"\s*(please|now)$")
_IT = {"it", "that", "this one"}

Build = Callable[[re.Match[str]], dict[str, Any]]


def norm(text: str) -> str:
    """Lowercase words, digits and %; everything else is a space."""
    return " ".join(re.sub(r"[^\w\s%]", " ", text.lower()).split())


def thing(raw: str) -> str:
    """A device phrase without articles and politeness."""
    return _PLEASE.sub("", _ARTICLES.sub("", raw.strip())).strip()


# (pattern, tool, argument builder): the commands of the grammar above.
COMMANDS: list[tuple[re.Pattern[str], str, Build]] = [
    (re.compile(r"^(?:turn|switch) on (.+)$"), "HassTurnOn", lambda m: {"name": m[1]}),
    (re.compile(r"^(?:turn|switch) (.+) on$"), "HassTurnOn", lambda m: {"name": m[1]}),
    (
        re.compile(r"^(?:turn|switch) off (.+)$"),
        "HassTurnOff",
        lambda m: {"name": m[1]},
    ),
    (
        re.compile(r"^(?:turn|switch) (.+) off$"),
        "HassTurnOff",
        lambda m: {"name": m[1]},
    ),
    (
        re.compile(r"^set (?:the )?temperature (?:of|in) (.+) to (\d+)(?: degrees)?$"),
        "HassClimateSetTemperature",
        lambda m: {"name": m[1], "temperature": int(m[2])},
    ),
    (
        re.compile(r"^set (.+) to (\d+) degrees$"),
        "HassClimateSetTemperature",
        lambda m: {"name": m[1], "temperature": int(m[2])},
    ),
    (
        re.compile(r"^(?:set|dim) (.+?)(?: brightness)? to (\d+) ?(?:%|percent)$"),
        "HassLightSet",
        lambda m: {"name": m[1], "brightness": int(m[2])},
    ),
    (
        re.compile(r"^(?:what is|what s|whats) the (?:state|status) of (.+)$"),
        "GetLiveContext",
        lambda m: {},
    ),
    (re.compile(r"^is (.+) (?:on|off|open|closed)$"), "GetLiveContext", lambda m: {}),
    (
        re.compile(r"^(?:what is|what s|whats) the temperature (?:in|of) (.+)$"),
        "GetLiveContext",
        lambda m: {},
    ),
]
# Questions answered from the live context: (pattern, kind).
QUESTIONS = [
    (re.compile(r"(?:state|status) of (.+)$"), "state"),
    (re.compile(r"^is (.+) (on|off|open|closed)$"), "is"),
    (re.compile(r"temperature (?:in|of) (.+)$"), "temperature"),
]
# Home Assistant's reasons a target did not match (intent.MatchFailedReason).
_MATCH_REASONS = {
    "NAME": "I couldn't find a device called {thing}",
    "AREA": "I couldn't find an area called {other}",
    "INVALID_AREA": "I couldn't find an area called {other}",
    "FLOOR": "I couldn't find a floor called {other}",
    "INVALID_FLOOR": "I couldn't find a floor called {other}",
    "DUPLICATE_NAME": "there is more than one device called {thing}",
    "ASSISTANT": "{thing} is not exposed to me",
    "DOMAIN": "{thing} can't do that",
    "DEVICE_CLASS": "{thing} can't do that",
    "FEATURE": "{thing} can't do that",
    "STATE": "{thing} is not in a state where that works",
}


def failure(output: str, target: str) -> str | None:
    """Why a tool result is a failure, in plain words; None for success."""
    try:
        result = json.loads(output)
    except ValueError:
        return "Sorry, I couldn't read what Home Assistant answered."
    if not isinstance(result, dict):
        return None
    target = target or "that"
    if "error" in result and result.get("success") is not True:
        error, text = str(result["error"]), str(result.get("error_text") or "")
        if (
            "MatchFailed" in error
            or "NoStatesMatched" in error
            or "MatchFailed" in text
        ):
            reason = re.search(r"MatchFailedReason\.(\w+)", text)
            other = re.search(r"(?:no_match_name|area_name|floor_name)='([^']*)'", text)
            template = _MATCH_REASONS.get(
                reason[1] if reason else "NAME", _MATCH_REASONS["NAME"]
            )
            detail = template.format(other=other[1] if other else target, thing=target)
            return f"Sorry, {detail}."
        if text and not text.startswith("<"):
            return f"Sorry, I couldn't do that: {text.rstrip('.')}."
        if not text and " " in error:
            return f"Sorry, I couldn't do that: {error.rstrip('.')}."
        return f"Sorry, something went wrong with {target}."
    if result.get("response_type") == "error":
        speech = (result.get("speech") or {}).get("plain", {}).get("speech")
        return str(speech) if speech else f"Sorry, I couldn't do that with {target}."
    data = result.get("data") or {}
    if isinstance(data, dict) and data.get("failed") and not data.get("success"):
        return f"Sorry, {target} did not respond."
    return None


def _devices(raw: str) -> list[str]:
    return [thing(part) for part in re.split(r"\s+and\s+", thing(raw)) if thing(part)]


def _join(names: list[str]) -> str:
    return " and ".join(f"the {name}" for name in names)


class HouseBrain:
    """Maps simple English home commands onto the Assist tools in the session."""

    def respond(self, ctx: TurnContext) -> list[Output]:
        """One response: tool calls, an answer from their results, or a reply."""
        if READ_ALOUD_INSTRUCTIONS in ctx.instructions:
            return [Say(ctx.last_user_text() or "")]
        said = norm(ctx.last_user_text() or "")
        if results := ctx.tool_results_since_user():
            return [Say(self._after(said, results))]
        if said in ("hello", "hi", "hey"):
            return [Say(GREETING)]
        if re.fullmatch(r"tell me a (?:long )?story", said):
            return [Say(STORY)]
        command = _PLEASE.sub("", said)
        for pattern, tool, build in COMMANDS:
            if match := pattern.match(command):
                return self._calls(ctx, tool, build(match))
        return [Say(f"You said: {said}.")]

    def _calls(self, ctx: TurnContext, tool: str, args: dict[str, Any]) -> list[Output]:
        offered = ctx.tool_named(tool)
        if offered is None:
            return [Say("Sorry, I can't control that.")]
        if "name" not in args:
            return [CallTool(offered, json.dumps(args))]
        names = _devices(args["name"])
        if any(name in _IT for name in names):
            last = ctx.last_named_target()
            if last is None:
                return [Say("Which device do you mean?")]
            names = [last if name in _IT else name for name in names]
        return [CallTool(offered, json.dumps(args | {"name": name})) for name in names]

    def _after(self, said: str, results: ToolResults) -> str:
        done: list[str] = []
        for call, output in results:
            target = str(call_arguments(call).get("name", ""))
            if base_tool_name(str(call.get("name"))) == "GetLiveContext":
                return self._answer(said, str(output.get("output", "")))
            if (reason := failure(str(output.get("output", "")), target)) is not None:
                return reason
            done.append(target)
        call = results[-1][0]
        args = call_arguments(call)
        name = base_tool_name(str(call.get("name")))
        if name == "HassTurnOn":
            return f"Turned on {_join(done)}."
        if name == "HassTurnOff":
            return f"Turned off {_join(done)}."
        if name == "HassLightSet":
            return f"Set {_join(done)} to {args.get('brightness')} percent."
        if name == "HassClimateSetTemperature":
            return f"Set {_join(done)} to {args.get('temperature')} degrees."
        return "Done."

    def _answer(self, said: str, output: str) -> str:
        """Answer the question in `said` from a GetLiveContext result."""
        entities = parse_live_context(output)
        kind, subject, asked = "state", "", ""
        for pattern, question in QUESTIONS:
            if match := pattern.search(said):
                kind, subject = question, thing(match[1])
                asked = match[2] if question == "is" else ""
                break
        if isinstance(entities, str):
            return f"Sorry, I couldn't check: {entities}."
        prefer = "current_temperature" if kind == "temperature" else None
        entity = find_entity(entities, subject, prefer)
        if entity is None:
            return f"Sorry, I couldn't find a device called {subject or 'that'}."
        if kind == "is":
            yes = "Yes" if entity.state.lower() == asked else "No"
            return f"{yes}, {entity.name} is {entity.state}."
        if kind == "temperature":
            value = entity.attributes.get("current_temperature")
            if value is None and entity.attributes.get("device_class") == "temperature":
                value = entity.state
            if value is None:
                return f"{entity.name} has no temperature."
            unit = entity.attributes.get("unit_of_measurement", "")
            return (
                f"The temperature in {subject} is {value}{' ' + unit if unit else ''}."
            )
        return f"{entity.name} is {entity.state}."
