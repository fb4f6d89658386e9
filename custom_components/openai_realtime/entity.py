"""The base of every entity of an entry: one device per entry, stable unique ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import DOMAIN

if TYPE_CHECKING:
    from .entry import OpenAIRealtimeConfigEntry


class OpenAIRealtimeEntity(Entity):
    """An entity on the entry's device; `key` tells it apart from its siblings."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: OpenAIRealtimeConfigEntry, key: str | None) -> None:
        """Name the entity after its entry (the conversation agent has no key)."""
        self.entry = entry
        self._attr_unique_id = f"{entry.entry_id}-{key}" if key else entry.entry_id
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="OpenAI",
            model=entry.runtime_data.options.model,
            entry_type=DeviceEntryType.SERVICE,
        )
