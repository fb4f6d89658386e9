"""Set up, unload and remove a config entry: the platforms share one runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import callback
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
)
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from . import compat
from .bridge import issues
from .bridge.endpoint_config import (
    async_check_endpoint,
    build_endpoint,
    endpoint_host,
)
from .bridge.runtime import EntryRuntime
from .bridge.usage import async_remove_usage
from .browser import async_setup_browser
from .const import DOMAIN
from .options import EntryOptions
from .realtime.errors import (
    AccessDeniedError,
    AuthenticationError,
    BetaApiDisabledError,
    RealtimeError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.core import Event, HomeAssistant

PLATFORMS: list[Platform] = [
    Platform.CONVERSATION,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.STT,
    Platform.TTS,
]

type OpenAIRealtimeConfigEntry = ConfigEntry[EntryRuntime]


async def async_setup_entry(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry
) -> bool:
    """Check the endpoint, then set up the platforms that share the runtime.

    What the user must fix (a retired model, a refused dialect, a key without
    Realtime access) fails the setup with a repair issue whose fix reloads it.
    """
    http = async_get_clientsession(hass)
    model = EntryOptions.from_mapping(entry.options).model
    try:
        await async_check_endpoint(http, entry.data, model)
    except (AccessDeniedError, BetaApiDisabledError) as err:
        host = endpoint_host(build_endpoint(entry.data, model))
        issues.async_report(hass, entry, err, model, host)
        kind = issues.kind_of(err, entry.data, model)
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key=kind,
            translation_placeholders={"model": model, "host": host},
        ) from err
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
    issues.async_clear(hass, entry.entry_id)

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
    """Forget the entry's usage totals and repair issues with it."""
    issues.async_clear(hass, entry.entry_id)
    await async_remove_usage(hass, entry.entry_id)


@callback
def async_update_and_reload(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    *,
    data: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Store a repair's change and set the entry up again with it, once.

    On HA < 2025.8 a loaded entry's update listener reloads it when its options
    changed; otherwise the reload is scheduled here.
    """
    listener_reloads = (
        options is not None
        and dict(options) != dict(entry.options)
        and entry.state is ConfigEntryState.LOADED
        and not compat.OPTIONS_FLOW_RELOADS
    )
    changes: dict[str, Any] = {}
    if data is not None:
        changes["data"] = data
    if options is not None:
        changes["options"] = options
    hass.config_entries.async_update_entry(entry, **changes)
    if not listener_reloads:
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def _async_entry_updated(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry
) -> None:
    """HA < 2025.8: reload when the options changed (they shape every session).

    Reauth and reconfigure reload the entry themselves; reloading here too would
    set it up twice.
    """
    if dict(entry.options) != entry.runtime_data.options_at_setup:
        await hass.config_entries.async_reload(entry.entry_id)
