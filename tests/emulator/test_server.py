"""The emulator's wire behaviour, seen through a raw aiohttp websocket client."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import audio
from realtime_emulator import EmulatorOptions, RealtimeEmulator, speech

KEY = "sk-server-test"


class Client:
    """A bare websocket client speaking raw JSON events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, **event: Any) -> None:
        await self.ws.send_str(json.dumps(event))

    async def next(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"socket ended: {msg}")
                event = json.loads(msg.data)
                self.events.append(event)
                if event["type"] == kind:
                    return event

    async def error(self, **event: Any) -> dict[str, Any]:
        await self.send(event_id="evt_1", **event)
        reply = await self.next("error")
        assert reply["error"]["event_id"] == "evt_1"
        return reply["error"]


@pytest.fixture
async def emu() -> Any:
    emulator = RealtimeEmulator(EmulatorOptions(api_keys={KEY}))
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


async def _connect(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, beta: bool = False
) -> Client:
    headers = {"Authorization": f"Bearer {KEY}"}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    model = "gpt-4o-realtime-preview" if beta else "gpt-realtime"
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime?model={model}", headers=headers
    )
    client = Client(ws)
    created = await client.next("session.created")
    assert created["session"]["model"] == model
    if beta:
        await client.next("conversation.created")
    return client


async def test_http_endpoints_and_auth(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """401 without a good key (key not echoed), 429 knob, models list, health."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(
            f"{emu.base_url}/realtime",
            headers={"Authorization": "Bearer sk-wrong-key-123"},
        )
    assert err.value.status == 401
    async with http.get(
        f"{emu.base_url}/models", headers={"Authorization": "Bearer nope"}
    ) as resp:
        body = await resp.text()
        assert resp.status == 401
        assert "sk-wrong-key-123" not in body
    async with http.get(
        f"{emu.base_url}/models", headers={"Authorization": f"Bearer {KEY}"}
    ) as resp:
        assert "gpt-realtime" in [m["id"] for m in (await resp.json())["data"]]
    async with http.get(f"{emu.url}/health") as resp:
        assert (await resp.json())["status"] == "ok"
    emu.options.handshake_status = 429
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await _connect(http, emu)
    assert err.value.status == 429
    emu.options.handshake_status = None
    # Browser-style auth through the subprotocol.
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime",
        protocols=("realtime", f"openai-insecure-api-key.{KEY}"),
    )
    assert (await Client(ws).next("session.created"))["session"]["type"] == "realtime"
    await ws.close()


async def test_beta_disabled_like_openai(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A beta handshake gets beta_api_shape_disabled, then close code 4000."""
    emu.options.beta_disabled = True
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime",
        headers={"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1"},
    )
    error = json.loads((await ws.receive()).data)
    assert error["error"]["code"] == "beta_api_shape_disabled"
    await ws.receive()
    assert ws.close_code == 4000


async def test_session_update_validation(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Bad updates are rejected whole with the param named; good ones echo config."""
    client = await _connect(http, emu)
    error = await client.error(type="session.update", session={"instructions": "x"})
    assert (error["code"], error["param"]) == (
        "missing_required_parameter",
        "session.type",
    )
    error = await client.error(
        type="session.update", session={"type": "realtime", "temperature": 0.7}
    )
    assert (error["code"], error["param"]) == (
        "unknown_parameter",
        "session.temperature",
    )
    error = await client.error(
        type="session.update",
        session={
            "type": "realtime",
            "instructions": "new",
            "audio": {"output": {"voice": "nobody"}},
        },
    )
    assert error["param"] == "session.audio.output.voice"
    tool = {
        "type": "function",
        "name": "t",
        "description": "d" * 1025,
        "parameters": {},
    }
    error = await client.error(
        type="session.update", session={"type": "realtime", "tools": [tool]}
    )
    assert error["code"] == "string_above_max_length"
    assert emu.sessions[0].config["instructions"] != "new"  # rejected whole
    await client.send(
        type="session.update", session={"type": "realtime", "instructions": "new"}
    )
    updated = await client.next("session.updated")
    assert updated["session"]["instructions"] == "new"
    assert updated["session"]["audio"]["output"]["voice"] == "marin"


async def test_event_errors(http: aiohttp.ClientSession, emu: RealtimeEmulator) -> None:
    """Unknown types, bad JSON, empty commits, idle cancels, unknown items."""
    client = await _connect(http, emu)
    assert (await client.error(type="scooby.dooby.doo"))["param"] == "type"
    await client.ws.send_str("{not json")
    assert (await client.next("error"))["error"]["code"] == "invalid_json"
    assert (await client.error(type="input_audio_buffer.commit"))[
        "code"
    ] == "input_audio_buffer_commit_empty"
    assert (await client.error(type="response.cancel"))[
        "code"
    ] == "response_cancel_not_active"
    error = await client.error(
        type="conversation.item.truncate",
        item_id="item_x",
        content_index=0,
        audio_end_ms=5,
    )
    assert error["code"] == "item_truncate_invalid_item_id"
    assert (await client.error(type="conversation.item.delete", item_id="item_x"))[
        "param"
    ] == "item_id"
    error = await client.error(
        type="conversation.item.create",
        item={"type": "function_call_output", "call_id": "nope", "output": "{}"},
    )
    assert error["param"] == "item.call_id"
    error = await client.error(type="input_audio_buffer.append", audio="!!!")
    assert error["code"] == "invalid_value"
    assert not client.ws.closed  # errors never end the session


async def test_items_create_retrieve_delete(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Client ids, root insertion, retrieve and delete (beta names)."""
    client = await _connect(http, emu, beta=True)
    await client.send(
        type="conversation.item.create",
        item={
            "id": "item_a",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "a"}],
        },
    )
    created = await client.next("conversation.item.created")
    assert created["item"]["id"] == "item_a"
    await client.send(
        type="conversation.item.create",
        previous_item_id="root",
        item={
            "id": "item_b",
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "b"}],
        },
    )
    assert (await client.next("conversation.item.created"))["previous_item_id"] is None
    assert [i["id"] for i in emu.sessions[0].items] == ["item_b", "item_a"]
    await client.send(type="conversation.item.retrieve", item_id="item_a")
    assert (await client.next("conversation.item.retrieved"))["item"]["content"][0][
        "text"
    ] == "a"
    await client.send(type="conversation.item.delete", item_id="item_a")
    await client.next("conversation.item.deleted")
    assert [i["id"] for i in emu.sessions[0].items] == ["item_b"]


