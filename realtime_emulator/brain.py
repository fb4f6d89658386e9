"""What the emulated model says and does: scripted turns, or a small "house brain".

The emulator asks a Brain for each response. Tests script exact turns
(`ScriptedBrain`); without a script the `HouseBrain` maps simple home commands onto
the Home Assistant Assist tools present in the session, which is what the demo runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import re
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Item = dict[str, Any]
ToolResults = list[tuple[Item, Item]]  # (function_call item, function_call_output item)

# Instructions that ask for the user's text to be read out (TTS of arbitrary text).
READ_ALOUD_MARKER = "read the user's text aloud verbatim"


@dataclass(frozen=True, slots=True)
class Say:
    """The model answers with this text (spoken or written, per the response)."""

    text: str


@dataclass(frozen=True, slots=True)
class CallTool:
    """The model calls a function; `arguments` is the raw JSON string it emits."""

    name: str
    arguments: str


Output = Say | CallTool


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    return str(part.get("text") or part.get("transcript") or "")


@dataclass
class TurnContext:
    """What the model sees when a response starts."""

    items: list[Item]
    tools: list[dict[str, Any]]
    instructions: str = ""

    def last_user_text(self) -> str | None:
        """Text of the last user message (typed, or the transcript of audio)."""
        for item in reversed(self.items):
            if item.get("type") == "message" and item.get("role") == "user":
                return " ".join(
                    _part_text(p) for p in item.get("content") or []
                ).strip()
        return None

    def tool_results_since_user(self) -> ToolResults:
        """Function calls and their outputs after the last user message."""
        calls: dict[str, Item] = {}
        results: ToolResults = []
        for item in self.items:
            kind = item.get("type")
            if kind == "message" and item.get("role") == "user":
                calls, results = {}, []
            elif kind == "function_call":
                calls[str(item.get("call_id"))] = item
            elif kind == "function_call_output":
                call = calls.get(str(item.get("call_id")))
                if call is not None:
                    results.append((call, item))
        return results

    def has_tool(self, name: str) -> bool:
        """Whether the session offers a function tool of that name."""
        return any(tool.get("name") == name for tool in self.tools)


class Brain(Protocol):
    """Decides a response's outputs."""

    def respond(self, ctx: TurnContext) -> list[Output]:
        """The outputs of one response."""


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s%]", " ", text.lower()).split())


@dataclass(frozen=True)
class Rule:
    """When the user says `when`: say `say`, call `call`; after results, `then_say`."""

    when: str
    call: Sequence[tuple[str, dict[str, Any] | str]] = ()
    say: str | None = None
    then_say: str | Callable[[ToolResults], str] | None = None

    def matches(self, text: str) -> bool:
        """Exact or contained match on normalised text."""
        wanted = _norm(self.when)
        heard = _norm(text)
        return heard == wanted or wanted in heard


@dataclass
class ScriptedBrain:
    """Scripted turns for tests; unmatched turns go to `fallback` (HouseBrain)."""

    rules: Sequence[Rule]
    fallback: Brain | None = None
    fired: list[Rule] = field(default_factory=list)

    def respond(self, ctx: TurnContext) -> list[Output]:
        """Apply the first matching rule."""
        text = ctx.last_user_text() or ""
        for rule in self.rules:
            if not rule.matches(text):
                continue
            self.fired.append(rule)
            results = ctx.tool_results_since_user()
            if results and rule.call:
                follow = rule.then_say
                answer = follow(results) if callable(follow) else follow
                return [Say(answer or "Done.")]
            outputs: list[Output] = [Say(rule.say)] if rule.say else []
            for name, args in rule.call:
                raw = args if isinstance(args, str) else json.dumps(args)
                outputs.append(CallTool(name, raw))
            return outputs or [Say("OK.")]
        return (self.fallback or HouseBrain()).respond(ctx)


_ARTICLES = re.compile(r"^(the|my|a|an)\s+")
_PLEASE = re.compile(r"\s*(please|now)$")


def _thing(raw: str) -> str:
    return _PLEASE.sub("", _ARTICLES.sub("", raw.strip())).strip()


