"""What the platforms of one config entry share, and what closing the entry closes.

`EntryRuntime` only holds the parts: the typed options, the conversations (one
realtime session each), usage accounting, the agent's turn runner and the voice
pipeline of the STT and TTS entities. Each part does its own job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers import entity_registry as er

from ..const import DOMAIN
from ..options import EntryOptions
from ..realtime.errors import AuthenticationError
from .browser_calls import BrowserCalls
from .conversations import ConversationPool
from .endpoint_config import build_endpoint
from .turns import TurnRunner
from .usage import UsageAccountant, model_prices
from .voice_pipeline import VoicePipeline

if TYPE_CHECKING:
    import aiohttp
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from ..realtime.endpoint import Endpoint


class EntryRuntime:
    """Per-entry state; closing it closes every websocket, timer and task it owns."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, http: aiohttp.ClientSession
    ) -> None:
        """Build the parts from the entry's data and options."""
        self.hass = hass
        self.entry = entry
        self.options = EntryOptions.from_mapping(entry.options)
        self.options_at_setup = dict(entry.options)
        self.usage = UsageAccountant(
            hass, entry.entry_id, self.options.model, model_prices(self.options.prices)
        )
        self.pool = ConversationPool(
            hass,
            http,
            self.endpoint,
            self.options.idle_timeout,
            listeners=[self.usage.async_on_event],
        )
        self.turns = TurnRunner(
            hass, entry, self.options, self.pool, self.agent_entity_id, self.on_error
        )
        self.voice = VoicePipeline(
            hass,
            self.options,
            self.pool,
            self.turns.async_prepare_voice,
            self.agent_entity_id,
            self.on_error,
        )
        self.browser = BrowserCalls(
            hass,
            entry.entry_id,
            self.options,
            http,
            self.endpoint,
            self.usage,
            self.agent_entity_id,
        )
        self._closed = False

    async def async_start(self) -> None:
        """Load the usage totals, then listen for other agents' answers."""
        await self.usage.async_load()
        self.voice.start()

    def endpoint(self) -> Endpoint:
        """The websocket endpoint for the configured model."""
        return build_endpoint(self.entry.data, self.options.model)

    def on_error(self, err: Exception) -> None:
        """Every failure of a turn or a voice stage: a rejected key asks to re-auth."""
        if isinstance(err, AuthenticationError):
            self.entry.async_start_reauth(self.hass)

    def agent_entity_id(self) -> str | None:
        """The entity id of this entry's conversation agent, once it is registered."""
        return er.async_get(self.hass).async_get_entity_id(
            "conversation", DOMAIN, self.entry.entry_id
        )

    async def async_close(self) -> None:
        """Close every realtime session, timer and task this entry opened.

        Runs at Home Assistant's stop and again at unload: the second time is a no-op.
        """
        if self._closed:
            return
        self._closed = True
        self.voice.close()
        self.browser.close()
        await self.pool.async_close()
        await self.usage.async_close()  # after the pool: its last responses count
