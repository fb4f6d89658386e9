"""What the platforms of one config entry share, and what closing the entry closes.

`EntryRuntime` only holds the parts: the typed options, the conversations (one
realtime session each), usage accounting, the agent's turn runner, the voice
pipeline of the STT and TTS entities and the endpoint's health. Each part does its
own job; the runtime hands every opened session and every failure to the health
and the repair issues.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers import entity_registry as er

from ..const import DOMAIN
from ..options import EntryOptions
from ..realtime.errors import AccessDeniedError, AuthenticationError
from . import issues
from .browser_calls import BrowserCalls
from .conversations import ConversationPool
from .endpoint_config import async_check_endpoint, build_endpoint, endpoint_host
from .health import EndpointHealth
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
        self.http = http
        self.health = EndpointHealth(hass, self.host, self._async_probe)
        self.pool = ConversationPool(
            hass,
            http,
            self.endpoint,
            self.options.idle_timeout,
            listeners=[self.usage.async_on_event],
            on_open=self.on_open,
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
            self.turns.report,
        )
        self._closed = False

    async def async_start(self) -> None:
        """Load the usage totals, then listen for other agents' answers."""
        await self.usage.async_load()
        self.voice.start()

    def endpoint(self) -> Endpoint:
        """The websocket endpoint for the configured model."""
        return build_endpoint(self.entry.data, self.options.model)

    def host(self) -> str:
        """host:port of the endpoint, as users recognise it."""
        return endpoint_host(self.endpoint())

    def on_open(self) -> None:
        """A realtime session opened: the endpoint works, with this key and model."""
        self.health.opened()
        issues.async_clear(
            self.hass,
            self.entry.entry_id,
            issues.BETA_API_DISABLED,
            issues.NO_REALTIME_ACCESS,
        )

    def on_error(self, err: Exception) -> None:
        """Every failure of a turn or a voice stage.

        The entities follow the endpoint's health; what the user must fix becomes a
        repair issue, and a rejected key asks to re-authenticate.
        """
        self.health.failed(err)
        issues.async_report(self.hass, self.entry, err, self.options.model, self.host())
        if isinstance(err, AuthenticationError) and not isinstance(
            err, AccessDeniedError
        ):
            self.entry.async_start_reauth(self.hass)

    async def _async_probe(self) -> None:
        """Open a session and close it (no response: nothing is billed)."""
        await async_check_endpoint(self.http, self.entry.data, self.options.model)
        self.on_open()

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
        await self.health.async_close()
        self.voice.close()
        self.browser.close()
        await self.pool.async_close()
        await self.usage.async_close()  # after the pool: its last responses count
