"""Validation building blocks shared by both dialects' rules.

Each check raises the `ProtocolError` the real server would send (see errors.py)
and names the offending field by its JSON path. The per-dialect rules in
validate_ga.py and validate_beta.py compose these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    Json,
    ProtocolError,
    above_maximum,
    below_minimum,
    invalid_type,
    invalid_value,
    missing_parameter,
    string_too_long,
    too_many_properties,
    unknown_parameter,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

TOOL_CHOICE_MODES = ["none", "auto", "required"]
MAX_TOOL_DESCRIPTION = 1024
MAX_OUTPUT_TOKENS = 4096
METADATA_PAIRS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS = 16, 64, 512
EAGERNESS = ["low", "medium", "high", "auto"]
NOISE_REDUCTION = ["near_field", "far_field"]
IDLE_TIMEOUT_MS = (5000, 30000)


def obj(value: Any, path: str, allowed: Iterable[str]) -> Json:
    """An object with only the `allowed` keys."""
    if not isinstance(value, dict):
        raise invalid_type(path, "an object", value)
    allowed = set(allowed)
    for key in value:
        if key not in allowed:
            raise unknown_parameter(f"{path}.{key}")
    return value


def required(value: Json, key: str, path: str) -> Any:
    """The value of a required key."""
    if key not in value or value[key] is None:
        raise missing_parameter(f"{path}.{key}")
    return value[key]


def array(value: Any, path: str) -> list[Any]:
    """A JSON array."""
    if not isinstance(value, list):
        raise invalid_type(path, "an array", value)
    return value


def string(value: Any, path: str, max_length: int | None = None) -> str:
    """A string, optionally capped in length."""
    if not isinstance(value, str):
        raise invalid_type(path, "a string", value)
    if max_length is not None and len(value) > max_length:
        raise string_too_long(path, len(value), max_length)
    return value


def boolean(value: Any, path: str) -> bool:
    """A boolean."""
    if not isinstance(value, bool):
        raise invalid_type(path, "a boolean", value)
    return value


def number(value: Any, path: str, low: float | None, high: float | None) -> float:
    """A decimal (integers are decimals too) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(path, "a decimal", value)
    if low is not None and value < low:
        raise below_minimum(path, value, low)
    if high is not None and value > high:
        raise above_maximum(path, value, high)
    return float(value)


def integer(value: Any, path: str, low: int | None, high: int | None) -> int:
    """An integer within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(path, "an integer", value)
    if low is not None and value < low:
        raise below_minimum(path, value, low, "integer")
    if high is not None and value > high:
        raise above_maximum(path, value, high, "integer")
    return value


def enum(value: Any, path: str, options: list[str]) -> str:
    """One of `options`."""
    if value not in options:
        raise invalid_value(path, value, options)
    return str(value)


def max_tokens(value: Any, path: str) -> None:
    """1-4096, or "inf"."""
    if value != "inf":
        integer(value, path, 1, MAX_OUTPUT_TOKENS)


def metadata(value: Any, path: str) -> None:
    """Up to 16 string pairs; keys up to 64 characters, values up to 512."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid_type(path, "an object", value)
    if len(value) > METADATA_PAIRS:
        raise too_many_properties(path, len(value), METADATA_PAIRS)
    for key, item in value.items():
        if len(key) > METADATA_KEY_CHARS:
            raise string_too_long(f"{path}.{key}", len(key), METADATA_KEY_CHARS)
        string(item, f"{path}.{key}", METADATA_VALUE_CHARS)


def function_tool(tool: Any, path: str) -> None:
    """`{type: "function", name, description, parameters}`."""
    tool = obj(tool, path, {"type", "name", "description", "parameters"})
    if tool.get("type", "function") != "function":
        raise invalid_value(f"{path}.type", tool.get("type"), ["function"])
    name = string(required(tool, "name", path), f"{path}.name")
    if not name:
        raise missing_parameter(f"{path}.name")
    if "description" in tool:
        string(tool["description"], f"{path}.description", MAX_TOOL_DESCRIPTION)
    if "parameters" in tool and not isinstance(tool["parameters"], dict):
        raise invalid_type(f"{path}.parameters", "an object", tool["parameters"])


_MCP_KEYS = {
    "type",
    "server_label",
    "server_url",
    "connector_id",
    "tunnel_id",
    "allowed_tools",
    "allowed_callers",
    "require_approval",
    "headers",
    "authorization",
    "server_description",
    "defer_loading",
}


def mcp_tool(tool: Any, path: str) -> None:
    """`{type: "mcp", server_label, server_url | connector_id | tunnel_id, …}` (GA)."""
    tool = obj(tool, path, _MCP_KEYS)
    string(required(tool, "server_label", path), f"{path}.server_label")
    if not any(key in tool for key in ("server_url", "connector_id", "tunnel_id")):
        raise missing_parameter(f"{path}.server_url")


def tools(value: Any, path: str, allow_mcp: bool) -> None:
    """A list of function tools (and MCP servers in GA); names are unique."""
    names: set[str] = set()
    for index, tool in enumerate(array(value, path)):
        where = f"{path}[{index}]"
        if allow_mcp and isinstance(tool, dict) and tool.get("type") == "mcp":
            mcp_tool(tool, where)
            continue
        if isinstance(tool, dict) and tool.get("type", "function") != "function":
            supported = ["function", "mcp"] if allow_mcp else ["function"]
            raise invalid_value(f"{where}.type", tool.get("type"), supported)
        function_tool(tool, where)
        if tool["name"] in names:
            raise invalid_value(
                f"{where}.name", tool["name"], why="Tool names must be unique."
            )
        names.add(tool["name"])


