"""Fix flows of the repair issues (raised by bridge/issues.py).

* retired model / beta protocol refused: one confirmation, then the entry uses
  the GA protocol (gpt-realtime; on Azure, the GA route without an api-version)
  and is set up again.
* key without Realtime access: a form for another key, checked like the config
  flow checks one (a session opened and closed), then stored and set up again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from . import compat
from .bridge import issues
from .bridge.endpoint_config import async_check_endpoint, build_endpoint, endpoint_host
from .const import (
    CONF_API_KEY,
    CONF_AZURE_API_VERSION,
    CONF_ENDPOINT_KIND,
    CONF_MODEL,
    ENDPOINT_AZURE,
    MODEL_GPT_REALTIME,
)
from .entry import async_update_and_reload
from .options import EntryOptions
from .realtime.errors import AccessDeniedError, AuthenticationError, RealtimeError

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .entry import OpenAIRealtimeConfigEntry


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow of one of our issues (its data names the entry and the kind)."""
    data = data or {}
    entry_id, kind = str(data.get("entry_id", "")), str(data.get("kind", ""))
    if kind == issues.NO_REALTIME_ACCESS:
        return ApiKeyRepairFlow(entry_id)
    return UseGaRepairFlow(entry_id)


class _EntryRepairFlow(RepairsFlow):
    """A fix flow for one config entry."""

    def __init__(self, entry_id: str) -> None:
        """Fix the entry `entry_id`."""
        super().__init__()
        self.entry_id = entry_id

    def _entry(self) -> OpenAIRealtimeConfigEntry | None:
        entry: OpenAIRealtimeConfigEntry | None = (
            self.hass.config_entries.async_get_entry(self.entry_id)
        )
        return entry

    def _placeholders(self, entry: OpenAIRealtimeConfigEntry) -> dict[str, str]:
        model = EntryOptions.from_mapping(entry.options).model
        host = endpoint_host(build_endpoint(entry.data, model))
        return {"title": entry.title, "model": model, "host": host}


class UseGaRepairFlow(_EntryRepairFlow):
    """Switch an entry from the retired beta protocol to the GA one."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> compat.RepairsFlowResult:
        """Ask before changing anything (older HA hands the issue id to this step)."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> compat.RepairsFlowResult:
        """Confirmed: gpt-realtime (Azure: the GA route), and set the entry up."""
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        if user_input is None:
            return self.async_show_form(
                step_id="confirm",
                data_schema=compat.form_schema({}),
                description_placeholders=self._placeholders(entry),
            )
        if entry.data.get(CONF_ENDPOINT_KIND) == ENDPOINT_AZURE:
            data = {**entry.data, CONF_AZURE_API_VERSION: ""}
            async_update_and_reload(self.hass, entry, data=data)
        else:
            options = {**entry.options, CONF_MODEL: MODEL_GPT_REALTIME}
            async_update_and_reload(self.hass, entry, options=options)
        return self.async_create_entry(data={})


class ApiKeyRepairFlow(_EntryRepairFlow):
    """Ask for a key with Realtime access, check it, store it."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> compat.RepairsFlowResult:
        """Show the key form (older HA hands the issue id to this step)."""
        return await self.async_step_api_key()

    async def async_step_api_key(
        self, user_input: dict[str, Any] | None = None
    ) -> compat.RepairsFlowResult:
        """The key form; a key that does not work is a form error."""
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_API_KEY: str(user_input[CONF_API_KEY]).strip()}
            model = EntryOptions.from_mapping(entry.options).model
            try:
                await async_check_endpoint(
                    async_get_clientsession(self.hass), data, model
                )
            except AccessDeniedError:
                errors["base"] = "no_realtime_access"
            except AuthenticationError:
                errors["base"] = "invalid_auth"
            except RealtimeError:
                errors["base"] = "cannot_connect"
            else:
                async_update_and_reload(self.hass, entry, data=data)
                return self.async_create_entry(data={})
        password = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
        return self.async_show_form(
            step_id="api_key",
            data_schema=compat.form_schema({vol.Required(CONF_API_KEY): password}),
            description_placeholders=self._placeholders(entry),
            errors=errors,
        )
