"""Set up, unload and remove a config entry: the platforms share one runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from . import compat
from .bridge.endpoint_config import async_check_endpoint
from .bridge.runtime import EntryRuntime
from .bridge.usage import async_remove_usage
from .browser import async_setup_browser
from .const import DOMAIN
from .options import EntryOptions
from .realtime.errors import AuthenticationError, RealtimeError

if TYPE_CHECKING:
    from homeassistant.core import Event, HomeAssistant

PLATFORMS: list[Platform] = [
    Platform.CONVERSATION,
    Platform.SENSOR,
    Platform.STT,
    Platform.TTS,
]

type OpenAIRealtimeConfigEntry = ConfigEntry[EntryRuntime]


async def async_setup_entry(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry
) -> bool:
    """Check the endpoint, then set up the platforms that share the runtime."""
    http = async_get_clientsession(hass)
    model = EntryOptions.from_mapping(entry.options).model
    try:
        await async_check_endpoint(http, entry.data, model)
    except AuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="invalid_auth"
        ) from err
    except RealtimeError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        ) from err

    runtime = EntryRuntime(hass, entry, http)
    await runtime.async_start()
    await async_setup_browser(hass)
    entry.runtime_data = runtime
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if not compat.OPTIONS_FLOW_RELOADS:
        entry.async_on_unload(entry.add_update_listener(_async_entry_updated))

    async def _async_stop(_event: Event) -> None:
        # HA does not unload entries when it stops: close the websockets ourselves.
        await runtime.async_close()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop)
    )
    return True


async def async_unload_entry(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry
) -> bool:
    """Unload platforms and close every realtime session and task."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_close()
    return unloaded


async def async_remove_entry(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry
) -> None:
    """Forget the entry's usage totals with it."""
    await async_remove_usage(hass, entry.entry_id)


async def _async_entry_updated(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry
) -> None:
    """HA < 2025.8: reload when the options changed (they shape every session).

    Reauth and reconfigure reload the entry themselves; reloading here too would
    set it up twice.
    """
    if dict(entry.options) != entry.runtime_data.options_at_setup:
        await hass.config_entries.async_reload(entry.entry_id)