# (pattern, tool, argument builder) — the house brain's whole grammar.
_COMMANDS: list[
    tuple[re.Pattern[str], str, Callable[[re.Match[str]], dict[str, Any]]]
] = [
    (
        re.compile(r"^(?:turn|switch) on (.+)$"),
        "HassTurnOn",
        lambda m: {"name": _thing(m[1])},
    ),
    (
        re.compile(r"^(?:turn|switch) (.+) on$"),
        "HassTurnOn",
        lambda m: {"name": _thing(m[1])},
    ),
    (
        re.compile(r"^(?:turn|switch) off (.+)$"),
        "HassTurnOff",
        lambda m: {"name": _thing(m[1])},
    ),
    (
        re.compile(r"^(?:turn|switch) (.+) off$"),
        "HassTurnOff",
        lambda m: {"name": _thing(m[1])},
    ),
    (
        re.compile(r"^set (?:the )?temperature (?:of|in) (.+) to (\d+)(?: degrees)?$"),
        "HassClimateSetTemperature",
        lambda m: {"name": _thing(m[1]), "temperature": int(m[2])},
    ),
    (
        re.compile(r"^set (.+) to (\d+) degrees$"),
        "HassClimateSetTemperature",
        lambda m: {"name": _thing(m[1]), "temperature": int(m[2])},
    ),
    (
        re.compile(
            r"^(?:set (.+?) brightness to|set (.+?) to|dim (.+?) to) (\d+)(?:%| percent)$"
        ),
        "HassLightSet",
        lambda m: {"name": _thing(m[1] or m[2] or m[3]), "brightness": int(m[4])},
    ),
    (
        re.compile(r"^(?:what is|what's|whats) the (?:state|status) of (.+)$"),
        "GetLiveContext",
        lambda m: {},
    ),
    (re.compile(r"^is (.+) (?:on|off|open|closed)$"), "GetLiveContext", lambda m: {}),
    (
        re.compile(r"^(?:what is|what's|whats) the temperature (?:in|of) (.+)$"),
        "GetLiveContext",
        lambda m: {},
    ),
]
_SUBJECT = [
    re.compile(r"(?:state|status) of (.+)$"),
    re.compile(r"^is (.+) (?:on|off|open|closed)$"),
    re.compile(r"temperature (?:in|of) (.+)$"),
]


def _failure(output: str) -> str | None:
    """Why a tool result is a failure, or None for success."""
    try:
        result = json.loads(output)
    except ValueError:
        return "the result was unreadable"
    if not isinstance(result, dict):
        return None
    if "error" in result:
        return str(result.get("error_text") or result["error"])
    if result.get("response_type") == "error":
        speech = result.get("speech", {}).get("plain", {}).get("speech")
        return str(speech or result.get("data", {}).get("code") or "an error")
    data = result.get("data") or {}
    if isinstance(data, dict) and data.get("failed") and not data.get("success"):
        return "it failed"
    return None


class HouseBrain:
    """Maps simple English home commands onto the Assist tools in the session."""

    def respond(self, ctx: TurnContext) -> list[Output]:
        """One response: a tool call, a confirmation of its result, or a reply."""
        if READ_ALOUD_MARKER in ctx.instructions.lower():
            return [Say(ctx.last_user_text() or "")]
        text = ctx.last_user_text() or ""
        said = _norm(text)
        results = ctx.tool_results_since_user()
        if results:
            return [Say(self._after(said, results))]
        if said in ("hello", "hi", "hey"):
            return [Say("Hello! How can I help with your home?")]
        command = _PLEASE.sub("", said)
        for pattern, tool, build in _COMMANDS:
            if match := pattern.match(command):
                if not ctx.has_tool(tool):
                    return [Say("Sorry, I can't control that.")]
                return [CallTool(tool, json.dumps(build(match)))]
        return [Say(f"You said: {said}.")]

    def _after(self, said: str, results: ToolResults) -> str:
        call, output = results[-1]
        reason = _failure(str(output.get("output", "")))
        if reason is not None:
            return f"Sorry, I couldn't do that: {reason}."
        name = str(call.get("name"))
        try:
            args = json.loads(str(call.get("arguments") or "{}"))
        except ValueError:
            args = {}
        thing = str(args.get("name", "it")) if isinstance(args, dict) else "it"
        if name == "HassTurnOn":
            return f"Turned on the {thing}."
        if name == "HassTurnOff":
            return f"Turned off the {thing}."
        if name == "HassLightSet":
            return f"Set the {thing} to {args.get('brightness')} percent."
        if name == "HassClimateSetTemperature":
            return f"Set the {thing} to {args.get('temperature')} degrees."
        if name == "GetLiveContext":
            return self._state(said, str(output.get("output", "")))
        return "Done."

    def _state(self, said: str, context: str) -> str:
        subject = next((m[1] for p in _SUBJECT if (m := p.search(said))), "")
        subject = _thing(subject)
        for line in context.splitlines():
            if subject and subject in line.lower():
                state = re.search(r"state:\s*'?([\w.\- ]+)'?", line + " ")
                if state:
                    return f"{subject.title()} is {state[1].strip()}."
        lines = context.lower().splitlines()
        for index, line in enumerate(lines):
            if subject and subject in line:
                for follow in lines[index + 1 : index + 6]:
                    if "state:" in follow:
                        value = follow.split("state:", 1)[1].strip().strip("'\"")
                        return f"{subject.title()} is {value}."
        return f"I couldn't find {subject or 'that'}."
