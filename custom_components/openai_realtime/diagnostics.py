"""Config entry diagnostics: endpoint, model, sessions and usage, secrets redacted.

Keys that hold secrets are redacted, and then every string is scrubbed of the
secret values themselves, so a key that also sits in a URL or a title cannot leak.
Conversation contents (transcripts, answers) are left out: they are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from homeassistant.components.diagnostics import REDACTED, async_redact_data

from .bridge.endpoint_config import build_endpoint
from .const import (
    CONF_API_KEY,
    CONF_AZURE_RESOURCE,
    CONF_BASE_URL,
    CONF_ENDPOINT_KIND,
)
from .options import EntryOptions

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from homeassistant.core import HomeAssistant

    from .bridge.conversations import Conversation
    from .bridge.runtime import EntryRuntime
    from .entry import OpenAIRealtimeConfigEntry

TO_REDACT = {CONF_API_KEY, "authorization", "Authorization", "api-key", "password"}
_SECRET_WORDS = ("key", "token", "secret", "password", "auth", "sig")


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry
) -> dict[str, Any]:
    """What a bug report needs about this entry, and no secret."""
    model = EntryOptions.from_mapping(entry.options).model
    runtime: EntryRuntime | None = getattr(entry, "runtime_data", None)
    diagnostics = {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "endpoint": _endpoint(entry.data, model),
        "model": model,
        "runtime": _runtime(runtime) if runtime is not None else None,
    }
    # Longest first, so a secret containing another one is not left half-visible.
    hidden = sorted(_secrets(entry.data), key=len, reverse=True)
    scrubbed: dict[str, Any] = _scrub(diagnostics, hidden)
    return scrubbed


def _endpoint(data: Mapping[str, Any], model: str) -> dict[str, Any]:
    """Kind, base URL, websocket URL and dialect; never the headers (credentials)."""
    info: dict[str, Any] = {"kind": data.get(CONF_ENDPOINT_KIND)}
    if base := data.get(CONF_BASE_URL) or data.get(CONF_AZURE_RESOURCE):
        info["base_url"] = _safe_url(str(base))
    try:
        endpoint = build_endpoint(data, model)
    except (KeyError, ValueError) as err:
        info["error"] = f"invalid endpoint: {type(err).__name__}"
        return info
    info["url"] = _safe_url(endpoint.url)
    info["dialect"] = endpoint.dialect
    return info


def _runtime(runtime: EntryRuntime) -> dict[str, Any]:
    pool = runtime.pool
    return {
        "eager_response": runtime.options.eager_response,
        "open_sessions": len(pool.open_sessions),
        "conversations": {
            conversation_id: _conversation(conv)
            for conversation_id, conv in pool.conversations.items()
        },
        "usage": runtime.usage.as_dict(),
    }


def _conversation(conv: Conversation) -> dict[str, Any]:
    session = conv.session
    return {
        "session_open": session is not None and not session.closed,
        "websockets_opened": conv.opened,
        "chat_log_items_held": conv.position.held,
        "voice_turn": conv.voice_turn.state if conv.voice_turn is not None else None,
    }


def _secret_query_key(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _safe_url(url: str) -> str:
    """The URL without user info and with secret-looking query values redacted."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = urlencode(
        [
            (name, REDACTED if _secret_query_key(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets(data: Mapping[str, Any]) -> set[str]:
    """Every secret value of the entry: the key, URL credentials, secret queries."""
    found = {str(data.get(CONF_API_KEY) or "")}
    for name in (CONF_BASE_URL, CONF_AZURE_RESOURCE):
        parts = urlsplit(str(data.get(name) or ""))
        found |= {parts.username or "", parts.password or ""}
        found |= {
            value for key, value in parse_qsl(parts.query) if _secret_query_key(key)
        }
    return {secret for secret in found if secret}


def _scrub(value: Any, hidden: Sequence[str]) -> Any:
    """`value` with every occurrence of a hidden string replaced, at any depth."""
    if isinstance(value, str):
        for secret in hidden:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_scrub(k, hidden): _scrub(v, hidden) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub(item, hidden) for item in value]
    return value
