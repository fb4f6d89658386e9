"""The base of every entity of an entry: one device per entry, stable unique ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from .bridge.endpoint_config import endpoint_provider
from .const import CONF_AZURE_DEPLOYMENT, DOMAIN

if TYPE_CHECKING:
    from .entry import OpenAIRealtimeConfigEntry


class OpenAIRealtimeEntity(Entity):
    """An entity on the entry's device; `key` tells it apart from its siblings.

    Entities that use the endpoint (`_uses_endpoint`: the agent, STT and TTS) are
    unavailable while it can't be used; the usage sensors count what was billed
    and stay available.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    _uses_endpoint = False

    def __init__(self, entry: OpenAIRealtimeConfigEntry, key: str | None) -> None:
        """Name the entity after its entry (the conversation agent has no key)."""
        self.entry = entry
        self._attr_unique_id = f"{entry.entry_id}-{key}" if key else entry.entry_id
        # Azure serves a deployment (its model is whatever was deployed there).
        model = (
            entry.data.get(CONF_AZURE_DEPLOYMENT) or entry.runtime_data.options.model
        )
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer=endpoint_provider(entry.data),
            model=str(model),
            entry_type=DeviceEntryType.SERVICE,
        )

    @property
    def available(self) -> bool:
        """Unavailable while the endpoint can't be used, if this entity uses it."""
        health = self.entry.runtime_data.health
        return super().available and (not self._uses_endpoint or health.available)

    async def async_added_to_hass(self) -> None:
        """Follow the endpoint's health."""
        await super().async_added_to_hass()
        if self._uses_endpoint:
            health = self.entry.runtime_data.health
            self.async_on_remove(health.add_listener(self.async_write_ha_state))
