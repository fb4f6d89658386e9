"""Typed failures of a realtime connection or session.

Callers map these onto user-facing outcomes (reauth, retry later, plain-words error)
without parsing messages.
"""

from __future__ import annotations


class RealtimeError(Exception):
    """Base class for every failure this library raises."""


class CannotConnectError(RealtimeError):
    """The endpoint could not be reached or refused the handshake (not an auth issue).

    `transient` failures (refused or reset connections, timeouts, HTTP 5xx) may
    succeed when tried again; a 404 or another 4xx will not. `status` is the HTTP
    status the handshake was refused with, if it got that far.
    """

    def __init__(
        self, message: str, *, transient: bool = True, status: int | None = None
    ) -> None:
        """Keep whether trying again could help, and the HTTP status."""
        super().__init__(message)
        self.transient = transient
        self.status = status


class SessionNotStartedError(CannotConnectError):
    """The websocket opened but the server never sent `session.created`."""


class AuthenticationError(RealtimeError):
    """The endpoint rejected the credentials (HTTP 401/403, invalid_api_key)."""


class AccessDeniedError(AuthenticationError):
    """The key is known but may not use the Realtime API or the model.

    HTTP 403 at the handshake, or `model_not_found` ("does not exist or you do not
    have access to it") once the session opened. A new key with access, or
    another model, fixes it; the key itself was not rejected.
    """


class RateLimitedError(RealtimeError):
    """The endpoint answered 429: too many requests or out of quota."""


class BetaApiDisabledError(RealtimeError):
    """The server no longer serves the beta dialect (OpenAI since 2026-05-12)."""


class BrowserPathUnavailableError(RealtimeError):
    """The endpoint cannot mint client secrets for a browser's WebRTC call."""


class ConnectionLostError(RealtimeError):
    """The websocket closed or broke while the session was in use."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        """Keep the websocket close code for diagnostics."""
        super().__init__(message)
        self.code = code


class SessionExpiredError(ConnectionLostError):
    """The server ended the session at its maximum duration."""


class ServerError(RealtimeError):
    """The server answered a request with an `error` event or a failed response."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
    ) -> None:
        """Keep the server's code and parameter so callers can branch on them."""
        super().__init__(f"{message} (code={code})" if code else message)
        self.server_message = message
        self.code = code
        self.error_type = error_type
        self.param = param


class ResponseTimeoutError(RealtimeError, TimeoutError):
    """A response went silent: no event for it within the session's deadline.

    Also a TimeoutError, so callers that treat every deadline alike need not know
    it. The response may still run on the server; cancel it if the session is kept.
    """


class TranscriptionFailedError(RealtimeError):
    """The input audio could not be transcribed."""


class ProtocolError(RealtimeError):
    """The server sent something this library cannot make sense of."""
