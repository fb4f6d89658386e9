"""Conversation agent: a realtime session per conversation, HA services as tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from homeassistant.components import conversation
from homeassistant.const import MATCH_ALL
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo

from .const import CONF_LLM_HASS_API, CONF_MODEL, DEFAULT_MODEL, DOMAIN

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .entry import OpenAIRealtimeConfigEntry


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One agent per config entry."""
    async_add_entities([OpenAIRealtimeConversationEntity(entry)])


class OpenAIRealtimeConversationEntity(conversation.ConversationEntity):
    """The agent users pick in an Assist pipeline or call with conversation.process."""

    _attr_has_entity_name = True
    _attr_name = None
    # The answer streams into the ChatLog, so HA can start TTS early (2025.7+).
    _attr_supports_streaming = True

    def __init__(self, entry: OpenAIRealtimeConfigEntry) -> None:
        """Bind to the entry's runtime."""
        self.entry = entry
        self._attr_unique_id = entry.entry_id
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="OpenAI",
            model=str(entry.options.get(CONF_MODEL, DEFAULT_MODEL)),
            entry_type=DeviceEntryType.SERVICE,
        )
        if entry.options.get(CONF_LLM_HASS_API):
            self._attr_supported_features = (
                conversation.ConversationEntityFeature.CONTROL
            )

    async def async_added_to_hass(self) -> None:
        """Let the voice path compute LLM data as this agent."""
        await super().async_added_to_hass()
        self.entry.runtime_data.agent_entity_id = self.entity_id

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
        return await self.entry.runtime_data.agent.async_handle(
            user_input, chat_log, self.entity_id
        )
