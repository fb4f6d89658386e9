"""The browser card: its JavaScript module, and the websocket commands it calls.

Thin glue: `bridge/browser_calls.py` does the work. Every command checks the
entry's "who may talk through the browser card" option against the logged-in user
(admins only, or any user), and a call's handle only serves the user who started
it. Registered once per Home Assistant, when the first entry is set up.

    openai_realtime/browser/entries  the entries this user may talk to
    openai_realtime/browser/start    a client secret, the conversation, its history
    openai_realtime/browser/tool     run one function call; its output for the model
    openai_realtime/browser/turn     a finished turn into the ChatLog and the costs
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.components import websocket_api
from homeassistant.components.websocket_api.decorators import (
    async_response,
    websocket_command,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, Unauthorized
import voluptuous as vol

from . import compat
from .bridge.browser_calls import (
    BrowserCallError,
    BrowserTurn,
    ResponseReport,
    TurnPart,
)
from .const import BROWSER_ACCESS_USERS, DOMAIN
from .realtime import events as ev
from .realtime.errors import (
    AuthenticationError,
    BrowserPathUnavailableError,
    RateLimitedError,
    RealtimeError,
)

if TYPE_CHECKING:
    from homeassistant.components.websocket_api.connection import ActiveConnection

    from .bridge.runtime import EntryRuntime

_LOGGER = logging.getLogger(__name__)

CARD_FILE = Path(__file__).parent / "frontend" / "openai-realtime-card.js"
CARD_URL = f"/{DOMAIN}/openai-realtime-card.js"
_REGISTERED = f"{DOMAIN}_browser_registered"
MAX_TEXT = 20_000  # characters of one transcript
MAX_PARTS = 64
MAX_ARGUMENTS = 100_000

# What the card shows for each failure (it also shows the message).
ERR_UNAVAILABLE = "unavailable"
ERR_AUTH = "auth_failed"
ERR_RATE_LIMITED = "rate_limited"
ERR_CONNECT = "cannot_connect"


async def async_setup_browser(hass: HomeAssistant) -> None:
    """Register the websocket commands and the card's module (once)."""
    if hass.data.get(_REGISTERED):
        return
    hass.data[_REGISTERED] = True
    for command in (ws_entries, ws_start, ws_tool, ws_turn):
        websocket_api.async_register_command(hass, command)
    if getattr(hass, "http", None) is None:
        return  # no web server (tests without http): no card to serve
    version = await hass.async_add_executor_job(_file_version, CARD_FILE)
    await compat.async_register_static_path(hass, CARD_URL, str(CARD_FILE))
    if "frontend" in hass.config.components:
        compat.add_extra_module_url(hass, f"{CARD_URL}?v={version}")


def _file_version(path: Path) -> str:
    """A short digest of the module: browsers fetch it again when it changed."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# --- access ------------------------------------------------------------------------


def _runtimes(hass: HomeAssistant) -> list[tuple[Any, EntryRuntime]]:
    return [
        (entry, entry.runtime_data)
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def _allowed(runtime: EntryRuntime, connection: ActiveConnection) -> bool:
    return (
        connection.user.is_admin
        or runtime.options.browser_access == BROWSER_ACCESS_USERS
    )


def _runtime(
    hass: HomeAssistant, connection: ActiveConnection, entry_id: str | None
) -> EntryRuntime:
    """The entry's runtime, if this user may talk to it (BrowserCallError if not)."""
    found = [
        runtime
        for entry, runtime in _runtimes(hass)
        if entry_id in (None, entry.entry_id)
    ]
    if not found:
        raise BrowserCallError(
            "not_found", "No OpenAI Realtime entry is set up for this card."
        )
    runtime = found[0]
    if not _allowed(runtime, connection):
        raise BrowserCallError(
            "unauthorized",
            "Only administrators may talk through this card. An administrator can "
            "allow every user in the OpenAI Realtime options.",
        )
    return runtime


def _error(connection: ActiveConnection, msg: dict[str, Any], err: Exception) -> None:
    """Send a failure in the words the card shows."""
    if isinstance(err, BrowserCallError):
        connection.send_error(msg["id"], err.code, str(err))
    elif isinstance(err, HomeAssistantError):
        connection.send_error(msg["id"], "failed", str(err) or type(err).__name__)
    elif isinstance(err, BrowserPathUnavailableError):
        connection.send_error(
            msg["id"],
            ERR_UNAVAILABLE,
            f"Talking in the browser (WebRTC) is not available on this endpoint: {err}",
        )
    elif isinstance(err, AuthenticationError):
        connection.send_error(
            msg["id"], ERR_AUTH, "The endpoint rejected the API key: re-enter it."
        )
    elif isinstance(err, RateLimitedError):
        connection.send_error(msg["id"], ERR_RATE_LIMITED, str(err))
    else:
        connection.send_error(msg["id"], ERR_CONNECT, str(err))


# --- commands ----------------------------------------------------------------------


_ENTRIES: dict[Any, Any] = {vol.Required("type"): f"{DOMAIN}/browser/entries"}


