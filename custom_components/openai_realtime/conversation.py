"""Conversation agent: a realtime session per conversation, HA services as tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from homeassistant.components import conversation
from homeassistant.const import MATCH_ALL

from .entity import OpenAIRealtimeEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .entry import OpenAIRealtimeConfigEntry

# Turns of different conversations run side by side; each conversation serialises
# its own turns (one realtime session each).
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One agent per config entry."""
    async_add_entities([OpenAIRealtimeConversationEntity(entry)])


class OpenAIRealtimeConversationEntity(
    OpenAIRealtimeEntity, conversation.ConversationEntity
):
    """The agent users pick in an Assist pipeline or call with conversation.process."""

    _attr_name = None  # the device's name: the entry's title
    _uses_endpoint = True
    _attr_translation_key = "conversation"  # its icon
    # The answer streams into the ChatLog, so HA can start TTS early (2025.7+).
    _attr_supports_streaming = True

    def __init__(self, entry: OpenAIRealtimeConfigEntry) -> None:
        """Bind to the entry's runtime; tools make it a controlling agent."""
        super().__init__(entry, None)
        if entry.runtime_data.options.llm_hass_api:
            self._attr_supported_features = (
                conversation.ConversationEntityFeature.CONTROL
            )

    @property
    def supported_languages(self) -> list[str] | Literal["*"]:
        """The model speaks (nearly) every language."""
        return MATCH_ALL

    async def _async_handle_message(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
    ) -> conversation.ConversationResult:
        """Answer a turn on the conversation's realtime session."""
        return await self.entry.runtime_data.turns.async_handle(
            user_input, chat_log, self.entity_id
        )
