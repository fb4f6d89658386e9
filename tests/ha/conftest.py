"""Fixtures for tests that run Home Assistant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

from aiohttp import ClientWebSocketResponse
from homeassistant.components.assist_pipeline.pipeline import (
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import imageio_ffmpeg
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401

from .. import leaks

AGENT = "conversation.realtime_emulator"
STT = "stt.realtime_emulator_speech_to_text"
TTS = "tts.realtime_emulator_text_to_speech"
# Waits below are on events; this bound only turns a test that would hang (the
# event never comes) into a failure that says what it waited for.
GIVE_UP_AFTER = 30.0


@pytest.fixture(autouse=True)
async def ha_core(hass: HomeAssistant, enable_custom_integrations: None) -> None:
    """The core integration (exposure settings live there) and our custom ones."""
    assert await async_setup_component(hass, "homeassistant", {})


def wheel_ffmpeg() -> str:
    """The static ffmpeg shipped in the imageio-ffmpeg wheel (requirements_test.txt).

    Not a system ffmpeg: imageio-ffmpeg falls back to one (or to $IMAGEIO_FFMPEG_EXE),
    which would hide a missing or broken wheel on a machine that has it.
    """
    binary = imageio_ffmpeg.get_ffmpeg_exe()
    wheel = Path(imageio_ffmpeg.__file__).resolve().parent / "binaries"
    assert Path(binary).resolve().parent == wheel, f"{binary} is not the wheel's"
    return binary


@pytest.fixture
async def ffmpeg(hass: HomeAssistant) -> str:
    """HA's `ffmpeg` integration with the wheel's binary; returns its path.

    Set up before tts (which depends on `ffmpeg` and would otherwise set it up with
    the default binary name, `ffmpeg` on the PATH) and assist_pipeline.
    """
    binary = wheel_ffmpeg()
    assert await async_setup_component(
        hass, "ffmpeg", {"ffmpeg": {"ffmpeg_bin": binary}}
    )
    return binary


@pytest.fixture
async def house(hass: HomeAssistant) -> AsyncIterator[None]:
    """Demo lights (Kitchen Lights, Ceiling Lights …) set up from a demo entry."""
    entry = MockConfigEntry(domain="demo")
    entry.add_to_hass(hass)
    with patch(
        "homeassistant.components.demo.COMPONENTS_WITH_CONFIG_ENTRY_DEMO_PLATFORM",
        ["light"],
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield
        await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def voice_house(
    hass: HomeAssistant,
    enable_custom_integrations: None,
    ffmpeg: str,
    config_entry: MockConfigEntry,
) -> AsyncIterator[MockConfigEntry]:
    """Demo lights, ffmpeg, assist_pipeline, and a pipeline of our STT, agent and TTS."""
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    lights_only = patch(
        "homeassistant.components.demo.COMPONENTS_WITH_CONFIG_ENTRY_DEMO_PLATFORM",
        ["light"],
    )
    # HA's TTS file cache lives in the harness's shared config dir: off, so every
    # test's TTS really reaches our engine.
    no_file_cache = patch("homeassistant.components.tts.DEFAULT_CACHE", False)
    with lights_only, no_file_cache:
        assert await hass.config_entries.async_setup(demo.entry_id)
        assert await async_setup_component(hass, "assist_pipeline", {})
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await async_update_pipeline(
            hass,
            async_get_pipeline(hass),
            conversation_engine=AGENT,
            conversation_language="en",
            language="en",
            stt_engine=STT,
            stt_language="en",
            tts_engine=TTS,
            tts_language="en",
            tts_voice="marin",
            prefer_local_intents=False,
        )
        yield config_entry
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.config_entries.async_unload(demo.entry_id)


class Wire:
    """The integration's websockets, seen from the client side.

    Records every client websocket, and wakes waiters each time one of them
    receives a frame: what the emulator did is then in its `sent`/`received`
    records (it records an event before sending it).
    """

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.sockets: list[ClientWebSocketResponse] = []
        self._changed = asyncio.Event()
        self._actions: list[tuple[Callable[[], bool], Callable[[], None]]] = []

    def received(self) -> None:
        """A frame arrived: run due actions, wake the waiters."""
        for action in list(self._actions):
            if action[0]():
                self._actions.remove(action)
                action[1]()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def when(self, condition: Callable[[], bool], action: Callable[[], None]) -> None:
        """Run `action` once, as soon as a received frame makes `condition` true."""
        self._actions.append((condition, action))

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Until `condition` holds, re-checked whenever a frame arrives."""
        try:
            async with asyncio.timeout(GIVE_UP_AFTER):
                while not condition():
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"Gave up waiting for {what}")


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """Watch every aiohttp client websocket (ours are the only ones in these tests)."""
    watch = Wire()
    init = ClientWebSocketResponse.__init__
    receive = ClientWebSocketResponse.receive

    def recording_init(
        self: ClientWebSocketResponse, *args: Any, **kwargs: Any
    ) -> None:
        init(self, *args, **kwargs)
        watch.sockets.append(self)

    async def notifying_receive(
        self: ClientWebSocketResponse, *args: Any, **kwargs: Any
    ) -> Any:
        message = await receive(self, *args, **kwargs)
        watch.received()
        return message

    monkeypatch.setattr(ClientWebSocketResponse, "__init__", recording_init)
    monkeypatch.setattr(ClientWebSocketResponse, "receive", notifying_receive)
    return watch


async def emulator_finished() -> None:
    """Until the emulator has nothing running: every connection it served is over.

    Its side of a websocket ends a little after ours is closed (it sees the close,
    then stops the session's tasks); this waits for those tasks to end.
    """
    loop = asyncio.get_running_loop()
    running = leaks.our_tasks(loop, leaks.EMULATOR)
    if running:
        await asyncio.wait(running, timeout=GIVE_UP_AFTER)
    still = leaks.our_tasks(loop, leaks.EMULATOR)
    assert not still, f"the emulator still runs:\n{leaks.describe(still, [], loop)}"
