"""The knobs for behaviours of the real server a client must cope with (options.py)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from realtime_emulator import EmulatorOptions, RealtimeEmulator, speech

from .client import Client, connect

ASSIST_TOOLS = [
    {"type": "function", "name": name, "description": "", "parameters": {}}
    for name in ("HassTurnOn", "HassTurnOff", "GetLiveContext")
]


async def _with_tools(client: Client, beta: bool = False) -> None:
    session: dict[str, Any] = {"tools": ASSIST_TOOLS}
    if not beta:
        session["type"] = "realtime"
    await client.send(type="session.update", session=session)
    await client.next("session.updated")


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


async def test_defer_response_created_lone_done_on_early_cancel(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A response cancelled before its first output ends with `response.done` only;
    one that is not cancelled still gets `response.created` before its output."""
    emu.options.defer_response_created = True
    emu.options.model_delay = 0.3
    client = await connect(http, emu)
    await client.send(type="response.create")
    await client.send(type="response.cancel")
    done = await client.next("response.done")
    assert done["response"]["status"] == "cancelled"
    assert "response.created" not in client.types()
    emu.options.model_delay = 0.0
    done = await client.say_text("hello", output_modalities=["text"])
    types = client.types()
    created = types.index("response.created")
    assert created < types.index("response.output_text.delta")
    assert client.events[created]["response"]["id"] == done["response"]["id"]


