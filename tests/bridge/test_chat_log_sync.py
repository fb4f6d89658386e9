"""ChatLog contents as realtime items: tool calls, results, HA's placeholders, budget."""

from __future__ import annotations

from homeassistant.components import conversation
from homeassistant.helpers import llm

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime import compat
from custom_components.openai_realtime.bridge.chat_log_sync import (
    REBUILD_TOKEN_BUDGET,
    ChatLogPosition,
    missing_entries,
)
from custom_components.openai_realtime.bridge.tools import ToolSet


def _tool_result(call_id: str, name: str, data: dict[str, object]) -> object:
    """A ToolResultContent on every HA version (result: 2026.10+)."""
    fields = {
        f.name for f in conversation.ToolResultContent.__dataclass_fields__.values()
    }
    if "result" in fields:
        return conversation.ToolResultContent(
            agent_id="conversation.x",
            tool_call_id=call_id,
            tool_name=name,
            result=llm.ToolResult(data=data),  # type: ignore[attr-defined]
        )
    return conversation.ToolResultContent(
        agent_id="conversation.x",
        tool_call_id=call_id,
        tool_name=name,
        tool_result=data,
    )


def test_tool_calls_and_results_keep_the_names_the_session_knows() -> None:
    """A call HA made for another agent is replayed under the session's tool name."""
    tools = ToolSet(to_ha={"script_good_night": "script.good night"})
    call = llm.ToolInput(tool_name="script.good night", tool_args={"x": 1}, id="c1")
    contents = [
        conversation.SystemContent("prompt"),
        conversation.UserContent("good night"),
        conversation.AssistantContent("conversation.x", None, tool_calls=[call]),
        _tool_result("c1", "script.good night", {"success": True}),
        conversation.AssistantContent("conversation.x", "(no response)"),
    ]
    entries = missing_entries(contents, ChatLogPosition(), len(contents), tools)  # type: ignore[arg-type]
    assert [(e.kind, e.name, e.call_id) for e in entries] == [
        ("user", "", ""),
        ("function_call", "script_good_night", "c1"),
        ("function_call_output", "", "c1"),
    ]
    assert entries[1].text == '{"x": 1}'
    assert '"success": true' in entries[2].text
    assert compat.tool_result_outcome(contents[3])[1] is False  # type: ignore[arg-type]


def test_a_rebuild_keeps_the_recent_turns_within_the_budget() -> None:
    """Long history: the newest turns that fit, starting at a user message."""
    filler = "x" * (REBUILD_TOKEN_BUDGET * 4 // 10)
    contents: list[conversation.Content] = [conversation.SystemContent("prompt")]
    for n in range(30):
        contents += [
            conversation.UserContent(f"question {n} {filler}"),
            conversation.AssistantContent("conversation.x", f"answer {n}"),
        ]
    entries = missing_entries(contents, ChatLogPosition(), len(contents), ToolSet())
    assert entries[0].kind == "user"
    assert entries[-1].text == "answer 29"
    assert sum(len(e.text) for e in entries) <= REBUILD_TOKEN_BUDGET * 4
    assert 5 <= len(entries) // 2 < 30
    # Appending to a session that holds turns is never cut by the budget.
    held = ChatLogPosition(held=1)
    assert len(missing_entries(contents, held, len(contents), ToolSet())) == 60


def test_a_conversation_an_automation_opened_keeps_its_question() -> None:
    """`start_conversation` opens the ChatLog with the satellite's question: a new
    session gets it, though no user message comes before it."""
    contents: list[conversation.Content] = [
        conversation.SystemContent("prompt"),
        conversation.AssistantContent("assist_satellite.kitchen", "Shall I?"),
    ]
    entries = missing_entries(contents, ChatLogPosition(), len(contents), ToolSet())
    assert [(e.kind, e.text) for e in entries] == [("assistant", "Shall I?")]
