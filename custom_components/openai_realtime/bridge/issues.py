"""The entry's repair issues: raised where the user must act, cleared when fixed.

* `retired_model`: OpenAI refused the beta protocol of a retired preview model
  (gpt-4o-*-realtime-preview); the fix switches the entry to gpt-realtime.
* `beta_api_disabled`: another endpoint (a compatible server, an Azure preview
  api-version) answered `beta_api_shape_disabled`; the fix switches to the GA
  protocol (gpt-realtime, or Azure's GA route).
* `no_realtime_access`: the endpoint knows the key but refuses it the Realtime
  API or the model (HTTP 403, `model_not_found`); the fix asks for another key.

A session that opens clears the last two; a setup that gets past the check
clears all three. The fix flows live in `repairs.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from ..const import CONF_ENDPOINT_KIND, DOMAIN, ENDPOINT_OPENAI, dialect_for_model
from ..realtime.errors import AccessDeniedError, BetaApiDisabledError

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

RETIRED_MODEL = "retired_model"
BETA_API_DISABLED = "beta_api_disabled"
NO_REALTIME_ACCESS = "no_realtime_access"
ISSUES = (RETIRED_MODEL, BETA_API_DISABLED, NO_REALTIME_ACCESS)


def issue_id(kind: str, entry_id: str) -> str:
    """The id of one entry's issue of one kind."""
    return f"{kind}_{entry_id}"


def kind_of(err: Exception, data: Any, model: str) -> str | None:
    """The issue a failure raises for an entry, if the user must act on it."""
    if isinstance(err, AccessDeniedError):
        return NO_REALTIME_ACCESS
    if isinstance(err, BetaApiDisabledError):
        retired = (
            data.get(CONF_ENDPOINT_KIND) == ENDPOINT_OPENAI
            and dialect_for_model(model) == "beta"
        )
        return RETIRED_MODEL if retired else BETA_API_DISABLED
    return None


@callback
def async_report(
    hass: HomeAssistant, entry: ConfigEntry, err: Exception, model: str, host: str
) -> bool:
    """Raise the issue `err` calls for; return whether there was one."""
    kind = kind_of(err, entry.data, model)
    if kind is None:
        return False
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry.entry_id),
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=kind,
        translation_placeholders={"title": entry.title, "model": model, "host": host},
        data={"entry_id": entry.entry_id, "kind": kind},
    )
    return True


@callback
def async_clear(hass: HomeAssistant, entry_id: str, *kinds: str) -> None:
    """Delete the entry's issues of these kinds (all of them if none are named)."""
    for kind in kinds or ISSUES:
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))
