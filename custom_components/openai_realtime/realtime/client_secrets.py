"""Ephemeral keys for a browser's WebRTC call (GA): the browser never sees the API key.

`POST {base}/realtime/client_secrets` with the API key and a session configuration
returns a short-lived key (`ek_…`). The browser then posts its SDP offer to
`{base}/realtime/calls` with that key as bearer token and gets the SDP answer; the
session runs with the configuration the key was minted for. OpenAI, Azure's GA route
(`/openai/v1/realtime/...`) and compatible servers share this shape. The beta
dialect has no such endpoint here, and a server without it answers 404:
`BrowserPathUnavailableError` says so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp

from .errors import (
    AuthenticationError,
    BrowserPathUnavailableError,
    CannotConnectError,
    ProtocolError,
    RateLimitedError,
    ServerError,
)
from .events import session_update

if TYPE_CHECKING:
    from .endpoint import Endpoint
    from .events import SessionConfig

MIN_TTL, MAX_TTL = 10, 7200  # seconds a key may live (the API's bounds)


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """An ephemeral key, when it expires, and where its calls start."""

    value: str = field(repr=False)
    expires_at: int  # unix time
    calls_url: str  # POST the SDP offer here, with `value` as bearer token
    session: dict[str, Any] = field(repr=False, default_factory=dict)


def rest_url(endpoint: Endpoint, path: str) -> str:
    """`https://host/…/realtime/{path}` of a websocket endpoint (query dropped)."""
    parts = urlsplit(endpoint.url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/{path}", "", ""))


def endpoint_model(endpoint: Endpoint) -> str | None:
    """The model (Azure: deployment) a websocket endpoint selects."""
    query = parse_qs(urlsplit(endpoint.url).query)
    values = query.get("model") or query.get("deployment")
    return values[0] if values else None


def client_secret_request(
    config: SessionConfig, model: str, ttl: int
) -> dict[str, Any]:
    """The request body: the GA session (with its model) and the key's lifetime."""
    session = session_update(config, "ga")["session"]
    session["model"] = model
    seconds = max(MIN_TTL, min(MAX_TTL, int(ttl)))
    return {
        "expires_after": {"anchor": "created_at", "seconds": seconds},
        "session": session,
    }


async def create_client_secret(
    http: aiohttp.ClientSession,
    endpoint: Endpoint,
    config: SessionConfig,
    *,
    ttl: int = 60,
    timeout: float = 10.0,
) -> ClientSecret:
    """Mint an ephemeral key for a session configured as `config`.

    Raises BrowserPathUnavailableError (beta dialect, or the server has no such
    endpoint), AuthenticationError, RateLimitedError, CannotConnectError,
    ServerError (the server refused the configuration) or ProtocolError.
    """
    if endpoint.dialect != "ga":
        raise BrowserPathUnavailableError(
            "The browser path needs a GA model (the beta protocol has no client "
            "secrets here)"
        )
    model = endpoint_model(endpoint)
    if not model:
        raise BrowserPathUnavailableError("The endpoint names no model")
    url = rest_url(endpoint, "client_secrets")
    body = client_secret_request(config, model, ttl)
    try:
        async with (
            asyncio.timeout(timeout),
            http.post(url, json=body, headers=dict(endpoint.headers)) as response,
        ):
            status = response.status
            data: Any = await response.json(content_type=None) if status < 500 else {}
    except TimeoutError as err:
        raise CannotConnectError(f"Timed out minting a key at {url}") from err
    except ValueError as err:
        raise ProtocolError(f"{url} answered with something that is not JSON") from err
    except (aiohttp.ClientError, OSError) as err:
        raise CannotConnectError(f"Cannot reach {url}: {err}") from err
    _raise_for_status(status, data, url)
    value, expires_at = _field(data, "value"), _field(data, "expires_at")
    if not isinstance(value, str) or not value or not isinstance(expires_at, int):
        raise ProtocolError(f"{url} answered without a client secret")
    session = data.get("session")
    return ClientSecret(
        value=value,
        expires_at=expires_at,
        calls_url=rest_url(endpoint, "calls"),
        session=session if isinstance(session, dict) else {},
    )


def _field(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


def _raise_for_status(status: int, data: Any, url: str) -> None:
    if status < 300:
        return
    error = _field(data, "error")
    message = str(_field(error, "message") or f"HTTP {status}")
    if status in (401, 403):
        raise AuthenticationError(f"{url} rejected the API key (HTTP {status})")
    if status in (404, 405):
        raise BrowserPathUnavailableError(
            f"{url} does not mint client secrets (HTTP {status})"
        )
    if status == 429:
        raise RateLimitedError(f"{url} is rate limiting requests (HTTP 429)")
    if status >= 500:
        raise CannotConnectError(
            f"{url} has a problem (HTTP {status})", transient=True, status=status
        )
    raise ServerError(
        message,
        code=_opt_str(_field(error, "code")),
        error_type=_opt_str(_field(error, "type")),
        param=_opt_str(_field(error, "param")),
    )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
