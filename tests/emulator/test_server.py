"""The emulator's wire behaviour, seen through a raw aiohttp websocket client."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path
import subprocess
import sys

import aiohttp
import pytest

from custom_components.openai_realtime.realtime import audio
from realtime_emulator import EmulatorOptions, RealtimeEmulator, speech

from .client import KEY, Client, connect

PACKAGE = Path(__file__).resolve().parents[2] / "realtime_emulator"


async def test_http_endpoints_and_auth(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """With a key list: 401 for a wrong or missing key (key not echoed); models, health."""
    for headers in ({"Authorization": "Bearer sk-wrong-key-123"}, {}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(f"{emu.base_url}/realtime", headers=headers)
        assert err.value.status == 401
    async with http.get(
        f"{emu.base_url}/models", headers={"Authorization": "Bearer sk-wrong-key-123"}
    ) as resp:
        body = await resp.json()
        assert resp.status == 401
        assert body["error"]["code"] == "invalid_api_key"
        assert "sk-wrong-key-123" not in json.dumps(body)
    async with http.get(
        f"{emu.base_url}/models", headers={"Authorization": f"Bearer {KEY}"}
    ) as resp:
        assert "gpt-realtime-2" in [m["id"] for m in (await resp.json())["data"]]
    async with http.get(f"{emu.url}/health") as resp:
        assert (await resp.json())["status"] == "ok"
    # Browser-style auth through the subprotocol.
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime",
        protocols=("realtime", f"openai-insecure-api-key.{KEY}"),
    )
    assert (await Client(ws).next("session.created"))["session"]["type"] == "realtime"
    await ws.close()


async def test_no_key_list_accepts_any_key_even_empty(
    http: aiohttp.ClientSession,
) -> None:
    """The develop default (no key list): an empty or absent key is fine, as the
    compatible-server form promises."""
    emulator = RealtimeEmulator(EmulatorOptions())
    await emulator.start()
    try:
        for key in (None, "", "anything"):
            client = await connect(http, emulator, key=key)
            await client.ws.close()
    finally:
        await emulator.stop()


async def test_handshake_failures_5xx_and_unreachable(
    http: aiohttp.ClientSession,
) -> None:
    """`handshake_status` answers the upgrade with an HTTP error; a stopped emulator
    refuses connections (an unreachable server)."""
    emulator = RealtimeEmulator(EmulatorOptions(handshake_status=503))
    await emulator.start()
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await connect(http, emulator)
    assert err.value.status == 503
    emulator.options.handshake_status = 429
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await connect(http, emulator)
    assert err.value.status == 429
    url = emulator.base_url
    await emulator.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await http.ws_connect(f"{url}/realtime")


async def test_silent_after_handshake(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """The websocket opens but `session.created` never comes; events go unanswered."""
    emu.options.silent_after_handshake = True
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime", headers={"Authorization": f"Bearer {KEY}"}
    )
    await ws.send_str(json.dumps({"type": "response.create"}))
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=0.3)
    connection = await emu.wait_for_session()
    assert connection.sent == []
    assert [e["type"] for e in connection.received] == ["response.create"]
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


async def test_key_without_realtime_access(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A valid key in `keys_without_access` is refused with HTTP 403, or (as
    `access_denied_as` says) gets `model_not_found` first and then the socket
    closes; other keys still work."""
    emu.options.keys_without_access = {KEY}
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await connect(http, emu)
    assert err.value.status == 403
    emu.options.access_denied_as = "model_not_found"
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime?model=gpt-realtime-mini",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    error = json.loads((await ws.receive()).data)
    assert error["type"] == "error"
    assert error["error"]["code"] == "model_not_found"
    assert "gpt-realtime-mini" in error["error"]["message"]
    await ws.receive()
    assert ws.closed
    emu.options.keys_without_access = set()
    client = await connect(http, emu)
    assert client.events[0]["type"] == "session.created"
    await client.ws.close()


