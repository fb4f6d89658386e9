"""The emulator's deterministic speech, and the scripted brain."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from custom_components.openai_realtime.realtime import audio
from realtime_emulator import speech
from realtime_emulator.brain import CallTool, Rule, Say, ScriptedBrain, TurnContext

TEXT = "Turn on the kitchen lights, please! 42% at 7:30?"
HEARD = speech.normalise(TEXT)
ASSIST_TOOLS = [
    {"type": "function", "name": name, "description": "", "parameters": {}}
    for name in (
        "HassTurnOn",
        "HassTurnOff",
        "HassLightSet",
        "HassClimateSetTemperature",
        "GetLiveContext",
    )
]


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype=np.int16)


def test_round_trip_and_pace() -> None:
    """Text survives encoding; about 25 characters a second, like speech."""
    pcm = speech.encode(TEXT)
    assert speech.decode(pcm) == HEARD
    seconds = audio.duration_ms(len(pcm)) / 1000
    assert 20 <= len(HEARD) / seconds <= 30
    assert speech.normalise("Ünïcode ÄÖ") == "ncode "
    assert speech.encode("") == b""


@pytest.mark.parametrize("rate", audio.SUPPORTED_RATES)
def test_survives_resampling(rate: int) -> None:
    """Decodes at any supported rate, and after a round trip through it."""
    there = audio.array_to_pcm16(
        audio.resample(_samples(speech.encode(TEXT)), 24000, rate)
    )
    assert speech.decode(there, rate) == HEARD
    back = audio.array_to_pcm16(audio.resample(_samples(there), rate, 24000))
    assert speech.decode(back) == HEARD
    assert speech.decode(speech.encode(TEXT, rate=rate), rate) == HEARD


def test_survives_g711_gain_noise_and_edges() -> None:
    """μ-law, quiet and clipped gain, 20 dB SNR noise, silence, cut edges."""
    pcm = speech.encode(TEXT)
    x = _samples(pcm).astype(np.float64)
    assert speech.decode(audio.ulaw_decode(audio.ulaw_encode(pcm))) == HEARD
    for gain in (0.1, 3.0):
        assert speech.decode(audio.array_to_pcm16(x * gain)) == HEARD
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(len(x)) * np.sqrt(np.mean(x**2)) / 10
    assert speech.decode(audio.array_to_pcm16(x + noise)) == HEARD
    padded = b"\x00\x00" * 7000 + pcm + b"\x00\x00" * 9000
    assert speech.decode(padded) == HEARD
    cut = pcm[2 * 120 : len(pcm) - 2 * 960]  # 5 ms into the first symbol, last cut
    assert speech.decode(cut).startswith("turn on the kitchen")
    assert speech.decode(b"\x00\x00" * 24000) == ""
    assert speech.decode(b"") == ""
    assert speech.decode(b"\x01") == ""


def _ctx(
    *items: dict[str, Any], tools: list[dict[str, Any]] | None = None
) -> TurnContext:
    return TurnContext(list(items), ASSIST_TOOLS if tools is None else tools, "")


def _user(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def _call(name: str, args: dict[str, Any], call_id: str = "c1") -> dict[str, Any]:
    return {
        "type": "function_call",
        "name": name,
        "arguments": json.dumps(args),
        "call_id": call_id,
    }


def _output(result: Any, call_id: str = "c1") -> dict[str, Any]:
    return {
        "type": "function_call_output",
        "call_id": call_id,
        "output": json.dumps(result),
    }


def test_scripted_brain() -> None:
    """Rules call tools (raw strings stay raw), then answer after the results."""
    rule = Rule(
        "lights on",
        call=[("HassTurnOn", {"name": "x"}), ("Broken", "{oops")],
        say="On it.",
        then_say=lambda r: f"{len(r)} done",
    )
    brain = ScriptedBrain([rule, Rule("hi", say="Hey.")])
    first = brain.respond(_ctx(_user("Lights on!")))
    assert first == [
        Say("On it."),
        CallTool("HassTurnOn", '{"name": "x"}'),
        CallTool("Broken", "{oops"),
    ]
    after = brain.respond(
        _ctx(_user("lights on"), _call("HassTurnOn", {}), _output({}))
    )
    assert after == [Say("1 done")]
    assert brain.respond(_ctx(_user("hi"))) == [Say("Hey.")]
    assert brain.respond(_ctx(_user("hello"))) == [
        Say("Hello! How can I help with your home?")
    ]
    assert brain.fired == [rule, rule, brain.rules[1]]
