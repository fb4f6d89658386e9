"""A bare websocket client speaking raw JSON events to the emulator."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp

from realtime_emulator import RealtimeEmulator

from ..conftest import API_KEY as KEY


class Client:
    """Sends events as keyword arguments; reads until an event of a kind arrives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, **event: Any) -> None:
        await self.ws.send_str(json.dumps(event))

    async def next(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        """The next event of this kind (earlier ones are kept in `events`)."""
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
        """Send an event that must be rejected; return the error object."""
        await self.send(event_id="evt_1", **event)
        reply = await self.next("error")
        assert reply["error"]["event_id"] == "evt_1"
        assert reply["error"]["type"] == "invalid_request_error"
        return reply["error"]

    async def say_text(self, text: str, **response: Any) -> dict[str, Any]:
        """A typed user turn and a response to it; returns `response.done`."""
        await self.send(
            type="conversation.item.create",
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        )
        await self.send(type="response.create", response=response)
        return await self.next("response.done")

    def types(self) -> list[str]:
        """Types of the events read so far, in order."""
        return [event["type"] for event in self.events]

    async def append(self, pcm: bytes, chunk: int = 4800) -> None:
        """Append PCM16 audio in chunks."""
        for start in range(0, len(pcm), chunk):
            await self.send(
                type="input_audio_buffer.append",
                audio=base64.b64encode(pcm[start : start + chunk]).decode(),
            )


async def connect(
    http: aiohttp.ClientSession,
    emu: RealtimeEmulator,
    beta: bool = False,
    model: str | None = None,
    key: str | None = KEY,
) -> Client:
    """Open a realtime websocket and read the greeting."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    model = model or ("gpt-4o-realtime-preview" if beta else "gpt-realtime")
    ws = await http.ws_connect(
        f"{emu.base_url}/realtime?model={model}", headers=headers
    )
    client = Client(ws)
    created = await client.next("session.created")
    assert created["session"]["model"] == model
    if beta:
        await client.next("conversation.created")
    return client
