"""Ephemeral keys for browsers, minted by the library against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import events as ev
from custom_components.openai_realtime.realtime.client_secrets import (
    MIN_TTL,
    client_secret_request,
    create_client_secret,
    endpoint_model,
    rest_url,
)
from custom_components.openai_realtime.realtime.endpoint import (
    azure_endpoint,
    openai_endpoint,
)
from custom_components.openai_realtime.realtime.errors import (
    AuthenticationError,
    BrowserPathUnavailableError,
    CannotConnectError,
    ServerError,
)
from realtime_emulator import EmulatorOptions, RealtimeEmulator

KEY = "sk-secrets-test"
CONFIG = ev.SessionConfig(
    instructions="You are the house.",
    voice="cedar",
    transcription_model="gpt-4o-mini-transcribe",
    turn_detection=ev.TurnDetection("server_vad", silence_duration_ms=500),
)


@pytest.fixture
async def emu() -> AsyncIterator[RealtimeEmulator]:
    emulator = RealtimeEmulator(EmulatorOptions(api_keys={KEY}))
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_key_for_the_session_and_where_to_call(
    emu: RealtimeEmulator, http: aiohttp.ClientSession
) -> None:
    """The server gets the GA session with its model; the key never shows in repr."""
    endpoint = openai_endpoint(KEY, "gpt-realtime", base_url=emu.base_url)
    secret = await create_client_secret(http, endpoint, CONFIG, ttl=60)
    assert secret.value.startswith("ek_")
    assert secret.value not in repr(secret)
    assert secret.calls_url == f"{emu.base_url}/realtime/calls"
    assert 55 <= secret.expires_at - emu.now() <= 60
    minted = emu.secrets.find(secret.value)
    assert minted is not None and minted.model == "gpt-realtime"
    assert minted.session["audio"]["output"]["voice"] == "cedar"
    assert minted.session["audio"]["input"]["turn_detection"]["type"] == "server_vad"


async def test_azure_ga_route(
    emu: RealtimeEmulator, http: aiohttp.ClientSession
) -> None:
    """Azure's GA route: /openai/v1/realtime/client_secrets, the deployment as model."""
    endpoint = azure_endpoint(emu.url, "my-deployment", KEY)
    assert endpoint_model(endpoint) == "my-deployment"
    secret = await create_client_secret(http, endpoint, CONFIG)
    assert secret.calls_url == f"{emu.url}/openai/v1/realtime/calls"
    minted = emu.secrets.find(secret.value)
    assert minted is not None and minted.model == "my-deployment"


def test_request_shape() -> None:
    """The key lives at least the API's minimum; the session carries its model."""
    body = client_secret_request(CONFIG, "gpt-realtime", ttl=1)
    assert body["expires_after"] == {"anchor": "created_at", "seconds": MIN_TTL}
    assert body["session"]["type"] == "realtime"
    assert body["session"]["model"] == "gpt-realtime"
    endpoint = openai_endpoint(KEY, "gpt-realtime")
    assert rest_url(endpoint, "calls") == "https://api.openai.com/v1/realtime/calls"


async def test_failures_are_typed(
    emu: RealtimeEmulator, http: aiohttp.ClientSession
) -> None:
    """A wrong key, a server without the endpoint, the beta protocol, a refused
    configuration and an unreachable server each raise their own error."""
    with pytest.raises(AuthenticationError):
        await create_client_secret(
            http,
            openai_endpoint("sk-wrong", "gpt-realtime", base_url=emu.base_url),
            CONFIG,
        )
    good = openai_endpoint(KEY, "gpt-realtime", base_url=emu.base_url)
    emu.options.client_secret_status = 404
    with pytest.raises(BrowserPathUnavailableError):
        await create_client_secret(http, good, CONFIG)
    emu.options.client_secret_status = None
    beta = openai_endpoint(
        KEY, "gpt-4o-realtime-preview", base_url=emu.base_url, dialect="beta"
    )
    with pytest.raises(BrowserPathUnavailableError):
        await create_client_secret(http, beta, CONFIG)
    with pytest.raises(ServerError) as refused:
        await create_client_secret(http, good, ev.SessionConfig(voice="nobody"))
    assert refused.value.param == "session.audio.output.voice"
    await emu.stop()
    with pytest.raises(CannotConnectError):
        await create_client_secret(http, good, CONFIG)


async def test_a_server_that_answers_nonsense(http: aiohttp.ClientSession) -> None:
    """Not JSON, no key in the answer, or no answer in time: typed errors."""
    from aiohttp import web

    from custom_components.openai_realtime.realtime.endpoint import Endpoint
    from custom_components.openai_realtime.realtime.errors import ProtocolError

    hang = asyncio.Event()

    async def not_json(_request: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    async def no_value(_request: web.Request) -> web.Response:
        return web.json_response({"expires_at": 1})

    async def silent(_request: web.Request) -> web.Response:
        await hang.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/a/realtime/client_secrets", not_json)
    app.router.add_post("/b/realtime/client_secrets", no_value)
    app.router.add_post("/c/realtime/client_secrets", silent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        with pytest.raises(ProtocolError):
            await create_client_secret(
                http, openai_endpoint(KEY, "m", base_url=f"{base}/a"), CONFIG
            )
        with pytest.raises(ProtocolError):
            await create_client_secret(
                http, openai_endpoint(KEY, "m", base_url=f"{base}/b"), CONFIG
            )
        with pytest.raises(CannotConnectError):
            await create_client_secret(
                http,
                openai_endpoint(KEY, "m", base_url=f"{base}/c"),
                CONFIG,
                timeout=0.2,
            )
        with pytest.raises(BrowserPathUnavailableError):
            await create_client_secret(
                http, Endpoint(f"ws://127.0.0.1:{port}/v1/realtime", {}), CONFIG
            )
    finally:
        hang.set()
        await runner.cleanup()


async def test_a_server_error_is_transient(
    emu: RealtimeEmulator, http: aiohttp.ClientSession
) -> None:
    """HTTP 5xx: CannotConnectError with its status (try again later); 429: rate
    limited."""
    from custom_components.openai_realtime.realtime.errors import RateLimitedError

    good = openai_endpoint(KEY, "gpt-realtime", base_url=emu.base_url)
    emu.options.client_secret_status = 503
    with pytest.raises(CannotConnectError) as failed:
        await create_client_secret(http, good, CONFIG)
    assert failed.value.status == 503 and failed.value.transient
    emu.options.client_secret_status = 429
    with pytest.raises(RateLimitedError):
        await create_client_secret(http, good, CONFIG)
