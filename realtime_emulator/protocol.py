"""Wire shapes of the emulator: ids, defaults, validation, items, usage, errors.

Shapes follow the official `openai` SDK's realtime models (GA and beta), which the
conformance tests check every emitted event against. Where the protocol reference
and the SDK disagree the SDK wins: e.g. GA `session.created` carries no
`id`/`object`/`expires_at`, because `RealtimeSessionCreateRequest` has none.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
import string
from typing import Any, Literal

Dialect = Literal["ga", "beta"]
Json = dict[str, Any]

_BASE62 = string.ascii_letters + string.digits
DEFAULT_INSTRUCTIONS = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. "
    "Act like a human, but remember that you aren't a human."
)
VOICES_BETA = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse"]
VOICES_GA = [*VOICES_BETA, "marin", "cedar"]
MODELS = [
    "gpt-realtime",
    "gpt-realtime-2025-08-28",
    "gpt-realtime-mini",
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-mini-realtime-preview",
]
TOKENS_PER_SECOND_IN = 10  # user audio: 1 token per 100 ms
TOKENS_PER_SECOND_OUT = 20  # model audio: 1 token per 50 ms
CACHE_BLOCK = 64  # cached prefix is counted in whole blocks of this many tokens


def new_id(prefix: str, length: int = 21) -> str:
    """An id like the real server's: prefix + base62 characters."""
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(length))


def text_tokens(text: str) -> int:
    """About one token per four characters."""
    return math.ceil(len(text) / 4) if text else 0


# --- errors --------------------------------------------------------------------------


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
        """The `error` server event (without its own event_id)."""
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


def unknown(param: str) -> ProtocolError:
    """Unknown parameter error, as the real server words it."""
    return ProtocolError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)


def invalid(param: str, value: Any, why: str = "") -> ProtocolError:
    """Invalid value error naming the parameter."""
    detail = f" {why}" if why else ""
    return ProtocolError(f"Invalid value: '{value}'.{detail}", "invalid_value", param)


# --- sessions ------------------------------------------------------------------------


def default_turn_detection() -> Json:
    """Server VAD as `session.created` shows it."""
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "create_response": True,
        "interrupt_response": True,
    }


