"""A test Assist satellite: a real `assist_satellite` entity in the test house.

It behaves like a speaker satellite (ESPHome's, say) as far as Home Assistant can
tell: it plays what HA gives it (announcements, questions, answers) by fetching the
TTS audio, and when it listens it streams what the user "says" (the emulator's tone
speech) into `async_accept_pipeline_from_satellite`, so every pipeline run is HA's
own, with the satellite's conversation id, device and extra system prompt. Like an
ESPHome satellite it listens again when an answer asks to continue the
conversation. What it played is kept as text (decoded speech).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import io
import time
from typing import Any
import wave

from homeassistant.components import assist_satellite, tts
from homeassistant.components.assist_pipeline import PipelineEvent, PipelineEventType
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

from realtime_emulator import speech

from .pipeline import chunks

DOMAIN = "test"
SATELLITE = "assist_satellite.kitchen"
_FEATURES = (
    assist_satellite.AssistSatelliteEntityFeature.ANNOUNCE
    | assist_satellite.AssistSatelliteEntityFeature.START_CONVERSATION
)


class KitchenSatellite(assist_satellite.AssistSatelliteEntity):
    """A speaker satellite driven by the test: `replies` is what the user says."""

    _attr_name = "Kitchen"
    _attr_unique_id = "kitchen-satellite"
    _attr_supported_features = _FEATURES

    def __init__(self) -> None:
        """Nothing said, nothing played yet; asks TTS for WAV (decodable here)."""
        self._attr_tts_options = {tts.ATTR_PREFERRED_FORMAT: "wav"}
        self.replies: list[str] = []  # what the user says, each time it listens
        self.played: list[str] = []  # everything it played, decoded
        self.runs: list[list[PipelineEvent]] = []  # events of each pipeline run
        self._events: list[PipelineEvent] = []
        self.clock = PlaybackClock()
        self._idle = asyncio.Event()
        self._idle.set()

    # --- what HA asks of a satellite ---------------------------------------------------

    def async_get_configuration(self) -> assist_satellite.AssistSatelliteConfiguration:
        """No wake words: the test decides when it listens."""
        return assist_satellite.AssistSatelliteConfiguration(
            available_wake_words=[], active_wake_words=[], max_active_wake_words=0
        )

    async def async_set_configuration(
        self, config: assist_satellite.AssistSatelliteConfiguration
    ) -> None:
        """Nothing to configure."""

    def on_pipeline_event(self, event: PipelineEvent) -> None:
        """Keep the run's events."""
        self._events.append(event)

    async def async_announce(
        self, announcement: assist_satellite.AssistSatelliteAnnouncement
    ) -> None:
        """Play the announcement to its end."""
        await self._play_announcement(announcement)

    async def async_start_conversation(
        self, start_announcement: assist_satellite.AssistSatelliteAnnouncement
    ) -> None:
        """Play the question, then listen for the answer (as Voice PE does)."""
        await self._play_announcement(start_announcement)
        await self.listen()

    # --- the satellite's own behaviour -------------------------------------------------

    async def listen(self) -> None:
        """Stream the next reply into a pipeline run; play the answer; listen again
        while the answer asks to continue and the user has more to say."""
        self._idle.clear()
        try:
            while self.replies:
                audio = spoken(self.replies.pop(0))
                self._events = []
                await self.async_accept_pipeline_from_satellite(chunks(audio, 640))
                self.runs.append(self._events)
                await self._play_answer(self._events)
                self.tts_response_finished()
                if not continues(self._events):
                    break
        finally:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Until the satellite has stopped listening."""
        await self._idle.wait()

    async def _play_announcement(
        self, announcement: assist_satellite.AssistSatelliteAnnouncement
    ) -> None:
        assert announcement.tts_token is not None, announcement
        await self._play(announcement.tts_token)

    async def _play_answer(self, events: list[PipelineEvent]) -> None:
        if not any(e.type is PipelineEventType.TTS_END for e in events):
            return
        start = next(e for e in events if e.type is PipelineEventType.RUN_START)
        assert start.data is not None
        await self._play(start.data["tts_output"]["token"])

    async def _play(self, token: str) -> None:
        """Fetch the TTS audio and "play" it: at 1x it takes its duration."""
        text, seconds = await tts_speech(self.hass, token)
        self.played.append(text)
        self.clock.played += seconds


class PlaybackClock:
    """`time.monotonic` plus the time the satellite has spent playing.

    The test satellite plays at once; a real one plays at 1x, and a user who
    speaks after an answer ended has heard all of it. Our barge-in check reads
    this clock, so it sees the answers as played to their end.
    """

    def __init__(self) -> None:
        """Nothing played yet."""
        self.played = 0.0

    def monotonic(self) -> float:
        """Now, as the satellite's user lives it."""
        return time.monotonic() + self.played


