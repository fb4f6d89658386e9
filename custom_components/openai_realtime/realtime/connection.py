"""One websocket to a Realtime endpoint: handshake, ordered sends, typed receives.

The caller supplies the `aiohttp.ClientSession` (in Home Assistant: the shared one).
Failures surface as the typed exceptions of `errors`, never as aiohttp internals.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

import aiohttp

from .errors import (
    AccessDeniedError,
    AuthenticationError,
    BetaApiDisabledError,
    CannotConnectError,
    ConnectionLostError,
    ProtocolError,
    RateLimitedError,
    RealtimeError,
    ServerError,
    SessionExpiredError,
    SessionNotStartedError,
)
from .events import (
    ErrorEvent,
    ServerEvent,
    SessionCreated,
    input_audio_append_frame,
    parse_server_event,
)

if TYPE_CHECKING:
    from .endpoint import Endpoint

_LOGGER = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20.0
# The largest frame we accept. aiohttp's 4 MiB default is too small for some real
# events, and no limit (0) lets a broken server make us buffer anything. The
# biggest events are `conversation.item.retrieved` (a whole item's audio in
# base64: a reply at the 4,096-token output cap is about 205 s of 24 kHz PCM16,
# 9.8 MB raw, 13.1 MB encoded; we never ask for items, but a server may send
# them) and `session.updated` (instructions plus every tool: a hundred tools with
# 1,024-character descriptions and their schemas stay well under 1 MB). Audio
# deltas are small (a few KB per 100 ms). 16 MiB covers them all with room.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

# Close codes with a meaning of their own (see the protocol reference, §8.3).
CLOSE_SESSION_EXPIRED = 1001
CLOSE_INVALID_KEY = 3000
CLOSE_BETA_DISABLED = 4000

# One encoder for every client event (json.dumps builds a new one per call when
# given separators).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode

_AUTH_CODES = frozenset({"invalid_api_key", "invalid_authentication", "unauthorized"})


class RealtimeConnection:
    """An open websocket speaking the Realtime protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, endpoint: Endpoint) -> None:
        """Wrap an open websocket; use `open()` to create one."""
        self._ws = ws
        self.endpoint = endpoint
        self._send_lock = asyncio.Lock()
        self._prefix = f"evt_{secrets.token_hex(4)}_"
        self._counter = itertools.count(1)
        self._closing = False

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        endpoint: Endpoint,
        *,
        timeout: float = 10.0,
        heartbeat: float | None = HEARTBEAT_SECONDS,
    ) -> tuple[RealtimeConnection, SessionCreated]:
        """Connect and wait, bounded by `timeout`, for the server's `session.created`."""
        try:
            async with asyncio.timeout(timeout):
                ws = await http.ws_connect(
                    endpoint.url,
                    headers=dict(endpoint.headers),
                    heartbeat=heartbeat,
                    max_msg_size=MAX_MESSAGE_SIZE,
                    autoping=True,
                )
        except aiohttp.WSServerHandshakeError as err:
            raise _handshake_error(err.status, err.message) from err
        except TimeoutError as err:
            raise CannotConnectError(
                f"Timed out connecting to {endpoint.http_base}"
            ) from err
        except (aiohttp.ClientError, OSError) as err:
            raise CannotConnectError(
                f"Cannot connect to {endpoint.http_base}: {err}"
            ) from err

        connection = cls(ws, endpoint)
        try:
            async with asyncio.timeout(timeout):
                first = await connection.receive()
        except TimeoutError as err:
            await connection.close()
            raise SessionNotStartedError(
                f"{endpoint.http_base} accepted the websocket but sent no session"
            ) from err
        except BaseException:
            await connection.close()
            raise
        if isinstance(first, ErrorEvent):
            await connection.close()
            raise error_event_to_exception(first)
        if not isinstance(first, SessionCreated):
            await connection.close()
            raise ProtocolError(f"Expected session.created first, got {first!r}")
        return connection, first

    @property
    def closed(self) -> bool:
        """Whether the websocket is closed (by either side)."""
        return self._ws.closed

    def next_event_id(self) -> str:
        """A unique client event id, so errors can be matched to their request."""
        return f"{self._prefix}{next(self._counter)}"

    async def send(self, event: dict[str, Any]) -> str:
        """Send one client event in order; return its event_id."""
        event_id = event.setdefault("event_id", self.next_event_id())
        await self._write(_ENCODE(event))
        return str(event_id)

    async def send_audio(self, audio: bytes) -> str:
        """Send `input_audio_buffer.append` with this audio; return its event_id."""
        event_id = self.next_event_id()
        await self._write(input_audio_append_frame(audio, event_id))
        return event_id

    async def _write(self, payload: str) -> None:
        """One frame, in the order callers asked for them."""
        async with self._send_lock:
            if self._ws.closed:
                raise ConnectionLostError(
                    "The realtime connection is closed", code=self._ws.close_code
                )
            try:
                await self._ws.send_str(payload)
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as err:
                raise ConnectionLostError(
                    f"Sending to the realtime server failed: {err}",
                    code=self._ws.close_code,
                ) from err

    async def receive(self) -> ServerEvent:
        """Return the next parsed server event, skipping frames that must be skipped.

        Raises ConnectionLostError (or a more specific error) when the socket ends.
        """
        while True:
            msg = await self._ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                event = parse_server_event(msg.data)
                if event is not None:
                    return event
                continue
            if msg.type is aiohttp.WSMsgType.BINARY:
                _LOGGER.warning("Skipping a binary frame of %d bytes", len(msg.data))
                continue
            if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                continue
            raise self._closed_error(msg)

    def _closed_error(self, msg: aiohttp.WSMessage) -> Exception:
        code = self._ws.close_code
        if msg.type is aiohttp.WSMsgType.CLOSE:
            code = msg.data
        reason = str(msg.extra or "") if msg.type is aiohttp.WSMsgType.CLOSE else ""
        if msg.type is aiohttp.WSMsgType.ERROR:
            reason = str(msg.data)
        if self._closing:
            return ConnectionLostError("The realtime connection was closed", code=code)
        if (
            msg.type is aiohttp.WSMsgType.ERROR
            and code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        ):
            return ConnectionLostError(
                "The realtime server sent a message larger than the "
                f"{MAX_MESSAGE_SIZE // (1024 * 1024)} MiB limit; connection closed",
                code=code,
            )
        if code == CLOSE_SESSION_EXPIRED and "duration" in reason:
            return SessionExpiredError(reason or "Session expired", code=code)
        if code == CLOSE_INVALID_KEY:
            return AuthenticationError(reason or "The server rejected the API key")
        if code == CLOSE_BETA_DISABLED:
            return BetaApiDisabledError(_beta_hint(reason))
        detail = f" ({reason})" if reason else ""
        return ConnectionLostError(
            f"The realtime server closed the connection, code {code}{detail}", code=code
        )

    async def close(self) -> None:
        """Close the websocket; safe to call more than once."""
        self._closing = True
        if not self._ws.closed:
            try:
                await self._ws.close()
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as err:
                _LOGGER.debug("Ignoring error while closing: %s", err)
        _stop_heartbeat(self._ws)


