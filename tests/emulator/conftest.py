"""Fixtures of the emulator's own tests.

Every server event an emulator sent during a test must also validate against the
official SDK's models (tests/conformance/sdk.py): whatever a test provokes, knobs
included, stays on the real wire shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from realtime_emulator import EmulatorOptions, RealtimeEmulator
from tests.conformance.sdk import server_problems

from .client import KEY


def wire_problems(emulator: RealtimeEmulator) -> list[str]:
    """SDK problems with every server event of every connection."""
    return [
        problem
        for connection in emulator.sessions
        for problem in server_problems(connection.dialect, connection.sent)
    ]


@pytest.fixture
async def emu() -> AsyncIterator[RealtimeEmulator]:
    """An emulator accepting KEY only; its events are SDK-checked afterwards."""
    emulator = RealtimeEmulator(EmulatorOptions(api_keys={KEY}))
    await emulator.start()
    yield emulator
    await emulator.stop()
    problems = wire_problems(emulator)
    assert not problems, "\n".join(problems[:20])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session
