"""HA LLM tools <-> realtime function tools.

Tool calls only ever run through the turn's own `llm.APIInstance` (so "exposed to
Assist" is the law). This module converts the tool schemas for the Realtime API,
keeps function names within what it accepts, and turns every failure of a tool call
into an error result the model can read instead of an exception that ends the turn.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
import json
import re
from typing import Any

from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import llm

from ..compat import schema_to_openapi
from ..realtime.events import FunctionTool

# The Realtime API accepts function names of 1-64 letters, digits, '_' and '-'.
_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
MAX_DESCRIPTION = 1024  # longer descriptions are rejected (string_above_max_length)


class InvalidToolArgumentsError(ValueError):
    """The model sent arguments that are not a JSON object."""


def _wire_name(name: str, taken: set[str]) -> str:
    """A unique name the API accepts for an HA tool name."""
    candidate = name if _NAME_OK.match(name) else _NAME_BAD_CHARS.sub("_", name)[:64]
    candidate = base = candidate or "tool"
    n = 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = base[: 64 - len(suffix)] + suffix, n + 1
    return candidate


class _SchemaCache:
    """Converted tool schemas, reused across turns.

    HA builds new tool objects for every turn and conversation, but their
    parameter schemas are made of the same validator objects each time. Keyed by
    those objects (held here, so their ids cannot be reused while cached), a
    conversion runs once instead of on every turn: it was most of a turn's CPU
    time with ~100 exposed entities. A schema that is not a plain mapping is
    keyed by itself.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = (
            OrderedDict()
        )

    def parameters(self, tool: llm.Tool, serializer: Any) -> dict[str, Any]:
        """JSON schema of a tool's parameters, as an object schema."""
        held, key = _schema_key(tool.parameters, serializer)
        if (entry := self._entries.get(key)) is not None:
            self._entries.move_to_end(key)
            return entry[1]
        schema = schema_to_openapi(tool.parameters, serializer)
        if schema.get("type") != "object":
            schema = {"type": "object", "properties": {}}
        schema.setdefault("properties", {})
        self._entries[key] = (held, schema)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return schema


def _schema_key(parameters: Any, serializer: Any) -> tuple[Any, tuple[Any, ...]]:
    """(objects to hold, key) for a schema: its validators' identities."""
    fields = getattr(parameters, "schema", None)
    if isinstance(fields, dict):
        items = tuple(fields.items())
        held: Any = (items, serializer)
        key = (
            type(parameters),
            getattr(parameters, "extra", None),
            id(serializer),
            *((id(marker), id(value)) for marker, value in items),
        )
        return held, key
    return (parameters, serializer), (id(parameters), id(serializer))


_SCHEMAS = _SchemaCache()


@dataclass
class ToolSet:
    """The function tools of one API instance, with names mapped both ways."""

    tools: tuple[FunctionTool, ...] = ()
    to_ha: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, api: llm.APIInstance | None) -> ToolSet:
        """Convert every tool of `api` (none if no API is configured)."""
        if api is None:
            return cls()
        tools: list[FunctionTool] = []
        to_ha: dict[str, str] = {}
        for tool in api.tools:
            name = _wire_name(tool.name, set(to_ha))
            to_ha[name] = tool.name
            description = (tool.description or tool.name)[:MAX_DESCRIPTION]
            tools.append(
                FunctionTool(
                    name,
                    description,
                    _SCHEMAS.parameters(tool, api.custom_serializer),
                )
            )
        return cls(tuple(tools), to_ha)

    def wire_name(self, ha_name: str) -> str:
        """The name the session knows an HA tool by (for replaying its calls)."""
        for wire, name in self.to_ha.items():
            if name == ha_name:
                return wire
        return _wire_name(ha_name, set())

    def tool_input(self, call_id: str, name: str, arguments: str) -> llm.ToolInput:
        """The HA tool input for a function call; raises InvalidToolArgumentsError."""
        try:
            args = json.loads(arguments or "{}")
        except ValueError as err:
            raise InvalidToolArgumentsError(
                f"Arguments are not valid JSON: {err}"
            ) from err
        except RecursionError as err:
            raise InvalidToolArgumentsError("Arguments are nested too deeply") from err
        if not isinstance(args, dict):
            raise InvalidToolArgumentsError("Arguments must be a JSON object")
        return llm.ToolInput(
            id=call_id, tool_name=self.to_ha.get(name, name), tool_args=args
        )


def short_tool_name(name: str) -> str:
    """An HA tool's name without its integration prefix.

    HA 2026.9 names tools `domain__Name` (`intent__HassTurnOn`); older HA names
    them `HassTurnOn`. Automations and logs get the same short name on both.
    """
    return name.rpartition("__")[2] or name


class SafeAPIInstance(llm.APIInstance):
    """An API instance (possibly several merged) whose tool calls never raise.

    HA's chat log turns only HomeAssistantError and vol.Invalid into error results;
    anything else would end the turn. Here every failure becomes a
    HomeAssistantError naming the problem, which the chat log hands to the model.

    HA 2026.11 keeps a conversation's instance between turns and only updates its
    `llm_context`: `wrap` does not wrap a wrapper again, and every call runs with
    the context of the current turn.
    """

    @classmethod
    def wrap(cls, instances: list[llm.APIInstance]) -> SafeAPIInstance:
        """The safe instance over `instances` (the same one if already wrapped)."""
        if len(instances) == 1 and isinstance(instances[0], SafeAPIInstance):
            return instances[0]
        return cls(instances)

    def __init__(self, instances: list[llm.APIInstance]) -> None:
        """Merge instances: the first one's API and context, everyone's tools."""
        first = instances[0]
        self._owners: dict[str, llm.APIInstance] = {}
        tools: list[llm.Tool] = []
        for instance in instances:
            for tool in instance.tools:
                if tool.name not in self._owners:
                    self._owners[tool.name] = instance
                    tools.append(tool)
        super().__init__(
            api=first.api,
            api_prompt="\n".join(i.api_prompt for i in instances if i.api_prompt),
            llm_context=first.llm_context,
            tools=tools,
            custom_serializer=first.custom_serializer,
        )

    async def async_call_tool(self, tool_input: llm.ToolInput) -> Any:
        """Call the tool through the API that offers it; failures become errors."""
        owner = self._owners.get(tool_input.tool_name)
        if owner is None:
            raise HomeAssistantError(f"Tool {tool_input.tool_name} not found")
        owner.llm_context = self.llm_context  # this turn's user, device, language
        try:
            return await owner.async_call_tool(tool_input)
        except HomeAssistantError:
            raise
        except Exception as err:
            raise HomeAssistantError(f"{type(err).__name__}: {err}") from err