def _stop_heartbeat(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Cancel aiohttp's heartbeat timer, which may outlive a closed websocket.

    aiohttp 3.14 re-arms the heartbeat whenever data arrives, closed or not: when
    the server's close frame answers ours, `close()` returns with a ping timer
    still scheduled (harmless, but a leak to any test that checks for timers).
    Looked up by name: older aiohttp leaves nothing armed, and calling it after
    close is a no-op there.
    """
    cancel = getattr(ws, "_cancel_heartbeat", None)
    if callable(cancel):
        cancel()


def _handshake_error(status: int, message: str) -> Exception:
    if status == 403:
        return AccessDeniedError(
            "The endpoint refused this API key access to the Realtime API (HTTP 403)"
        )
    if status == 401:
        return AuthenticationError(f"The endpoint rejected the API key (HTTP {status})")
    if status == 429:
        return RateLimitedError("The endpoint is rate limiting requests (HTTP 429)")
    return CannotConnectError(
        f"The endpoint refused the realtime connection (HTTP {status} {message})",
        transient=status >= 500,
        status=status,
    )


def _beta_hint(message: str) -> str:
    return (
        f"{message or 'The server no longer supports the beta Realtime API.'} "
        "Choose a GA model such as gpt-realtime in the integration options."
    )


def error_event_to_exception(event: ErrorEvent) -> RealtimeError:
    """Map a server `error` event to the typed exception callers branch on."""
    if event.code in _AUTH_CODES:
        return AuthenticationError(event.message)
    if event.code == "model_not_found":
        return AccessDeniedError(event.message)
    if event.code == "beta_api_shape_disabled":
        return BetaApiDisabledError(_beta_hint(event.message))
    if event.code == "session_expired":
        return SessionExpiredError(event.message)
    if event.code in ("rate_limit_exceeded", "insufficient_quota"):
        return RateLimitedError(event.message)
    return ServerError(
        event.message, code=event.code, error_type=event.type, param=event.param
    )
