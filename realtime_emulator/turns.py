"""What a brain sees when a response starts, and what it answers with.

A `Brain` gets a `TurnContext` (the context items, the tools on offer, the
instructions) and returns the response's outputs in order: `Say` (a message,
spoken or written as the response asks) and `CallTool` (a function call).
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Any, Protocol

Item = dict[str, Any]
ToolResults = list[tuple[Item, Item]]  # (function_call item, function_call_output item)


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


def base_tool_name(name: str) -> str:
    """A tool's name without its namespace: `intent__HassTurnOn` → `HassTurnOn`.

    Home Assistant 2026.9 and later prefix Assist tools with their API's domain
    (`intent__HassTurnOn`, `homeassistant__GetLiveContext`, `llm__GetDateTime`);
    older releases offer the bare names.
    """
    return name.rpartition("__")[2]


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    return str(part.get("text") or part.get("transcript") or "")


def call_arguments(call: Item) -> dict[str, Any]:
    """A function call's arguments as a dict ({} when not a JSON object)."""
    try:
        args = json.loads(str(call.get("arguments") or "{}"))
    except ValueError:
        return {}
    return args if isinstance(args, dict) else {}


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

    def tool_named(self, name: str) -> str | None:
        """The offered tool called `name`, bare or namespaced (`x__name`)."""
        for tool in self.tools:
            offered = str(tool.get("name", ""))
            if offered == name or base_tool_name(offered) == name:
                return offered
        return None

    def has_tool(self, name: str) -> bool:
        """Whether the session offers a function tool of that name (any namespace)."""
        return self.tool_named(name) is not None

    def last_named_target(self) -> str | None:
        """The `name` argument of the conversation's most recent function call."""
        for item in reversed(self.items):
            if item.get("type") == "function_call":
                name = call_arguments(item).get("name")
                if isinstance(name, str) and name:
                    return name
        return None


class Brain(Protocol):
    """Decides a response's outputs."""

    def respond(self, ctx: TurnContext) -> list[Output]:
        """The outputs of one response."""