async def test_transcript_after_first_output(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """The input transcript arrives after the answer's first audio delta, although
    transcription is faster than the model."""
    emu.options.transcript_after_output = True
    emu.options.model_delay = 0.2
    client = await connect(http, emu)
    await client.send(
        type="session.update",
        session={
            "type": "realtime",
            "audio": {
                "input": {
                    "turn_detection": None,
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                }
            },
        },
    )
    await client.next("session.updated")
    await client.append(speech.encode("hello"))
    await client.send(type="input_audio_buffer.commit")
    await client.send(type="response.create")
    completed = await client.next(
        "conversation.item.input_audio_transcription.completed"
    )
    assert completed["transcript"] == "hello"
    types = client.types()
    first_audio = types.index("response.output_audio.delta")
    assert first_audio < types.index(
        "conversation.item.input_audio_transcription.delta"
    )
    await client.next("response.done")


async def test_transcript_before_output_by_default(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Without the knob the faster transcription comes first."""
    emu.options.model_delay = 0.2
    client = await connect(http, emu)
    await client.send(
        type="session.update",
        session={
            "type": "realtime",
            "audio": {
                "input": {
                    "turn_detection": None,
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                }
            },
        },
    )
    await client.next("session.updated")
    await client.append(speech.encode("hello"))
    await client.send(type="input_audio_buffer.commit")
    await client.send(type="response.create")
    await client.next("response.done")
    types = client.types()
    assert types.index("conversation.item.input_audio_transcription.completed") < (
        types.index("response.output_audio.delta")
    )


async def test_spoken_preamble_before_tool_call(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """One response: a spoken message (audio + transcript), then the function call."""
    emu.options.tool_preamble = "One moment."
    client = await connect(http, emu)
    await _with_tools(client)
    done = (await client.say_text("turn on the kitchen lights"))["response"]
    message, call = done["output"]
    assert message["type"] == "message"
    assert message["content"][0]["type"] == "output_audio"
    assert message["content"][0]["transcript"] == "One moment."
    assert (call["type"], call["name"]) == ("function_call", "HassTurnOn")
    deltas = _of(client.events, "response.output_audio.delta")
    assert {d["output_index"] for d in deltas} == {0}
    assert {d["response_id"] for d in deltas} == {done["id"]}
    assert (
        _of(client.events, "response.function_call_arguments.done")[0]["output_index"]
        == 1
    )
    assert done["usage"]["output_token_details"]["audio_tokens"] > 0


async def test_two_tool_calls_in_one_response(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """ "A and B": two function calls in one response, then one answer for both."""
    client = await connect(http, emu, beta=True)
    await _with_tools(client, beta=True)
    done = await client.say_text(
        "turn off the kitchen lights and the porch light", modalities=["text"]
    )
    calls = done["response"]["output"]
    assert [(c["name"], c["arguments"]) for c in calls] == [
        ("HassTurnOff", '{"name": "kitchen lights"}'),
        ("HassTurnOff", '{"name": "porch light"}'),
    ]
    for call in calls:
        await client.send(
            type="conversation.item.create",
            item={
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": '{"response_type": "action_done"}',
            },
        )
    await client.send(type="response.create", response={"modalities": ["text"]})
    text = await client.next("response.text.done")
    assert text["text"] == "Turned off the kitchen lights and the porch light."


async def test_error_mid_response_does_not_end_it(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """An `error` after the first delta; the response then completes normally."""
    emu.options.mid_response_error = "server_error"
    client = await connect(http, emu)
    done = await client.say_text("hello", output_modalities=["text"])
    types = client.types()
    error = types.index("error")
    assert (
        types.index("response.output_text.delta")
        < error
        < types.index("response.output_text.done")
    )
    assert client.events[error]["error"]["type"] == "server_error"
    assert done["response"]["status"] == "completed"
    assert done["response"]["output"][0]["content"][0]["text"] == (
        "Hello! How can I help with your home?"
    )


async def test_previous_item_id_on_assistant_items(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Assistant items name their predecessor in added and done (GA) and created
    (beta)."""
    client = await connect(http, emu)
    await client.say_text("hello", output_modalities=["text"])
    user, assistant = emu.sessions[-1].items
    for kind in ("conversation.item.added", "conversation.item.done"):
        announced = [
            e for e in _of(client.events, kind) if e["item"]["id"] == assistant["id"]
        ]
        assert [e["previous_item_id"] for e in announced] == [user["id"]]
    client = await connect(http, emu, beta=True)
    await client.say_text("hello", modalities=["text"])
    user, assistant = emu.sessions[-1].items
    created = _of(client.events, "conversation.item.created")
    assert [(e["item"]["id"], e["previous_item_id"]) for e in created] == [
        (user["id"], None),
        (assistant["id"], user["id"]),
    ]


async def test_rate_limits_position(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Per the traces: GA after `response.done`, beta after `response.created`;
    the knob moves it or turns it off."""

    async def order(beta: bool) -> list[str]:
        client = await connect(http, emu, beta=beta)
        await client.say_text("hello", **({"modalities": ["text"]} if beta else {}))
        if "rate_limits.updated" not in client.types():
            await client.send(type="input_audio_buffer.clear")  # flush what follows
            await client.next("input_audio_buffer.cleared")
        wanted = {"response.created", "response.done", "rate_limits.updated"}
        return [t for t in client.types() if t in wanted]

    assert await order(beta=False) == [
        "response.created",
        "response.done",
        "rate_limits.updated",
    ]
    assert await order(beta=True) == [
        "response.created",
        "rate_limits.updated",
        "response.done",
    ]
    emu.options.rate_limits = "after_created"
    assert (await order(beta=False))[1] == "rate_limits.updated"
    emu.options.rate_limits = "off"
    assert "rate_limits.updated" not in await order(beta=False)


async def test_knobs_read_live_even_when_replaced(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """An open connection sees knobs changed, or a new options object, at once."""
    client = await connect(http, emu)
    emu.options = EmulatorOptions(api_keys=emu.options.api_keys, rate_limits="off")
    emu.options.mid_response_error = "server_error"
    await client.say_text("hello", output_modalities=["text"])
    await client.send(type="input_audio_buffer.clear")  # read what follows done
    await client.next("input_audio_buffer.cleared")
    assert "error" in client.types()
    assert "rate_limits.updated" not in client.types()


@pytest.mark.parametrize("code", ["rate_limit_exceeded", "insufficient_quota"])
async def test_failed_responses(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, code: str
) -> None:
    """`fail_responses`: a response ends at once, failed, with the error's code."""
    emu.options.fail_responses = code
    client = await connect(http, emu)
    done = await client.say_text("hello", output_modalities=["text"])
    assert done["response"]["status"] == "failed"
    error = done["response"]["status_details"]["error"]
    assert error["code"] == code and error["message"]
    assert done["response"]["output"] == []
