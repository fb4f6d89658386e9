"""Ephemeral keys for browsers: `POST /v1/realtime/client_secrets`.

A secret (`ek_…`) is minted with the API key for a GA session configuration. It
starts WebRTC calls (webrtc.py) until it expires (`expires_after`, 10 s to 2 h,
default 10 min) and its configuration applies to each call it starts. The request
is validated like `session.update` (validate_ga.py); a bad one is a 400 naming the
parameter, in the real server's words.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
from typing import TYPE_CHECKING, Any

from . import validate_ga
from .errors import Json, ProtocolError, invalid_type
from .ids import new_id
from .session_config import default_session

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_TTL = 600
MIN_TTL, MAX_TTL = 10, 7200


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """An ephemeral key and the session configuration it starts calls with."""

    value: str
    expires_at: int
    model: str
    session: Json  # the client's session fields (validated), without `model`


class ClientSecrets:
    """The ephemeral keys minted so far."""

    def __init__(self, clock: Callable[[], float]) -> None:
        """`clock()` is the server's time (tests move it forward)."""
        self._clock = clock
        self._secrets: dict[str, ClientSecret] = {}

    def mint(self, body: Any) -> Json:
        """Validate a `client_secrets` request; the response body (ProtocolError)."""
        if not isinstance(body, dict):
            raise invalid_type("body", "an object", body)
        unknown = set(body) - {"expires_after", "session"}
        if unknown:
            raise ProtocolError(
                f"Unknown parameter: '{sorted(unknown)[0]}'.",
                "unknown_parameter",
                sorted(unknown)[0],
            )
        ttl = _ttl(body.get("expires_after"))
        session = body.get("session") or {"type": "realtime"}
        if not isinstance(session, dict):
            raise invalid_type("session", "an object", session)
        if session.get("type") == "transcription":
            raise ProtocolError(
                "The emulator serves realtime sessions only.",
                "invalid_value",
                "session.type",
            )
        model = str(session.get("model") or "gpt-realtime")
        now = self._clock()
        fields = {k: v for k, v in session.items() if k != "model"}
        fields.setdefault("type", "realtime")
        effective = validate_ga.session_update(
            fields, default_session("ga", model, new_id("sess_"), 0), False, model
        )
        secret = ClientSecret(new_id("ek_"), math.floor(now + ttl), model, fields)
        self._secrets[secret.value] = secret
        effective["expires_at"] = secret.expires_at
        return {
            "value": secret.value,
            "expires_at": secret.expires_at,
            "session": effective,
        }

    def find(self, value: str) -> ClientSecret | None:
        """The secret with this value, unless it is unknown or expired."""
        secret = self._secrets.get(value)
        if secret is None or self._clock() >= secret.expires_at:
            return None
        return secret

    def is_ephemeral(self, value: str) -> bool:
        """Whether the key looks like one of ours (known or expired)."""
        return value in self._secrets


def _ttl(expires_after: Any) -> int:
    if expires_after is None:
        return DEFAULT_TTL
    if not isinstance(expires_after, dict):
        raise invalid_type("expires_after", "an object", expires_after)
    if expires_after.get("anchor", "created_at") != "created_at":
        raise ProtocolError(
            "Invalid value for 'expires_after.anchor': only 'created_at' is supported.",
            "invalid_value",
            "expires_after.anchor",
        )
    seconds = expires_after.get("seconds", DEFAULT_TTL)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not MIN_TTL <= seconds <= MAX_TTL
    ):
        raise ProtocolError(
            f"Invalid 'expires_after.seconds': expected an integer between {MIN_TTL} "
            f"and {MAX_TTL}, got {seconds!r}.",
            "invalid_value",
            "expires_after.seconds",
        )
    return seconds


def error_text(err: ProtocolError) -> str:
    """A ProtocolError as the HTTP error body the REST endpoints answer with."""
    return json.dumps(
        {
            "error": {
                "message": err.message,
                "type": "invalid_request_error",
                "code": err.code,
                "param": err.param,
            }
        }
    )
