"""GA rules: `session.update` and `response.create` of the `gpt-realtime` family.

Field sets follow the SDK's `openai.types.realtime` models
(`RealtimeSessionCreateRequest`, `RealtimeResponseCreateParams`). Beta-only fields
(`modalities`, `voice`, `temperature`, `output_audio_format`,
`max_response_output_tokens` …) are unknown parameters here, as on the real server.
`reasoning` and `parallel_tool_calls` belong to reasoning models (`gpt-realtime-2`);
other models answer `unsupported_parameter`.
"""

from __future__ import annotations

import copy
from typing import Any

from . import checks
from .errors import (
    Json,
    ProtocolError,
    invalid_type,
    invalid_value,
    missing_parameter,
    unknown_parameter,
    unsupported_parameter,
)
from .items import check_item
from .session_config import VOICES_GA, is_reasoning_model

SESSION_KEYS = {
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
    "reasoning",
    "parallel_tool_calls",
}
RESPONSE_KEYS = {
    "output_modalities",
    "instructions",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "conversation",
    "metadata",
    "input",
    "prompt",
    "reasoning",
    "parallel_tool_calls",
}
FORMATS = ["audio/pcm", "audio/pcmu", "audio/pcma"]
EFFORTS = ["minimal", "low", "medium", "high", "xhigh"]
INCLUDE = ["item.input_audio_transcription.logprobs"]
CANNOT_UPDATE_VOICE = (
    "Cannot update a conversation's voice if assistant audio is present."
)


def _modalities(value: Any, path: str) -> None:
    if value not in (["audio"], ["text"]):
        raise invalid_value(
            path, value, why="Supported combinations are: ['audio'] and ['text']."
        )


def _format(value: Any, path: str) -> None:
    fmt = checks.obj(value, path, {"type", "rate"})
    kind = checks.enum(checks.required(fmt, "type", path), f"{path}.type", FORMATS)
    if "rate" in fmt:
        if kind != "audio/pcm":
            raise unknown_parameter(f"{path}.rate")
        if fmt["rate"] != 24000:
            raise invalid_value(f"{path}.rate", fmt["rate"], ["24000"])


def voice(value: Any, path: str) -> None:
    """A built-in voice name, or a custom voice `{"id": "voice_…"}`."""
    if isinstance(value, dict):
        custom = checks.obj(value, path, {"id"})
        voice_id = checks.string(checks.required(custom, "id", path), f"{path}.id")
        if not voice_id.startswith("voice_"):
            raise invalid_value(
                f"{path}.id", voice_id, why="Custom voice ids start with 'voice_'."
            )
        return
    if not isinstance(value, str):
        raise invalid_type(path, "a string or an object", value)
    checks.enum(value, path, VOICES_GA)


def _reasoning_fields(update: Json, path: str, model: str) -> None:
    for key in ("reasoning", "parallel_tool_calls"):
        if key in update and not is_reasoning_model(model):
            raise unsupported_parameter(f"{path}.{key}")
    if "reasoning" in update:
        reasoning = checks.obj(update["reasoning"], f"{path}.reasoning", {"effort"})
        if reasoning.get("effort") is not None:
            checks.enum(reasoning["effort"], f"{path}.reasoning.effort", EFFORTS)
    if "parallel_tool_calls" in update:
        checks.boolean(update["parallel_tool_calls"], f"{path}.parallel_tool_calls")


def _truncation(value: Any, path: str) -> None:
    if isinstance(value, str):
        checks.enum(value, path, ["auto", "disabled"])
        return
    config = checks.obj(value, path, {"type", "retention_ratio", "token_limits"})
    checks.enum(
        checks.required(config, "type", path), f"{path}.type", ["retention_ratio"]
    )
    checks.number(
        checks.required(config, "retention_ratio", path),
        f"{path}.retention_ratio",
        0,
        1,
    )
    if config.get("token_limits") is not None:
        limits = checks.obj(
            config["token_limits"], f"{path}.token_limits", {"post_instructions"}
        )
        if limits.get("post_instructions") is not None:
            checks.integer(
                limits["post_instructions"],
                f"{path}.token_limits.post_instructions",
                0,
                None,
            )


def _include(value: Any, path: str) -> None:
    if value is None:
        return
    for index, entry in enumerate(checks.array(value, path)):
        checks.enum(entry, f"{path}[{index}]", INCLUDE)