async def test_session_objects_like_the_real_server(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """`session.created`/`.updated` carry id, object and expires_at (both dialects)."""
    for beta in (False, True):
        client = await connect(http, emu, beta=beta)
        created = client.events[0]["session"]
        assert created["id"].startswith("sess_")
        assert created["object"] == "realtime.session"
        connection = emu.sessions[-1]
        assert created["id"] == connection.id
        await client.send(
            type="session.update",
            session={"instructions": "x"} | ({} if beta else {"type": "realtime"}),
        )
        updated = (await client.next("session.updated"))["session"]
        assert (updated["id"], updated["expires_at"]) == (
            created["id"],
            created["expires_at"],
        )
        await client.ws.close()


async def test_event_errors(http: aiohttp.ClientSession, emu: RealtimeEmulator) -> None:
    """Unknown types, bad JSON, empty commits, idle cancels, unknown items."""
    client = await connect(http, emu)
    error = await client.error(type="scooby.dooby.doo")
    assert error["param"] == "type"
    assert error["message"].startswith("Invalid value: 'scooby.dooby.doo'. Supported")
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
    await client.send(type="response.cancel", event_id="e" * 513)
    error = (await client.next("error"))["error"]
    assert (error["code"], error["param"]) == ("string_above_max_length", "event_id")
    assert not client.ws.closed  # errors never end the session


async def test_items_create_retrieve_delete(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Client ids, root insertion, retrieve and delete (beta names)."""
    client = await connect(http, emu, beta=True)
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


async def test_client_audio_item_is_heard(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A user item created with `input_audio` is heard like committed audio."""
    client = await connect(http, emu)
    await client.send(
        type="conversation.item.create",
        item={
            "type": "message",
            "role": "user",
            "content": [
                {
                    "type": "input_audio",
                    "audio": base64.b64encode(speech.encode("hello")).decode(),
                }
            ],
        },
    )
    await client.send(type="response.create", response={"output_modalities": ["text"]})
    text = await client.next("response.output_text.done")
    assert text["text"] == "Hello! How can I help with your home?"
    usage = (await client.next("response.done"))["response"]["usage"]
    assert usage["input_token_details"]["audio_tokens"] > 0


async def test_server_vad_turn_with_g711(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """μ-law speech: VAD start/stop with sane times, commit, transcript, answer."""
    client = await connect(http, emu)
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


async def test_concurrent_response_refused(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """A second in-conversation response while one runs is refused."""
    client = await connect(http, emu)
    emu.options.model_delay = 0.3
    await client.send(type="response.create")
    error = await client.error(type="response.create")
    assert error["code"] == "conversation_already_has_active_response"
    await client.next("response.done")


async def test_knobs_drop_malformed_expiry(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Malformed frame after N events, abrupt drop, and the session time limit."""
    emu.options.malformed_after_events = 1
    client = await connect(http, emu)
    await client.send(type="input_audio_buffer.clear")
    msg = await client.ws.receive()
    with pytest.raises(json.JSONDecodeError):
        json.loads(msg.data)
    emu.options.malformed_after_events = None
    emu.options.drop_after_events = 0
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime", headers={"Authorization": f"Bearer {KEY}"}
    )
    msg = await ws.receive()
    assert msg.type in (
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
        aiohttp.WSMsgType.CLOSE,
    )
    emu.options.drop_after_events = None
    emu.options.session_max_duration = 0.2
    client = await connect(http, emu)
    error = await client.next("error")
    assert error["error"]["code"] == "session_expired"
    msg = await client.ws.receive()
    assert client.ws.close_code == 1001


def test_import_leaves_home_assistant_out() -> None:
    """`import realtime_emulator` imports no `homeassistant*` module."""
    code = (
        "import sys, realtime_emulator, realtime_emulator.__main__\n"
        "print(sorted(m for m in sys.modules if m.startswith('homeassistant')))"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_layout_small_modules_and_no_cycle() -> None:
    """No module over ~400 lines; only the package's entry points import the server."""
    for path in PACKAGE.glob("*.py"):
        source = path.read_text()
        assert len(source.splitlines()) <= 410, path.name
        imported = {
            node.module
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.level == 1
        }
        if path.stem not in ("__init__", "__main__"):
            assert "server" not in imported, path.name