def default_session(dialect: Dialect, model: str) -> Json:
    """The full default configuration a new session reports."""
    if dialect == "ga":
        return {
            "type": "realtime",
            "model": model,
            "output_modalities": ["audio"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "truncation": "auto",
            "include": None,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": default_turn_detection()
                    | {"idle_timeout_ms": None},
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "marin",
                    "speed": 1.0,
                },
            },
        }
    return {
        "id": new_id("sess_"),
        "model": model,
        "modalities": ["audio", "text"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
        "turn_detection": default_turn_detection(),
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
        "speed": 1.0,
        "tracing": None,
    }


def _check_keys(value: Any, allowed: set[str], path: str) -> Json:
    if not isinstance(value, dict):
        raise ProtocolError(
            f"Invalid type for '{path}': expected an object.", "invalid_type", path
        )
    for key in value:
        if key not in allowed:
            raise unknown(f"{path}.{key}")
    return value


def _check_number(value: Any, path: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(
            f"Invalid type for '{path}': expected a number.", "invalid_type", path
        )
    if not low <= value <= high:
        code = "decimal_below_min_value" if value < low else "decimal_above_max_value"
        raise ProtocolError(
            f"Invalid '{path}': {value} is outside [{low}, {high}].", code, path
        )


def _check_enum(value: Any, path: str, options: list[str]) -> None:
    if value not in options:
        raise invalid(path, value, f"Supported values are: {', '.join(options)}.")


def _check_turn_detection(value: Any, path: str) -> None:
    if value is None:
        return
    td = _check_keys(
        value,
        {
            "type",
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
            "create_response",
            "interrupt_response",
            "eagerness",
            "idle_timeout_ms",
        },
        path,
    )
    _check_enum(td.get("type"), f"{path}.type", ["server_vad", "semantic_vad"])
    if "threshold" in td:
        _check_number(td["threshold"], f"{path}.threshold", 0, 1)
    for key in ("prefix_padding_ms", "silence_duration_ms"):
        if key in td:
            _check_number(td[key], f"{path}.{key}", 0, 10000)
    if "eagerness" in td:
        _check_enum(
            td["eagerness"], f"{path}.eagerness", ["low", "medium", "high", "auto"]
        )
    if td["type"] == "semantic_vad":
        for key in (
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
            "idle_timeout_ms",
        ):
            if key in td:
                raise unknown(f"{path}.{key}")


def _check_tools(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise ProtocolError(
            f"Invalid type for '{path}': expected an array.", "invalid_type", path
        )
    for index, tool in enumerate(value):
        where = f"{path}[{index}]"
        _check_keys(tool, {"type", "name", "description", "parameters"}, where)
        if tool.get("type", "function") != "function":
            raise invalid(f"{where}.type", tool.get("type"))
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise ProtocolError(
                f"Missing required parameter: '{where}.name'.",
                "missing_required_parameter",
                f"{where}.name",
            )
        if len(str(tool.get("description", ""))) > 1024:
            raise ProtocolError(
                f"Invalid '{where}.description': string too long.",
                "string_above_max_length",
                f"{where}.description",
            )


def _check_tokens(value: Any, path: str) -> None:
    if value != "inf":
        _check_number(value, path, 1, 4096)


def _check_transcription(value: Any, path: str) -> None:
    if value is not None:
        _check_keys(value, {"model", "language", "prompt"}, path)


_GA_FORMATS = ["audio/pcm", "audio/pcmu", "audio/pcma"]


def _check_ga_format(value: Any, path: str) -> None:
    fmt = _check_keys(value, {"type", "rate"}, path)
    _check_enum(fmt.get("type"), f"{path}.type", _GA_FORMATS)
    if fmt["type"] == "audio/pcm" and fmt.get("rate", 24000) != 24000:
        raise invalid(f"{path}.rate", fmt.get("rate"))


def validate_update(
    dialect: Dialect, update: Any, current: Json, audio_started: bool
) -> Json:
    """The effective session after `update`, or ProtocolError (nothing changes)."""
    path = "session"
    if dialect == "ga":
        update = _check_keys(
            update,
            {
                "type",
                "model",
                "output_modalities",
                "instructions",
                "tools",
                "tool_choice",
                "max_output_tokens",
                "tracing",
                "prompt",
                "truncation",
                "include",
                "audio",
            },
            path,
        )
        if "type" not in update:
            raise ProtocolError(
                "Missing required parameter: 'session.type'.",
                "missing_required_parameter",
                "session.type",
            )
        _check_enum(update["type"], "session.type", ["realtime"])
        merged = copy.deepcopy(current)
        if "output_modalities" in update:
            mods = update["output_modalities"]
            if mods not in (["audio"], ["text"]):
                raise invalid("session.output_modalities", mods)
        if "tools" in update:
            _check_tools(update["tools"], "session.tools")
        if "max_output_tokens" in update:
            _check_tokens(update["max_output_tokens"], "session.max_output_tokens")
        audio = _check_keys(
            update.get("audio", {}), {"input", "output"}, "session.audio"
        )
        audio_in = _check_keys(
            audio.get("input", {}),
            {"format", "transcription", "noise_reduction", "turn_detection"},
            "session.audio.input",
        )
        audio_out = _check_keys(
            audio.get("output", {}),
            {"format", "voice", "speed"},
            "session.audio.output",
        )
        if "format" in audio_in:
            _check_ga_format(audio_in["format"], "session.audio.input.format")
        if "format" in audio_out:
            _check_ga_format(audio_out["format"], "session.audio.output.format")
        if "transcription" in audio_in:
            _check_transcription(
                audio_in["transcription"], "session.audio.input.transcription"
            )
        if "turn_detection" in audio_in:
            _check_turn_detection(
                audio_in["turn_detection"], "session.audio.input.turn_detection"
            )
        if "voice" in audio_out:
            _check_enum(audio_out["voice"], "session.audio.output.voice", VOICES_GA)
            old = current["audio"]["output"]["voice"]
            if audio_started and audio_out["voice"] != old:
                raise ProtocolError(
                    "Cannot update a conversation's voice if assistant audio is present.",
                    "cannot_update_voice",
                    "session.audio.output.voice",
                )
        if "speed" in audio_out:
            _check_number(audio_out["speed"], "session.audio.output.speed", 0.25, 1.5)
        for key, value in update.items():
            if key != "audio":
                merged[key] = value
        merged["audio"]["input"].update(audio_in)
        merged["audio"]["output"].update(audio_out)
        return merged

    update = _check_keys(
        update,
        {
            "modalities",
            "instructions",
            "voice",
            "input_audio_format",
            "output_audio_format",
            "input_audio_transcription",
            "turn_detection",
            "input_audio_noise_reduction",
            "tools",
            "tool_choice",
            "temperature",
            "max_response_output_tokens",
            "speed",
            "tracing",
            "model",
        },
        path,
    )
    if "modalities" in update:
        mods = (
            sorted(update["modalities"])
            if isinstance(update["modalities"], list)
            else None
        )
        if mods not in (["text"], ["audio", "text"]):
            raise invalid("session.modalities", update["modalities"])
    if "voice" in update:
        _check_enum(update["voice"], "session.voice", VOICES_BETA)
        if audio_started and update["voice"] != current["voice"]:
            raise ProtocolError(
                "Cannot update a conversation's voice if assistant audio is present.",
                "cannot_update_voice",
                "session.voice",
            )
    for key in ("input_audio_format", "output_audio_format"):
        if key in update:
            _check_enum(
                update[key], f"session.{key}", ["pcm16", "g711_ulaw", "g711_alaw"]
            )
    if "input_audio_transcription" in update:
        _check_transcription(
            update["input_audio_transcription"], "session.input_audio_transcription"
        )
    if "turn_detection" in update:
        _check_turn_detection(update["turn_detection"], "session.turn_detection")
    if "tools" in update:
        _check_tools(update["tools"], "session.tools")
    if "temperature" in update:
        _check_number(update["temperature"], "session.temperature", 0.6, 1.2)
    if "max_response_output_tokens" in update:
        _check_tokens(
            update["max_response_output_tokens"], "session.max_response_output_tokens"
        )
    if "speed" in update:
        _check_number(update["speed"], "session.speed", 0.25, 1.5)
    merged = copy.deepcopy(current)
    merged.update(update)
    return merged


class SessionView:
    """Dialect-neutral reads of a session configuration."""

    def __init__(self, dialect: Dialect, session: Json) -> None:
        """Wrap the session dict."""
        self.dialect = dialect
        self.s = session

    @property
    def turn_detection(self) -> Json | None:
        """The turn detection config, None when off."""
        if self.dialect == "ga":
            return self.s["audio"]["input"]["turn_detection"]  # type: ignore[no-any-return]
        return self.s["turn_detection"]  # type: ignore[no-any-return]

    @property
    def transcription(self) -> Json | None:
        """Input transcription config, None when off."""
        if self.dialect == "ga":
            return self.s["audio"]["input"]["transcription"]  # type: ignore[no-any-return]
        return self.s["input_audio_transcription"]  # type: ignore[no-any-return]

    @property
    def input_format(self) -> str:
        """pcm16, g711_ulaw or g711_alaw."""
        if self.dialect == "ga":
            kind = self.s["audio"]["input"]["format"]["type"]
            return {
                "audio/pcm": "pcm16",
                "audio/pcmu": "g711_ulaw",
                "audio/pcma": "g711_alaw",
            }[kind]
        return str(self.s["input_audio_format"])

    @property
    def output_format(self) -> str:
        """pcm16, g711_ulaw or g711_alaw."""
        if self.dialect == "ga":
            kind = self.s["audio"]["output"]["format"]["type"]
            return {
                "audio/pcm": "pcm16",
                "audio/pcmu": "g711_ulaw",
                "audio/pcma": "g711_alaw",
            }[kind]
        return str(self.s["output_audio_format"])

    @property
    def voice(self) -> str:
        """The output voice."""
        if self.dialect == "ga":
            return str(self.s["audio"]["output"]["voice"])
        return str(self.s["voice"])

    @property
    def audio_out(self) -> bool:
        """Whether responses speak by default."""
        if self.dialect == "ga":
            return "audio" in self.s["output_modalities"]
        return "audio" in self.s["modalities"]

    @property
    def max_output_tokens(self) -> int | None:
        """The token cap of a response (None = unlimited)."""
        key = (
            "max_output_tokens"
            if self.dialect == "ga"
            else "max_response_output_tokens"
        )
        value = self.s.get(key)
        return value if isinstance(value, int) else None


# --- items ---------------------------------------------------------------------------


def part_type(kind: Literal["text", "audio"], role: str, dialect: Dialect) -> str:
    """Content part type names differ by dialect (GA output_text / beta text)."""
    if role == "assistant":
        if dialect == "ga":
            return "output_text" if kind == "text" else "output_audio"
        return kind
    return "input_text" if kind == "text" else "input_audio"


def wire_item(item: Json, dialect: Dialect) -> Json:
    """An item as events carry it: no audio bytes, no emulator-private keys."""
    out = {k: v for k, v in item.items() if not k.startswith("_")}
    if "content" in out:
        out["content"] = [
            {k: v for k, v in part.items() if k != "audio"} for part in out["content"]
        ]
    out.setdefault("object", "realtime.item")
    if dialect == "beta" and out.get("type") == "message":
        for part in out.get("content", []):
            if part.get("type") == "output_text":
                part["type"] = "text"
            elif part.get("type") == "output_audio":
                part["type"] = "audio"
    return out


def brain_item(item: Json) -> Json:
    """An item as the brain sees it: transcripts of audio filled in."""
    out = copy.deepcopy({k: v for k, v in item.items() if not k.startswith("_")})
    for part in out.get("content", []):
        if part.get("type") == "input_audio" and not part.get("transcript"):
            part["transcript"] = item.get("_heard", "")
    return out


def item_tokens(item: Json) -> tuple[int, int]:
    """(text tokens, audio tokens) an item costs as input."""
    text = audio = 0
    kind = item.get("type")
    if kind == "function_call":
        text += text_tokens(str(item.get("name", "")) + str(item.get("arguments", "")))
    elif kind == "function_call_output":
        text += text_tokens(str(item.get("output", "")))
    for part in item.get("content", []) or []:
        if part.get("type") in ("input_text", "output_text", "text"):
            text += text_tokens(str(part.get("text", "")))
    seconds = float(item.get("_audio_seconds", 0.0))
    audio += math.ceil(seconds * TOKENS_PER_SECOND_IN)
    return text, audio


def usage(
    dialect: Dialect,
    prefix_tokens: list[tuple[str, int, int]],
    previous: list[tuple[str, int, int]] | None,
    out_text: int,
    out_audio: int,
) -> Json:
    """Usage of a response: the whole context is input; a shared prefix is cached.

    `prefix_tokens` lists (key, text tokens, audio tokens) per input element in
    order (instructions+tools first). The elements shared with the previous
    response's input, from the start, are cached, rounded down to CACHE_BLOCK.
    """
    in_text = sum(t for _, t, _ in prefix_tokens)
    in_audio = sum(a for _, _, a in prefix_tokens)
    shared_text = shared_audio = 0
    for index, element in enumerate(prefix_tokens):
        if previous is None or index >= len(previous) or previous[index] != element:
            break
        shared_text += element[1]
        shared_audio += element[2]
    shared = shared_text + shared_audio
    cached = (shared // CACHE_BLOCK) * CACHE_BLOCK
    cached_audio = min(shared_audio, cached)
    cached_text = cached - cached_audio
    details: Json = {
        "text_tokens": in_text,
        "audio_tokens": in_audio,
        "cached_tokens": cached,
    }
    if dialect == "ga":
        details["image_tokens"] = 0
        details["cached_tokens_details"] = {
            "text_tokens": cached_text,
            "audio_tokens": cached_audio,
            "image_tokens": 0,
        }
    total_in = in_text + in_audio
    return {
        "total_tokens": total_in + out_text + out_audio,
        "input_tokens": total_in,
        "output_tokens": out_text + out_audio,
        "input_token_details": details,
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }


def tools_tokens(instructions: str, tools: list[Json]) -> int:
    """Tokens of the stable prefix: instructions and tool definitions."""
    return text_tokens(instructions) + text_tokens(json.dumps(tools))
