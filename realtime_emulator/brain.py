"""What the emulated model says and does: scripted turns, or the house brain.

The emulator asks a `Brain` for each response (turns.py has the interface). Tests
script exact turns with `ScriptedBrain`; without a script the `HouseBrain`
(house_brain.py) maps simple home commands onto the Home Assistant Assist tools in
the session, which is what the demo runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from typing import TYPE_CHECKING, Any

from .house_brain import HouseBrain, norm
from .turns import Brain, CallTool, Item, Output, Say, ToolResults, TurnContext

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "Brain",
    "CallTool",
    "HouseBrain",
    "Item",
    "Output",
    "Rule",
    "Say",
    "ScriptedBrain",
    "ToolResults",
    "TurnContext",
]


@dataclass(frozen=True)
class Rule:
    """When the user says `when`: say `say`, call `call`; after results, `then_say`.

    Several entries in `call` are several function calls in one response; with
    `say` as well, the model speaks that preamble first.
    """

    when: str
    call: Sequence[tuple[str, dict[str, Any] | str]] = ()
    say: str | None = None
    then_say: str | Callable[[ToolResults], str] | None = None

    def matches(self, text: str) -> bool:
        """Exact or contained match on normalised text."""
        wanted = norm(self.when)
        heard = norm(text)
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