def _shared(params: Json, path: str, model: str) -> None:
    """Rules `session.update` and `response.create` have in common."""
    if "output_modalities" in params:
        _modalities(params["output_modalities"], f"{path}.output_modalities")
    if "instructions" in params:
        checks.string(params["instructions"], f"{path}.instructions")
    if "tools" in params:
        checks.tools(params["tools"], f"{path}.tools", allow_mcp=True)
    if "tool_choice" in params:
        checks.tool_choice(params["tool_choice"], f"{path}.tool_choice", "ga")
    if "max_output_tokens" in params:
        checks.max_tokens(params["max_output_tokens"], f"{path}.max_output_tokens")
    if "prompt" in params:
        checks.prompt(params["prompt"], f"{path}.prompt")
    _reasoning_fields(params, path, model)


def session_update(update: Any, current: Json, audio_started: bool, model: str) -> Json:
    """The effective configuration after `update`, or ProtocolError (nothing changes)."""
    path = "session"
    if not isinstance(update, dict):
        raise (
            missing_parameter(path)
            if update is None
            else invalid_type(path, "an object", update)
        )
    if "type" not in update:
        raise missing_parameter("session.type")
    if update["type"] == "transcription":
        raise ProtocolError(
            "Passing a transcription session update event to a realtime session "
            "is not allowed.",
            "invalid_value",
            "session.type",
        )
    checks.enum(update["type"], "session.type", ["realtime", "transcription"])
    checks.obj(update, path, SESSION_KEYS)
    if "model" in update and update["model"] != current["model"]:
        raise invalid_value(
            "session.model", update["model"], why="A session's model cannot be changed."
        )
    _shared(update, path, model)
    if "tracing" in update:
        checks.tracing(update["tracing"], "session.tracing")
    if "truncation" in update:
        _truncation(update["truncation"], "session.truncation")
    if "include" in update:
        _include(update["include"], "session.include")
    audio = checks.obj(update.get("audio", {}), "session.audio", {"input", "output"})
    audio_in = checks.obj(
        audio.get("input", {}),
        "session.audio.input",
        {"format", "transcription", "noise_reduction", "turn_detection"},
    )
    audio_out = checks.obj(
        audio.get("output", {}), "session.audio.output", {"format", "voice", "speed"}
    )
    where = "session.audio.input"
    if "format" in audio_in:
        _format(audio_in["format"], f"{where}.format")
    if "transcription" in audio_in:
        checks.transcription(audio_in["transcription"], f"{where}.transcription", "ga")
    if "noise_reduction" in audio_in:
        checks.noise_reduction(
            audio_in["noise_reduction"], f"{where}.noise_reduction", "ga"
        )
    if "turn_detection" in audio_in:
        checks.turn_detection(
            audio_in["turn_detection"], f"{where}.turn_detection", "ga"
        )
    if "format" in audio_out:
        _format(audio_out["format"], "session.audio.output.format")
    if "voice" in audio_out:
        voice(audio_out["voice"], "session.audio.output.voice")
        if audio_started and audio_out["voice"] != current["audio"]["output"]["voice"]:
            raise ProtocolError(
                CANNOT_UPDATE_VOICE, "cannot_update_voice", "session.audio.output.voice"
            )
    if "speed" in audio_out:
        checks.number(audio_out["speed"], "session.audio.output.speed", 0.25, 1.5)
    merged = copy.deepcopy(current)
    for key, value in update.items():
        if key != "audio":
            merged[key] = copy.deepcopy(value)
    merged["audio"]["input"].update(copy.deepcopy(audio_in))
    merged["audio"]["output"].update(copy.deepcopy(audio_out))
    return merged


def response_create(params: Json, model: str) -> None:
    """Check `response.create`'s `response` object (ProtocolError if bad)."""
    path = "response"
    checks.obj(params, path, RESPONSE_KEYS)
    _shared(params, path, model)
    if "conversation" in params:
        checks.conversation(params["conversation"], "response.conversation")
    if "metadata" in params:
        checks.metadata(params["metadata"], "response.metadata")
    if "audio" in params:
        audio = checks.obj(params["audio"], "response.audio", {"output"})
        out = checks.obj(
            audio.get("output", {}), "response.audio.output", {"format", "voice"}
        )
        if "format" in out:
            _format(out["format"], "response.audio.output.format")
        if "voice" in out:
            voice(out["voice"], "response.audio.output.voice")
    if "input" in params:
        for index, item in enumerate(checks.array(params["input"], "response.input")):
            check_item(item, f"response.input[{index}]", "ga", reference=True)
