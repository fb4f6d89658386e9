"""The emulator's browser path: client secrets, WebRTC calls, voice and barge-in.

A Python WebRTC client (aiortc) plays the browser: it mints nothing itself, offers
SDP with an ephemeral key, speaks tone "speech" on its microphone track, records
the model's voice track and reads the events on the data channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from difflib import SequenceMatcher
from typing import Any

import aiohttp
from openai.types.realtime import ClientSecretCreateResponse
import pytest

from realtime_emulator import RealtimeEmulator, speech
from realtime_emulator.house_brain import GREETING, STORY
from tests.conformance.sdk import unknown_fields

from .client import KEY
from .webrtc_client import RealtimeCall

SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "You are the house.",
    "audio": {
        "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
        "output": {"voice": "cedar"},
    },
}


async def mint(
    http: aiohttp.ClientSession, emu: RealtimeEmulator, **body: Any
) -> dict[str, Any]:
    """A client secret for `body` (default: SESSION), minted with the API key."""
    async with http.post(
        f"{emu.base_url}/realtime/client_secrets",
        json=body or {"session": SESSION},
        headers={"Authorization": f"Bearer {KEY}"},
    ) as response:
        assert response.status == 200, await response.text()
        minted: dict[str, Any] = await response.json()
        return minted


def _sounds_like(heard: str, text: str) -> bool:
    """Whether decoded audio says `text`: on a loaded machine a late Opus frame is
    concealed, and a symbol may be lost."""
    return SequenceMatcher(None, heard, speech.normalise(text)).ratio() > 0.9


@pytest.fixture
async def call() -> AsyncIterator[RealtimeCall]:
    """A client peer connection, hung up afterwards."""
    client = RealtimeCall()
    yield client
    await client.close()


async def test_client_secret_is_the_sdk_shape_and_carries_the_session(
    emu: RealtimeEmulator, http: aiohttp.ClientSession
) -> None:
    """The response validates against the SDK's model; the session is as asked."""
    minted = await mint(
        http,
        emu,
        expires_after={"anchor": "created_at", "seconds": 60},
        session=SESSION,
    )
    parsed = ClientSecretCreateResponse.model_validate(minted)
    assert not unknown_fields(parsed)
    assert minted["value"].startswith("ek_")
    assert 55 <= minted["expires_at"] - emu.now() <= 60
    assert minted["session"]["instructions"] == "You are the house."
    assert minted["session"]["audio"]["output"]["voice"] == "cedar"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"session": {"type": "realtime", "voice": "cedar"}}, "session.voice"),
        ({"expires_after": {"seconds": 5}}, "expires_after.seconds"),
        ({"session": {"type": "transcription"}}, "session.type"),
    ],
)
async def test_bad_client_secret_requests_are_refused_in_the_server_words(
    emu: RealtimeEmulator,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    param: str,
) -> None:
    """A bad session or expiry is a 400 naming the parameter; a bad key a 401."""
    async with http.post(
        f"{emu.base_url}/realtime/client_secrets",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["param"] == param
    async with http.post(
        f"{emu.base_url}/realtime/client_secrets",
        json={"session": SESSION},
        headers={"Authorization": "Bearer sk-wrong"},
    ) as response:
        assert response.status == 401


async def test_cors_lets_a_page_of_another_origin_call(
    emu: RealtimeEmulator, http: aiohttp.ClientSession
) -> None:
    """The preflight of the SDP POST is answered; the Location header is readable."""
    async with http.options(
        f"{emu.base_url}/realtime/calls",
        headers={
            "Origin": "http://127.0.0.1:8123",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    ) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
        assert response.headers["Access-Control-Expose-Headers"] == "Location"


async def test_a_call_needs_a_live_ephemeral_key(
    emu: RealtimeEmulator, http: aiohttp.ClientSession, call: RealtimeCall
) -> None:
    """The API key itself, an unknown key and an expired secret are refused."""
    url = f"{emu.base_url}/realtime/calls"
    assert (await call.connect(http, url, KEY)).status == 401
    minted = await mint(http, emu, expires_after={"seconds": 10}, session=SESSION)
    emu.clock_offset = 11  # the secret's ten seconds are over
    response = await call.connect(http, url, minted["value"])
    assert response.status == 401
    assert not emu.calls


async def test_a_call_hears_the_microphone_and_speaks_on_the_audio_track(
    emu: RealtimeEmulator, http: aiohttp.ClientSession, call: RealtimeCall
) -> None:
    """Tone speech over Opus is heard (server VAD, transcript, answer); the answer
    comes as audio on the track, never as audio delta events; the output buffer
    starts after the answer's content part and stops after response.done."""
    minted = await mint(http, emu)
    response = await call.connect(
        http, f"{emu.base_url}/realtime/calls", minted["value"]
    )
    assert response.status == 201
    assert call.location is not None and call.location.startswith(
        "/v1/realtime/calls/rtc_"
    )
    created = await call.event("session.created")
    assert created["session"]["instructions"] == "You are the house."
    assert created["session"]["audio"]["output"]["voice"] == "cedar"

    call.mic.say(speech.encode("hello"))
    transcript = await call.event(
        "conversation.item.input_audio_transcription.completed"
    )
    assert transcript["transcript"] == "hello"
    await call.event("output_audio_buffer.stopped")
    types = call.types()
    assert "response.output_audio.delta" not in types
    # Playback starts after the content part (before or after response.done: the
    # answer may be generated faster than it plays) and stops after response.done.
    assert (
        types.index("response.content_part.added")
        < types.index("output_audio_buffer.started")
        < types.index("output_audio_buffer.stopped")
    )
    assert types.index("response.done") < types.index("output_audio_buffer.stopped")
    done = await call.event("response.done")
    assert done["response"]["usage"]["output_token_details"]["audio_tokens"] > 0
    # The track plays in real time: the last of it arrives a moment after.
    await call.wait_for(
        lambda: _sounds_like(speech.decode(bytes(call.heard)), GREETING),
        "the greeting on the audio track",
    )


async def test_talking_over_the_answer_truncates_it_where_playback_stopped(
    emu: RealtimeEmulator, http: aiohttp.ClientSession, call: RealtimeCall
) -> None:
    """Barge-in as the API intends on WebRTC: the user speaks during a long answer;
    the server clears its output buffer and truncates the item at the played
    position: the conversation keeps only what was heard."""
    minted = await mint(http, emu)
    await call.connect(http, f"{emu.base_url}/realtime/calls", minted["value"])
    call.mic.say(speech.encode("tell me a story"))
    started = await call.event("output_audio_buffer.started")
    heard_before = len(call.heard)
    await call.wait_for(
        lambda: len(call.heard) - heard_before > 2 * 24000 * 2, "2 s of the answer"
    )
    call.mic.say(speech.encode("stop"))
    cleared = await call.event("output_audio_buffer.cleared")
    assert cleared["response_id"] == started["response_id"]
    truncated = await call.event("conversation.item.truncated")
    connection = emu.sessions[-1]
    item = connection.conversation.find(truncated["item_id"])
    assert item is not None and item["role"] == "assistant"
    full_ms = len(speech.encode(STORY)) * 1000 // (2 * 24000)
    assert 2000 <= truncated["audio_end_ms"] < full_ms - 5000
    assert item["_out_audio_seconds"] == truncated["audio_end_ms"] / 1000
    # What the client heard is the start of the story, up to about the cut.
    said = speech.decode(bytes(call.heard))
    assert _sounds_like(said, STORY[: len(said)]), said
    assert len(said) < len(STORY) - 100
    assert (
        "output_audio_buffer.stopped"
        not in call.types()[call.types().index("output_audio_buffer.started") :][:1]
    )
    # The interruption is a new turn: "stop" was heard as the user's next item.
    await call.wait_for(
        lambda: any(
            e["type"] == "conversation.item.input_audio_transcription.completed"
            and e["transcript"] == "stop"
            for e in call.events
        ),
        "the interruption's transcript",
    )


async def test_hangup_ends_the_call_and_its_session(
    emu: RealtimeEmulator, http: aiohttp.ClientSession, call: RealtimeCall
) -> None:
    """POST .../hangup closes the peer connection and the session."""
    minted = await mint(http, emu)
    await call.connect(http, f"{emu.base_url}/realtime/calls", minted["value"])
    await call.event("session.created")
    assert call.location is not None
    async with http.post(
        f"{emu.url}{call.location}/hangup",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as response:
        assert response.status == 200
    assert emu.sessions[-1].closed
