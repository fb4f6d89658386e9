"""Home Assistant set up the way every bench needs it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from homeassistant.setup import async_setup_component
import imageio_ffmpeg

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant


async def async_setup_ffmpeg(hass: HomeAssistant) -> None:
    """HA's `ffmpeg` with the wheel's binary (no system ffmpeg needed): HA 2026.2
    and older convert TTS audio through it whenever a satellite names a rate.
    Set up before `tts`, which would set it up with `ffmpeg` from the PATH."""
    assert await async_setup_component(
        hass, "ffmpeg", {"ffmpeg": {"ffmpeg_bin": imageio_ffmpeg.get_ffmpeg_exe()}}
    )


def as_in_production() -> None:
    """The event loop and logs as a Home Assistant install runs them.

    The test harness turns on asyncio's debug mode (pytest-homeassistant-custom-
    component 0.13.375, used with HA 2026.11, reaches the test's loop; 0.13.316,
    used with 2026.2, does not). In debug mode every future records its stack, which
    cost a voice turn ~10 ms and made 2026.11 look slower than 2026.2. Production
    HA does not run in debug mode. Logs: only errors, so the table stands alone.
    """
    asyncio.get_running_loop().set_debug(False)
    logging.getLogger().setLevel(logging.ERROR)
