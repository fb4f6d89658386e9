"""Where a realtime session connects to, and with which credentials and dialect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

Dialect = Literal["ga", "beta"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
BETA_HEADER = {"OpenAI-Beta": "realtime=v1"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A websocket URL plus the headers that authenticate and select the dialect."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    dialect: Dialect = "ga"

    @property
    def http_base(self) -> str:
        """Return the HTTP(S) origin of the endpoint (for logs and REST calls)."""
        parts = urlsplit(self.url)
        scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, "", "", ""))


def _ws_url(base_url: str, path: str, query: Mapping[str, str]) -> str:
    """Turn an http(s) base URL into the ws(s) URL of `path` with a query string."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"Not an http(s) or ws(s) URL: {base_url!r}")
    return urlunsplit(
        (scheme, parts.netloc, f"{parts.path}{path}", urlencode(query), "")
    )


def openai_endpoint(
    api_key: str,
    model: str,
    *,
    base_url: str = OPENAI_BASE_URL,
    dialect: Dialect = "ga",
) -> Endpoint:
    """Endpoint for OpenAI or any compatible server with an OpenAI-style base URL."""
    headers = {"Authorization": f"Bearer {api_key}"}
    if dialect == "beta":
        headers |= BETA_HEADER
    return Endpoint(_ws_url(base_url, "/realtime", {"model": model}), headers, dialect)


def azure_endpoint(
    resource_url: str,
    deployment: str,
    api_key: str,
    *,
    api_version: str = "",
) -> Endpoint:
    """Endpoint for Azure OpenAI.

    Without an api-version this is Azure's GA route (`/openai/v1/realtime?model=`);
    with one it is the older preview route, which speaks the beta dialect.
    """
    headers = {"api-key": api_key}
    if api_version:
        query = {"api-version": api_version, "deployment": deployment}
        return Endpoint(
            _ws_url(resource_url, "/openai/realtime", query), headers, "beta"
        )
    url = _ws_url(resource_url, "/openai/v1/realtime", {"model": deployment})
    return Endpoint(url, headers, "ga")
