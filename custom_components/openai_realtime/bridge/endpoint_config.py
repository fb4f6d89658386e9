"""Config entry data -> protocol endpoint, and the credential check used by flows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..const import (
    CONF_API_KEY,
    CONF_AZURE_API_VERSION,
    CONF_AZURE_DEPLOYMENT,
    CONF_AZURE_RESOURCE,
    CONF_BASE_URL,
    CONF_ENDPOINT_KIND,
    CONNECT_TIMEOUT,
    DEFAULT_MODEL,
    ENDPOINT_AZURE,
    OPENAI_BASE_URL,
    dialect_for_model,
)
from ..realtime.connection import RealtimeConnection
from ..realtime.endpoint import Endpoint, azure_endpoint, openai_endpoint

if TYPE_CHECKING:
    from collections.abc import Mapping

    import aiohttp

OPENAI_HOST = "api.openai.com"
AZURE_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com")


def build_endpoint(data: Mapping[str, Any], model: str = DEFAULT_MODEL) -> Endpoint:
    """Return the websocket endpoint of an entry for `model`.

    Azure selects the model by deployment; elsewhere the model's family picks the
    dialect (the retired preview models only speak beta).
    """
    api_key = str(data.get(CONF_API_KEY) or "")
    if data.get(CONF_ENDPOINT_KIND) == ENDPOINT_AZURE:
        return azure_endpoint(
            str(data[CONF_AZURE_RESOURCE]),
            str(data[CONF_AZURE_DEPLOYMENT]),
            api_key,
            api_version=str(data.get(CONF_AZURE_API_VERSION) or ""),
        )
    base_url = str(data.get(CONF_BASE_URL) or OPENAI_BASE_URL)
    if dialect_for_model(model) == "beta":
        return openai_endpoint(api_key, model, base_url=base_url, dialect="beta")
    return openai_endpoint(api_key, model, base_url=base_url)


def endpoint_provider(data: Mapping[str, Any]) -> str:
    """Who serves the entry's endpoint, as its device's manufacturer says it.

    OpenAI, Microsoft Azure, or the host (and port) of a compatible server: a
    local emulator or server is not "OpenAI".
    """
    if data.get(CONF_ENDPOINT_KIND) == ENDPOINT_AZURE:
        return "Microsoft Azure"
    parts = urlsplit(str(data.get(CONF_BASE_URL) or OPENAI_BASE_URL))
    host = (parts.hostname or "").lower()
    if host == OPENAI_HOST:
        return "OpenAI"
    if host.endswith(AZURE_HOST_SUFFIXES):
        return "Microsoft Azure"
    # Never the user:password@ a URL may carry: device info is shown everywhere.
    return f"{host}:{parts.port}" if parts.port else host


def endpoint_host(endpoint: Endpoint) -> str:
    """host:port of an endpoint, as users recognise it in an error."""
    parts = urlsplit(endpoint.url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    return f"{parts.hostname or ''}:{port}"


async def async_check_endpoint(
    http: aiohttp.ClientSession,
    data: Mapping[str, Any],
    model: str = DEFAULT_MODEL,
    timeout: float = CONNECT_TIMEOUT,
) -> None:
    """Open a realtime session, wait for `session.created`, close it.

    Raises the protocol library's typed errors (AuthenticationError,
    CannotConnectError, …). Nothing is billed: no response is requested.
    """
    connection, _created = await RealtimeConnection.open(
        http, build_endpoint(data, model), timeout=timeout, heartbeat=None
    )
    await connection.close()
