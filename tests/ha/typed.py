"""Typed turns through HA's conversation API, and what they answered."""

from __future__ import annotations

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant

from .conftest import AGENT


async def say(
    hass: HomeAssistant,
    text: str,
    conversation_id: str | None = None,
    context: Context | None = None,
) -> conversation.ConversationResult:
    """One typed turn with our agent (a new conversation unless one is given)."""
    return await conversation.async_converse(
        hass, text, conversation_id, context or Context(), language="en", agent_id=AGENT
    )


def speech(result: conversation.ConversationResult) -> str:
    """The words of a result."""
    return str(result.response.speech["plain"]["speech"])
