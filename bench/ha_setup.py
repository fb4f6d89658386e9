"""Home Assistant set up the way every bench needs it."""

from __future__ import annotations

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