def spoken(text: str) -> bytes:
    """What the user says, in the emulator's speech, with trailing silence."""
    return speech.encode(text, rate=16000) + b"\x00\x00" * 3200


def continues(events: list[PipelineEvent]) -> bool:
    """Whether the run's answer asked to continue the conversation (HA 2025.5+)."""
    for event in events:
        if event.type is PipelineEventType.INTENT_END and event.data:
            return bool(event.data["intent_output"].get("continue_conversation"))
    return False


async def tts_speech(hass: HomeAssistant, token: str) -> tuple[str, float]:
    """The TTS result behind `token`, decoded with the emulator's speech decoder,
    and its duration in seconds."""
    stream = tts.async_get_stream(hass, token)
    assert stream is not None, token
    data = b"".join([chunk async for chunk in stream.async_stream_result()])
    with wave.open(io.BytesIO(_sized_wav(data))) as wav:
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / rate
    return speech.decode(frames, rate=rate), seconds


def _sized_wav(data: bytes) -> bytes:
    """Our streamed WAV has 'unknown' sizes; set them so `wave` can read it."""
    body = len(data) - 44
    return (
        data[:4]
        + (36 + body).to_bytes(4, "little")
        + data[8:40]
        + body.to_bytes(4, "little")
        + data[44:]
    )


async def async_add_satellite(hass: HomeAssistant) -> AsyncIterator[KitchenSatellite]:
    """Set up `assist_satellite` and a test integration with one satellite.

    Yields the satellite; unloads the test integration afterwards.
    """
    await hass.config.async_update(internal_url="http://127.0.0.1:8123")
    satellite = KitchenSatellite()

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(
            entry, [assist_satellite.DOMAIN]
        )
        return True

    async def unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        return await hass.config_entries.async_unload_platforms(
            entry, [assist_satellite.DOMAIN]
        )

    async def setup_platform(
        hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback
    ) -> None:
        add([satellite])

    # A custom integration: HA 2026.11 wants None from a built-in one's
    # async_setup_entry, HA 2025.4 a boolean from any; a custom one may return True.
    mock_integration(
        hass,
        MockModule(
            DOMAIN, async_setup_entry=setup_entry, async_unload_entry=unload_entry
        ),
        built_in=False,
    )
    mock_platform(hass, f"{DOMAIN}.config_flow", built_in=False)
    mock_platform(
        hass,
        f"{DOMAIN}.{assist_satellite.DOMAIN}",
        MockPlatform(async_setup_entry=setup_platform),
        built_in=False,
    )
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    with mock_config_flow(DOMAIN, _SatelliteFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get(SATELLITE) is not None
        yield satellite
        await satellite.wait_idle()
        assert await hass.config_entries.async_unload(entry.entry_id)


class _SatelliteFlow(ConfigFlow):
    """The test integration's (unused) config flow: HA wants one per entry."""

    VERSION = 1


def turn_answers(satellite: KitchenSatellite) -> list[dict[str, Any]]:
    """The intent output of each of the satellite's runs."""
    return [
        e.data["intent_output"]
        for run in satellite.runs
        for e in run
        if e.type is PipelineEventType.INTENT_END and e.data
    ]
