"""HA's ChatLog is the conversation's record; the realtime session follows it.

Several HA paths write to a conversation's ChatLog without our agent: commands HA
answered itself ("prefer handling commands locally"), sentence-trigger responses,
automations' announcements and questions, other agents. Before each turn the
session gets what it lacks, in order, as text items appended after what it holds,
so the cached prefix stays intact. A new session (reopened after a drop, expiry
or the warm cap) is rebuilt from the ChatLog's recent turns within a budget.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import TYPE_CHECKING

from homeassistant.components import conversation

from .. import compat
from ..realtime.session import HistoryEntry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .tools import ToolSet

# A rebuilt session gets the recent turns that fit: ~4 characters per token.
REBUILD_TOKEN_BUDGET = 4000
CHARS_PER_TOKEN = 4
NO_RESPONSE = "(no response)"  # HA 2026.11's placeholder for a turn without reply
SATELLITE_DOMAIN = "assist_satellite"  # the agent id of a satellite's announcement


@dataclass(slots=True)
class ChatLogPosition:
    """How much of a ChatLog a realtime session holds.

    `held`: the number of leading ChatLog contents the session has (as items of
    its own or added here). `skip_user`: a user text the session already holds as
    audio (a spoken turn HA answered without us), not to be added again.
    """

    held: int = 0
    skip_user: str | None = None


def missing_entries(
    contents: Sequence[conversation.Content],
    position: ChatLogPosition,
    upto: int,
    tools: ToolSet,
) -> list[HistoryEntry]:
    """The session's missing items for contents[position.held:upto], in order.

    A session that holds nothing yet is rebuilt from the most recent turns that
    fit REBUILD_TOKEN_BUDGET, starting at a user message.
    """
    start = position.held
    entries: list[HistoryEntry] = []
    for content in contents[start:upto]:
        if (
            isinstance(content, conversation.UserContent)
            and position.skip_user is not None
            and content.content == position.skip_user
        ):
            position.skip_user = None
            continue
        entries += _entries(content, tools)
    if start == 0:
        entries = _within_budget(entries)
    return entries


def answers_announced_question(contents: Sequence[conversation.Content]) -> bool:
    """Whether the next user turn answers a question a satellite announced.

    `assist_satellite.start_conversation` writes its question into the ChatLog as
    the satellite's assistant content, and the pipeline run that hears the reply
    brings the automation's extra system prompt, which only the agent sees.
    """
    last = contents[-1] if contents else None
    return isinstance(last, conversation.AssistantContent) and (
        last.agent_id.startswith(f"{SATELLITE_DOMAIN}.")
    )


def _entries(content: conversation.Content, tools: ToolSet) -> list[HistoryEntry]:
    if isinstance(content, conversation.UserContent):
        return [HistoryEntry("user", text=content.content)] if content.content else []
    if isinstance(content, conversation.AssistantContent):
        entries = []
        if content.content and content.content != NO_RESPONSE:
            entries.append(HistoryEntry("assistant", text=content.content))
        entries += [
            HistoryEntry(
                "function_call",
                text=json.dumps(call.tool_args, default=str),
                call_id=call.id,
                name=tools.wire_name(call.tool_name),
            )
            for call in content.tool_calls or ()
        ]
        return entries
    if isinstance(content, conversation.ToolResultContent):
        data, _failed = compat.tool_result_outcome(content)
        return [
            HistoryEntry(
                "function_call_output",
                text=json.dumps(data, default=str),
                call_id=content.tool_call_id,
            )
        ]
    return []  # the system prompt is the session's instructions


def _within_budget(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """The most recent entries that fit the budget, starting at a user message.

    A conversation that fits whole is kept whole, even when it opens with the
    assistant (an automation's question, `assist_satellite.start_conversation`).
    """
    budget = REBUILD_TOKEN_BUDGET * CHARS_PER_TOKEN
    first = len(entries)
    for index in range(len(entries) - 1, -1, -1):
        budget -= len(entries[index].text) + len(entries[index].name)
        if budget < 0:
            break
        first = index
    if first == 0:
        return entries
    for index in range(first, len(entries)):
        if entries[index].kind == "user":
            return entries[index:]
    return []