@websocket_command(_ENTRIES)
@callback
def ws_entries(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """The entries, and whether this user may talk to each through the card."""
    connection.send_result(
        msg["id"],
        {
            "entries": [
                {
                    "entry_id": entry.entry_id,
                    "title": entry.title,
                    "allowed": _allowed(runtime, connection),
                    "model": runtime.options.model,
                    "ga": runtime.endpoint().dialect == "ga",
                }
                for entry, runtime in _runtimes(hass)
            ]
        },
    )


_START: dict[Any, Any] = {
    vol.Required("type"): f"{DOMAIN}/browser/start",
    vol.Optional("entry_id"): str,
    vol.Optional("conversation_id"): vol.Any(None, vol.All(str, vol.Length(max=64))),
    vol.Optional("language"): vol.All(str, vol.Length(max=35)),
}


@websocket_command(_START)
@async_response
async def ws_start(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Mint a client secret for the user's session (the API key stays here)."""
    try:
        runtime = _runtime(hass, connection, msg.get("entry_id"))
    except BrowserCallError as err:
        _error(connection, msg, err)
        return
    try:
        started = await runtime.browser.async_start(
            connection.user,
            msg.get("conversation_id"),
            msg.get("language") or hass.config.language,
        )
    except Unauthorized:
        raise
    except (HomeAssistantError, RealtimeError) as err:
        _LOGGER.info("The card could not start a call: %s", err)
        if isinstance(err, RealtimeError):
            runtime.on_error(err)  # a rejected key asks for a new one
        _error(connection, msg, err)
        return
    connection.send_result(msg["id"], started)


_TOOL: dict[Any, Any] = {
    vol.Required("type"): f"{DOMAIN}/browser/tool",
    vol.Optional("entry_id"): str,
    vol.Required("handle"): str,
    vol.Required("call_id"): vol.All(str, vol.Length(min=1, max=128)),
    vol.Required("name"): vol.All(str, vol.Length(min=1, max=128)),
    vol.Required("arguments"): vol.All(str, vol.Length(max=MAX_ARGUMENTS)),
}


@websocket_command(_TOOL)
@async_response
async def ws_tool(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Run one function call as the logged-in user; its output for the model."""
    try:
        runtime = _runtime(hass, connection, msg.get("entry_id"))
        output = await runtime.browser.async_run_tool(
            connection.user,
            msg["handle"],
            msg["call_id"],
            msg["name"],
            msg["arguments"],
        )
    except Unauthorized:
        raise
    except HomeAssistantError as err:
        _error(connection, msg, err)
        return
    connection.send_result(msg["id"], {"output": output})


_MESSAGE: dict[Any, Any] = {
    vol.Required("type"): "message",
    vol.Optional("response_id", default=""): str,
    vol.Optional("transcript", default=""): vol.All(str, vol.Length(max=MAX_TEXT)),
    vol.Optional("audio_end_ms"): vol.Any(None, vol.All(int, vol.Range(min=0))),
}
_FUNCTION_CALL: dict[Any, Any] = {
    vol.Required("type"): "function_call",
    vol.Required("call_id"): vol.All(str, vol.Length(max=128)),
}
_RESPONSE: dict[Any, Any] = {
    vol.Required("id"): vol.All(str, vol.Length(min=1, max=128)),
    vol.Optional("status", default="completed"): vol.All(str, vol.Length(max=32)),
    vol.Optional("usage"): vol.Any(None, dict),
}


_TURN: dict[Any, Any] = {
    vol.Required("type"): f"{DOMAIN}/browser/turn",
    vol.Optional("entry_id"): str,
    vol.Required("handle"): str,
    vol.Optional("user_text", default=""): vol.All(str, vol.Length(max=MAX_TEXT)),
    vol.Optional("parts", default=list): vol.All(
        [vol.Any(_MESSAGE, _FUNCTION_CALL)], vol.Length(max=MAX_PARTS)
    ),
    vol.Optional("responses", default=list): vol.All(
        [_RESPONSE], vol.Length(max=MAX_PARTS)
    ),
}


@websocket_command(_TURN)
@async_response
async def ws_turn(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """A finished turn: into the conversation's ChatLog, and into the costs."""
    turn = BrowserTurn(
        user_text=msg["user_text"].strip(),
        parts=[
            TurnPart(
                kind=part["type"],
                response_id=part.get("response_id", ""),
                transcript=part.get("transcript", ""),
                audio_end_ms=part.get("audio_end_ms"),
                call_id=part.get("call_id", ""),
            )
            for part in msg["parts"]
        ],
        responses=[
            ResponseReport(
                response["id"],
                response["status"],
                ev.Usage.from_wire(response.get("usage")),
            )
            for response in msg["responses"]
        ],
    )
    try:
        runtime = _runtime(hass, connection, msg.get("entry_id"))
        conversation_id = await runtime.browser.async_record_turn(
            connection.user, msg["handle"], turn
        )
    except Unauthorized:
        raise
    except HomeAssistantError as err:
        _error(connection, msg, err)
        return
    connection.send_result(msg["id"], {"conversation_id": conversation_id})
