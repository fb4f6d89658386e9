"""Reconnecting: jittered backoff delays, and retrying only what may succeed."""

from __future__ import annotations

import asyncio
import random
import socket

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime.backoff import (
    backoff_delays,
    retry_connect,
)
from custom_components.openai_realtime.realtime.endpoint import openai_endpoint
from custom_components.openai_realtime.realtime.errors import (
    AuthenticationError,
    CannotConnectError,
)
from custom_components.openai_realtime.realtime.session import RealtimeSession
from realtime_emulator import EmulatorOptions, RealtimeEmulator

KEY = "sk-backoff"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_delays_are_jittered_bounded_and_grow() -> None:
    """Full jitter below a ceiling that doubles up to the cap."""
    delays = backoff_delays(base=0.5, cap=4.0, rng=random.Random(1))
    first = [next(delays) for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(0 <= d <= c for d, c in zip(first, ceilings, strict=True))
    assert len(set(first)) == len(first)  # jittered, not lockstep
    samples = [next(backoff_delays(base=0.5, rng=random.Random(n))) for n in range(50)]
    assert max(samples) <= 0.5


async def test_retries_until_the_server_comes_up(
    http: aiohttp.ClientSession,
) -> None:
    """Refused connections are transient: the server that starts soon is reached."""
    port = _free_port()
    emulator = RealtimeEmulator(EmulatorOptions(api_keys={KEY}))
    endpoint = openai_endpoint(
        KEY, "gpt-realtime", base_url=f"http://127.0.0.1:{port}/v1"
    )
    attempts = 0

    async def connect() -> RealtimeSession:
        nonlocal attempts
        attempts += 1
        return await RealtimeSession.connect(http, endpoint, timeout=2)

    async def start_later() -> None:
        await asyncio.sleep(0.3)
        await emulator.start("127.0.0.1", port)

    starter = asyncio.create_task(start_later())
    try:
        session = await retry_connect(connect, delays=iter([0.1] * 50))
        await session.close()
        assert attempts > 1
    finally:
        await starter
        await emulator.stop()


async def test_permanent_failures_are_not_retried(
    http: aiohttp.ClientSession,
) -> None:
    """A wrong key or a wrong path fails at once; a dead server within the budget."""
    emulator = RealtimeEmulator(EmulatorOptions(api_keys={KEY}))
    await emulator.start()
    attempts = 0

    async def connect(key: str, base_url: str) -> RealtimeSession:
        nonlocal attempts
        attempts += 1
        endpoint = openai_endpoint(key, "gpt-realtime", base_url=base_url)
        return await RealtimeSession.connect(http, endpoint, timeout=2)

    try:
        with pytest.raises(AuthenticationError):
            await retry_connect(lambda: connect("sk-wrong", emulator.base_url))
        assert attempts == 1
        attempts = 0
        with pytest.raises(CannotConnectError) as not_found:  # 404: no /v1 in the URL
            await retry_connect(lambda: connect(KEY, emulator.base_url[:-3]))
        assert not not_found.value.transient
        assert attempts == 1
    finally:
        await emulator.stop()

    attempts = 0
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(CannotConnectError) as refused:
        await retry_connect(
            lambda: connect(KEY, dead), budget=0.5, delays=iter([0.2] * 50)
        )
    assert refused.value.transient
    assert 2 <= attempts <= 3


async def test_a_slow_failure_is_not_tried_again_past_the_budget(
    http: aiohttp.ClientSession,
) -> None:
    """A server that accepts the websocket but never starts a session: one attempt
    takes the whole timeout, so a second would end past the budget and is not made."""
    from custom_components.openai_realtime.realtime.errors import (
        SessionNotStartedError,
    )

    emulator = RealtimeEmulator(
        EmulatorOptions(api_keys={KEY}, silent_after_handshake=True)
    )
    await emulator.start()
    endpoint = openai_endpoint(KEY, "gpt-realtime", base_url=emulator.base_url)
    try:
        with pytest.raises(SessionNotStartedError):
            await retry_connect(
                lambda: RealtimeSession.connect(http, endpoint, timeout=0.3),
                budget=0.5,
                delays=iter([0.01] * 50),
            )
        assert len(emulator.sessions) == 1
    finally:
        await emulator.stop()
