"""Errors the emulator answers with, worded the way the real server words them.

A client event the server rejects gets an `error` event: `type` (almost always
`invalid_request_error`), a `code`, a human `message`, the offending `param` as a
JSON path (`session.audio.output.voice`, `response.tools[0].name`) and the client's
own `event_id`, so the client can match the error to what it sent. The session stays
open. The wordings follow the real server (see /work/shared/realtime-protocol.md §8):

    Unknown parameter: 'session.temperature'.
    Missing required parameter: 'session.type'.
    Invalid value: 'bogus'. Supported values are: 'none', 'auto', and 'required'.
    Invalid type for 'session.instructions': expected a string, but got an integer instead.
    Invalid 'session.temperature': decimal above maximum value. Expected a value <= 1.2, but got 1.5 instead.
    Invalid 'session.tools[0].description': string too long. Expected a string with maximum length 1024, but got a string with length 1025 instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

Json = dict[str, Any]


class ProtocolError(Exception):
    """A client event the server rejects with an `error` event."""

    def __init__(
        self,
        message: str,
        code: str | None = None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        """Keep the fields of the error object."""
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type

    def event(self, event_id: str | None) -> Json:
        """The `error` server event (the transport adds its own event_id)."""
        return {
            "type": "error",
            "error": {
                "type": self.error_type,
                "code": self.code,
                "message": self.message,
                "param": self.param,
                "event_id": event_id,
            },
        }


def type_name(value: Any) -> str:
    """The JSON type of a value, with its article, as error messages name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unknown type"


def unknown_parameter(param: str) -> ProtocolError:
    """A field the event's schema does not have."""
    return ProtocolError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)


def unsupported_parameter(param: str) -> ProtocolError:
    """A known field the session's model does not support."""
    return ProtocolError(
        f"Unsupported parameter: '{param}' is not supported with this model.",
        "unsupported_parameter",
        param,
    )


def missing_parameter(param: str) -> ProtocolError:
    """A required field is absent."""
    return ProtocolError(
        f"Missing required parameter: '{param}'.", "missing_required_parameter", param
    )


def _quoted_list(options: Sequence[str]) -> str:
    quoted = [f"'{option}'" for option in options]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def invalid_value(
    param: str, value: Any, supported: Sequence[str] | None = None, why: str = ""
) -> ProtocolError:
    """A value outside the allowed set (`supported`), or wrong for another reason."""
    message = f"Invalid value: '{value}'."
    if supported:
        message += f" Supported values are: {_quoted_list(supported)}."
    if why:
        message += f" {why}"
    return ProtocolError(message, "invalid_value", param)


def invalid_type(param: str, expected: str, value: Any) -> ProtocolError:
    """A value of the wrong JSON type; `expected` has its article ("a string")."""
    return ProtocolError(
        f"Invalid type for '{param}': expected {expected}, but got "
        f"{type_name(value)} instead.",
        "invalid_type",
        param,
    )


def below_minimum(
    param: str, value: float, minimum: float, kind: str = "decimal"
) -> ProtocolError:
    """A number under the allowed minimum; `kind` is "integer" or "decimal"."""
    return ProtocolError(
        f"Invalid '{param}': {kind} below minimum value. Expected a value >= "
        f"{minimum}, but got {value} instead.",
        f"{kind}_below_min_value",
        param,
    )


def above_maximum(
    param: str, value: float, maximum: float, kind: str = "decimal"
) -> ProtocolError:
    """A number over the allowed maximum; `kind` is "integer" or "decimal"."""
    return ProtocolError(
        f"Invalid '{param}': {kind} above maximum value. Expected a value <= "
        f"{maximum}, but got {value} instead.",
        f"{kind}_above_max_value",
        param,
    )


def string_too_long(param: str, length: int, maximum: int) -> ProtocolError:
    """A string over its maximum length."""
    return ProtocolError(
        f"Invalid '{param}': string too long. Expected a string with maximum length "
        f"{maximum}, but got a string with length {length} instead.",
        "string_above_max_length",
        param,
    )


def too_many_properties(param: str, count: int, maximum: int) -> ProtocolError:
    """An object (metadata) with too many keys."""
    return ProtocolError(
        f"Invalid '{param}': too many properties. Expected an object with at most "
        f"{maximum} properties, but got an object with {count} properties instead.",
        "object_above_max_properties",
        param,
    )


def item_not_found(item_id: Any, code: str, param: str = "item_id") -> ProtocolError:
    """An item id the conversation does not have."""
    return ProtocolError(f"Item with item_id not found: {item_id}", code, param)
