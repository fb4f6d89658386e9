"""Strict per-dialect validation, one case per rule: the error a real server sends.

Every rejected event gets an `error` of type `invalid_request_error` naming the
`param` and echoing the client's `event_id` (Client.error checks both); the session
stays as it was. Accepted events get their normal answer.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from realtime_emulator import RealtimeEmulator

from .client import Client, connect

TOOL = {"type": "function", "name": "t", "description": "d", "parameters": {}}
VAD = {"type": "server_vad"}


def _td(**fields: Any) -> dict[str, Any]:
    return {"type": "realtime", "audio": {"input": {"turn_detection": fields}}}


def _out(**fields: Any) -> dict[str, Any]:
    return {"type": "realtime", "audio": {"output": fields}}


# (session update, code, param)
GA_SESSION_RULES = {
    "type missing": (
        {"instructions": "x"},
        "missing_required_parameter",
        "session.type",
    ),
    "type transcription": ({"type": "transcription"}, "invalid_value", "session.type"),
    "type unknown": ({"type": "bogus"}, "invalid_value", "session.type"),
    "beta temperature": (
        {"type": "realtime", "temperature": 0.7},
        "unknown_parameter",
        "session.temperature",
    ),
    "beta modalities": (
        {"type": "realtime", "modalities": ["text"]},
        "unknown_parameter",
        "session.modalities",
    ),
    "beta voice": (
        {"type": "realtime", "voice": "alloy"},
        "unknown_parameter",
        "session.voice",
    ),
    "beta max_response_output_tokens": (
        {"type": "realtime", "max_response_output_tokens": 5},
        "unknown_parameter",
        "session.max_response_output_tokens",
    ),
    "read-only id": (
        {"type": "realtime", "id": "sess_x"},
        "unknown_parameter",
        "session.id",
    ),
    "model change": (
        {"type": "realtime", "model": "gpt-realtime-mini"},
        "invalid_value",
        "session.model",
    ),
    "instructions type": (
        {"type": "realtime", "instructions": 42},
        "invalid_type",
        "session.instructions",
    ),
    "both modalities": (
        {"type": "realtime", "output_modalities": ["audio", "text"]},
        "invalid_value",
        "session.output_modalities",
    ),
    "max_output_tokens 0": (
        {"type": "realtime", "max_output_tokens": 0},
        "integer_below_min_value",
        "session.max_output_tokens",
    ),
    "max_output_tokens 4097": (
        {"type": "realtime", "max_output_tokens": 4097},
        "integer_above_max_value",
        "session.max_output_tokens",
    ),
    "max_output_tokens text": (
        {"type": "realtime", "max_output_tokens": "lots"},
        "invalid_type",
        "session.max_output_tokens",
    ),
    "tool_choice bogus": (
        {"type": "realtime", "tool_choice": "bogus"},
        "invalid_value",
        "session.tool_choice",
    ),
    "tool_choice function without name": (
        {"type": "realtime", "tool_choice": {"type": "function"}},
        "missing_required_parameter",
        "session.tool_choice.name",
    ),
    "tool description over 1024": (
        {"type": "realtime", "tools": [TOOL | {"description": "d" * 1025}]},
        "string_above_max_length",
        "session.tools[0].description",
    ),
    "tool without name": (
        {"type": "realtime", "tools": [{"type": "function", "parameters": {}}]},
        "missing_required_parameter",
        "session.tools[0].name",
    ),
    "tool unknown field": (
        {"type": "realtime", "tools": [TOOL | {"meta": 1}]},
        "unknown_parameter",
        "session.tools[0].meta",
    ),
    "tool names unique": (
        {"type": "realtime", "tools": [TOOL, TOOL]},
        "invalid_value",
        "session.tools[1].name",
    ),
    "tool type": (
        {"type": "realtime", "tools": [TOOL | {"type": "web_search"}]},
        "invalid_value",
        "session.tools[0].type",
    ),
    "turn_detection type missing": (
        _td(threshold=0.5),
        "missing_required_parameter",
        "session.audio.input.turn_detection.type",
    ),
    "threshold over 1": (
        _td(**VAD, threshold=1.5),
        "decimal_above_max_value",
        "session.audio.input.turn_detection.threshold",
    ),
    "idle_timeout_ms under 5000": (
        _td(**VAD, idle_timeout_ms=1000),
        "integer_below_min_value",
        "session.audio.input.turn_detection.idle_timeout_ms",
    ),
    "idle_timeout_ms over 30000": (
        _td(**VAD, idle_timeout_ms=40000),
        "integer_above_max_value",
        "session.audio.input.turn_detection.idle_timeout_ms",
    ),
    "silence negative": (
        _td(**VAD, silence_duration_ms=-1),
        "integer_below_min_value",
        "session.audio.input.turn_detection.silence_duration_ms",
    ),
    "silence not an integer": (
        _td(**VAD, silence_duration_ms=0.5),
        "invalid_type",
        "session.audio.input.turn_detection.silence_duration_ms",
    ),
    "create_response not a boolean": (
        _td(**VAD, create_response="yes"),
        "invalid_type",
        "session.audio.input.turn_detection.create_response",
    ),
    "eagerness on server_vad": (
        _td(**VAD, eagerness="low"),
        "unknown_parameter",
        "session.audio.input.turn_detection.eagerness",
    ),
    "threshold on semantic_vad": (
        _td(type="semantic_vad", threshold=0.5),
        "unknown_parameter",
        "session.audio.input.turn_detection.threshold",
    ),
    "eagerness bogus": (
        _td(type="semantic_vad", eagerness="eager"),
        "invalid_value",
        "session.audio.input.turn_detection.eagerness",
    ),
    "unknown voice": (
        _out(voice="nobody"),
        "invalid_value",
        "session.audio.output.voice",
    ),
    "custom voice id type": (
        _out(voice={"id": 3}),
        "invalid_type",
        "session.audio.output.voice.id",
    ),
    "custom voice id prefix": (
        _out(voice={"id": "abc"}),
        "invalid_value",
        "session.audio.output.voice.id",
    ),
    "custom voice unknown field": (
        _out(voice={"id": "voice_1", "name": "x"}),
        "unknown_parameter",
        "session.audio.output.voice.name",
    ),
    "speed over 1.5": (
        _out(speed=2.0),
        "decimal_above_max_value",
        "session.audio.output.speed",
    ),
    "pcm rate": (
        {
            "type": "realtime",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
        },
        "invalid_value",
        "session.audio.input.format.rate",
    ),
    "format type": (
        _out(format={"type": "audio/mp3"}),
        "invalid_value",
        "session.audio.output.format.type",
    ),
    "transcription model type": (
        {"type": "realtime", "audio": {"input": {"transcription": {"model": 3}}}},
        "invalid_type",
        "session.audio.input.transcription.model",
    ),
    "transcription unknown field": (
        {"type": "realtime", "audio": {"input": {"transcription": {"speed": 1}}}},
        "unknown_parameter",
        "session.audio.input.transcription.speed",
    ),
    "noise reduction type": (
        {
            "type": "realtime",
            "audio": {"input": {"noise_reduction": {"type": "studio"}}},
        },
        "invalid_value",
        "session.audio.input.noise_reduction.type",
    ),
    "reasoning on gpt-realtime": (
        {"type": "realtime", "reasoning": {"effort": "low"}},
        "unsupported_parameter",
        "session.reasoning",
    ),
    "parallel_tool_calls on gpt-realtime": (
        {"type": "realtime", "parallel_tool_calls": True},
        "unsupported_parameter",
        "session.parallel_tool_calls",
    ),
    "truncation ratio over 1": (
        {
            "type": "realtime",
            "truncation": {"type": "retention_ratio", "retention_ratio": 2},
        },
        "decimal_above_max_value",
        "session.truncation.retention_ratio",
    ),
    "truncation mode": (
        {"type": "realtime", "truncation": "sometimes"},
        "invalid_value",
        "session.truncation",
    ),
    "include entry": (
        {"type": "realtime", "include": ["everything"]},
        "invalid_value",
        "session.include[0]",
    ),
    "tracing mode": (
        {"type": "realtime", "tracing": "manual"},
        "invalid_value",
        "session.tracing",
    ),
    "prompt without id": (
        {"type": "realtime", "prompt": {"version": "1"}},
        "missing_required_parameter",
        "session.prompt.id",
    ),
}
# gpt-realtime-2 only: (update, code, param)
GA_REASONING_SESSION_RULES = {
    "reasoning effort": (
        {"type": "realtime", "reasoning": {"effort": "extreme"}},
        "invalid_value",
        "session.reasoning.effort",
    ),
    "reasoning unknown field": (
        {"type": "realtime", "reasoning": {"summary": "auto"}},
        "unknown_parameter",
        "session.reasoning.summary",
    ),
    "parallel_tool_calls type": (
        {"type": "realtime", "parallel_tool_calls": "yes"},
        "invalid_type",
        "session.parallel_tool_calls",
    ),
}
# (response params, code, param)
GA_RESPONSE_RULES = {
    "beta modalities": (
        {"modalities": ["text"]},
        "unknown_parameter",
        "response.modalities",
    ),
    "beta temperature": (
        {"temperature": 0.8},
        "unknown_parameter",
        "response.temperature",
    ),
    "beta voice": ({"voice": "alloy"}, "unknown_parameter", "response.voice"),
    "beta output_audio_format": (
        {"output_audio_format": "pcm16"},
        "unknown_parameter",
        "response.output_audio_format",
    ),
    "beta max_response_output_tokens": (
        {"max_response_output_tokens": 100},
        "unknown_parameter",
        "response.max_response_output_tokens",
    ),
    "tool_choice bogus": (
        {"tool_choice": "bogus"},
        "invalid_value",
        "response.tool_choice",
    ),
    "tool_choice mcp without label": (
        {"tool_choice": {"type": "mcp"}},
        "missing_required_parameter",
        "response.tool_choice.server_label",
    ),
    "max_output_tokens 0": (
        {"max_output_tokens": 0},
        "integer_below_min_value",
        "response.max_output_tokens",
    ),
    "max_output_tokens 4097": (
        {"max_output_tokens": 4097},
        "integer_above_max_value",
        "response.max_output_tokens",
    ),
    "max_output_tokens infinite": (
        {"max_output_tokens": "infinite"},
        "invalid_type",
        "response.max_output_tokens",
    ),
    "conversation": (
        {"conversation": "other"},
        "invalid_value",
        "response.conversation",
    ),
    "metadata pairs": (
        {"metadata": {f"k{i}": "v" for i in range(17)}},
        "object_above_max_properties",
        "response.metadata",
    ),
    "metadata value length": (
        {"metadata": {"k": "v" * 513}},
        "string_above_max_length",
        "response.metadata.k",
    ),
    "metadata value type": (
        {"metadata": {"k": 1}},
        "invalid_type",
        "response.metadata.k",
    ),
    "voice": (
        {"audio": {"output": {"voice": "nobody"}}},
        "invalid_value",
        "response.audio.output.voice",
    ),
    "audio input": (
        {"audio": {"input": {}}},
        "unknown_parameter",
        "response.audio.input",
    ),
    "both modalities": (
        {"output_modalities": ["audio", "text"]},
        "invalid_value",
        "response.output_modalities",
    ),
    "input item type": (
        {"input": [{"type": "note"}]},
        "invalid_value",
        "response.input[0].type",
    ),
    "input reference without id": (
        {"input": [{"type": "item_reference"}]},
        "missing_required_parameter",
        "response.input[0].id",
    ),
    "input beta text part": (
        {
            "input": [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "text", "text": "x"}],
                }
            ]
        },
        "invalid_value",
        "response.input[0].content[0].type",
    ),
    "reasoning on gpt-realtime": (
        {"reasoning": {"effort": "low"}},
        "unsupported_parameter",
        "response.reasoning",
    ),
    "not an object": ([], "invalid_type", "response"),
}
BETA_SESSION_RULES = {
    "GA type": ({"type": "realtime"}, "unknown_parameter", "session.type"),
    "GA output_modalities": (
        {"output_modalities": ["text"]},
        "unknown_parameter",
        "session.output_modalities",
    ),
    "GA audio": ({"audio": {}}, "unknown_parameter", "session.audio"),
    "GA max_output_tokens": (
        {"max_output_tokens": 5},
        "unknown_parameter",
        "session.max_output_tokens",
    ),
    "GA reasoning": ({"reasoning": {}}, "unknown_parameter", "session.reasoning"),
    "temperature under 0.6": (
        {"temperature": 0.5},
        "decimal_below_min_value",
        "session.temperature",
    ),
    "temperature over 1.2": (
        {"temperature": 1.3},
        "decimal_above_max_value",
        "session.temperature",
    ),
    "GA-only voice": ({"voice": "marin"}, "invalid_value", "session.voice"),
    "audio-only modalities": (
        {"modalities": ["audio"]},
        "invalid_value",
        "session.modalities",
    ),
    "audio format": (
        {"input_audio_format": "mp3"},
        "invalid_value",
        "session.input_audio_format",
    ),
    "idle_timeout_ms": (
        {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000}},
        "unknown_parameter",
        "session.turn_detection.idle_timeout_ms",
    ),
    "max_response_output_tokens 0": (
        {"max_response_output_tokens": 0},
        "integer_below_min_value",
        "session.max_response_output_tokens",
    ),
    "speed under 0.25": ({"speed": 0.1}, "decimal_below_min_value", "session.speed"),
    "tool_choice bogus": (
        {"tool_choice": "bogus"},
        "invalid_value",
        "session.tool_choice",
    ),
}
BETA_RESPONSE_RULES = {
    "GA output_modalities": (
        {"output_modalities": ["text"]},
        "unknown_parameter",
        "response.output_modalities",
    ),
    "GA audio": ({"audio": {}}, "unknown_parameter", "response.audio"),
    "max_output_tokens (SDK: max_response_output_tokens)": (
        {"max_output_tokens": 5},
        "unknown_parameter",
        "response.max_output_tokens",
    ),
    "temperature over 1.2": (
        {"temperature": 1.5},
        "decimal_above_max_value",
        "response.temperature",
    ),
    "GA-only voice": ({"voice": "marin"}, "invalid_value", "response.voice"),
    "tool_choice bogus": (
        {"tool_choice": "bogus"},
        "invalid_value",
        "response.tool_choice",
    ),
    "max_response_output_tokens 5000": (
        {"max_response_output_tokens": 5000},
        "integer_above_max_value",
        "response.max_response_output_tokens",
    ),
}
ITEM_RULES = {
    "unknown field": (
        {"type": "message", "role": "user", "content": [], "name": "x"},
        "unknown_parameter",
        "item.name",
    ),
    "GA assistant text part": (
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "x"}],
        },
        "invalid_value",
        "item.content[0].type",
    ),
    "user output part": (
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "output_text", "text": "x"}],
        },
        "invalid_value",
        "item.content[0].type",
    ),
    "message without content": (
        {"type": "message", "role": "user"},
        "missing_required_parameter",
        "item.content",
    ),
    "role": (
        {"type": "message", "role": "robot", "content": []},
        "invalid_value",
        "item.role",
    ),
    "function call without arguments": (
        {"type": "function_call", "name": "f"},
        "missing_required_parameter",
        "item.arguments",
    ),
    "item type": ({"type": "note"}, "invalid_value", "item.type"),
}


async def _rejects(client: Client, code: str, param: str, **event: Any) -> None:
    error = await client.error(**event)
    assert (error["code"], error["param"]) == (code, param), error["message"]


def _cases(rules: dict[str, tuple[Any, str, str]]) -> Any:
    return pytest.mark.parametrize(
        ("params", "code", "param"), list(rules.values()), ids=list(rules)
    )


@_cases(GA_SESSION_RULES)
async def test_ga_session_update_rule(
    http: aiohttp.ClientSession,
    emu: RealtimeEmulator,
    params: Any,
    code: str,
    param: str,
) -> None:
    """A bad GA `session.update` is rejected whole, nothing changes."""
    client = await connect(http, emu)
    before = dict(emu.sessions[0].config)
    await _rejects(client, code, param, type="session.update", session=params)
    assert emu.sessions[0].config == before


@_cases(GA_REASONING_SESSION_RULES)
async def test_ga_reasoning_session_rule(
    http: aiohttp.ClientSession,
    emu: RealtimeEmulator,
    params: Any,
    code: str,
    param: str,
) -> None:
    """`reasoning` / `parallel_tool_calls` shapes on a reasoning model."""
    client = await connect(http, emu, model="gpt-realtime-2")
    await _rejects(client, code, param, type="session.update", session=params)


@_cases(GA_RESPONSE_RULES)
async def test_ga_response_create_rule(
    http: aiohttp.ClientSession,
    emu: RealtimeEmulator,
    params: Any,
    code: str,
    param: str,
) -> None:
    """A bad GA `response.create` starts no response."""
    client = await connect(http, emu)
    await _rejects(client, code, param, type="response.create", response=params)
    assert not emu.sessions[0].responder.responses


@_cases(BETA_SESSION_RULES)
async def test_beta_session_update_rule(
    http: aiohttp.ClientSession,
    emu: RealtimeEmulator,
    params: Any,
    code: str,
    param: str,
) -> None:
    """A bad beta `session.update` is rejected whole."""
    client = await connect(http, emu, beta=True)
    await _rejects(client, code, param, type="session.update", session=params)


@_cases(BETA_RESPONSE_RULES)
async def test_beta_response_create_rule(
    http: aiohttp.ClientSession,
    emu: RealtimeEmulator,
    params: Any,
    code: str,
    param: str,
) -> None:
    """A bad beta `response.create` starts no response."""
    client = await connect(http, emu, beta=True)
    await _rejects(client, code, param, type="response.create", response=params)


@_cases(ITEM_RULES)
async def test_item_create_rule(
    http: aiohttp.ClientSession,
    emu: RealtimeEmulator,
    params: Any,
    code: str,
    param: str,
) -> None:
    """A bad GA `conversation.item.create` adds nothing."""
    client = await connect(http, emu)
    await _rejects(client, code, param, type="conversation.item.create", item=params)
    assert emu.sessions[0].items == []


async def test_error_wording_like_the_real_server(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Messages read as the real server's do."""
    client = await connect(http, emu)
    messages = [
        (await client.error(type="session.update", session=params))["message"]
        for params in (
            {"instructions": "x"},
            {"type": "realtime", "temperature": 1},
            {"type": "realtime", "tool_choice": "bogus"},
            {"type": "realtime", "max_output_tokens": 0},
            {"type": "realtime", "instructions": 1},
        )
    ]
    assert messages == [
        "Missing required parameter: 'session.type'.",
        "Unknown parameter: 'session.temperature'.",
        "Invalid value: 'bogus'. Supported values are: 'none', 'auto', and 'required'.",
        (
            "Invalid 'session.max_output_tokens': integer below minimum value. "
            "Expected a value >= 1, but got 0 instead."
        ),
        (
            "Invalid type for 'session.instructions': expected a string, but got an "
            "integer instead."
        ),
    ]