async def test_server_vad_turn_with_g711(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """μ-law speech: VAD start/stop with sane times, commit, transcript, answer."""
    client = await _connect(http, emu)
    await client.send(
        type="session.update",
        session={
            "type": "realtime",
            "output_modalities": ["text"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                    "turn_detection": {
                        "type": "server_vad",
                        "silence_duration_ms": 300,
                        "prefix_padding_ms": 200,
                    },
                }
            },
        },
    )
    await client.next("session.updated")
    silence = b"\x00\x00" * (8000 // 2)  # 500 ms at 8 kHz
    spoken = speech.encode("hello", rate=8000)
    ulaw = audio.ulaw_encode(silence + spoken + silence)
    for start in range(0, len(ulaw), 800):  # 100 ms appends
        await client.send(
            type="input_audio_buffer.append",
            audio=base64.b64encode(ulaw[start : start + 800]).decode(),
        )
    started = await client.next("input_audio_buffer.speech_started")
    stopped = await client.next("input_audio_buffer.speech_stopped")
    speech_ms = audio.duration_ms(len(spoken), 8000)
    assert 250 <= started["audio_start_ms"] <= 320  # 500 ms in, minus 200 ms padding
    assert 500 + speech_ms + 250 <= stopped["audio_end_ms"] <= 500 + speech_ms + 330
    committed = await client.next("input_audio_buffer.committed")
    assert committed["item_id"] == started["item_id"] == stopped["item_id"]
    done = await client.next("conversation.item.input_audio_transcription.completed")
    assert done["transcript"] == "hello"
    text = await client.next("response.output_text.done")
    assert text["text"] == "Hello! How can I help with your home?"
    usage = (await client.next("response.done"))["response"]["usage"]
    assert usage["input_token_details"]["audio_tokens"] > 0


async def test_cached_prefix_and_concurrent_response(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """The second response reuses the first's prefix (cached); overlap is refused."""
    client = await _connect(http, emu)
    await client.send(
        type="session.update", session={"type": "realtime", "instructions": "x" * 2000}
    )
    await client.next("session.updated")
    for text in ("hello", "hello again"):
        await client.send(
            type="conversation.item.create",
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        )
        await client.send(
            type="response.create", response={"output_modalities": ["text"]}
        )
        done = await client.next("response.done")
    details = done["response"]["usage"]["input_token_details"]
    assert details["cached_tokens"] > 0
    assert details["cached_tokens"] % 64 == 0
    emu.options.model_delay = 0.3
    await client.send(type="response.create")
    assert (await client.error(type="response.create"))[
        "code"
    ] == "conversation_already_has_active_response"


async def test_knobs_drop_malformed_expiry(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Malformed frame after N events, abrupt drop, and the session time limit."""
    emu.options.malformed_after_events = 1
    client = await _connect(http, emu)
    await client.send(type="input_audio_buffer.clear")
    msg = await client.ws.receive()
    with pytest.raises(json.JSONDecodeError):
        json.loads(msg.data)
    emu.options.malformed_after_events = None
    emu.options.drop_after_events = 0
    client = await _connect_raw(http, emu)
    msg = await client.ws.receive()
    assert msg.type in (
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
        aiohttp.WSMsgType.CLOSE,
    )
    emu.options.drop_after_events = None
    emu.options.session_max_duration = 0.2
    client = await _connect(http, emu)
    error = await client.next("error")
    assert error["error"]["code"] == "session_expired"
    msg = await client.ws.receive()
    assert client.ws.close_code == 1001


async def _connect_raw(http: aiohttp.ClientSession, emu: RealtimeEmulator) -> Client:
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime", headers={"Authorization": f"Bearer {KEY}"}
    )
    return Client(ws)
