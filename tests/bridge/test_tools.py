"""Tool naming and arguments between HA's LLM API and the Realtime API."""

from __future__ import annotations

import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge.tools import (
    InvalidToolArgumentsError,
    ToolSet,
    _wire_name,
    short_tool_name,
)


@pytest.mark.parametrize(
    ("name", "taken", "wire"),
    [
        ("HassTurnOn", set(), "HassTurnOn"),
        ("intent__HassTurnOn", set(), "intent__HassTurnOn"),  # HA 2026.9+ form
        ("script.good night", set(), "script_good_night"),
        ("x" * 80, set(), "x" * 64),
        ("GetLiveContext", {"GetLiveContext"}, "GetLiveContext_2"),
        ("GetLiveContext", {"GetLiveContext", "GetLiveContext_2"}, "GetLiveContext_3"),
        ("", set(), "tool"),
    ],
)
def test_wire_names_are_valid_and_unique(name: str, taken: set[str], wire: str) -> None:
    """1-64 of [a-zA-Z0-9_-], unique within the session."""
    assert _wire_name(name, taken) == wire


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("HassTurnOn", "HassTurnOn"),
        ("intent__HassTurnOn", "HassTurnOn"),
        ("homeassistant__GetLiveContext", "GetLiveContext"),
        ("script__good_night", "good_night"),
    ],
)
def test_short_names_are_the_same_on_every_ha(name: str, short: str) -> None:
    """Automations see HassTurnOn whether HA calls it intent__HassTurnOn or not."""
    assert short_tool_name(name) == short


def test_tool_input_maps_names_back_and_checks_arguments() -> None:
    """The model's call reaches HA under HA's name; bad arguments are refused."""
    tools = ToolSet(to_ha={"script_good_night": "script.good night"})
    tool_input = tools.tool_input("call_1", "script_good_night", '{"a": 1}')
    assert tool_input.tool_name == "script.good night"
    assert tool_input.tool_args == {"a": 1} and tool_input.id == "call_1"
    assert tools.tool_input("call_2", "Other", "").tool_args == {}
    with pytest.raises(InvalidToolArgumentsError, match="not valid JSON"):
        tools.tool_input("call_3", "Other", "{nope")
    with pytest.raises(InvalidToolArgumentsError, match="JSON object"):
        tools.tool_input("call_4", "Other", "[1, 2]")


def test_arguments_nested_too_deep_are_refused() -> None:
    """10,000 levels of nesting: a clear error for the model, not a RecursionError."""
    tools = ToolSet()
    deep = '{"a": ' * 10_000 + "1" + "}" * 10_000
    with pytest.raises(InvalidToolArgumentsError, match="nested too deeply"):
        tools.tool_input("call_1", "HassTurnOn", deep)
