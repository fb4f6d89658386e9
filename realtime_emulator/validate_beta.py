"""Beta rules (`OpenAI-Beta: realtime=v1`): `session.update` and `response.create`.

Field sets follow the SDK's `openai.types.beta.realtime` models. GA-only fields
(`type`, `output_modalities`, `audio`, `max_output_tokens`, `reasoning` …) are
unknown parameters here. Where the reference and the SDK disagree the SDK wins:
beta `response.create` caps tokens with `max_response_output_tokens` (the spec
example's `max_output_tokens` is not in the SDK model; reference §11.3).
"""

from __future__ import annotations

import copy
from typing import Any

from . import checks
from .errors import Json, ProtocolError, invalid_type, invalid_value, missing_parameter
from .items import check_item
from .session_config import VOICES_BETA

SESSION_KEYS = {
    "model",
    "modalities",
    "instructions",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
    "tools",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
    "speed",
    "tracing",
    "client_secret",
}
RESPONSE_KEYS = {
    "conversation",
    "input",
    "instructions",
    "max_response_output_tokens",
    "metadata",
    "modalities",
    "output_audio_format",
    "temperature",
    "tool_choice",
    "tools",
    "voice",
}
FORMATS = ["pcm16", "g711_ulaw", "g711_alaw"]
TEMPERATURE = (0.6, 1.2)
CANNOT_UPDATE_VOICE = (
    "Cannot update a conversation's voice if assistant audio is present."
)


def _modalities(value: Any, path: str) -> None:
    names = sorted(value) if isinstance(value, list) else None
    if names not in (["text"], ["audio", "text"]):
        raise invalid_value(
            path,
            value,
            why="Supported combinations are: ['text'] and ['audio', 'text'].",
        )


def _shared(params: Json, path: str) -> None:
    """Rules `session.update` and `response.create` have in common."""
    if "modalities" in params:
        _modalities(params["modalities"], f"{path}.modalities")
    if "instructions" in params:
        checks.string(params["instructions"], f"{path}.instructions")
    if "voice" in params:
        checks.enum(params["voice"], f"{path}.voice", VOICES_BETA)
    if "output_audio_format" in params:
        checks.enum(
            params["output_audio_format"], f"{path}.output_audio_format", FORMATS
        )
    if "tools" in params:
        checks.tools(params["tools"], f"{path}.tools", allow_mcp=False)
    if "tool_choice" in params:
        checks.tool_choice(params["tool_choice"], f"{path}.tool_choice", "beta")
    if "temperature" in params:
        checks.number(params["temperature"], f"{path}.temperature", *TEMPERATURE)
    if "max_response_output_tokens" in params:
        checks.max_tokens(
            params["max_response_output_tokens"], f"{path}.max_response_output_tokens"
        )


def _client_secret(value: Any, path: str) -> None:
    secret = checks.obj(value, path, {"expires_after"})
    if secret.get("expires_after") is not None:
        where = f"{path}.expires_after"
        after = checks.obj(secret["expires_after"], where, {"anchor", "seconds"})
        checks.enum(
            checks.required(after, "anchor", where), f"{where}.anchor", ["created_at"]
        )
        if "seconds" in after:
            checks.integer(after["seconds"], f"{where}.seconds", 10, 7200)


def session_update(update: Any, current: Json, audio_started: bool, model: str) -> Json:
    """The effective configuration after `update`, or ProtocolError (nothing changes)."""
    del model  # beta rules do not depend on the model
    path = "session"
    if not isinstance(update, dict):
        raise (
            missing_parameter(path)
            if update is None
            else invalid_type(path, "an object", update)
        )
    checks.obj(update, path, SESSION_KEYS)
    _shared(update, path)
    if "model" in update and update["model"] != current["model"]:
        raise invalid_value(
            "session.model", update["model"], why="A session's model cannot be changed."
        )
    if "voice" in update and audio_started and update["voice"] != current["voice"]:
        raise ProtocolError(CANNOT_UPDATE_VOICE, "cannot_update_voice", "session.voice")
    if "input_audio_format" in update:
        checks.enum(update["input_audio_format"], "session.input_audio_format", FORMATS)
    if "input_audio_transcription" in update:
        checks.transcription(
            update["input_audio_transcription"],
            "session.input_audio_transcription",
            "beta",
        )
    if "input_audio_noise_reduction" in update:
        checks.noise_reduction(
            update["input_audio_noise_reduction"],
            "session.input_audio_noise_reduction",
            "beta",
        )
    if "turn_detection" in update:
        checks.turn_detection(
            update["turn_detection"], "session.turn_detection", "beta"
        )
        if update["turn_detection"] is not None:
            update = update | {
                "turn_detection": {"type": "server_vad"} | update["turn_detection"]
            }
    if "speed" in update:
        checks.number(update["speed"], "session.speed", 0.25, 1.5)
    if "tracing" in update:
        checks.tracing(update["tracing"], "session.tracing")
    if "client_secret" in update:
        _client_secret(update["client_secret"], "session.client_secret")
    merged = copy.deepcopy(current)
    merged.update(
        {k: copy.deepcopy(v) for k, v in update.items() if k != "client_secret"}
    )
    return merged


def response_create(params: Json, model: str) -> None:
    """Check `response.create`'s `response` object (ProtocolError if bad)."""
    del model
    path = "response"
    checks.obj(params, path, RESPONSE_KEYS)
    _shared(params, path)
    if "conversation" in params:
        checks.conversation(params["conversation"], "response.conversation")
    if "metadata" in params:
        checks.metadata(params["metadata"], "response.metadata")
    if "input" in params:
        for index, item in enumerate(checks.array(params["input"], "response.input")):
            check_item(item, f"response.input[{index}]", "beta", reference=True)