def tool_choice(value: Any, path: str, dialect: str) -> None:
    """A mode, or a forced function (GA also an MCP tool).

    GA: `{type: "function", name}` / `{type: "mcp", server_label, name?}`. Beta
    servers took both `{type: "function", name}` and the Chat-Completions form
    `{type: "function", function: {name}}` (reference §11.10).
    """
    if isinstance(value, str):
        enum(value, path, TOOL_CHOICE_MODES)
        return
    if not isinstance(value, dict):
        raise invalid_type(path, "a string or an object", value)
    kind = value.get("type")
    if dialect == "ga" and kind == "mcp":
        choice = obj(value, path, {"type", "server_label", "name"})
        string(required(choice, "server_label", path), f"{path}.server_label")
        if "name" in choice:
            string(choice["name"], f"{path}.name")
        return
    if kind != "function":
        supported = ["function", "mcp"] if dialect == "ga" else ["function"]
        raise invalid_value(f"{path}.type", kind, supported)
    if dialect == "beta" and "function" in value:
        choice = obj(value, path, {"type", "function"})
        inner = obj(choice["function"], f"{path}.function", {"name"})
        string(required(inner, "name", f"{path}.function"), f"{path}.function.name")
        return
    choice = obj(value, path, {"type", "name"})
    string(required(choice, "name", path), f"{path}.name")


_SERVER_VAD = {
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "create_response",
    "interrupt_response",
}
_SEMANTIC_VAD = {"type", "eagerness", "create_response", "interrupt_response"}


def turn_detection(value: Any, path: str, dialect: str) -> None:
    """`null`, server VAD or semantic VAD, each with only its own fields.

    GA requires `type` and adds `idle_timeout_ms` (5000-30000 or null) to server
    VAD; beta's `type` defaults to server VAD.
    """
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid_type(path, "an object", value)
    if dialect == "ga" and "type" not in value:
        raise missing_parameter(f"{path}.type")
    kind = enum(
        value.get("type", "server_vad"), f"{path}.type", ["server_vad", "semantic_vad"]
    )
    if kind == "semantic_vad":
        obj(value, path, _SEMANTIC_VAD)
        if "eagerness" in value:
            enum(value["eagerness"], f"{path}.eagerness", EAGERNESS)
    else:
        obj(
            value,
            path,
            _SERVER_VAD | ({"idle_timeout_ms"} if dialect == "ga" else set()),
        )
        if "threshold" in value:
            number(value["threshold"], f"{path}.threshold", 0.0, 1.0)
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            if key in value:
                integer(value[key], f"{path}.{key}", 0, None)
        if value.get("idle_timeout_ms") is not None:
            integer(
                value["idle_timeout_ms"], f"{path}.idle_timeout_ms", *IDLE_TIMEOUT_MS
            )
    for key in ("create_response", "interrupt_response"):
        if key in value:
            boolean(value[key], f"{path}.{key}")


_TRANSCRIPTION_GA = {"model", "language", "prompt", "delay", "keywords", "languages"}


def transcription(value: Any, path: str, dialect: str) -> None:
    """`null` or `{model, language?, prompt?}` (GA adds delay, keywords, languages)."""
    if value is None:
        return
    keys = _TRANSCRIPTION_GA if dialect == "ga" else {"model", "language", "prompt"}
    config = obj(value, path, keys)
    for key in ("model", "language", "prompt"):
        if config.get(key) is not None:
            string(config[key], f"{path}.{key}")
    if config.get("delay") is not None:
        enum(
            config["delay"],
            f"{path}.delay",
            ["minimal", "low", "medium", "high", "xhigh"],
        )
    for key in ("keywords", "languages"):
        if config.get(key) is not None:
            for index, entry in enumerate(array(config[key], f"{path}.{key}")):
                string(entry, f"{path}.{key}[{index}]")


def noise_reduction(value: Any, path: str, dialect: str) -> None:
    """`null` or `{type: near_field | far_field}` (GA also `strength`)."""
    if value is None:
        return
    config = obj(value, path, {"type", "strength"} if dialect == "ga" else {"type"})
    if "type" in config:
        enum(config["type"], f"{path}.type", NOISE_REDUCTION)
    if "strength" in config:
        number(config["strength"], f"{path}.strength", 0.0, 1.0)


def tracing(value: Any, path: str) -> None:
    """`null`, "auto" or `{workflow_name?, group_id?, metadata?}`."""
    if value is None or value == "auto":
        return
    if isinstance(value, str):
        raise invalid_value(path, value, ["auto"])
    config = obj(value, path, {"workflow_name", "group_id", "metadata"})
    for key in ("workflow_name", "group_id"):
        if key in config:
            string(config[key], f"{path}.{key}")


def prompt(value: Any, path: str) -> None:
    """`null` or a prompt template reference `{id, version?, variables?}`."""
    if value is None:
        return
    config = obj(value, path, {"id", "version", "variables"})
    string(required(config, "id", path), f"{path}.id")
    if config.get("version") is not None:
        string(config["version"], f"{path}.version")
    if config.get("variables") is not None and not isinstance(
        config["variables"], dict
    ):
        raise invalid_type(f"{path}.variables", "an object", config["variables"])


def conversation(value: Any, path: str) -> None:
    """ "auto" (the default conversation) or "none" (out of band)."""
    enum(value, path, ["auto", "none"])


def event_fields(event: Json, allowed: Iterable[str]) -> None:
    """Top-level fields of a client event besides `type` and `event_id`."""
    allowed = {*allowed, "type", "event_id"}
    for key in event:
        if key not in allowed:
            raise unknown_parameter(key)


def not_json_object(kind: str) -> ProtocolError:
    """A frame that is JSON but not an object, or has no `type`."""
    return ProtocolError(kind, "invalid_event")
