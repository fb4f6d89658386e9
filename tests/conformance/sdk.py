"""Checking events against the official SDK's pydantic models (GA and beta).

The `openai` package's models (GA `openai.types.realtime`, beta
`openai.types.beta.realtime`) are a definition none of us wrote: an event must
validate, with no field the model does not define.

Two documented exceptions, where the real server and the SDK's types disagree:

* `session.created` / `session.updated` session objects carry the read-only `id`,
  `object` ("realtime.session") and `expires_at` (reference §6: the spec's
  `session.created` example, the real beta payload). The SDK types those events'
  session with the *request* model, which lacks them (its
  `RealtimeSessionCreateResponse` has them): they are checked here by value.
* A beta session's `tool_choice` forcing a function is an object
  (`{type: "function", name}` or `{type: "function", function: {name}}`,
  reference §11.10); the beta SDK types `tool_choice` as a string. Checked by shape.
"""

from __future__ import annotations

from typing import Any

from openai.types import beta as _beta_types  # noqa: F401  (imports the beta package)
from openai.types.beta.realtime import (
    RealtimeClientEvent as BetaClientEvent,
    RealtimeServerEvent as BetaServerEvent,
)
from openai.types.realtime import (
    RealtimeClientEvent as GAClientEvent,
    RealtimeServerEvent as GAServerEvent,
)
from pydantic import BaseModel, TypeAdapter

ADAPTERS: dict[str, tuple[TypeAdapter[Any], TypeAdapter[Any]]] = {
    "ga": (TypeAdapter(GAServerEvent), TypeAdapter(GAClientEvent)),
    "beta": (TypeAdapter(BetaServerEvent), TypeAdapter(BetaClientEvent)),
}
READ_ONLY_SESSION_FIELDS = ("id", "object", "expires_at")
SOME_TIME_IN_2025 = 1_750_000_000  # expires_at is a unix time, not a duration


def unknown_fields(value: Any, path: str = "") -> list[str]:
    """Paths of fields the SDK model does not define (pydantic keeps them as extra)."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{path}.{key}" for key in (value.model_extra or {})]
        for name in type(value).model_fields:
            found += unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += unknown_fields(item, f"{path}[{index}]")
    return found


def _read_only_problems(event: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The event without the session's read-only fields, and what is wrong with them."""
    session = dict(event["session"])
    problems: list[str] = []
    values = {key: session.pop(key, None) for key in READ_ONLY_SESSION_FIELDS}
    if not str(values["id"]).startswith("sess_"):
        problems.append(f"{event['type']}: session.id {values['id']!r}")
    if values["object"] != "realtime.session":
        problems.append(f"{event['type']}: session.object {values['object']!r}")
    expires = values["expires_at"]
    if not isinstance(expires, int) or expires < SOME_TIME_IN_2025:
        problems.append(f"{event['type']}: session.expires_at {expires!r}")
    choice = session.get("tool_choice")
    if "modalities" in session and isinstance(choice, dict):  # a beta session
        named = choice.get("name") or (choice.get("function") or {}).get("name")
        if choice.get("type") != "function" or not isinstance(named, str):
            problems.append(f"{event['type']}: session.tool_choice {choice!r}")
        del session["tool_choice"]
    return {**event, "session": session}, problems


def check(adapter: TypeAdapter[Any], event: dict[str, Any]) -> list[str]:
    """Problems with one event: validation errors or unknown fields."""
    problems: list[str] = []
    if event.get("type") in ("session.created", "session.updated"):
        event, problems = _read_only_problems(event)
    try:
        model = adapter.validate_python(event)
    except ValueError as err:
        return [*problems, f"{event.get('type')}: {str(err)[:400]}"]
    problems += [
        f"{event.get('type')}: unknown field {p}" for p in unknown_fields(model)
    ]
    return problems


def server_problems(dialect: str, events: list[dict[str, Any]]) -> list[str]:
    """Problems with server events of a dialect."""
    adapter = ADAPTERS[dialect][0]
    return [problem for event in events for problem in check(adapter, event)]
