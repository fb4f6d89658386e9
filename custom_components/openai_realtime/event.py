"""Event entity: every turn of the agent, for automations made in the editor.

Each turn fires `tool_call` once per tool the model called, then `answered` or
`error`, with the turn's conversation, device, answer and usage as attributes.
The `openai_realtime_turn` bus event carries the same for YAML automations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.event import EventEntity
from homeassistant.core import callback

from .entity import OpenAIRealtimeEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .bridge.turns import TurnReport
    from .entry import OpenAIRealtimeConfigEntry

# Pushed by the turn runner after each turn: nothing is polled.
PARALLEL_UPDATES = 0

ANSWERED = "answered"
TOOL_CALL = "tool_call"
ERROR = "error"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One turn event entity per config entry."""
    async_add_entities([TurnEventEntity(entry)])


class TurnEventEntity(OpenAIRealtimeEntity, EventEntity):
    """Fires when the agent answered, called a tool, or failed."""

    _attr_translation_key = "turn"

    def __init__(self, entry: OpenAIRealtimeConfigEntry) -> None:
        """Bind to the entry's turn runner."""
        super().__init__(entry, "turn")
        self._attr_event_types = [ANSWERED, TOOL_CALL, ERROR]

    async def async_added_to_hass(self) -> None:
        """Hear every turn."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.entry.runtime_data.turns.add_listener(self._async_on_turn)
        )

    @callback
    def _async_on_turn(self, report: TurnReport) -> None:
        turn: dict[str, Any] = {
            "conversation_id": report.conversation_id,
            "device_id": report.device_id,
        }
        for call in report.tool_calls:
            self._fire(TOOL_CALL, turn | call)
        outcome = {
            "text": report.text,
            "tool_calls": report.tool_calls,
            "usage": report.usage,
            "responses": report.responses,
        }
        if report.error is None:
            self._fire(ANSWERED, turn | outcome)
        else:
            self._fire(ERROR, turn | outcome | {"error": report.error})

    def _fire(self, event_type: str, attributes: dict[str, Any]) -> None:
        self._trigger_event(event_type, attributes)
        self.async_write_ha_state()