async def test_ga_accepts_what_the_sdk_types_have(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """gpt-realtime-2's reasoning and parallel tool calls, a custom voice, MCP tools,
    idle timeout, the forced function, retention truncation."""
    client = await connect(http, emu, model="gpt-realtime-2")
    session = {
        "type": "realtime",
        "reasoning": {"effort": "low"},
        "parallel_tool_calls": False,
        "tools": [
            TOOL,
            {"type": "mcp", "server_label": "docs", "server_url": "https://x.invalid"},
        ],
        "tool_choice": {"type": "function", "name": "t"},
        "max_output_tokens": 4096,
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
        "include": ["item.input_audio_transcription.logprobs"],
        "audio": {
            "input": {
                "turn_detection": VAD | {"idle_timeout_ms": 5000, "threshold": 1},
                "noise_reduction": {"type": "far_field"},
            },
            "output": {"voice": {"id": "voice_custom123"}, "speed": 0.25},
        },
    }
    await client.send(type="session.update", session=session)
    updated = (await client.next("session.updated"))["session"]
    assert updated["reasoning"] == {"effort": "low"}
    assert updated["audio"]["output"]["voice"] == {"id": "voice_custom123"}
    await client.send(
        type="response.create",
        response={
            "reasoning": {"effort": "minimal"},
            "parallel_tool_calls": True,
            "output_modalities": ["text"],
            "max_output_tokens": "inf",
            "audio": {"output": {"voice": {"id": "voice_custom123"}}},
            "metadata": {"k": "v" * 512},
            "conversation": "none",
            "input": [],
        },
    )
    done = await client.next("response.done")
    assert done["response"]["status"] == "completed"


async def test_beta_accepts_both_function_choice_forms(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Beta takes `{type, name}` and the Chat-Completions `{type, function: {name}}`."""
    client = await connect(http, emu, beta=True)
    for choice in (
        {"type": "function", "name": "t"},
        {"type": "function", "function": {"name": "t"}},
    ):
        await client.send(
            type="session.update",
            session={"tools": [TOOL], "tool_choice": choice, "temperature": 0.6},
        )
        assert (await client.next("session.updated"))["session"][
            "tool_choice"
        ] == choice


async def test_voice_is_fixed_once_audio_was_produced(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """After assistant audio, changing the voice is refused; the same voice is fine."""
    client = await connect(http, emu)
    await client.say_text("hello")
    error = await client.error(type="session.update", session=_out(voice="cedar"))
    assert (error["code"], error["param"]) == (
        "cannot_update_voice",
        "session.audio.output.voice",
    )
    await client.send(type="session.update", session=_out(voice="marin"))
    await client.next("session.updated")
